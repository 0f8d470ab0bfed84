// Hostile input: whatever the text, the scst.conf reader returns a model or throws ConfigError
// (with the file name it was given and a line inside the file) -- never anything else, never a
// stack overflow, never a hang.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, convertProcfsConf, parseScstConf, type ScstConfig } from '../src/conf/index.js';

const RUNS = Number(process.env.CONF_FC_RUNS ?? 500);

function lineCount(text: string): number {
  let n = 1;
  for (const c of text) if (c === '\n') n++;
  return n;
}

/** Runs `fn`; a ConfigError must point inside the text, anything else thrown fails the test. */
function onlyConfigErrors(text: string, fn: (text: string, file: string) => ScstConfig): void {
  let cfg: ScstConfig;
  try {
    cfg = fn(text, 'fuzz.conf');
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.file).toBe('fuzz.conf');
    expect(Number.isInteger(e.line)).toBe(true);
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(lineCount(text));
    expect(e.message.length).toBeGreaterThan(0);
    return;
  }
  for (const t of cfg.drivers.flatMap((d) => d.targets)) {
    for (const l of [...t.luns, ...t.groups.flatMap((g) => g.luns)]) {
      expect(Number.isInteger(l.lun) && l.lun >= 0 && l.lun <= 16383).toBe(true);
    }
  }
  for (const d of cfg.handlers.flatMap((h) => h.devices)) expect(d.name.includes('/')).toBe(false);
}

const printable = fc.string({ unit: fc.constantFrom(...' \t\n\r{}"#\\[]0123abcxyz/_:.-*!?'), maxLength: 200 });

const TOKENS = [
  'HANDLER', 'DEVICE', 'TARGET_DRIVER', 'TARGET', 'LUN', 'GROUP', 'INITIATOR', 'ALUA', 'DEVICE_GROUP',
  'TARGET_GROUP', 'HW_TARGET', 'enabled', 'IncomingUser', 'filename', 'vdisk_fileio', 'iscsi', 'd1', 'd2',
  '0', '1', '16383', '16384', '-1', '01', '/dev/sda', '/dev/', 'a/b', '"a b"', '""', '"', '{', '}', '\n', '\n',
  '\n', ' ', ' ', ' ', '\t', '#', '\\#', '\\', '[HANDLER vdisk]', '[GROUP g]', '\r\n', '\uFEFF', 'é',
];
const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 120 }).map((t) => t.join(''));

describe('parseScstConf on hostile input', () => {
  it('random printable text', () => {
    fc.assert(fc.property(printable, (text) => onlyConfigErrors(text, parseScstConf)), { numRuns: RUNS });
  });

  it('any string at all', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => onlyConfigErrors(text, parseScstConf)), {
      numRuns: RUNS,
    });
  });

  it('keyword soup', () => {
    fc.assert(fc.property(tokenSoup, (text) => onlyConfigErrors(text, parseScstConf)), { numRuns: RUNS * 4 });
  });

  it('deep nesting neither overflows the stack nor hangs', () => {
    const depth = 200_000;
    expect(() => parseScstConf('{'.repeat(depth), 'deep.conf')).toThrow(ConfigError);
    expect(() => parseScstConf('}'.repeat(depth), 'deep.conf')).toThrow(ConfigError);
    const nested = 'a {\n'.repeat(depth) + '}\n'.repeat(depth);
    expect(() => parseScstConf(nested, 'deep.conf')).toThrow("Attribute 'a' has an invalid value.");
    const headerless = '{\n'.repeat(depth) + '}\n'.repeat(depth) + 'setup_id 1\n';
    expect(parseScstConf(headerless, 'deep.conf').attributes).toEqual([{ name: 'setup_id', value: '1', line: 2 * depth + 1 }]);
  });

  it('a large file is read in reasonable time', () => {
    const devices = Array.from({ length: 20_000 }, (_, i) => `\tDEVICE d${i} {\n\t\tfilename /srv/d${i}.img\n\t}\n`).join('');
    const t0 = performance.now();
    const cfg = parseScstConf(`HANDLER vdisk_fileio {\n${devices}}\n`, 'big.conf');
    expect(cfg.handlers[0]!.devices).toHaveLength(20_000);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});

describe('convertProcfsConf on hostile input', () => {
  const procfsish = fc
    .array(
      fc.oneof(
        fc.constantFrom('[HANDLER vdisk]', '[GROUP g]', '[ASSIGNMENT g]', '[ASSIGNMENT Default]', '[ASSIGNMENT Default_t]', '[TARGETS enable]', '[OPTIONS]'),
        printable.map((s) => s.replace(/\n/g, ' ')),
        fc.constantFrom('DEVICE a,/x,NULLIO|RO,512,id', 'DEVICE ,', 'DEVICE a,x', 'USER iqn.x', 'HOST 0x1', 'DEVICE b,99999'),
      ),
      { maxLength: 30 },
    )
    .map((lines) => lines.join('\n'));

  it('never throws anything but ConfigError', () => {
    fc.assert(fc.property(procfsish, (text) => onlyConfigErrors(text, (t, f) => convertProcfsConf(t, f))), { numRuns: RUNS });
  });
});

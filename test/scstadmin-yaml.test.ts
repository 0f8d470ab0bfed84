// The YAML form of the configuration (etc/scst-yaml-schema.md): scst.conf → YAML → scst.conf is
// exact, values stay text, errors carry their line, the shipped example is valid, and
// -config / -write_config choose the format by extension.
import fc from 'fast-check';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseScstConf, writeScstConf, type DeviceGroupConf } from '../src/conf/index.js';
import { parseScstYaml, writeScstYaml } from '../src/conf/yaml.js';
import { FakeSysfs } from './helpers/scstadmin/fake-sysfs.js';
import { referenceFake, runAdmin } from './helpers/scstadmin/run.js';
import { tmpDir } from './helpers/files.js';

const ROOT = join(import.meta.dirname, '..');
const golden = () => readFile(join(ROOT, 'test', 'golden', 'scstadmin', 'write_config.conf'), 'utf8');

function yamlError(text: string): ConfigError {
  try {
    parseScstYaml(text, 'x.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('scst.conf ⇄ YAML', () => {
  it('the §8.3 file survives the round trip byte for byte', async () => {
    const text = await golden();
    const yaml = writeScstYaml(parseScstConf(text, 'a.conf'));
    expect(writeScstConf(parseScstYaml(yaml, 'a.yaml'))).toBe(text);
    // Multi-valued attributes become lists, LUNs with attributes become mappings.
    expect(yaml).toContain('          IncomingUser:\n            - fred 12charsecret2\n            - joe 12charsecret\n');
    expect(yaml).toContain("          '1':\n            device: disk2\n            attributes:\n              read_only: '1'\n");
  });

  it('the shipped scst.conf example gives the same model through YAML', async () => {
    const conf = parseScstConf(await readFile(join(ROOT, 'etc', 'scst.conf.example'), 'utf8'), 'ex.conf');
    const again = parseScstYaml(writeScstYaml(conf), 'ex.yaml');
    expect(writeScstConf(again)).toBe(writeScstConf(conf));
  });

  it('the shipped YAML example is valid and means what its comments say', async () => {
    const cfg = parseScstYaml(await readFile(join(ROOT, 'etc', 'scst.yaml.example'), 'utf8'), 'scst.yaml.example');
    const conf = writeScstConf(cfg);
    expect(conf).toContain('setup_id 0x1\n');
    expect(conf).toContain('\t\tIncomingUser "fred another12chars"\n\t\tIncomingUser "joe 12charsecret"\n');
    expect(conf).toContain('\t\t\tINITIATOR !iqn.1993-08.org.debian:01:untrusted\n');
    expect(writeScstConf(parseScstConf(conf, 'x.conf'))).toBe(conf);
  });

  it('values are the text written, never YAML numbers or booleans', () => {
    const cfg = parseScstYaml("scst:\n  setup_id: 0x10\n  threads: 010\n  a: true\n  b: ~\n  c: ''\n", 'v.yaml');
    expect(cfg.attributes.map((a) => [a.name, a.value])).toEqual([
      ['setup_id', '0x10'],
      ['threads', '010'],
      ['a', 'true'],
      ['b', '~'],
      ['c', ''],
    ]);
  });

  it('random configurations round-trip', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,11}$/);
    const value = fc.stringMatching(/^[A-Za-z0-9/._:-]([A-Za-z0-9 /._:-]{0,10}[A-Za-z0-9/._:-])?$/);
    const attrs = fc.uniqueArray(fc.tuple(name, value), { maxLength: 4, selector: ([n, v]) => `${n}=${v}` }).map((xs) => xs.map(([n, v]) => ({ name: n, value: v, line: 0 })));
    const device = fc.record({ name, line: fc.constant(0), attributes: attrs });
    const lun = fc.record({ lun: fc.integer({ min: 0, max: 16383 }), device: name, line: fc.constant(0), attributes: attrs });
    const luns = fc.uniqueArray(lun, { maxLength: 4, selector: (l) => l.lun });
    const group = fc.record({ name, line: fc.constant(0), attributes: attrs, luns, initiators: fc.uniqueArray(name, { maxLength: 3 }).map((xs) => xs.map((n) => ({ name: n, line: 0 }))) });
    const target = fc.record({ name, line: fc.constant(0), hwTarget: fc.boolean(), attributes: attrs, luns, groups: fc.uniqueArray(group, { maxLength: 2, selector: (g) => g.name }) });
    const cfg = fc.record({
      attributes: attrs,
      handlers: fc.uniqueArray(fc.record({ name, line: fc.constant(0), attributes: attrs, devices: fc.uniqueArray(device, { maxLength: 3, selector: (d) => d.name }) }), { maxLength: 2, selector: (h) => h.name }),
      drivers: fc.uniqueArray(fc.record({ name, line: fc.constant(0), attributes: attrs, targets: fc.uniqueArray(target, { maxLength: 2, selector: (t) => t.name }) }), { maxLength: 2, selector: (d) => d.name }),
      alua: attrs,
      deviceGroups: fc.constant([] as DeviceGroupConf[]),
    });
    fc.assert(
      fc.property(cfg, (c) => {
        const text = writeScstConf(c);
        const viaYaml = writeScstConf(parseScstYaml(writeScstYaml(parseScstConf(text, 'r.conf')), 'r.yaml'));
        expect(viaYaml).toBe(writeScstConf(parseScstConf(text, 'r.conf')));
      }),
      { numRuns: 200 },
    );
  });
});

describe('hostile YAML', () => {
  it('never throws anything but ConfigError', () => {
    const piece = fc.constantFrom('handlers:', 'drivers:', '  ', '    ', '- ', ': ', '{', '}', '[', ']', '&a ', '*a', '!!int ', "'", '"', '\n', 'x', '0', 'luns:', 'targets:', '#', '---\n', '? ', '|', '>');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => {
        try {
          parseScstYaml(parts.join(''), 'h.yaml');
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as ConfigError).line).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 2000 },
    );
    expect(() => parseScstYaml(`${'a:\n'.repeat(1)}${'['.repeat(200)}`, 'deep.yaml')).toThrow(ConfigError);
  });
});

describe('YAML errors name the line', () => {
  it.each([
    ['handlers:\n  vdisk_fileio:\n    devices:\n      d1:\n        filename: [a, {b: c}]\n', 5, /attribute 'filename': expected a single value/],
    ['handlers:\n  vdisk_fileio:\n    devicez:\n      d1: {}\n', 3, /unknown key 'devicez'/],
    ['drivers:\n  iscsi:\n    targets:\n      t:\n        luns:\n          "0": a\n          "99999": b\n', 7, /Invalid LUN number '99999'/],
    ['scst:\n  a: 1\n  a: 2\n', 3, /Duplicate key 'a'/],
    ['a: &x 1\nb: *x\n', 2, /aliases/],
    ['handlers: [\n', 2, /YAML syntax error/],
    ['handlers:\n  h:\n    attributes:\n      DEVICE: x\n', 4, /'DEVICE' is a section keyword/],
  ])('%#', (text, line, msg) => {
    const e = yamlError(text);
    expect(e.line).toBe(line);
    expect(e.message).toMatch(msg);
  });
});

describe('-config / -write_config by extension', () => {
  it('writes YAML for .yaml and applies it back without changes', async () => {
    const fake = await referenceFake();
    const dir = await tmpDir('scstadmin-yaml-');
    const y = join(dir, 'live.yaml');
    expect((await runAdmin(fake, ['-write_config', y])).code).toBe(0);
    const text = await readFile(y, 'utf8');
    expect(text).toMatch(/^# Automatically generated by SCST Configurator v3\.11\.0-pre\.\n\nscst:\n  setup_id: '0x1234'\n/);
    expect(writeScstConf(parseScstYaml(text, y))).toBe(await golden());
    const r = await runAdmin(fake, ['-config', y]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('\t-> Done, 0 change(s) made.\n');
    expect(fake.fs.writes).toEqual([]);
  });

  it('refuses a bad YAML file with its line and writes nothing', async () => {
    const fake = new FakeSysfs();
    const dir = await tmpDir('scstadmin-yaml-');
    const f = join(dir, 'bad.yml');
    await writeFile(f, 'handlers:\n  vdisk_nullio:\n    devices:\n      n0:\n        dummy: 1\n  vdisk_bogus:\n    devices:\n      x: {}\n');
    const r = await runAdmin(fake, ['-config', f]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`No such handler 'vdisk_bogus' available (${f}:6)`);
    expect(fake.fs.writes).toEqual([]);
  });
});

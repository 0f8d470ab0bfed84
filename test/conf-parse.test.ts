// scst.conf reader: the §6.4 worked example, the structural rules of §6.1 step 7 and §6.2, every
// error the reader raises (file, line, message), and the example shipped in etc/.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseScstConf, type ScstConfig } from '../src/conf/index.js';
import { EXAMPLE_6_4 } from './fixtures/conf-example-6.4.js';


function parse(text: string): ScstConfig {
  return parseScstConf(text, 'test.conf');
}

/** The ConfigError parsing `text` raises; every one must name the file it was given. */
function parseError(text: string, file = 'test.conf'): ConfigError {
  try {
    parseScstConf(text, file);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.file).toBe(file);
    return e;
  }
  throw new Error('expected a ConfigError');
}

const a = (name: string, value: string, line: number) => ({ name, value, line });

describe('§6.4 worked example', () => {
  it('parses into the expected model, in order of appearance, with source lines', () => {
    const cfg = parse(EXAMPLE_6_4);
    expect(cfg).toStrictEqual({
      attributes: [a('setup_id', '0x1234', 2)],
      handlers: [
        {
          name: 'vdisk_fileio',
          line: 4,
          attributes: [],
          devices: [
            { name: 'disk1', line: 5, attributes: [a('filename', '/srv/disk1.img', 6), a('nv_cache', '1', 7)] },
            {
              name: 'disk2',
              line: 10,
              attributes: [a('filename', '/srv/disk 2.img', 11), a('read_only', '1', 12), a('t10_dev_id', 'd2-t10', 13)],
            },
          ],
        },
        {
          name: 'vdisk_nullio',
          line: 17,
          attributes: [],
          devices: [{ name: 'nul0', line: 18, attributes: [a('blocksize', '4096', 19), a('dummy', '1', 20)] }],
        },
      ],
      drivers: [
        {
          name: 'iscsi',
          line: 24,
          attributes: [a('IncomingUser', 'joe 12charsecret', 25), a('enabled', '1', 26)],
          targets: [
            {
              name: 'iqn.2006-10.net.vlnb:tgt',
              line: 28,
              hwTarget: false,
              attributes: [
                a('HeaderDigest', 'CRC32C', 29),
                a('IncomingUser', 'fred 12charsecret2', 30),
                a('IncomingUser', 'joe 12charsecret', 31),
                a('enabled', '1', 32),
                a('rel_tgt_id', '1', 33),
              ],
              luns: [{ lun: 0, device: 'disk1', line: 35, attributes: [] }],
              groups: [
                {
                  name: 'HOST1',
                  line: 37,
                  attributes: [a('addr_method', 'FLAT', 47)],
                  luns: [
                    { lun: 0, device: 'disk2', line: 38, attributes: [a('read_only', '1', 39)] },
                    { lun: 1, device: 'nul0', line: 41, attributes: [a('read_only', '1', 42)] },
                  ],
                  initiators: [{ name: 'iqn.1993-08.org.debian:01:abc', line: 45 }],
                },
              ],
            },
          ],
        },
        {
          name: 'scst_local',
          line: 52,
          attributes: [],
          targets: [
            {
              name: 'local1',
              line: 53,
              hwTarget: false,
              attributes: [a('session_name', 'local1_sess', 54)],
              luns: [{ lun: 0, device: 'nul0', line: 56, attributes: [] }],
              groups: [],
            },
          ],
        },
      ],
      alua: [],
      deviceGroups: [
        {
          name: 'dg1',
          line: 60,
          attributes: [],
          devices: ['disk1', 'disk2'],
          targetGroups: [
            {
              name: 'tgA',
              line: 64,
              attributes: [a('group_id', '1', 65), a('preferred', '1', 66), a('state', 'active', 67)],
              targets: [{ name: 'iqn.2006-10.net.vlnb:tgt', line: 69, attributes: [] }],
            },
            {
              name: 'tgB',
              line: 72,
              attributes: [a('group_id', '2', 73), a('state', 'standby', 74)],
              targets: [{ name: 'remote_tgt', line: 76, attributes: [a('rel_tgt_id', '2', 77)] }],
            },
          ],
        },
      ],
    });
  });

  it('reads CRLF line endings the same way', () => {
    const crlf = parse(EXAMPLE_6_4.replace(/\n/g, '\r\n'));
    expect(crlf).toStrictEqual(parse(EXAMPLE_6_4));
  });

  it('returns an empty configuration for an empty or comment-only file', () => {
    const empty = { attributes: [], handlers: [], drivers: [], alua: [], deviceGroups: [] };
    expect(parse('')).toStrictEqual(empty);
    expect(parse('# nothing\n\n   \n')).toStrictEqual(empty);
  });

  it('reads the ALUA section as attributes', () => {
    const cfg = parse('ALUA {\n\tstpg_timeout 30\n}\n');
    expect(cfg.alua).toEqual([a('stpg_timeout', '30', 2)]);
  });

  it('flags HW_TARGET and keeps it out of the attributes', () => {
    const cfg = parse('TARGET_DRIVER qla2x00t {\n\tTARGET 50:06:0b:00:00:39:71:78 {\n\t\tHW_TARGET\n\n\t\tenabled 1\n\t}\n}\n');
    const t = cfg.drivers[0]!.targets[0]!;
    expect(t.hwTarget).toBe(true);
    expect(t.attributes).toEqual([a('enabled', '1', 5)]);
  });
});

describe('§6.1 lexical rules', () => {
  it('step 1: a line starting with # is a comment and still counts as a line', () => {
    const cfg = parse('# comment {\n#setup_id 1\nsetup_id 2\n');
    expect(cfg.attributes).toEqual([a('setup_id', '2', 3)]);
  });

  it('step 2: a later # cuts the rest of the line together with the character before it', () => {
    expect(parse('filename /a#b\n').attributes).toEqual([a('filename', '/', 1)]);
    expect(parse('filename /srv/x #comment\n').attributes).toEqual([a('filename', '/srv/x', 1)]);
    // Indented comments work because the character eaten is the indentation.
    expect(parse('HANDLER h {\n\t# a comment with { braces }\n\tDEVICE d\n}\n').handlers[0]!.devices).toEqual([
      { name: 'd', line: 3, attributes: [] },
    ]);
  });

  it('step 2: quotes do not protect #', () => {
    // `"/a #b"` loses ` #b"`, leaving an unclosed quote that reads as a plain word.
    expect(parse('filename "/a #b"\n').attributes).toEqual([a('filename', '"/a', 1)]);
  });

  it('step 2/3: \\# is a literal #', () => {
    expect(parse('t10_dev_id a\\#1\n').attributes).toEqual([a('t10_dev_id', 'a#1', 1)]);
  });

  it('step 3: backslash escapes are resolved before words are split', () => {
    expect(parse('usn a\\\\b\n').attributes).toEqual([a('usn', 'a\\b', 1)]);
    expect(parse('usn a\\bc\n').attributes).toEqual([a('usn', 'abc', 1)]);
    // An escaped quote becomes a real quote, so it starts a quoted word...
    expect(parse('alias \\"a b\\"\n').attributes).toEqual([a('alias', 'a b', 1)]);
    // ...and a quote cannot be escaped inside a quoted value.
    const e = parseError('alias "a\\"b"\n');
    expect(e.message).toBe("Attribute 'alias' has an invalid value.");
  });

  it('step 4: a procfs section header switches to the deprecated format', () => {
    const e = parseError('# old file\n\n[HANDLER vdisk]\nDEVICE disk1,/srv/disk1,,512\n', 'old.conf');
    expect(e.file).toBe('old.conf');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/deprecated/);
    expect(parseError('[GROUP Default]\n').line).toBe(1);
    expect(parseError('setup_id 1\n[ASSIGNMENT Default]\n').line).toBe(2);
    // Commented-out headers and other bracketed text do not count.
    expect(() => parse('# [HANDLER vdisk]\n[OPTIONS]\n')).not.toThrow();
    expect(() => parse('[TARGETS enable]\n')).not.toThrow();
  });

  it('step 5: { opens a block whose header is the text before it on the line', () => {
    const cfg = parse('HANDLER vdisk_nullio {\n\tDEVICE n {\n\t\tsize_mb 1\n\t}\n}\n');
    expect(cfg.handlers[0]!.devices[0]!.attributes).toEqual([a('size_mb', '1', 3)]);
  });

  it('step 5: braces are recognised inside quotes', () => {
    const e = parseError('filename "/srv/a{b.img"\n');
    expect(e.line).toBe(1);
    expect(e.message).toMatch(/never closed/);
  });

  it('step 5: } ends the block and discards unterminated text on its line', () => {
    const cfg = parse('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 disk1 { read_only 1 }\n\t}\n}\n');
    expect(cfg.drivers[0]!.targets[0]!.luns).toEqual([{ lun: 0, device: 'disk1', line: 3, attributes: [] }]);
    expect(cfg.warnings).toHaveLength(1);
    expect(cfg.warnings![0]).toMatch(/^test\.conf:3: 'read_only 1' is ignored/);
  });

  it('step 5: a header with { on the next line gives an object without attributes', () => {
    const cfg = parse('HANDLER vdisk_fileio {\n\tDEVICE d2\n\t{\n\t\tfilename /x\n\t}\n}\n');
    expect(cfg.handlers[0]!.devices).toEqual([{ name: 'd2', line: 2, attributes: [] }]);
    expect(cfg.warnings?.[0]).toMatch(/^test\.conf:3: A block without a header is ignored/);
  });

  it('step 5: text after } on the same line is a statement of the enclosing block', () => {
    const cfg = parse('HANDLER h {\n\tDEVICE d {\n\t\tfilename /x\n\t} threads_num 2\n}\n');
    expect(cfg.handlers[0]!.attributes).toEqual([a('threads_num', '2', 4)]);
  });

  it('step 5: a last line without a newline is dropped, with a warning', () => {
    const cfg = parse('setup_id 1\nsetup_id2 x');
    expect(cfg.attributes).toEqual([a('setup_id', '1', 1)]);
    expect(cfg.warnings?.[0]).toMatch(/^test\.conf:2: .*does not end with a newline/);
  });

  it('step 6: quoted words lose their quotes and keep their blanks', () => {
    expect(parse('alias "two  words"\n').attributes).toEqual([a('alias', 'two  words', 1)]);
    expect(parse('alias ""\n').attributes).toEqual([a('alias', '', 1)]);
    expect(parse('alias "\ta b "\n').attributes).toEqual([a('alias', '\ta b ', 1)]);
  });

  it('step 6: a quoted word ends at its closing quote even without a blank after it', () => {
    expect(() => parse('alias "a b"c\n')).toThrow("Attribute 'alias' has an invalid value.");
  });

  it('step 6: only the first three words count', () => {
    const cfg = parse('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 disk1 whatever else\n\t}\n}\n');
    expect(cfg.drivers[0]!.targets[0]!.luns).toEqual([{ lun: 0, device: 'disk1', line: 3, attributes: [] }]);
  });

  it('step 6: empty, blank and exactly-0 lines are ignored; a bare word has the empty value', () => {
    const cfg = parse('\n   \n\t\n0\nforce_global_sgv_pool\n');
    expect(cfg.attributes).toEqual([a('force_global_sgv_pool', '', 5)]);
  });

  it('step 6: words are separated by any blank', () => {
    expect(parse('setup_id\t\f0x12 \r\n').attributes).toEqual([a('setup_id', '0x12', 1)]);
  });
});

describe('§6.1 step 7 structure', () => {
  it('a repeated name with different values accumulates values (multi-valued, §6.5)', () => {
    const cfg = parse('TARGET_DRIVER iscsi {\n\tIncomingUser "a 12charsecret1"\n\tenabled 1\n\tIncomingUser "b 12charsecret2"\n}\n');
    expect(cfg.drivers[0]!.attributes).toEqual([
      a('IncomingUser', 'a 12charsecret1', 2),
      a('enabled', '1', 3),
      a('IncomingUser', 'b 12charsecret2', 4),
    ]);
  });

  it('the same name and value twice is one value', () => {
    expect(parse('setup_id 1\nsetup_id 1\n').attributes).toEqual([a('setup_id', '1', 2)]);
  });

  it('a name alone replaces everything given for that name before', () => {
    expect(parse('setup_id 1\nsetup_id 2\nsetup_id\n').attributes).toEqual([a('setup_id', '', 3)]);
  });

  it('repeating `A B` with a new block replaces the earlier block', () => {
    const cfg = parse(
      'HANDLER vdisk_fileio {\n\tDEVICE d1 {\n\t\tfilename /a\n\t\tread_only 1\n\t}\n' +
        '\tDEVICE d2\n\tDEVICE d1 {\n\t\tfilename /b\n\t}\n}\n',
    );
    expect(cfg.handlers[0]!.devices).toEqual([
      { name: 'd2', line: 6, attributes: [] },
      { name: 'd1', line: 7, attributes: [a('filename', '/b', 8)] },
    ]);
  });

  it('a plain `A B` line replaces an earlier block too', () => {
    const cfg = parse('HANDLER vdisk_fileio {\n\tDEVICE d1 {\n\t\tfilename /a\n\t}\n\tDEVICE d1\n}\n');
    expect(cfg.handlers[0]!.devices).toEqual([{ name: 'd1', line: 5, attributes: [] }]);
  });

  it('repeating a section merges the sections and replaces the repeated objects', () => {
    const cfg = parse(
      'TARGET_DRIVER iscsi {\n\tTARGET t1\n}\nTARGET_DRIVER iscsi {\n\tTARGET t2\n}\n' +
        'HANDLER h {\n\tDEVICE a\n}\nHANDLER g {\n\tDEVICE b\n}\n',
    );
    // The whole `TARGET_DRIVER iscsi` block is replaced; different handlers accumulate.
    expect(cfg.drivers.map((d) => d.targets.map((t) => t.name))).toEqual([['t2']]);
    expect(cfg.handlers.map((h) => h.name)).toEqual(['h', 'g']);
  });

  it('LUNs and groups of a target and initiator patterns are read', () => {
    const cfg = parse(
      'TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 10 d10\n\t\tLUN 2 d2\n\t\tGROUP g {\n' +
        '\t\t\tINITIATOR iqn.1993-08.org.debian:*\n\t\t\tINITIATOR !iqn.bad?\n\t\t\tINITIATOR "with blank" {\n\t\t\t\tignored 1\n\t\t\t}\n' +
        '\t\t}\n\t\tGROUP empty\n\t}\n}\n',
    );
    const t = cfg.drivers[0]!.targets[0]!;
    expect(t.luns.map((l) => [l.lun, l.device])).toEqual([
      [10, 'd10'],
      [2, 'd2'],
    ]);
    expect(t.groups.map((g) => g.name)).toEqual(['g', 'empty']);
    expect(t.groups[0]!.initiators).toEqual([
      { name: 'iqn.1993-08.org.debian:*', line: 6 },
      { name: '!iqn.bad?', line: 7 },
      { name: 'with blank', line: 8 },
    ]);
  });

  it('the same device twice at the same LUN is not an error', () => {
    const cfg = parse('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 d\n\t\tLUN 0 d {\n\t\t\tread_only 1\n\t\t}\n\t}\n}\n');
    expect(cfg.drivers[0]!.targets[0]!.luns).toEqual([{ lun: 0, device: 'd', line: 4, attributes: [a('read_only', '1', 5)] }]);
  });

  it('LUN 0 and LUN 16383 are the bounds', () => {
    const cfg = parse('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 a\n\t\tLUN 16383 b\n\t}\n}\n');
    expect(cfg.drivers[0]!.targets[0]!.luns.map((l) => l.lun)).toEqual([0, 16383]);
  });

  it('a /dev/ prefix on a device name is stripped with a warning', () => {
    const cfg = parse('HANDLER vcdrom {\n\tDEVICE /dev/cdrom {\n\t\tfilename none\n\t}\n}\n');
    expect(cfg.handlers[0]!.devices).toEqual([{ name: 'cdrom', line: 2, attributes: [a('filename', 'none', 3)] }]);
    expect(cfg.warnings).toEqual([
      "test.conf:2: Device '/dev/cdrom' configured for handler 'vcdrom' may not contain the full /dev path, please change to 'cdrom'.",
    ]);
  });

  it('a device renamed from /dev/x replaces a device x given as such', () => {
    for (const text of [
      'HANDLER vcdrom {\n\tDEVICE cdrom\n\tDEVICE /dev/cdrom {\n\t\tfilename none\n\t}\n}\n',
      'HANDLER vcdrom {\n\tDEVICE /dev/cdrom {\n\t\tfilename none\n\t}\n\tDEVICE cdrom\n}\n',
    ]) {
      const devices = parse(text).handlers[0]!.devices;
      expect(devices).toHaveLength(1);
      expect(devices[0]!.attributes).toEqual([expect.objectContaining({ name: 'filename', value: 'none' })]);
    }
  });

  it('pass-through device names H:C:I:L are accepted', () => {
    const cfg = parse('HANDLER dev_disk {\n\tDEVICE 2:0:0:0\n}\n');
    expect(cfg.handlers[0]!.devices[0]!.name).toBe('2:0:0:0');
    expect(cfg.warnings).toBeUndefined();
  });

  it('does not validate handler, driver or attribute names', () => {
    const cfg = parse('HANDLER no_such_handler {\n\tno_such_attr 1\n\tDEVICE d {\n\t\tbogus x\n\t}\n}\nTARGET_DRIVER nope {\n}\n');
    expect(cfg.handlers[0]!.name).toBe('no_such_handler');
    expect(cfg.handlers[0]!.attributes).toEqual([a('no_such_attr', '1', 2)]);
    expect(cfg.drivers[0]!.name).toBe('nope');
  });
});

describe('errors', () => {
  it('an unclosed { at the end of the file points at its header line', () => {
    const e = parseError('setup_id 1\nHANDLER vdisk_fileio {\n\tDEVICE d {\n\t\tfilename /x\n\t}\n', 'my.conf');
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.file).toBe('my.conf');
    expect(e.line).toBe(2);
    expect(e.message).toBe("'HANDLER vdisk_fileio {' is never closed: '}' expected before the end of the file.");
  });

  it('a stray } is reported at its line', () => {
    const e = parseError('HANDLER h {\n\tDEVICE d\n}\n}\nsetup_id 1\n');
    expect(e.line).toBe(4);
    expect(e.message).toBe("Unexpected '}': there is no open block to close.");
  });

  it.each([
    ['x', 'x'],
    ['-1', '-1'],
    ['16384', '16384'],
    ['1.5', '1.5'],
    ['0x1', '0x1'],
    ['01', '01'],
    ['99999999999999999999', '99999999999999999999'],
  ])('LUN number %s is rejected', (num, shown) => {
    const e = parseError(`TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 0 a\n\t\tLUN ${num} b\n\t}\n}\n`);
    expect(e.line).toBe(4);
    expect(e.message).toBe(`Invalid LUN number '${shown}': expected a decimal integer from 0 to 16383.`);
  });

  it('a LUN without a device is rejected', () => {
    const e = parseError('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN 3\n\t}\n}\n');
    expect(e.line).toBe(3);
    expect(e.message).toBe("LUN 3 has no device: expected 'LUN 3 <device>'.");
    expect(parseError('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tLUN\n\t}\n}\n').message).toBe(
      "LUN needs a name: expected 'LUN <number> <device>'.",
    );
  });

  it('two devices at one target LUN number', () => {
    const e = parseError('TARGET_DRIVER iscsi {\n\tTARGET tgt {\n\t\tLUN 0 a\n\n\t\tLUN 0 b\n\t}\n}\n');
    expect(e.line).toBe(5);
    expect(e.message).toBe('Driver/target/group/lun iscsi/tgt//0 has multiple devices assigned.');
  });

  it('two devices at one group LUN number', () => {
    const e = parseError('TARGET_DRIVER iscsi {\n\tTARGET tgt {\n\t\tGROUP g {\n\t\t\tLUN 7 a\n\t\t\tLUN 7 b\n\t\t}\n\t}\n}\n');
    expect(e.line).toBe(5);
    expect(e.message).toBe('Driver/target/group/lun iscsi/tgt/g/7 has multiple devices assigned.');
  });

  it('the same LUN number in different LUN sets is fine', () => {
    expect(() => parse('TARGET_DRIVER iscsi {\n\tTARGET tgt {\n\t\tLUN 0 a\n\t\tGROUP g {\n\t\t\tLUN 0 b\n\t\t}\n\t}\n}\n')).not.toThrow();
  });

  it('an attribute with a third word', () => {
    const e = parseError('TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tIncomingUser joe 12charsecret\n\t}\n}\n');
    expect(e.line).toBe(3);
    expect(e.message).toBe("Attribute 'IncomingUser' has an invalid value.");
  });

  it('an attribute with a third word among several values', () => {
    const e = parseError('IncomingUser "a 12charsecret"\nIncomingUser b 12charsecret\n');
    expect(e.line).toBe(2);
    expect(e.message).toBe("Attribute 'IncomingUser' has an invalid value.");
  });

  it('an attribute value with a block', () => {
    const e = parseError('HANDLER h {\n\tDEVICE d {\n\t\tfilename /x {\n\t\t\tsize 1\n\t\t}\n\t}\n}\n');
    expect(e.line).toBe(3);
    expect(e.message).toBe("Attribute 'filename' has an invalid value.");
  });

  it('a device name with / other than a leading /dev/', () => {
    const e = parseError('HANDLER vdisk_blockio {\n\tDEVICE disk/1 {\n\t\tfilename /dev/sdb\n\t}\n}\n');
    expect(e.line).toBe(2);
    expect(e.message).toBe("Device 'disk/1' configured for handler 'vdisk_blockio' may not contain character '/'.");
    const e2 = parseError('HANDLER vdisk_blockio {\n\tDEVICE /dev/disk/by-id/x\n}\n');
    expect(e2.message).toBe("Device '/dev/disk/by-id/x' configured for handler 'vdisk_blockio' may not contain character '/'.");
  });

  it.each([
    ['HANDLER {\n\tDEVICE d\n}\n', 1, "HANDLER needs a name: expected 'HANDLER <handler> {'."],
    ['HANDLER vdisk_fileio {\n\tDEVICE a\n}\nHANDLER\n', 4, "HANDLER needs a name: expected 'HANDLER <handler> {'."],
    ['TARGET_DRIVER {\n}\n', 1, "TARGET_DRIVER needs a name: expected 'TARGET_DRIVER <driver> {'."],
    ['TARGET_DRIVER iscsi {\n\tTARGET {\n\t}\n}\n', 2, "TARGET needs a name: expected 'TARGET <target>'."],
    ['TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tGROUP\n\t}\n}\n', 3, "GROUP needs a name: expected 'GROUP <group>'."],
    ['HANDLER h {\n\tDEVICE\n}\n', 2, "DEVICE needs a name: expected 'DEVICE <device>'."],
    ['HANDLER h {\n\tDEVICE ""\n}\n', 2, "DEVICE needs a name: expected 'DEVICE <device>'."],
    [
      'TARGET_DRIVER iscsi {\n\tTARGET t {\n\t\tGROUP g {\n\t\t\tINITIATOR\n\t\t}\n\t}\n}\n',
      4,
      "INITIATOR needs a name: expected 'INITIATOR <initiator name or pattern>'.",
    ],
    ['DEVICE_GROUP {\n}\n', 1, "DEVICE_GROUP needs a name: expected 'DEVICE_GROUP <device group> {'."],
    ['DEVICE_GROUP dg {\n\tTARGET_GROUP {\n\t}\n}\n', 2, "TARGET_GROUP needs a name: expected 'TARGET_GROUP <target group> {'."],
  ])('a section keyword without a name: %j', (text, line, message) => {
    const e = parseError(text);
    expect(e.file).toBe('test.conf');
    expect(e.line).toBe(line);
    expect(e.message).toBe(message);
  });

  it('errors carry a file:line description', () => {
    const e = parseError('}\n', '/etc/scst.conf');
    expect(e.name).toBe('ConfigError');
    expect(e.describe()).toBe("/etc/scst.conf:1: Unexpected '}': there is no open block to close.");
  });
});

describe('etc/scst.conf.example', () => {
  const text = readFileSync(new URL('../etc/scst.conf.example', import.meta.url), 'utf8');
  const cfg = parse(text);

  it('parses without warnings', () => {
    expect(cfg.warnings).toBeUndefined();
  });

  it('defines devices for the four handlers scstd supports', () => {
    expect(cfg.handlers.map((h) => h.name)).toEqual(['vdisk_fileio', 'vdisk_blockio', 'vdisk_nullio', 'vcdrom']);
    const fileio = cfg.handlers[0]!.devices[0]!;
    expect(fileio.attributes.map((x) => x.name)).toEqual(
      expect.arrayContaining(['filename', 'size_mb', 'blocksize', 'nv_cache', 'write_through', 't10_dev_id', 'usn']),
    );
    expect(cfg.handlers[3]!.devices.map((d) => d.attributes)).toContainEqual([expect.objectContaining({ name: 'filename', value: 'none' })]);
  });

  it('has an enabled iSCSI target with LUNs, a group, CHAP users and login parameters', () => {
    const iscsi = cfg.drivers.find((d) => d.name === 'iscsi')!;
    expect(iscsi.attributes).toContainEqual(expect.objectContaining({ name: 'enabled', value: '1' }));
    const t = iscsi.targets[0]!;
    const names = t.attributes.map((x) => x.name);
    for (const n of ['IncomingUser', 'OutgoingUser', 'InitialR2T', 'ImmediateData', 'HeaderDigest', 'MaxRecvDataSegmentLength', 'enabled']) {
      expect(names).toContain(n);
    }
    expect(t.attributes.filter((x) => x.name === 'IncomingUser')).toHaveLength(2);
    expect(t.luns.map((l) => l.lun)).toEqual([0, 1, 2]);
    expect(t.groups[0]!.initiators.length).toBeGreaterThan(0);
    const devices = new Set(cfg.handlers.flatMap((h) => h.devices.map((d) => d.name)));
    for (const l of [...t.luns, ...t.groups.flatMap((g) => g.luns)]) expect(devices.has(l.device)).toBe(true);
  });
});

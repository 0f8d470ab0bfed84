// Every file and write command of /proc/scsi_tgt (procfs.md §3-§5) against the plain tree: the
// parsing rules, the errno of every refusal, a log line naming what was wrong, and an unchanged
// tree after each refused command.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sense } from '../src/engine/scsi/constants.js';
import { makeTree, nullTransport, snapshotTree, type TestTree } from './helpers/procfs.js';

const E = { EPERM: -1, ENOENT: -2, EIO: -5, EBUSY: -16, EEXIST: -17, EINVAL: -22, EOVERFLOW: -75, EMEDIUMTYPE: -124 };
const MiB = 1024 * 1024;
let dir: string;
let disk: string;
let iso: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'procfs-unit-'));
  disk = join(dir, 'disk.img');
  writeFileSync(disk, '');
  truncateSync(disk, 8 * MiB);
  iso = join(dir, 'cd.iso');
  writeFileSync(iso, Buffer.alloc(MiB));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const len = (s: string | Buffer) => (Buffer.isBuffer(s) ? s.length : Buffer.byteLength(s));

/** A tree with a disk, a nullio disk, a CD and a group g1 with a name and two LUNs. */
async function populated(): Promise<TestTree> {
  const t = makeTree();
  const cmds: Array<[string, string]> = [
    ['/scsi_tgt/vdisk/vdisk', `open d1 ${disk}`],
    ['/scsi_tgt/vdisk/vdisk', 'open n1 /dev/zero 4096 NULLIO'],
    ['/scsi_tgt/vcdrom/vcdrom', `open cd1 ${iso}`],
    ['/scsi_tgt/scsi_tgt', 'add_group g1'],
    ['/scsi_tgt/groups/g1/names', 'add iqn.a:1'],
    ['/scsi_tgt/groups/g1/devices', 'add d1 0'],
    ['/scsi_tgt/groups/g1/devices', 'add n1 1 READ_ONLY'],
  ];
  for (const [p, c] of cmds) expect(await t.write(p, `${c}\n`), `${p}: ${c}`).toBe(len(c) + 1);
  return t;
}

describe('read formats', () => {
  it('help is 954 bytes, or 1582 in a tracing build', () => {
    expect(len(makeTree({ build: { tracing: false } }).read('/scsi_tgt/help'))).toBe(954);
    expect(len(makeTree({ build: { tracing: true } }).read('/scsi_tgt/help'))).toBe(1582);
  });
  it('version lists the build options; trace_level files exist only in tracing builds', () => {
    const t = makeTree({ build: { version: '3.3.0-procfs', options: ['TRACING'], tracing: true } });
    expect(t.read('/scsi_tgt/version')).toBe('3.3.0-procfs\nTRACING\n');
    expect(t.fs.readdir('/scsi_tgt')).toEqual(['scsi_tgt', 'version', 'sessions', 'help', 'threads', 'trace_level', 'groups', 'sgv', 'vdisk', 'vcdrom']);
    expect(t.fs.readdir('/scsi_tgt/vdisk')).toEqual(['type', 'vdisk', 'trace_level', 'help']);
    const n = makeTree({ build: { tracing: false } });
    expect(n.fs.readdir('/scsi_tgt/vcdrom')).toEqual(['type', 'vcdrom', 'help']);
    expect(n.fs.lookup('/scsi_tgt/trace_level')).toBeNull();
  });
  it('empty tables are their header lines', () => {
    const t = makeTree();
    expect(t.read('/scsi_tgt/scsi_tgt')).toBe(`${'Device (host:ch:id:lun or name)'.padEnd(60)}Device handler\n`);
    expect(t.read('/scsi_tgt/groups/Default/devices')).toBe(`${'Device (host:ch:id:lun or name)'.padEnd(60)}LUN          Options\n`);
    expect(t.read('/scsi_tgt/groups/Default/names')).toBe('');
    expect(t.read('/scsi_tgt/vcdrom/vcdrom')).toBe('Name              Size(MB)  File name\n');
    expect(t.read('/scsi_tgt/vdisk/vdisk')).toBe('Name              Size(MB)    Block size  Options         File name                                     T10 device id   \n');
    expect(t.read('/scsi_tgt/sessions')).toBe('Target name          Initiator name                                Group name                          Active/All Commands Count\n');
    expect(t.read('/scsi_tgt/threads')).toBe('1\n');
    expect(t.read('/scsi_tgt/vdisk/help')).toContain('set_t10_dev_id NAME t10_dev_id');
  });
  it('sgv has the reference layout', () => {
    const s = makeTree().read('/scsi_tgt/sgv').split('\n');
    expect(s[0]).toBe(`${'Inactive/active pages'.padEnd(42)} 0/0`);
    expect(s[3]).toBe('');
    expect(s[4]).toBe('Name                           Hit         Total       % merged    Cached (P/I/O)');
    expect(s[5]).toBe('sgv                            0           0           0           0/0/0');
    expect(s[6]).toBe('  sgv-4K                       0           0           0');
    expect(s[16]).toBe('  sgv-4096K                    0           0           0');
    expect(s[17]).toBe('  big/other                                0/0         0/0');
    expect(s.slice(18)).toEqual(['', `${'other'.padEnd(42)} ${'0'.padEnd(11)}`, '']);
  });
  it('trace_level reads the set bits by name', () => {
    const t = makeTree();
    expect(t.read('/scsi_tgt/trace_level')).toBe('out_of_mem | pid | special | mgmt\n');
  });
});

describe('write rules common to every file', () => {
  it('refuses more than 3584 bytes with EOVERFLOW; 3584 is fine', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/scsi_tgt', `add_group g1 ${' '.repeat(3584 - 13)}`)).toBe(3584);
    expect(await t.write('/scsi_tgt/scsi_tgt', `add_group g2 ${' '.repeat(3585 - 13)}`)).toBe(E.EOVERFLOW);
    expect(t.fs.readdir('/scsi_tgt/groups')).toEqual(['Default', 'g1']);
  });
  it('stops at the first NUL and strips exactly one newline', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/scsi_tgt', 'add_group g1\n\0garbage')).toBe(21);
    expect(await t.write('/scsi_tgt/scsi_tgt', 'add_group g2\n\n')).toBe(14);
    expect(await t.write('/scsi_tgt/scsi_tgt', 'add_group g3\r\n')).toBe(14);
    expect(t.fs.readdir('/scsi_tgt/groups')).toEqual(['Default', 'g1', 'g2', 'g3']);
    // Two commands in one write: only the first line counts, the rest is an error.
    expect(await t.write('/scsi_tgt/scsi_tgt', 'add_group g4\nadd_group g5\n')).toBe(E.EINVAL);
  });
  it('returns EIO on a file without a write handler', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/version', 'x\n')).toBe(E.EIO);
    expect(t.logs.some((l) => /no write handler/.test(l.msg))).toBe(true);
  });
  it('ENOENT for paths that do not exist (scstadmin probes iscsi/type, groups/type)', () => {
    const t = makeTree();
    expect(t.fs.getattr('/scsi_tgt/groups/type')).toBe(E.ENOENT);
    expect(t.fs.getattr('/.Trash')).toBe(E.ENOENT);
  });
  it('serves later offsets from the snapshot taken at offset 0', () => {
    const t = makeTree();
    const fh = t.fs.open('/scsi_tgt/scsi_tgt');
    const head = t.fs.read(fh, 10, 0) as Buffer;
    expect(head.toString()).toBe('Device (ho');
    t.scst.threads = 7;
    expect((t.fs.read(fh, 5, 10) as Buffer).toString()).toBe('st:ch');
    t.fs.release(fh);
  });
});

describe('scsi_tgt commands', () => {
  it('add_group takes FLAT or LUN in any case; keywords are case-insensitive', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/scsi_tgt', 'ADD_GROUP gf flat\n')).toBe(18);
    expect(await t.write('/scsi_tgt/scsi_tgt', 'add_group gl LUN\n')).toBe(17);
    expect(t.read('/scsi_tgt/groups/gf/addr_method')).toBe('FLAT\n');
    expect(t.read('/scsi_tgt/groups/gl/addr_method')).toBe('LUN\n');
    expect(t.read('/scsi_tgt/groups/Default/addr_method')).toBe('PERIPHERAL\n');
  });
  it('rename_group keeps LUNs and names; del_group removes the directory', async () => {
    const t = await populated();
    expect(await t.write('/scsi_tgt/scsi_tgt', 'rename_group g1 g2\n')).toBe(19);
    expect(t.read('/scsi_tgt/groups/g2/names')).toBe('iqn.a:1\n');
    expect(t.fs.lookup('/scsi_tgt/groups/g1')).toBeNull();
    expect(await t.write('/scsi_tgt/scsi_tgt', 'del_group g2\n')).toBe(13);
    expect(t.fs.readdir('/scsi_tgt/groups')).toEqual(['Default']);
  });
  it('del_group of a group with a session is EBUSY', async () => {
    const t = await populated();
    const tgt = t.scst.addTarget('iqn.t:1');
    t.scst.createSession(tgt, 'iqn.a:1', nullTransport);
    expect(await t.write('/scsi_tgt/scsi_tgt', 'del_group g1\n')).toBe(E.EBUSY);
    expect(t.logs.some((l) => l.msg.includes('Session is not empty'))).toBe(true);
  });
});

describe('refused commands change nothing', () => {
  const cases: Array<[string, string, number, RegExp]> = [
    ['/scsi_tgt/scsi_tgt', 'frobnicate g1', E.EINVAL, /Unknown action "frobnicate g1"/],
    ['/scsi_tgt/scsi_tgt', 'add_group\tg9', E.EINVAL, /Unknown action/],
    ['/scsi_tgt/scsi_tgt', ' add_group g9', E.EINVAL, /Unknown action/],
    ['/scsi_tgt/scsi_tgt', 'add_group g1', E.EINVAL, /acg name g1 exist/],
    ['/scsi_tgt/scsi_tgt', 'add_group Default', E.EINVAL, /predefined group "Default"/],
    ['/scsi_tgt/scsi_tgt', 'add_group g9 WIDE', E.EINVAL, /Unexpected argument WIDE/],
    ['/scsi_tgt/scsi_tgt', 'add_group g9 FLAT x', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/scsi_tgt', 'add_group ', E.EINVAL, /Group name required/],
    ['/scsi_tgt/scsi_tgt', 'add_group a/b', E.EINVAL, /illegal character/],
    ['/scsi_tgt/scsi_tgt', 'add_group ..', E.EINVAL, /illegal character/],
    ['/scsi_tgt/scsi_tgt', 'del_group nosuch', E.EINVAL, /acg name nosuch not found/],
    ['/scsi_tgt/scsi_tgt', 'del_group Default', E.EINVAL, /predefined/],
    ['/scsi_tgt/scsi_tgt', 'del_group g1 x', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/scsi_tgt', 'rename_group nosuch x', E.EINVAL, /acg name nosuch not found/],
    ['/scsi_tgt/scsi_tgt', 'rename_group Default x', E.EINVAL, /predefined/],
    ['/scsi_tgt/scsi_tgt', 'rename_group g1 Default', E.EINVAL, /predefined/],
    ['/scsi_tgt/scsi_tgt', 'rename_group g1', E.EINVAL, /Group name required/],
    ['/scsi_tgt/scsi_tgt', 'rename_group g1 g2 g3', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/scsi_tgt', 'assign 1:0:0:0 dev_disk', E.EINVAL, /Device 1:0:0:0 not found/],
    ['/scsi_tgt/scsi_tgt', 'assign 1:0 dev_disk', E.EINVAL, /Syntax error/],
    ['/scsi_tgt/groups/g1/devices', 'frob d1 3', E.EINVAL, /Unknown action/],
    ['/scsi_tgt/groups/g1/devices', 'add nosuch 3', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/groups/g1/devices', 'add d1 1', E.EEXIST, /virt lun 1 already exists in group g1/],
    ['/scsi_tgt/groups/g1/devices', 'add d1 16384', E.EINVAL, /Too big LUN 16384 \(max 16383\)/],
    ['/scsi_tgt/groups/g1/devices', 'add d1 0x4000', E.EINVAL, /Too big LUN 16384/],
    ['/scsi_tgt/groups/g1/devices', 'add d1 5 WRITABLE', E.EINVAL, /Unknown option "WRITABLE"/],
    ['/scsi_tgt/groups/g1/devices', 'add d1 5x', E.EINVAL, /Unknown option "x"/],
    ['/scsi_tgt/groups/g1/devices', 'add d1', E.EINVAL, /LUN required/],
    ['/scsi_tgt/groups/g1/devices', 'replace nosuch 0', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/groups/g1/devices', 'replace d1 99999', E.EINVAL, /Too big LUN/],
    ['/scsi_tgt/groups/g1/devices', 'del nosuch', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/groups/g1/names', 'frob x', E.EINVAL, /Unknown action/],
    ['/scsi_tgt/groups/g1/names', 'add iqn.a:1', E.EEXIST, /Name iqn.a:1 already exists in group g1/],
    ['/scsi_tgt/groups/g1/names', 'add a b', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/groups/g1/names', 'add ', E.EINVAL, /Initiator name required/],
    ['/scsi_tgt/groups/g1/names', 'del nobody', E.EINVAL, /Unable to find name 'nobody' in group 'g1'/],
    ['/scsi_tgt/groups/g1/names', 'del a b', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/groups/g1/names', 'move iqn.a:1 nosuch', E.EINVAL, /Group nosuch not found/],
    ['/scsi_tgt/groups/g1/names', 'move nobody Default', E.EINVAL, /Unable to find name/],
    ['/scsi_tgt/groups/g1/names', 'move iqn.a:1 Default x', E.EINVAL, /Too many arguments/],
    ['/scsi_tgt/groups/Default/addr_method', 'FLAT', E.EIO, /no write handler/],
    ['/scsi_tgt/vdisk/vdisk', '', E.EINVAL, /Empty command/],
    ['/scsi_tgt/vdisk/vdisk', '\0open x /y', E.EINVAL, /Empty command/],
    ['/scsi_tgt/vdisk/vdisk', 'OPEN d9 /dev/zero', E.EINVAL, /Unknown action "OPEN d9 \/dev\/zero"/],
    ['/scsi_tgt/vdisk/vdisk', 'open ', E.EINVAL, /Name required/],
    ['/scsi_tgt/vdisk/vdisk', `open ${'x'.repeat(65)} /y`, E.EINVAL, /Name is too long \(max 64 characters\)/],
    ['/scsi_tgt/vdisk/vdisk', 'open d1 /y', E.EEXIST, /Device d1 already exists/],
    ['/scsi_tgt/vdisk/vdisk', 'open cd1 /y', E.EEXIST, /Device cd1 already exists/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9', E.EINVAL, /File name required/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 rel.img', E.EINVAL, /File path "rel.img" is not absolute/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /x 512k', E.EINVAL, /Parse error: "k"/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /x 256', E.EINVAL, /blocksize 256 too small/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /x 512 nullio', E.EINVAL, /Unknown flag "nullio"/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /x 512 NULLIO FAST', E.EINVAL, /Unknown flag "FAST"/],
    ['/scsi_tgt/vdisk/vdisk', 'open d.9 /x 512 NULLIO', E.EINVAL, /illegal character '\.'/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /nonexistent/d9.img', E.ENOENT, /nonexistent/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /dev/zero', E.EINVAL, /not a regular file or block device/],
    ['/scsi_tgt/vdisk/vdisk', 'open d9 /dev/zero BLOCKIO', E.EINVAL, /is NOT a block device/],
    ['/scsi_tgt/vdisk/vdisk', 'close nosuch', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/vdisk/vdisk', 'close cd1', E.EINVAL, /Device cd1 not found/],
    ['/scsi_tgt/vdisk/vdisk', 'resync_size nosuch', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/vdisk/vdisk', 'resync_size n1', E.EINVAL, /NULLIO/],
    ['/scsi_tgt/vdisk/vdisk', 'set_t10_dev_id nosuch X', E.EINVAL, /Device nosuch not found/],
    ['/scsi_tgt/vdisk/vdisk', 'set_t10_dev_id d1', E.EINVAL, /T10 device id required/],
    ['/scsi_tgt/vcdrom/vcdrom', 'open cd1', E.EEXIST, /Device cd1 already exists/],
    ['/scsi_tgt/vcdrom/vcdrom', 'open cd9 rel.iso', E.EINVAL, /File path "rel.iso" is not absolute/],
    ['/scsi_tgt/vcdrom/vcdrom', 'open cd9 /nonexistent.iso', E.ENOENT, /nonexistent/],
    ['/scsi_tgt/vcdrom/vcdrom', 'change d1 /x', E.EINVAL, /Virtual cdrom with name d1 not found/],
    ['/scsi_tgt/vcdrom/vcdrom', 'change cd1 rel.iso', E.EINVAL, /is not absolute/],
    ['/scsi_tgt/vcdrom/vcdrom', 'change cd1 /nonexistent.iso', E.ENOENT, /nonexistent/],
    ['/scsi_tgt/vcdrom/vcdrom', 'close d1', E.EINVAL, /Virtual device with name d1 not found/],
    ['/scsi_tgt/vcdrom/vcdrom', 'eject cd1', E.EINVAL, /Unknown action/],
    ['/scsi_tgt/threads', '0', E.EINVAL, /Illegal threads num value 0/],
    ['/scsi_tgt/threads', ' 4', E.EINVAL, /Illegal threads num value 0/],
    ['/scsi_tgt/threads', '0xffffffff', E.EINVAL, /Illegal threads num value -1/],
    ['/scsi_tgt/trace_level', 'frob', E.EINVAL, /Unknown action "frob/],
    ['/scsi_tgt/trace_level', 'add nosuch', E.EINVAL, /Unknown token "nosuch"/],
    ['/scsi_tgt/trace_level', 'dump_prs nosuch', E.ENOENT, /Device nosuch not found/],
    ['/scsi_tgt/vdisk/trace_level', 'add retry', E.EINVAL, /Unknown token "retry"/],
  ];
  let t: TestTree;
  let before: Map<string, string>;
  beforeAll(async () => {
    t = await populated();
    before = snapshotTree(t.fs);
  });
  for (const [path, cmd, errno, log] of cases) {
    it(`${path.replace('/scsi_tgt/', '')}: ${JSON.stringify(cmd)}`, async () => {
      const n = t.logs.length;
      expect(await t.write(path, cmd.length ? `${cmd}\n` : cmd)).toBe(errno);
      expect(t.logs.slice(n).some((l) => l.level >= 40 && log.test(l.msg)), `log for ${cmd}: ${t.logs.slice(n).map((l) => l.msg).join(' | ')}`).toBe(true);
      expect(snapshotTree(t.fs)).toEqual(before);
    });
  }
});

describe('devices', () => {
  it('numbers are base 0, READ_ONLY is a case-insensitive prefix, clear is a prefix', async () => {
    const t = await populated();
    const dev = '/scsi_tgt/groups/g1/devices';
    expect(await t.write(dev, 'add d1 010 read_onlyXYZ\n')).toBeGreaterThan(0);
    expect(await t.write(dev, 'ADD d1 0x10\n')).toBeGreaterThan(0);
    expect(t.read(dev).split('\n').slice(1, -1).map((l) => l.replace(/ +/g, ' ').trim())).toEqual(['d1 0', 'n1 1 RO', 'd1 8 RO', 'd1 16']);
    // del removes only the first mapping of the device, in list order.
    expect(await t.write(dev, 'del d1 whatever\n')).toBeGreaterThan(0);
    expect([...t.scst.globalGroups.find('g1')!.luns.luns.keys()]).toEqual([1, 8, 16]);
    // replace moves the LUN to the end.
    expect(await t.write(dev, 'replace n1 8\n')).toBeGreaterThan(0);
    expect([...t.scst.globalGroups.find('g1')!.luns.luns.keys()]).toEqual([1, 16, 8]);
    // A device that exists but is not mapped: success, logged.
    expect(await t.write('/scsi_tgt/groups/Default/devices', 'del d1\n')).toBeGreaterThan(0);
    expect(t.logs.some((l) => l.msg === 'Device is not found in group Default')).toBe(true);
    expect(await t.write(dev, 'clearXYZ\n')).toBeGreaterThan(0);
    expect(t.scst.globalGroups.find('g1')!.luns.luns.size).toBe(0);
  });
  it('a session bound to the group gets the new LUN and a REPORTED LUNS DATA HAS CHANGED attention', async () => {
    const t = await populated();
    const s = t.scst.createSession(t.scst.addTarget('iqn.t:1'), 'iqn.a:1', nullTransport);
    expect([...s.tgtDevs.keys()]).toEqual([0, 1]);
    s.tgtDevs.get(0)!.clearUA();
    expect(await t.write('/scsi_tgt/groups/g1/devices', 'add cd1 2\n')).toBeGreaterThan(0);
    expect([...s.tgtDevs.keys()]).toEqual([0, 1, 2]);
    const ua = s.tgtDevs.get(0)!.takeUA()!;
    expect([ua[12], ua[13]]).toEqual([Sense.REPORTED_LUNS_DATA_CHANGED.asc, Sense.REPORTED_LUNS_DATA_CHANGED.ascq]);
  });
});

describe('names and group choice (procfs.md §3.10)', () => {
  it('first matching pattern wins, then Default_<target>, then Default', async () => {
    const t = await populated();
    const tgt = t.scst.addTarget('iqn.t:1');
    const w = async (p: string, c: string) => expect(await t.write(p, `${c}\n`)).toBeGreaterThan(0);
    await w('/scsi_tgt/scsi_tgt', 'add_group Default_iqn.t:1');
    await w('/scsi_tgt/groups/Default_iqn.t:1/devices', 'add cd1 0');
    await w('/scsi_tgt/groups/g1/names', 'add IQN.B:*');
    const a = t.scst.createSession(tgt, 'iqn.a:1', nullTransport);
    const b = t.scst.createSession(tgt, 'iqn.b:77', nullTransport);
    const c = t.scst.createSession(tgt, 'iqn.c:1', nullTransport);
    expect([a.group?.name, b.group?.name, c.group?.name]).toEqual(['g1', 'g1', 'Default_iqn.t:1']);
    // Moving a name re-binds the live session.
    await w('/scsi_tgt/groups/g1/names', 'move iqn.a:1 Default');
    expect(a.group?.name).toBe('Default');
    expect(t.read('/scsi_tgt/sessions').split('\n').slice(1, -1).map((l) => l.split(/ +/).slice(1, 3).join(' '))).toEqual(['iqn.a:1 Default', 'iqn.b:77 g1', 'iqn.c:1 Default_iqn.t:1']);
    // Default has no LUN: that initiator would not be admitted at login.
    expect(tgt.admits('iqn.a:1')).toBe(false);
    expect(tgt.admits('iqn.b:1')).toBe(true);
    await w('/scsi_tgt/groups/Default/names', 'clear');
    await w('/scsi_tgt/groups/g1/names', 'del IQN.B:*');
    expect(b.group?.name).toBe('Default_iqn.t:1');
    // A name moved to its own group goes to the end.
    await w('/scsi_tgt/groups/g1/names', 'add iqn.z:1');
    await w('/scsi_tgt/groups/g1/names', 'add iqn.y:1');
    await w('/scsi_tgt/groups/g1/names', 'move iqn.z:1 g1');
    expect(t.read('/scsi_tgt/groups/g1/names')).toBe('iqn.y:1\niqn.z:1\n');
  });
  it('move to a group that already has the name is EEXIST and changes nothing', async () => {
    const t = await populated();
    expect(await t.write('/scsi_tgt/groups/Default/names', 'add iqn.a:1\n')).toBeGreaterThan(0);
    expect(await t.write('/scsi_tgt/groups/g1/names', 'move iqn.a:1 Default\n')).toBe(E.EEXIST);
    expect(t.read('/scsi_tgt/groups/g1/names')).toBe('iqn.a:1\n');
  });
});

describe('vdisk and vcdrom', () => {
  it('open parses block size (base 0, rounded down to a power of two) and prefix flags', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/vdisk/vdisk', `open a ${disk} 0x1000 NV_CACHEREAD_ONLY REMOVABLE\0`)).toBeGreaterThan(0);
    expect(await t.write('/scsi_tgt/vdisk/vdisk', `open b ${disk} 1000 WRITE_THROUGH READ_ONLY`)).toBeGreaterThan(0);
    expect(await t.write('/scsi_tgt/vdisk/vdisk', 'open c /dev/zero BLOCKIO NULLIO O_DIRECT')).toBeGreaterThan(0);
    const rows = t.read('/scsi_tgt/vdisk/vdisk').split('\n');
    expect(rows[1]!.slice(0, 58)).toBe(`${'a'.padEnd(17)} ${'8'.padEnd(11)} ${'4096'.padEnd(12)}${'NV RO RM '.padEnd(16)}`);
    expect(rows[2]!.slice(0, 58)).toBe(`${'b'.padEnd(17)} ${'8'.padEnd(11)} ${'512'.padEnd(12)}${'WT RO '.padEnd(16)}`);
    expect(rows[3]!.slice(0, 58)).toBe(`${'c'.padEnd(17)} ${'2621440'.padEnd(11)} ${'512'.padEnd(12)}${'NIO '.padEnd(16)}`);
    expect(t.logs.some((l) => /O_DIRECT flag doesn't currently work/.test(l.msg))).toBe(true);
    expect(t.read('/scsi_tgt/scsi_tgt')).toContain(`${'c'.padEnd(60)}vdisk_nullio\n`);
  });
  it('set_t10_dev_id takes the rest of the line, cut to 25 bytes', async () => {
    const t = await populated();
    expect(await t.write('/scsi_tgt/vdisk/vdisk', 'set_t10_dev_id d1   my id  with spaces and more text\n\0')).toBeGreaterThan(0);
    expect(t.scst.devices.get('d1')!.t10DevId).toBe('my id  with spaces and mo');
  });
  it('close unmaps the device everywhere; resync_size re-reads the size', async () => {
    const t = await populated();
    truncateSync(disk, 16 * MiB);
    expect(await t.write('/scsi_tgt/vdisk/vdisk', 'resync_size d1\n')).toBeGreaterThan(0);
    expect(t.scst.devices.get('d1')!.size).toBe(16 * MiB);
    truncateSync(disk, 8 * MiB);
    expect(await t.write('/scsi_tgt/vdisk/vdisk', 'close d1 \n\0')).toBeGreaterThan(0);
    expect(t.read('/scsi_tgt/groups/g1/devices').split('\n').length).toBe(3);
    expect(t.logs.some((l) => l.msg === 'Removed LUN 0 from group g1 (target ?)')).toBe(true);
  });
  it('vcdrom change ejects and inserts; open without a file is an empty drive', async () => {
    const t = await populated();
    expect(await t.write('/scsi_tgt/vcdrom/vcdrom', 'open cd2\n')).toBeGreaterThan(0);
    expect(await t.write('/scsi_tgt/vcdrom/vcdrom', 'change cd1\n')).toBeGreaterThan(0);
    expect(t.read('/scsi_tgt/vcdrom/vcdrom')).toBe(`Name              Size(MB)  File name\n${'cd1'.padEnd(17)} ${'0'.padEnd(9)} none\n${'cd2'.padEnd(17)} ${'0'.padEnd(9)} none\n`);
    expect(await t.write('/scsi_tgt/vcdrom/vcdrom', `change cd2   ${iso}  \n`)).toBeGreaterThan(0);
    expect(t.scst.devices.get('cd2')!.filename).toBe(iso);
    expect(await t.write('/scsi_tgt/vcdrom/vcdrom', 'close cd2\n')).toBeGreaterThan(0);
    expect(t.scst.devices.has('cd2')).toBe(false);
  });
});

describe('threads and trace_level', () => {
  it('threads takes base-0 numbers and ignores trailing text', async () => {
    const t = makeTree();
    expect(await t.write('/scsi_tgt/threads', '010junk\n')).toBe(8);
    expect(t.read('/scsi_tgt/threads')).toBe('8\n');
    expect(t.logs.some((l) => l.msg === 'Changed cmd threads num: old 1, new 8')).toBe(true);
  });
  it('trace_level: all, none, default, add, del, value; vdisk and vcdrom share one mask', async () => {
    const t = makeTree();
    const tl = '/scsi_tgt/trace_level';
    expect(await t.write(tl, 'NONE\n')).toBe(5);
    expect(t.read(tl)).toBe('none\n');
    expect(await t.write(tl, 'add Retry\n')).toBe(10);
    expect(await t.write(tl, 'add debug\n')).toBe(10);
    expect(t.read(tl)).toBe('debug | retry\n');
    expect(await t.write(tl, 'del retry\n')).toBe(10);
    expect(await t.write(tl, 'value 0x2\n')).toBe(10);
    expect(t.read(tl)).toBe('function\n');
    expect(await t.write(tl, 'default\n')).toBe(8);
    expect(t.read(tl)).toBe('out_of_mem | pid | special | mgmt\n');
    expect(t.logs.some((l) => l.msg === 'Changed trace level for "scsi_tgt": old 0x00000002, new 0x00002508')).toBe(true);
    expect(await t.write('/scsi_tgt/vcdrom/trace_level', 'add order\n')).toBe(10);
    expect(t.read('/scsi_tgt/vdisk/trace_level')).toContain('order');
    expect(await t.write('/scsi_tgt/iscsi/trace_level', 'all\n')).toBe(E.ENOENT); // no iscsi dir without a driver
  });
});

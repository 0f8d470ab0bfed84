// The seed sample (shared/seeds/002_...: "Sample Content from /fuse/scst/proc/scsi_tgt") built
// through the tree's own commands where possible, compared byte for byte with golden files
// typed from procfs.md's formats.
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { fakeDevice, makeTree, nullTransport, readGolden } from './helpers/procfs.js';

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden', 'procfs', 'seed');
const MiB = 1024 * 1024;
const DEBIAN = 'iqn.1993-08.org.debian:01:9778279657b7';

async function seedTree() {
  const targets = [1, 2, 3, 4].map((i) => `iqn.2001-04.com.example.blackbox:${i}`);
  const isessions = new Map<number, unknown>();
  const iscsi = { sessions: isessions } as unknown as IscsiDriver;
  const t = makeTree({ build: { version: '3.3.0-pre1-procfs', options: ['TEST_IO_IN_SIRQ'], tracing: false }, iscsi });
  const ok = async (path: string, cmd: string) => expect(await t.write(path, cmd)).toBe(Buffer.byteLength(cmd));
  for (const n of targets) t.scst.addTarget(n).enabled = true;
  await ok('/scsi_tgt/vdisk/vdisk', 'open null_NULLIO /dev/zero 512 NULLIO\0');
  // Files the daemon cannot open here (/dev/zero as FILEIO, /dev/sda5, /tmp/disk_*): same listing, sizes from the seed.
  fakeDevice(t.scst, { name: 'zero_ZERO', handler: 'vdisk_fileio', size: 2 ** 50, filename: '/dev/zero', nvCache: true });
  fakeDevice(t.scst, { name: 'disk_sda5', handler: 'vdisk_fileio', size: 15280 * MiB, blockSize: 4096, filename: '/dev/sda5' });
  for (const [n, mb] of [['b1', 600], ['b2', 601], ['c1', 602], ['c2', 603]] as const) fakeDevice(t.scst, { name: `file_${n}`, handler: 'vdisk_fileio', size: mb * MiB, filename: `/tmp/disk_${n}`, nvCache: true });
  for (const [d, id] of [['null_NULLIO', 'N000'], ['zero_ZERO', 'Z000'], ['disk_sda5', 'sda5'], ['file_b1', 'F_b1'], ['file_b2', 'F_b2'], ['file_c1', 'F_c1'], ['file_c2', 'F_c2']]) await ok('/scsi_tgt/vdisk/vdisk', `set_t10_dev_id ${d} ${id}\n\0`);
  // What scstadmin wrote for the seed (procfs.md §7.3 byte forms).
  await ok('/scsi_tgt/scsi_tgt', 'add_group cian\n');
  await ok('/scsi_tgt/groups/cian/names', `add ${DEBIAN}\n\0`);
  await ok('/scsi_tgt/groups/cian/names', 'add iqn.1991-05.com.microsoft:borgcube\n\0');
  for (const [d, l] of [['file_c1', 31], ['zero_ZERO', 1], ['file_b2', 22], ['null_NULLIO', 0], ['file_b1', 21], ['file_c2', 32]] as const) await ok('/scsi_tgt/groups/cian/devices', `add ${d} ${l} \n\0`);
  await ok('/scsi_tgt/groups/Default/devices', 'add null_NULLIO 0 \n\0');
  await ok('/scsi_tgt/groups/Default/devices', 'add zero_ZERO 1 \n\0');
  // One logged-in initiator on target 1, as in the seed.
  const tgt1 = t.scst.targets.get(targets[0]!)!;
  const s = t.scst.createSession(tgt1, DEBIAN, nullTransport);
  const sock = { remoteAddress: '10.42.0.95', destroyed: false, writableLength: 0 };
  isessions.set(1, { tsih: 1, isid: Buffer.from([0x00, 0x02, 0x3d, 0x04, 0x00, 0x00]), initiatorName: DEBIAN, target: tgt1, params: { HeaderDigest: 'None', DataDigest: 'None' }, scst: s, createdAt: 1, conn: { cid: 0, phase: 'ffp', socket: sock, remoteAddress: sock.remoteAddress } });
  return t;
}

describe('procfs: the seed sample', () => {
  it('renders every file of the sample byte for byte', async () => {
    const t = await seedTree();
    const golden = readGolden(GOLDEN);
    expect(golden.size).toBeGreaterThan(10);
    for (const [path, want] of golden) expect(t.read(path), path).toBe(want);
  });

  it('binds the seed initiator to group cian with its six LUNs', async () => {
    const t = await seedTree();
    const s = [...t.scst.sessions][0]!;
    expect(s.group?.name).toBe('cian');
    expect([...s.tgtDevs.keys()].sort((a, b) => a - b)).toEqual([0, 1, 21, 22, 31, 32]);
    expect(t.logs.some((l) => l.msg === 'Added device file_c1 to group cian (LUN 31, flags 0x0) to target ?')).toBe(true);
    expect(t.logs.some((l) => l.msg === 'T10 device id for device null_NULLIO changed to N000')).toBe(true);
  });
});

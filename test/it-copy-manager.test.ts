// EXTENDED COPY through the copy manager (SCST's scst_copy_mgr.c), against scstd started from an
// appliance-style scst.conf that has a TARGET_DRIVER copy_manager section: libiscsi's
// ExtendedCopy and ReceiveCopyResults families on a target with two LUNs, then copies by a raw
// initiator (written independently of the daemon) between logical units named by their VPD 0x83
// designators: one of its own, one it reaches only because another target maps it to everyone,
// one mapped only to another initiator's group (refused, then allowed through
// allow_not_connected_copy written into the mounted tree).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { freePort } from './helpers/proc.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { iscsiTestCu, testsWith } from './helpers/iscsi-test-cu.js';
import { Cdb, RawIscsiClient, senseKey } from './helpers/rawclient.js';

installHarnessHooks();

const MiB = 1024 * 1024;
const IQN = 'iqn.2026-11.test.xcopy';
const INI = 'iqn.2026-11.test:copier';
const OTHER = 'iqn.2026-11.test:someone-else';
const BS = 512;

let d: ScstdHandle;
let mnt: string;

const conf = (dir: string) => `TARGET_DRIVER copy_manager {
	TARGET copy_manager_tgt {
		LUN 0 src
		LUN 1 dst
		LUN 2 shared
		LUN 3 secret
	}
}

HANDLER vdisk_fileio {
	DEVICE src {
		filename ${dir}/src.img
	}
	DEVICE dst {
		filename ${dir}/dst.img
	}
	DEVICE shared {
		filename ${dir}/shared.img
	}
	DEVICE secret {
		filename ${dir}/secret.img
	}
}

TARGET_DRIVER iscsi {
	enabled 1

	TARGET ${IQN}:two {
		enabled 1
		LUN 0 src
		LUN 1 dst
	}

	TARGET ${IQN}:shared {
		enabled 1
		LUN 0 shared
	}

	TARGET ${IQN}:secret {
		enabled 1
		GROUP other {
			LUN 0 secret
			INITIATOR ${OTHER}
		}
	}
}
`;

beforeAll(async () => {
  const dir = await tmpDir('xcopy-');
  for (const n of ['src', 'dst', 'shared', 'secret']) await sparseFile(join(dir, `${n}.img`), 16 * MiB);
  mnt = join(dir, 'mnt');
  d = await startScstd({ config: conf(dir), listen: [await freePort()], extraArgs: ['--mount', mnt], logLevel: 'info' });
}, 60_000);

afterAll(async () => {
  await d?.stop();
});

async function login(target: string, initiator = INI): Promise<RawIscsiClient> {
  const c = await RawIscsiClient.connect(d.ports[0]!);
  const r = await c.login({ initiatorName: initiator, targetName: `${IQN}:${target}` });
  expect(r.ok, r.error).toBe(true);
  return c;
}

/**
 * The EUI-64 designator (type 2, logical-unit association) from VPD 0x83, as its 4-byte header +
 * value: the one every vdisk LU has (SCST's vdisk_dev_id_vpd lists an NAA only when naa_id is set).
 */
async function designatorOf(c: RawIscsiClient, lun: number): Promise<Buffer> {
  const r = await c.scsi({ lun, cdb: Cdb.inquiry(255, true, 0x83), readLength: 255 });
  expect(r.status).toBe(0);
  const p = r.data;
  for (let off = 4; off + 4 <= 4 + p.readUInt16BE(2); off += 4 + p[off + 3]!) {
    if ((p[off + 1]! & 0x3f) === 0x02) return Buffer.from(p.subarray(off, off + 4 + p[off + 3]!));
  }
  throw new Error('no EUI-64 designator');
}

function identificationDescriptor(designator: Buffer): Buffer {
  const td = Buffer.alloc(32);
  td[0] = 0xe4;
  td[1] = 0x00; // LU ID type 0, peripheral device type 0 (block)
  designator.copy(td, 4);
  td.writeUIntBE(BS, 29, 3);
  return td;
}

/** EXTENDED COPY(LID1): one block-to-block segment from descriptor 0 to descriptor 1. */
function xcopyParams(listId: number, src: Buffer, dst: Buffer, blocks: number, srcLba: number, dstLba: number): Buffer {
  const seg = Buffer.alloc(28);
  seg[0] = 0x02;
  seg.writeUInt16BE(0x18, 2);
  seg.writeUInt16BE(0, 4);
  seg.writeUInt16BE(1, 6);
  seg.writeUInt16BE(blocks, 10);
  seg.writeBigUInt64BE(BigInt(srcLba), 12);
  seg.writeBigUInt64BE(BigInt(dstLba), 20);
  const hdr = Buffer.alloc(16);
  hdr[0] = listId;
  hdr.writeUInt16BE(64, 2);
  hdr.writeUInt32BE(28, 8);
  return Buffer.concat([hdr, identificationDescriptor(src), identificationDescriptor(dst), seg]);
}

function xcopyCdb(len: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x83;
  c.writeUInt32BE(len, 10);
  return c;
}

const pattern = (blocks: number, seed: number) => Buffer.from(Array.from({ length: blocks * BS }, (_, i) => (i * 7 + seed) & 0xff));

describe('the copy manager', () => {
  it("libiscsi's ExtendedCopy and ReceiveCopyResults families pass on a target with two LUNs", async () => {
    const url = `iscsi://127.0.0.1:${d.ports[0]}/${IQN}:two/0`;
    const s = await iscsiTestCu(url, null, { tests: 'ALL.ExtendedCopy,ALL.ReceiveCopyResults', timeoutMs: 5 * 60_000 });
    const context = `${s.run.timedOut ? 'TIMED OUT' : `exit ${s.run.code}`}\n${s.run.stdout.slice(-3000)}`;
    expect(s.run.timedOut, context).toBe(false);
    expect(s.ran, context).toBeGreaterThanOrEqual(8);
    expect(testsWith(s, 'failed'), context).toEqual([]);
    expect(testsWith(s, 'passed'), context).toEqual(expect.arrayContaining(['ExtendedCopy.Simple', 'ReceiveCopyResults.CopyStatus', 'ReceiveCopyResults.OpParams']));
  }, 6 * 60_000);

  it('copies between two LUNs of the session, and to a LU the session does not see but another target maps to all', async () => {
    const c = await login('two');
    const data = pattern(16, 3);
    expect((await c.scsi({ lun: 0, cdb: Cdb.write10(100, 16), writeData: data })).status).toBe(0);
    const [src, dst] = [await designatorOf(c, 0), await designatorOf(c, 1)];
    const p = xcopyParams(1, src, dst, 16, 100, 200);
    const r = await c.scsi({ lun: 0, cdb: xcopyCdb(p.length), writeData: p });
    expect(r.status, r.sense?.toString('hex')).toBe(0);
    const back = await c.scsi({ lun: 1, cdb: Cdb.read10(200, 16), readLength: 16 * BS });
    expect(back.data.equals(data)).toBe(true);

    // "shared" is no LUN of this session; the copy manager finds it by its designator.
    const other = await login('shared', 'iqn.2026-11.test:reader');
    const shared = await designatorOf(other, 0);
    const p2 = xcopyParams(2, src, shared, 16, 100, 300);
    const r2 = await c.scsi({ lun: 0, cdb: xcopyCdb(p2.length), writeData: p2 });
    expect(r2.status, r2.sense?.toString('hex')).toBe(0);
    const seen = await other.scsi({ lun: 0, cdb: Cdb.read10(300, 16), readLength: 16 * BS });
    expect(seen.data.equals(data)).toBe(true);
    c.destroy();
    other.destroy();
  }, 30_000);

  it('refuses a LU mapped only to another initiator, unless allow_not_connected_copy is set', async () => {
    const c = await login('two');
    const owner = await login('secret', OTHER);
    const secret = await designatorOf(owner, 0);
    const src = await designatorOf(c, 0);
    const p = xcopyParams(3, src, secret, 8, 0, 0);
    const r = await c.scsi({ lun: 0, cdb: xcopyCdb(p.length), writeData: p });
    expect(r.status).toBe(2);
    expect(senseKey(r.sense)).toBe(5); // ILLEGAL REQUEST
    expect(r.sense![12]).toBe(0x26); // INVALID FIELD IN PARAMETER LIST, pointing at the descriptor
    expect(r.sense!.readUInt16BE(16)).toBe(16 + 32);
    await d.waitForLog(new RegExp(`Initiator ${INI} not allowed to use device secret in EXTENDED COPY command`), 5_000);

    const attr = join(mnt, 'sys/kernel/scst_tgt/targets/copy_manager/allow_not_connected_copy');
    expect(await readFile(attr, 'utf8')).toBe('0\n');
    await writeFile(attr, '1');
    expect(await readFile(attr, 'utf8')).toBe('1\n[key]\n');
    const r2 = await c.scsi({ lun: 0, cdb: xcopyCdb(p.length), writeData: p });
    expect(r2.status, r2.sense?.toString('hex')).toBe(0);
    await writeFile(attr, '0');
    c.destroy();
    owner.destroy();
  }, 30_000);

  it('a device whose copy manager LUN is deleted cannot be copied to; an unknown designator is refused', async () => {
    const c = await login('two');
    const [src, dst] = [await designatorOf(c, 0), await designatorOf(c, 1)];
    const luns = join(mnt, 'sys/kernel/scst_tgt/targets/copy_manager/copy_manager_tgt/luns');
    await writeFile(join(luns, 'mgmt'), 'del 1');
    const p = xcopyParams(4, src, dst, 1, 0, 0);
    const r = await c.scsi({ lun: 0, cdb: xcopyCdb(p.length), writeData: p });
    expect(senseKey(r.sense)).toBe(5);
    expect(r.sense!.readUInt16BE(16)).toBe(16 + 32);
    await writeFile(join(luns, 'mgmt'), 'add dst 1');
    const again = await c.scsi({ lun: 0, cdb: xcopyCdb(p.length), writeData: p });
    expect(again.status, again.sense?.toString('hex')).toBe(0);
    const unknown = Buffer.from(src);
    unknown[unknown.length - 1]! ^= 0xff;
    const p2 = xcopyParams(5, unknown, dst, 1, 0, 0);
    const r2 = await c.scsi({ lun: 0, cdb: xcopyCdb(p2.length), writeData: p2 });
    expect(senseKey(r2.sense)).toBe(5);
    expect(r2.sense!.readUInt16BE(16)).toBe(16);
    c.destroy();
  }, 30_000);
});

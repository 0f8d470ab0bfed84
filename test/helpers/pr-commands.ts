// Persistent reservation and RESERVE/RELEASE commands as the tests issue them through the raw
// client (test/helpers/rawclient.ts), and readers of what PERSISTENT RESERVE IN returns (SPC-4
// 6.15, 6.16).
import { expect } from 'vitest';
import { senseKey, type RawIscsiClient, type ScsiResult } from './rawclient.js';

/** PERSISTENT RESERVE OUT: service action `sa`, TYPE `type`, reservation key, service action key. */
export function prOut(sa: number, type: number, rk: bigint, sark: bigint, aptpl = false): { cdb: Buffer; writeData: Buffer } {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = sa;
  cdb[2] = type;
  cdb.writeUInt32BE(24, 5);
  const p = Buffer.alloc(24);
  p.writeBigUInt64BE(rk, 0);
  p.writeBigUInt64BE(sark, 8);
  p[20] = aptpl ? 1 : 0;
  return { cdb, writeData: p };
}

/** PERSISTENT RESERVE IN with service action `sa` (0 READ KEYS, 1 READ RESERVATION, 2 REPORT CAPABILITIES). */
export function prIn(sa: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x5e;
  c[1] = sa;
  c.writeUInt16BE(1024, 7);
  return c;
}

export const reserve6 = (): Buffer => Buffer.from([0x16, 0, 0, 0, 0, 0]);
export const release6 = (): Buffer => Buffer.from([0x17, 0, 0, 0, 0, 0]);

/** "KEY/ASC/ASCQ" of a CHECK CONDITION, or the status in hex. */
export function outcome(r: ScsiResult): string {
  if (r.status === 2 && r.sense) return `${senseKey(r.sense)!.toString(16)}/${r.sense[12]!.toString(16).padStart(2, '0')}/${r.sense[13]!.toString(16).padStart(2, '0')}`;
  return r.status === null ? `no status (closed ${r.closed}, timed out ${r.timedOut})` : `0x${r.status.toString(16)}`;
}

/** The registered keys (READ KEYS). */
export async function readKeys(c: RawIscsiClient, lun = 0): Promise<bigint[]> {
  const r = await c.scsi({ lun, cdb: prIn(0), readLength: 1024 });
  expect(outcome(r)).toBe('0x0');
  return Array.from({ length: r.data.readUInt32BE(4) / 8 }, (_, i) => r.data.readBigUInt64BE(8 + i * 8));
}

/** The reservation's key and type (READ RESERVATION), null when none. */
export async function readReservation(c: RawIscsiClient, lun = 0): Promise<{ key: bigint; type: number } | null> {
  const r = await c.scsi({ lun, cdb: prIn(1), readLength: 1024 });
  expect(outcome(r)).toBe('0x0');
  return r.data.readUInt32BE(4) >= 16 ? { key: r.data.readBigUInt64BE(8), type: r.data[21]! & 0x0f } : null;
}

// In-process SCSI command runner for unit tests of the command sets: a core with devices and
// sessions, no transport. Commands go through the same parse/exec stages the iSCSI layer uses.
import pino from 'pino';
import { DataDir } from '../../src/engine/cmd.js';
import { Scst } from '../../src/engine/scst.js';
import type { ScstSession, SessionTransport } from '../../src/engine/session.js';
import type { Device, HandlerName } from '../../src/engine/device.js';
import { execCmd, fitToEdtl, parseCmd } from '../../src/engine/scsi/exec.js';
import { registerIsid } from '../../src/engine/scsi/nexus.js';
import type { Target } from '../../src/engine/target.js';
import type { ReservationStore } from '../../src/engine/reservations.js';

export interface CmdResult {
  status: number;
  sense: Buffer | null;
  data: Buffer;
  /** Sense key / ASC / ASCQ for quick assertions (-1 when no sense). */
  key: number;
  asc: number;
  ascq: number;
}

export interface UnitCore {
  scst: Scst;
  target: Target;
  devices: Map<string, Device>;
  /** A session of initiator `name` with ISID `isid` (hex); its unit attentions already taken. */
  session(name?: string, isid?: string, transport?: Partial<SessionTransport>): ScstSession;
}

let itt = 1;

export async function unitCore(
  devs: Array<{ name: string; handler: HandlerName; params: Array<[string, string]> }>,
  opts: { stateDir?: string; reservations?: ReservationStore; relTgtId?: number } = {},
): Promise<UnitCore> {
  const scst = new Scst(pino({ level: 'silent' }));
  if (opts.reservations) scst.reservations = opts.reservations;
  const devices = new Map<string, Device>();
  const prev = process.env.SCSTD_STATE_DIR;
  if (opts.stateDir) process.env.SCSTD_STATE_DIR = opts.stateDir;
  else delete process.env.SCSTD_STATE_DIR;
  try {
    for (const d of devs) devices.set(d.name, await scst.addDevice(d.handler, d.name, d.params));
  } finally {
    if (prev === undefined) delete process.env.SCSTD_STATE_DIR;
    else process.env.SCSTD_STATE_DIR = prev;
  }
  const target = scst.addTarget('iqn.2026-11.test:unit');
  target.relTgtId = opts.relTgtId ?? 1;
  [...devices.values()].forEach((d, i) => target.defaultLuns.add(d, i, false));
  return {
    scst,
    target,
    devices,
    session(name = 'iqn.2026-11.test:ini1', isid = '800000000001', transport = {}) {
      const s = scst.createSession(target, name, { forceClose() {}, abortCommand: async () => {}, abortDeviceTasks: async () => {}, ...transport });
      registerIsid(s, Buffer.from(isid, 'hex'));
      for (const td of s.tgtDevs.values()) td.clearUA();
      return s;
    },
  };
}

/** Run one command to completion. `dataOut` is the data the initiator sends (write direction). */
export function runCmd(s: ScstSession, lun: number, cdb: number[] | Buffer, o: { dataOut?: Buffer; edtl?: number } = {}): Promise<CmdResult> {
  const c = Buffer.alloc(Math.max(16, cdb.length));
  Buffer.from(cdb).copy(c);
  const edtl = o.edtl ?? o.dataOut?.length ?? 0;
  const cmd = s.newCmd(itt++, lun, c.subarray(0, cdb.length < 6 ? 6 : cdb.length), edtl);
  return new Promise((resolve) => {
    cmd.onComplete((x) => {
      const data = x.dir === DataDir.READ && x.pbuf ? Buffer.from(x.buf.subarray(0, Math.min(x.dataInLength, edtl || x.dataInLength))) : Buffer.alloc(0);
      const sense = x.sense ? Buffer.from(x.sense) : null;
      const r: CmdResult = { status: x.status, sense, data, key: sense ? sense[2]! & 0x0f : -1, asc: sense ? sense[12]! : -1, ascq: sense ? sense[13]! : -1 };
      // The transport's reference goes once the response would be on the wire.
      setImmediate(() => {
        x.put();
        resolve(r);
      });
    });
    if (!parseCmd(cmd)) return;
    // As a transport does when the initiator announces less data-out than the CDB describes.
    if (cmd.dir === DataDir.WRITE && cmd.dataLength > edtl) fitToEdtl(cmd, edtl);
    if (cmd.isDone) return;
    if (cmd.dir === DataDir.WRITE && cmd.dataLength > 0) {
      // As a transport does: what arrived is copied in and accounted for by range.
      const n = (o.dataOut ?? Buffer.alloc(0)).copy(cmd.buf, 0, 0, Math.min(cmd.dataLength, o.dataOut?.length ?? 0));
      cmd.markReceived(0, n);
    }
    execCmd(cmd);
  });
}

/** CDB builders for the commands the unit tests use. */
export const cdb = {
  read10: (lba: number, blocks: number) => [0x28, 0, ...u32(lba), 0, ...u16(blocks), 0],
  write10: (lba: number, blocks: number, flags = 0) => [0x2a, flags, ...u32(lba), 0, ...u16(blocks), 0],
  prIn: (sa: number, alloc = 8192) => [0x5e, sa, 0, 0, 0, 0, 0, ...u16(alloc), 0],
  prOut: (sa: number, type = 0, len = 24) => [0x5f, sa, type, 0, 0, ...u32(len), 0],
  reserve6: () => [0x16, 0, 0, 0, 0, 0],
  release6: () => [0x17, 0, 0, 0, 0, 0],
  tur: () => [0, 0, 0, 0, 0, 0],
  modeSense6: (page: number, alloc = 255) => [0x1a, 0x08, page, 0, alloc, 0],
  rsocAll: (rctd = false, alloc = 65535) => [0xa3, 0x0c, rctd ? 0x80 : 0, 0, 0, 0, ...u32(alloc), 0, 0],
  rsocOne: (opts: number, opcode: number, sa = 0, alloc = 512) => [0xa3, 0x0c, opts, opcode, ...u16(sa), ...u32(alloc), 0, 0],
  unmap: (len: number) => [0x42, 0, 0, 0, 0, 0, 0, ...u16(len), 0],
  writeSame16: (lba: number, blocks: number, flags = 0) => [0x93, flags, ...u64(lba), ...u32(blocks), 0, 0],
  getLbaStatus: (lba: number, alloc = 1024) => [0x9e, 0x12, ...u64(lba), ...u32(alloc), 0, 0],
  caw: (lba: number, blocks: number) => [0x89, 0, ...u64(lba), 0, 0, 0, blocks, 0, 0],
  orwrite: (lba: number, blocks: number) => [0x8b, 0, ...u64(lba), ...u32(blocks), 0, 0],
  xcopy: (len: number) => [0x83, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...u32(len), 0, 0],
  rcr: (sa: number, listId: number, alloc = 1024) => [0x84, sa, listId, 0, 0, 0, 0, 0, 0, 0, ...u32(alloc), 0, 0],
  sanitize: (sa: number, len: number, immed = false) => [0x48, sa | (immed ? 0x80 : 0), 0, 0, 0, 0, 0, ...u16(len), 0],
  startStop: (b4: number) => [0x1b, 0, 0, 0, b4, 0],
  preventAllow: (prevent: boolean) => [0x1e, 0, 0, 0, prevent ? 1 : 0, 0],
};

export function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}
export function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
export function u64(v: number): number[] {
  return [...u32(Math.floor(v / 0x100000000)), ...u32(v >>> 0)];
}

/** PR OUT basic parameter list (SPC-4 6.16.3). */
export function prParams(rk: bigint, sark: bigint, flags = 0): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64BE(rk, 0);
  b.writeBigUInt64BE(sark, 8);
  b[20] = flags;
  return b;
}

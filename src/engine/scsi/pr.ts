import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';
import { Op, Sense, Status, type Asc } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import type { OpDesc } from './op.js';
import { dataIn, invalidField, paramData, replyData, serviceActionGroup } from './util.js';
import { encodeTransportId, nexusOf, parseTransportId, sameInitiatorPort, type NexusId } from './nexus.js';
import { loadPr, PrSaver, type StoredPr } from './pr-store.js';

// Persistent reservations (SPC-4 5.13, 6.15, 6.16): registrations per I_T nexus, one
// reservation per logical unit, the conflicts it causes, the unit attentions its changes send,
// and the APTPL state kept in the state directory.

export const PrType = {
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 8,
} as const;

const VALID_TYPES: readonly number[] = [1, 3, 5, 6, 7, 8];

export const PrOutSa = {
  REGISTER: 0,
  RESERVE: 1,
  RELEASE: 2,
  CLEAR: 3,
  PREEMPT: 4,
  PREEMPT_AND_ABORT: 5,
  REGISTER_AND_IGNORE_EXISTING_KEY: 6,
  REGISTER_AND_MOVE: 7,
} as const;

export const PrInSa = { READ_KEYS: 0, READ_RESERVATION: 1, REPORT_CAPABILITIES: 2, READ_FULL_STATUS: 3 } as const;

export interface Registration extends NexusId {
  key: bigint;
  /** Registered through every target port (ALL_TG_PT): matches any relative target port. */
  allTgPt: boolean;
}

function isAllRegistrants(type: number): boolean {
  return type === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

function isRegistrantsOnly(type: number): boolean {
  return type === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || type === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY;
}

/** The persistent reservation state of one logical unit. */
export class PrState {
  generation = 0;
  readonly regs: Registration[] = [];
  /** Reservation type, 0 when the logical unit is not reserved. */
  type = 0;
  /** The holder for the single-holder types; null for the all-registrants types. */
  holder: Registration | null = null;
  /** Activate persist through power loss (last APTPL bit received). */
  aptpl = false;
  /** Where APTPL state goes; null when the daemon has no state directory. */
  saver: PrSaver | null = null;

  get reserved(): boolean {
    return this.type !== 0;
  }

  find(n: NexusId): Registration | undefined {
    return this.regs.find((r) => sameInitiatorPort(r, n) && (r.allTgPt || r.relTgtId === n.relTgtId));
  }

  isHolder(reg: Registration | undefined): boolean {
    if (!reg || !this.reserved) return false;
    return isAllRegistrants(this.type) ? true : this.holder === reg;
  }

  bump(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  release(): void {
    this.type = 0;
    this.holder = null;
  }

  remove(reg: Registration): void {
    const i = this.regs.indexOf(reg);
    if (i >= 0) this.regs.splice(i, 1);
    if (this.holder === reg) this.release();
    if (isAllRegistrants(this.type) && this.regs.length === 0) this.release();
  }

  snapshot(): StoredPr {
    return {
      generation: this.generation,
      aptpl: this.aptpl,
      registrations: this.regs.map((r) => ({ key: r.key, initiator: r.initiator, isid: r.isid, relTgtId: r.relTgtId, allTgPt: r.allTgPt })),
      reservation: this.reserved ? { type: this.type, holder: this.holder ? this.regs.indexOf(this.holder) : null } : null,
    };
  }

  restore(s: StoredPr): void {
    this.generation = s.generation;
    this.aptpl = s.aptpl;
    this.regs.length = 0;
    for (const r of s.registrations) this.regs.push({ ...r });
    this.release();
    if (s.reservation) {
      this.type = s.reservation.type;
      this.holder = s.reservation.holder === null ? null : this.regs[s.reservation.holder]!;
    }
  }
}

const states = new WeakMap<Device, PrState>();

export function prState(dev: Device): PrState {
  let s = states.get(dev);
  if (!s) {
    s = new PrState();
    states.set(dev, s);
  }
  return s;
}

/** Whether any registration exists (RESERVE/RELEASE(6/10) then conflict, SPC-4 5.13.3). */
export function hasRegistrations(dev: Device): boolean {
  return (states.get(dev)?.regs.length ?? 0) > 0;
}

/**
 * Attach the state directory to a device and restore what an earlier run saved with APTPL.
 * Throws (with the file name) when the saved state is corrupt.
 */
export async function restorePr(dev: Device, stateDir: string): Promise<void> {
  const s = prState(dev);
  s.saver = new PrSaver(stateDir, dev.name);
  const saved = await loadPr(stateDir, dev.name);
  if (saved) s.restore(saved);
}

/**
 * Does a command of class `res` from nexus `n` conflict with the persistent reservation? (SPC-4
 * 5.13.1, the table of commands vs reservation types).
 */
export function prConflict(dev: Device, n: NexusId, res: 'allowed' | 'read' | 'write'): boolean {
  const s = states.get(dev);
  if (!s || !s.reserved || res === 'allowed') return false;
  const reg = s.find(n);
  if (s.isHolder(reg)) return false;
  switch (s.type) {
    case PrType.WRITE_EXCLUSIVE:
      return res === 'write';
    case PrType.EXCLUSIVE_ACCESS:
      return true;
    case PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
    case PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
      return res === 'write' && !reg;
    default: // the exclusive-access registrants types
      return !reg;
  }
}

// ---- PERSISTENT RESERVE IN ------------------------------------------------------------------

function prInParse(cmd: ScsiCmd): void {
  dataIn(cmd, cmd.cdb.readUInt16BE(7));
}

function header(gen: number, addl: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(gen, 0);
  h.writeUInt32BE(addl, 4);
  return h;
}

function readKeys(dev: Device): Buffer {
  const s = prState(dev);
  const keys = Buffer.alloc(s.regs.length * 8);
  s.regs.forEach((r, i) => keys.writeBigUInt64BE(r.key, i * 8));
  return Buffer.concat([header(s.generation, keys.length), keys]);
}

function readReservation(dev: Device): Buffer {
  const s = prState(dev);
  if (!s.reserved) return header(s.generation, 0);
  const d = Buffer.alloc(16);
  d.writeBigUInt64BE(s.holder ? s.holder.key : 0n, 0); // all-registrants types report key 0
  d[13] = s.type & 0x0f; // scope LU (0)
  return Buffer.concat([header(s.generation, 16), d]);
}

function reportCapabilities(dev: Device): Buffer {
  const s = prState(dev);
  const b = Buffer.alloc(8);
  b.writeUInt16BE(8, 0);
  // CRH: RESERVE(6/10) still works while no registration exists; ATP_C: ALL_TG_PT supported;
  // PTPL_C only when there is somewhere to persist to. SIP_C (SPEC_I_PT) is not supported.
  b[2] = 0x10 | 0x04 | (s.saver ? 0x01 : 0);
  b[3] = 0x80 | (s.aptpl ? 0x01 : 0); // TMV; ALLOW COMMANDS 000b
  b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
  b[5] = 0x01; // EX_AC_AR
  return b;
}

function readFullStatus(dev: Device): Buffer {
  const s = prState(dev);
  const descs = s.regs.map((r) => {
    const tid = encodeTransportId(r);
    const d = Buffer.alloc(24);
    d.writeBigUInt64BE(r.key, 0);
    const holder = s.isHolder(r);
    d[12] = (r.allTgPt ? 0x02 : 0) | (holder ? 0x01 : 0);
    if (holder) d[13] = s.type & 0x0f;
    d.writeUInt16BE(r.allTgPt ? 0 : r.relTgtId, 18);
    d.writeUInt32BE(tid.length, 20);
    return Buffer.concat([d, tid]);
  });
  const body = Buffer.concat(descs);
  return Buffer.concat([header(s.generation, body.length), body]);
}

function prInMember(sa: number, name: string, build: (dev: Device) => Buffer): OpDesc {
  return {
    name: `PERSISTENT RESERVE IN(${name})`,
    flags: 0,
    sa,
    res: 'allowed',
    usage: [Op.PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
    parse: prInParse,
    exec(cmd, dev) {
      // The additional length reports everything; the allocation length only truncates.
      replyData(cmd, build(dev!));
    },
  };
}

// ---- PERSISTENT RESERVE OUT -----------------------------------------------------------------

const BASIC_PARAM_LEN = 24;

function conflict(cmd: ScsiCmd): void {
  cmd.complete(Status.RESERVATION_CONFLICT);
}

function paramError(asc: Asc = Sense.INVALID_FIELD_IN_PARAM_LIST, field?: number): ScsiError {
  return new ScsiError(asc, field !== undefined ? { field, cdb: false } : undefined);
}

/** Queue `asc` on every nexus of `dev` whose I_T nexus satisfies `who`. */
function uaTo(dev: Device, who: (n: NexusId) => boolean, asc: Asc): void {
  for (const td of dev.tgtDevs) if (who(nexusOf(td.session))) td.queueUA(asc);
}

function regMatches(r: Registration): (n: NexusId) => boolean {
  return (n) => sameInitiatorPort(r, n) && (r.allTgPt || r.relTgtId === n.relTgtId);
}

/**
 * Finish a PR OUT: persist when APTPL is active (or was just turned off), then report GOOD.
 * The command completes only once the state is on stable storage, so a crash after GOOD can
 * never lose it.
 */
function commit(cmd: ScsiCmd, s: PrState, aptplChanged: boolean): void {
  if (!s.saver || (!s.aptpl && !aptplChanged)) return void cmd.complete(Status.GOOD);
  const persist = s.aptpl;
  cmd.get();
  cmd.owner = 'pr-store';
  s.saver.save(() => (persist && s.aptpl ? s.snapshot() : null)).then(
    () => {
      cmd.complete(Status.GOOD);
      cmd.put();
    },
    () => {
      // The change is in effect but not persisted: say so rather than pretend.
      cmd.complete(Status.CHECK_CONDITION, buildSense(Sense.INSUFFICIENT_REGISTRATION_RESOURCES));
      cmd.put();
    },
  );
}

interface BasicParams {
  rk: bigint;
  sark: bigint;
  specIPt: boolean;
  allTgPt: boolean;
  aptpl: boolean;
}

function basicParams(cmd: ScsiCmd): BasicParams {
  const d = paramData(cmd);
  if (d.length < BASIC_PARAM_LEN) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const p = { rk: d.readBigUInt64BE(0), sark: d.readBigUInt64BE(8), specIPt: (d[20]! & 0x08) !== 0, allTgPt: (d[20]! & 0x04) !== 0, aptpl: (d[20]! & 0x01) !== 0 };
  if (p.specIPt) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 20); // SIP_C is 0
  if (d.length !== BASIC_PARAM_LEN) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  return p;
}

function register(cmd: ScsiCmd, dev: Device, td: TgtDev, ignoreKey: boolean): void {
  const p = basicParams(cmd);
  const s = prState(dev);
  if (p.aptpl && !s.saver) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 20);
  const n = nexusOf(td.session);
  const reg = s.find(n);
  const wasAptpl = s.aptpl;
  if (!reg) {
    if (!ignoreKey && p.rk !== 0n) return conflict(cmd);
    if (p.sark === 0n) return void cmd.complete(Status.GOOD);
    s.regs.push({ ...n, key: p.sark, allTgPt: p.allTgPt });
  } else {
    if (!ignoreKey && p.rk !== reg.key) return conflict(cmd);
    if (p.sark === 0n) {
      const held = s.isHolder(reg);
      const type = s.type;
      s.remove(reg);
      // Unregistering the holder of a registrants-only reservation releases it for everyone.
      if (held && !s.reserved && isRegistrantsOnly(type)) for (const r of s.regs) uaTo(dev, regMatches(r), Sense.RESERVATIONS_RELEASED);
    } else reg.key = p.sark;
  }
  s.aptpl = p.aptpl;
  s.bump();
  commit(cmd, s, wasAptpl !== s.aptpl);
}

function typeOf(cmd: ScsiCmd): number {
  const scope = cmd.cdb[2]! >> 4;
  const type = cmd.cdb[2]! & 0x0f;
  if (scope !== 0) throw invalidField(2, 7);
  if (!VALID_TYPES.includes(type)) throw invalidField(2, 3);
  return type;
}

function reserve(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const p = basicParams(cmd);
  const type = typeOf(cmd);
  const s = prState(dev);
  const reg = s.find(nexusOf(td.session));
  if (!reg || reg.key !== p.rk) return conflict(cmd);
  if (s.reserved) {
    if (!s.isHolder(reg) || s.type !== type) return conflict(cmd);
    return void cmd.complete(Status.GOOD);
  }
  s.type = type;
  s.holder = isAllRegistrants(type) ? null : reg;
  commit(cmd, s, false);
}

function release(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const p = basicParams(cmd);
  const s = prState(dev);
  const reg = s.find(nexusOf(td.session));
  if (!reg || reg.key !== p.rk) return conflict(cmd);
  if (!s.reserved || !s.isHolder(reg)) return void cmd.complete(Status.GOOD);
  const scope = cmd.cdb[2]! >> 4;
  const type = cmd.cdb[2]! & 0x0f;
  if (scope !== 0 || type !== s.type) throw new ScsiError(Sense.INVALID_RELEASE_OF_PR);
  s.release();
  if (isRegistrantsOnly(type) || isAllRegistrants(type)) for (const r of s.regs) if (r !== reg) uaTo(dev, regMatches(r), Sense.RESERVATIONS_RELEASED);
  commit(cmd, s, false);
}

function clear(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const p = basicParams(cmd);
  const s = prState(dev);
  const reg = s.find(nexusOf(td.session));
  if (!reg || reg.key !== p.rk) return conflict(cmd);
  const others = s.regs.filter((r) => r !== reg);
  s.regs.length = 0;
  s.release();
  s.bump();
  for (const r of others) uaTo(dev, regMatches(r), Sense.RESERVATIONS_PREEMPTED);
  commit(cmd, s, false);
}

function preempt(cmd: ScsiCmd, dev: Device, td: TgtDev, abort: boolean): void {
  const p = basicParams(cmd);
  const s = prState(dev);
  const me = s.find(nexusOf(td.session));
  if (!me || me.key !== p.rk) return conflict(cmd);
  const allReg = s.reserved && isAllRegistrants(s.type);
  let victims: Registration[];
  let takeOver = false;
  let newType = 0;
  if (s.reserved && (allReg ? p.sark === 0n : s.holder!.key === p.sark)) {
    // Preempting the reservation itself: a new one of the requested type for this nexus.
    newType = typeOf(cmd);
    takeOver = true;
    victims = allReg ? s.regs.filter((r) => r !== me) : s.regs.filter((r) => r !== me && r.key === p.sark);
  } else {
    if (p.sark === 0n) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 8);
    victims = s.regs.filter((r) => r !== me && r.key === p.sark);
    if (victims.length === 0) return conflict(cmd);
  }
  const oldType = s.type;
  for (const v of victims) s.remove(v);
  if (takeOver) {
    s.type = newType;
    s.holder = isAllRegistrants(newType) ? null : me;
    if (newType !== oldType) for (const r of s.regs) if (r !== me) uaTo(dev, regMatches(r), Sense.RESERVATIONS_RELEASED);
  }
  s.bump();
  for (const v of victims) uaTo(dev, regMatches(v), Sense.REGISTRATIONS_PREEMPTED);
  if (!abort || victims.length === 0) return commit(cmd, s, false);
  // PREEMPT AND ABORT: the preempted nexuses' tasks on this logical unit end first.
  const sessions = new Set([...dev.tgtDevs].filter((t) => victims.some((v) => regMatches(v)(nexusOf(t.session)))).map((t) => t.session));
  cmd.get();
  cmd.owner = 'pr-abort';
  const waits = [...sessions].filter((x) => x !== td.session).map((x) => x.transport.abortDeviceTasks(dev));
  const timer = new Promise<void>((r) => setTimeout(r, ABORT_WAIT_MS).unref());
  void Promise.race([Promise.allSettled(waits), timer]).then(() => {
    commit(cmd, s, false);
    cmd.put();
  });
}

const ABORT_WAIT_MS = 10_000;

function registerAndMove(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const d = paramData(cmd);
  if (d.length < 24) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const rk = d.readBigUInt64BE(0);
  const sark = d.readBigUInt64BE(8);
  const unreg = (d[17]! & 0x02) !== 0;
  const aptpl = (d[17]! & 0x01) !== 0;
  const relTgtId = d.readUInt16BE(18);
  const tidLen = d.readUInt32BE(20);
  if (24 + tidLen > d.length || tidLen < 4) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const s = prState(dev);
  if (aptpl && !s.saver) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 17);
  const me = s.find(nexusOf(td.session));
  if (!me || me.key !== rk) return conflict(cmd);
  if (!s.reserved || isAllRegistrants(s.type) || s.holder !== me) return conflict(cmd);
  const tid = parseTransportId(d.subarray(24, 24 + tidLen));
  if ('error' in tid || tid.isid === null) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 24);
  if (sark === 0n) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 8);
  const dest: NexusId = { initiator: tid.initiator, isid: tid.isid, relTgtId };
  if (sameInitiatorPort(dest, me) && (me.allTgPt || me.relTgtId === relTgtId)) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 24);
  let target = s.find(dest);
  if (target) target.key = sark;
  else {
    target = { ...dest, key: sark, allTgPt: false };
    s.regs.push(target);
  }
  s.holder = target;
  if (unreg) {
    const i = s.regs.indexOf(me);
    if (i >= 0) s.regs.splice(i, 1);
  }
  const was = s.aptpl;
  s.aptpl = aptpl;
  s.bump();
  commit(cmd, s, was !== aptpl);
}

function prOutParse(cmd: ScsiCmd): void {
  const len = cmd.cdb.readUInt32BE(5);
  if (len === 0) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  if (len > 64 * 1024) throw invalidField(5);
  cmd.dir = DataDir.WRITE;
  cmd.dataLength = len;
}

function prOutMember(sa: number, name: string, run: (cmd: ScsiCmd, dev: Device, td: TgtDev) => void): OpDesc {
  return {
    name: `PERSISTENT RESERVE OUT(${name})`,
    flags: 0,
    sa,
    res: 'allowed', // PR OUT checks its own keys; the SPC-2 conflict is in reservationConflict
    usage: [Op.PERSISTENT_RESERVE_OUT, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x07],
    parse: prOutParse,
    exec(cmd, dev, td) {
      run(cmd, dev!, td!);
    },
  };
}

export const persistentReserveIn: OpDesc = serviceActionGroup('PERSISTENT RESERVE IN', 0, [
  prInMember(PrInSa.READ_KEYS, 'READ KEYS', readKeys),
  prInMember(PrInSa.READ_RESERVATION, 'READ RESERVATION', readReservation),
  prInMember(PrInSa.REPORT_CAPABILITIES, 'REPORT CAPABILITIES', reportCapabilities),
  prInMember(PrInSa.READ_FULL_STATUS, 'READ FULL STATUS', readFullStatus),
]);

export const persistentReserveOut: OpDesc = serviceActionGroup('PERSISTENT RESERVE OUT', 0, [
  prOutMember(PrOutSa.REGISTER, 'REGISTER', (c, d, t) => register(c, d, t, false)),
  prOutMember(PrOutSa.RESERVE, 'RESERVE', reserve),
  prOutMember(PrOutSa.RELEASE, 'RELEASE', release),
  prOutMember(PrOutSa.CLEAR, 'CLEAR', clear),
  prOutMember(PrOutSa.PREEMPT, 'PREEMPT', (c, d, t) => preempt(c, d, t, false)),
  prOutMember(PrOutSa.PREEMPT_AND_ABORT, 'PREEMPT AND ABORT', (c, d, t) => preempt(c, d, t, true)),
  prOutMember(PrOutSa.REGISTER_AND_IGNORE_EXISTING_KEY, 'REGISTER AND IGNORE EXISTING KEY', (c, d, t) => register(c, d, t, true)),
  prOutMember(PrOutSa.REGISTER_AND_MOVE, 'REGISTER AND MOVE', registerAndMove),
]);

import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';
import { itlOf } from '../reservations.js';
import { Op, Sense, Status, type Asc } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import type { OpDesc } from './op.js';
import { dataIn, invalidField, paramData, replyData, serviceActionGroup } from './util.js';
import { encodeTransportId, parseTransportId } from './nexus.js';
import { isHolder, type ItlNexus, type ResvState } from './resv-state.js';
import {
  decideClear,
  decidePreempt,
  decideRegister,
  decideRegisterAndMove,
  decideRelease,
  decideReserve,
  type Decision,
  type MoveParams,
  type PrOutParams,
} from './resv-decide.js';

// PERSISTENT RESERVE IN and OUT (SPC-4 5.13, 6.15, 6.16): the commands' parsing and answers.
// What a PR OUT does to the logical unit's reservations is decided by resv-decide.ts on the
// state of the device's ReservationStore (reservations.ts), which commits it (on every node of
// a cluster, with APTPL on stable storage) before the command completes.

export { PrType } from './resv-state.js';

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

/** The reservation state `dev` is under on this node. */
export function prState(dev: Device): ResvState {
  return dev.reservations.current(dev);
}

/**
 * Hand a device to its reservation store: with a state directory, what an earlier run saved with
 * APTPL is restored.
 * Throws (with the file name) when the saved state is corrupt.
 */
export async function restorePr(dev: Device, stateDir: string | undefined): Promise<void> {
  await dev.reservations.attach(dev, stateDir);
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
  const keys = Buffer.alloc(s.registrations.length * 8);
  s.registrations.forEach((r, i) => keys.writeBigUInt64BE(r.key, i * 8));
  return Buffer.concat([header(s.generation, keys.length), keys]);
}

function readReservation(dev: Device): Buffer {
  const s = prState(dev);
  const r = s.reservation;
  if (!r) return header(s.generation, 0);
  const d = Buffer.alloc(16);
  d.writeBigUInt64BE(r.holder !== null ? s.registrations[r.holder]!.key : 0n, 0); // all-registrants types report key 0
  d[13] = r.type & 0x0f; // scope LU (0)
  return Buffer.concat([header(s.generation, 16), d]);
}

function reportCapabilities(dev: Device): Buffer {
  const s = prState(dev);
  const b = Buffer.alloc(8);
  b.writeUInt16BE(8, 0);
  // CRH: RESERVE(6/10) still works while no registration exists; ATP_C: ALL_TG_PT supported;
  // PTPL_C only when there is somewhere to persist to. SIP_C (SPEC_I_PT) is not supported.
  b[2] = 0x10 | 0x04 | (dev.reservations.canPersist(dev) ? 0x01 : 0);
  b[3] = 0x80 | (s.aptpl ? 0x01 : 0); // TMV; ALLOW COMMANDS 000b
  b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
  b[5] = 0x01; // EX_AC_AR
  return b;
}

function readFullStatus(dev: Device): Buffer {
  const s = prState(dev);
  const descs = s.registrations.map((r, i) => {
    const tid = encodeTransportId(r);
    const d = Buffer.alloc(24);
    d.writeBigUInt64BE(r.key, 0);
    const holder = isHolder(s, i);
    d[12] = (r.allTgPt ? 0x02 : 0) | (holder ? 0x01 : 0);
    if (holder) d[13] = s.reservation!.type & 0x0f;
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

function paramError(asc: Asc = Sense.INVALID_FIELD_IN_PARAM_LIST, field?: number): ScsiError {
  return new ScsiError(asc, field !== undefined ? { field, cdb: false } : undefined);
}

/** Why a change that could not be committed is retryable: the LU is briefly not accessible. */
const NOT_COMMITTED: Asc = { key: 2, asc: 0x04, ascq: 0x0a };

/**
 * Hand a decision to the device's reservation store and end the command with its outcome once
 * the new state is in force (and, with APTPL, on stable storage: a crash after GOOD can never
 * lose it). The command is held while it waits.
 */
export function decideAndComplete(cmd: ScsiCmd, dev: Device, decide: (s: ResvState) => Decision): void {
  cmd.get();
  cmd.owner = 'reservations';
  dev.reservations.change(dev, decide).then(
    ({ decision, persistFailed }) => {
      const o = decision.outcome;
      if (o.status === 'conflict') cmd.complete(Status.RESERVATION_CONFLICT);
      else if (o.status === 'check') cmd.complete(Status.CHECK_CONDITION, buildSense(o.asc, o.info));
      // The change is in effect but not persisted: say so rather than pretend.
      else if (persistFailed) cmd.complete(Status.CHECK_CONDITION, buildSense(Sense.INSUFFICIENT_REGISTRATION_RESOURCES));
      else cmd.complete(Status.GOOD);
      cmd.put();
    },
    (e: unknown) => {
      cmd.session.core.log.error({ device: dev.name, cmd: cmd.describe(), err: (e as Error).message }, `${dev.name}: reservation change not committed`);
      cmd.complete(Status.CHECK_CONDITION, buildSense(NOT_COMMITTED));
      cmd.put();
    },
  );
}

function basicParams(cmd: ScsiCmd): PrOutParams {
  const d = paramData(cmd);
  if (d.length < BASIC_PARAM_LEN) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  if (d[20]! & 0x08) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 20); // SPEC_I_PT: SIP_C is 0
  if (d.length !== BASIC_PARAM_LEN) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  return { rk: d.readBigUInt64BE(0), sark: d.readBigUInt64BE(8), allTgPt: (d[20]! & 0x04) !== 0, aptpl: (d[20]! & 0x01) !== 0, scopeType: cmd.cdb[2]! };
}

function me(dev: Device, td: TgtDev): ItlNexus {
  return itlOf(td.session, td.lun, dev.reservations.node);
}

/** A PR OUT with the basic parameter list: parse, then decide on the state. */
function basic(decide: (s: ResvState, me: ItlNexus, p: PrOutParams) => Decision, checkAptpl = false) {
  return (cmd: ScsiCmd, dev: Device, td: TgtDev): void => {
    const p = basicParams(cmd);
    if (checkAptpl && p.aptpl && !dev.reservations.canPersist(dev)) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 20);
    const who = me(dev, td);
    decideAndComplete(cmd, dev, (s) => decide(s, who, p));
  };
}

function registerAndMove(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const d = paramData(cmd);
  if (d.length < 24) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const tidLen = d.readUInt32BE(20);
  if (24 + tidLen > d.length || tidLen < 4) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const aptpl = (d[17]! & 0x01) !== 0;
  if (aptpl && !dev.reservations.canPersist(dev)) throw paramError(Sense.INVALID_FIELD_IN_PARAM_LIST, 17);
  const tid = parseTransportId(d.subarray(24, 24 + tidLen));
  const p: MoveParams = {
    rk: d.readBigUInt64BE(0),
    sark: d.readBigUInt64BE(8),
    unreg: (d[17]! & 0x02) !== 0,
    aptpl,
    relTgtId: d.readUInt16BE(18),
    dest: 'error' in tid || tid.isid === null ? null : { initiator: tid.initiator, isid: tid.isid },
  };
  const who = me(dev, td);
  decideAndComplete(cmd, dev, (s) => decideRegisterAndMove(s, who, p));
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
  prOutMember(PrOutSa.REGISTER, 'REGISTER', basic((s, w, p) => decideRegister(s, w, p, false), true)),
  prOutMember(PrOutSa.RESERVE, 'RESERVE', basic(decideReserve)),
  prOutMember(PrOutSa.RELEASE, 'RELEASE', basic(decideRelease)),
  prOutMember(PrOutSa.CLEAR, 'CLEAR', basic(decideClear)),
  prOutMember(PrOutSa.PREEMPT, 'PREEMPT', basic((s, w, p) => decidePreempt(s, w, p, false))),
  prOutMember(PrOutSa.PREEMPT_AND_ABORT, 'PREEMPT AND ABORT', basic((s, w, p) => decidePreempt(s, w, p, true))),
  prOutMember(PrOutSa.REGISTER_AND_IGNORE_EXISTING_KEY, 'REGISTER AND IGNORE EXISTING KEY', basic((s, w, p) => decideRegister(s, w, p, true), true)),
  prOutMember(PrOutSa.REGISTER_AND_MOVE, 'REGISTER AND MOVE', registerAndMove),
]);

import { Sense, type Asc } from './constants.js';
import type { NexusId } from './nexus.js';
import {
  findReg,
  isAllRegistrants,
  isHolder,
  isRegistrantsOnly,
  matcherOf,
  regCovers,
  sameSpc2,
  VALID_TYPES,
  type ItlNexus,
  type NexusMatcher,
  type Registration,
  type ResvState,
  type UnitAttentionTo,
} from './resv-state.js';

// Every change of a logical unit's reservations as a pure decision: (state, who asks, what the
// command says) -> the status the command ends with, the new state (or none), and the effects on
// other nexuses as data (unit attentions, the tasks PREEMPT AND ABORT ends). Nothing here looks at
// a session or a clock, so a store may run a decision again on a newer state when its commit lost
// a race, and any node can carry out the effects. The rules are SPC-4 5.13 (and SPC-2 7.17/7.21).

export type Outcome =
  | { status: 'good' }
  | { status: 'conflict' }
  /** CHECK CONDITION with this sense (and field pointer). */
  | { status: 'check'; asc: Asc; info?: { field: number; cdb: boolean; bit?: number } };

export interface Decision {
  outcome: Outcome;
  /** The state to commit; null when nothing changes. */
  state: ResvState | null;
  /** Unit attentions for the nexuses they match, on every node. */
  uas: UnitAttentionTo[];
  /** PREEMPT AND ABORT: the preempted nexuses whose tasks on the logical unit end (never `except`'s). */
  abort: { victims: NexusMatcher[]; except: ItlNexus } | null;
}

/** PERSISTENT RESERVE OUT with the basic parameter list (SPC-4 6.16.3), as parsed. */
export interface PrOutParams {
  rk: bigint;
  sark: bigint;
  allTgPt: boolean;
  aptpl: boolean;
  /** CDB byte 2: SCOPE (high nibble) and TYPE. */
  scopeType: number;
}

/** REGISTER AND MOVE's parameter list (SPC-4 6.16.4), as parsed. */
export interface MoveParams {
  rk: bigint;
  sark: bigint;
  unreg: boolean;
  aptpl: boolean;
  relTgtId: number;
  /** The TransportID's initiator port; null when it is malformed or names no ISID. */
  dest: { initiator: string; isid: string } | null;
}

const GOOD: Outcome = { status: 'good' };
const CONFLICT: Outcome = { status: 'conflict' };

function answer(outcome: Outcome): Decision {
  return { outcome, state: null, uas: [], abort: null };
}

function paramError(field: number): Decision {
  return answer({ status: 'check', asc: Sense.INVALID_FIELD_IN_PARAM_LIST, info: { field, cdb: false } });
}

function cdbError(field: number, bit: number): Decision {
  return answer({ status: 'check', asc: Sense.INVALID_FIELD_IN_CDB, info: { field, cdb: true, bit } });
}

/** The reservation TYPE of the CDB, or the error a bad scope or type gets. */
function typeOf(scopeType: number): number | Decision {
  if (scopeType >> 4 !== 0) return cdbError(2, 7);
  const type = scopeType & 0x0f;
  if (!VALID_TYPES.includes(type)) return cdbError(2, 3);
  return type;
}

function bump(g: number): number {
  return (g + 1) >>> 0;
}

function freeze(s: ResvState): ResvState {
  return Object.freeze(s);
}

/**
 * The registrations without those at `gone`, the holder index following its registration; the
 * reservation ends with its holder, and an all-registrants one with the last registrant.
 */
function without(s: ResvState, gone: ReadonlySet<number>): ResvState {
  const registrations = s.registrations.filter((_, i) => !gone.has(i));
  let reservation = s.reservation;
  if (reservation && reservation.holder !== null) {
    const h = reservation.holder;
    if (gone.has(h)) reservation = null;
    else reservation = { type: reservation.type, holder: h - [...gone].filter((i) => i < h).length };
  }
  if (reservation && isAllRegistrants(reservation.type) && registrations.length === 0) reservation = null;
  return { ...s, registrations, reservation };
}

function uasTo(regs: readonly Registration[], asc: Asc): UnitAttentionTo[] {
  return regs.map((r) => ({ to: matcherOf(r), asc }));
}

/** Who asks, with the key it gave; a conflict unless registered under that key. */
function keyHolder(s: ResvState, me: ItlNexus, rk: bigint): number {
  if (s.spc2 && !sameSpc2(s.spc2, me)) return -1; // an SPC-2 reservation of another nexus
  const i = findReg(s, me);
  return i >= 0 && s.registrations[i]!.key === rk ? i : -1;
}

/** REGISTER, and REGISTER AND IGNORE EXISTING KEY (ignoreKey). */
export function decideRegister(s: ResvState, me: ItlNexus, p: PrOutParams, ignoreKey: boolean): Decision {
  if (s.spc2 && !sameSpc2(s.spc2, me)) return answer(CONFLICT);
  const i = findReg(s, me);
  let next: ResvState;
  const uas: UnitAttentionTo[] = [];
  if (i < 0) {
    if (!ignoreKey && p.rk !== 0n) return answer(CONFLICT);
    if (p.sark === 0n) return answer(GOOD);
    const reg: Registration = { key: p.sark, initiator: me.initiator, isid: me.isid, relTgtId: me.relTgtId, allTgPt: p.allTgPt };
    next = { ...s, registrations: [...s.registrations, reg] };
  } else {
    const reg = s.registrations[i]!;
    if (!ignoreKey && p.rk !== reg.key) return answer(CONFLICT);
    if (p.sark === 0n) {
      const held = isHolder(s, i);
      const type = s.reservation?.type ?? 0;
      next = without(s, new Set([i]));
      // Unregistering the holder of a registrants-only reservation releases it for everyone.
      if (held && !next.reservation && isRegistrantsOnly(type)) uas.push(...uasTo(next.registrations, Sense.RESERVATIONS_RELEASED));
    } else {
      const registrations = s.registrations.slice();
      registrations[i] = { ...reg, key: p.sark };
      next = { ...s, registrations };
    }
  }
  return { outcome: GOOD, state: freeze({ ...next, aptpl: p.aptpl, generation: bump(s.generation) }), uas, abort: null };
}

export function decideReserve(s: ResvState, me: ItlNexus, p: PrOutParams): Decision {
  const type = typeOf(p.scopeType);
  if (typeof type !== 'number') return type;
  const i = keyHolder(s, me, p.rk);
  if (i < 0) return answer(CONFLICT);
  if (s.reservation) return answer(isHolder(s, i) && s.reservation.type === type ? GOOD : CONFLICT);
  return { outcome: GOOD, state: freeze({ ...s, reservation: { type, holder: isAllRegistrants(type) ? null : i } }), uas: [], abort: null };
}

export function decideRelease(s: ResvState, me: ItlNexus, p: PrOutParams): Decision {
  const i = keyHolder(s, me, p.rk);
  if (i < 0) return answer(CONFLICT);
  if (!s.reservation || !isHolder(s, i)) return answer(GOOD);
  const type = s.reservation.type;
  if (p.scopeType >> 4 !== 0 || (p.scopeType & 0x0f) !== type) return answer({ status: 'check', asc: Sense.INVALID_RELEASE_OF_PR });
  const uas = isRegistrantsOnly(type) || isAllRegistrants(type) ? uasTo(s.registrations.filter((_, j) => j !== i), Sense.RESERVATIONS_RELEASED) : [];
  return { outcome: GOOD, state: freeze({ ...s, reservation: null }), uas, abort: null };
}

export function decideClear(s: ResvState, me: ItlNexus, p: PrOutParams): Decision {
  const i = keyHolder(s, me, p.rk);
  if (i < 0) return answer(CONFLICT);
  const others = s.registrations.filter((_, j) => j !== i);
  const state = freeze({ ...s, registrations: [], reservation: null, generation: bump(s.generation) });
  return { outcome: GOOD, state, uas: uasTo(others, Sense.RESERVATIONS_PREEMPTED), abort: null };
}

/** PREEMPT, and PREEMPT AND ABORT (abort). */
export function decidePreempt(s: ResvState, me: ItlNexus, p: PrOutParams, abort: boolean): Decision {
  const i = keyHolder(s, me, p.rk);
  if (i < 0) return answer(CONFLICT);
  const r = s.reservation;
  const allReg = r !== null && isAllRegistrants(r.type);
  let victims: number[];
  let newType = 0;
  const others = (pred: (reg: Registration) => boolean) => s.registrations.flatMap((reg, j) => (j !== i && pred(reg) ? [j] : []));
  if (r && (allReg ? p.sark === 0n : s.registrations[r.holder!]!.key === p.sark)) {
    // Preempting the reservation itself: a new one of the requested type for this nexus.
    const t = typeOf(p.scopeType);
    if (typeof t !== 'number') return t;
    newType = t;
    victims = allReg ? others(() => true) : others((reg) => reg.key === p.sark);
  } else {
    if (p.sark === 0n) return paramError(8);
    victims = others((reg) => reg.key === p.sark);
    if (victims.length === 0) return answer(CONFLICT);
  }
  const gone = new Set(victims);
  let next = without(s, gone);
  const uas: UnitAttentionTo[] = [];
  if (newType) {
    const meNow = i - victims.filter((j) => j < i).length;
    next = { ...next, reservation: { type: newType, holder: isAllRegistrants(newType) ? null : meNow } };
    if (newType !== (r?.type ?? 0)) uas.push(...uasTo(next.registrations.filter((_, j) => j !== meNow), Sense.RESERVATIONS_RELEASED));
  }
  const preempted = victims.map((j) => s.registrations[j]!);
  uas.push(...uasTo(preempted, Sense.REGISTRATIONS_PREEMPTED));
  const state = freeze({ ...next, generation: bump(s.generation) });
  const ends = abort && preempted.length > 0 ? { victims: preempted.map(matcherOf), except: me } : null;
  return { outcome: GOOD, state, uas, abort: ends };
}

export function decideRegisterAndMove(s: ResvState, me: ItlNexus, p: MoveParams): Decision {
  const i = keyHolder(s, me, p.rk);
  if (i < 0) return answer(CONFLICT);
  if (!s.reservation || isAllRegistrants(s.reservation.type) || s.reservation.holder !== i) return answer(CONFLICT);
  if (!p.dest) return paramError(24);
  if (p.sark === 0n) return paramError(8);
  const dest: NexusId = { initiator: p.dest.initiator, isid: p.dest.isid, relTgtId: p.relTgtId };
  if (regCovers(s.registrations[i]!, dest)) return paramError(24);
  let registrations = s.registrations.slice();
  let target = findReg(s, dest);
  if (target >= 0) registrations[target] = { ...registrations[target]!, key: p.sark };
  else {
    registrations.push({ key: p.sark, initiator: dest.initiator, isid: dest.isid, relTgtId: dest.relTgtId, allTgPt: false });
    target = registrations.length - 1;
  }
  if (p.unreg) {
    registrations = registrations.filter((_, j) => j !== i);
    if (target > i) target--;
  }
  const state = freeze({ ...s, registrations, reservation: { type: s.reservation.type, holder: target }, aptpl: p.aptpl, generation: bump(s.generation) });
  return { outcome: GOOD, state, uas: [], abort: null };
}

// ---- SPC-2 RESERVE / RELEASE (6 and 10) -----------------------------------------------------

/** RESERVE: while registrations exist it conflicts (SPC-4 5.13.3), as it does for another holder. */
export function decideSpc2Reserve(s: ResvState, me: ItlNexus): Decision {
  if (s.registrations.length > 0) return answer(CONFLICT);
  if (s.spc2) return answer(sameSpc2(s.spc2, me) ? GOOD : CONFLICT);
  return { outcome: GOOD, state: freeze({ ...s, spc2: { ...me } }), uas: [], abort: null };
}

/** RELEASE: from anyone but the holder it succeeds without effect (SPC-2 7.17). */
export function decideSpc2Release(s: ResvState, me: ItlNexus): Decision {
  if (s.registrations.length > 0) return answer(CONFLICT);
  if (!s.spc2 || !sameSpc2(s.spc2, me)) return answer(GOOD);
  return { outcome: GOOD, state: freeze({ ...s, spc2: null }), uas: [], abort: null };
}

/** I_T nexus loss (session end, I_T NEXUS RESET): the nexus's SPC-2 reservation goes (SPC-4 5.13.6). */
export function decideNexusLoss(s: ResvState, me: ItlNexus): Decision {
  if (!s.spc2 || !sameSpc2(s.spc2, me)) return answer(GOOD);
  return { outcome: GOOD, state: freeze({ ...s, spc2: null }), uas: [], abort: null };
}

/** LOGICAL UNIT RESET, target reset: the SPC-2 reservation is released (SAM-5 6.3.3). */
export function decideReset(s: ResvState): Decision {
  if (!s.spc2) return answer(GOOD);
  return { outcome: GOOD, state: freeze({ ...s, spc2: null }), uas: [], abort: null };
}


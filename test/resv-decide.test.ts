// The reservation decisions as pure functions: properties over random command sequences
// (fast-check), the conflict table, and the stable JSON form of the state.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sense } from '../src/engine/scsi/constants.js';
import {
  decideClear,
  decideNexusLoss,
  decidePreempt,
  decideRegister,
  decideRegisterAndMove,
  decideRelease,
  decideReserve,
  decideReset,
  decideSpc2Release,
  decideSpc2Reserve,
  type Decision,
  type PrOutParams,
} from '../src/engine/scsi/resv-decide.js';
import { decodeState, EMPTY_STATE, encodeState, findReg, isAllRegistrants, nexusConflictIn, prConflict, type ItlNexus, type ResvState } from '../src/engine/scsi/resv-state.js';

/** Four nexuses: two ports of initiator a (ISID 1), one of a with another ISID, one of b; two nodes. */
const NEXUSES: ItlNexus[] = [
  { initiator: 'iqn.a', isid: '800000000001', relTgtId: 1, lun: 0, node: 'n1', session: 1 },
  { initiator: 'iqn.a', isid: '800000000001', relTgtId: 2, lun: 0, node: 'n2', session: 7 },
  { initiator: 'iqn.a', isid: '800000000002', relTgtId: 1, lun: 0, node: 'n1', session: 2 },
  { initiator: 'iqn.b', isid: '800000000003', relTgtId: 2, lun: 0, node: 'n2', session: 8 },
];
/** Few keys, so that keys collide and preemptions find victims; one with the top bit set. */
const KEYS = [0n, 1n, 2n, 1n, 2n, 0xffff_ffff_ffff_ffffn];

type PickedParams = Omit<PrOutParams, 'rk' | 'sark'> & { rk: KeyPick; sark: KeyPick };
type Step =
  | { sa: 'register' | 'ignore' | 'reserve' | 'release' | 'clear' | 'preempt' | 'abort'; who: number; p: PickedParams }
  | { sa: 'move'; who: number; rk: KeyPick; sark: KeyPick; unreg: boolean; dest: number }
  | { sa: 'spc2-reserve' | 'spc2-release' | 'loss'; who: number }
  | { sa: 'reset' };

/** A key, or the key the acting nexus holds now / the reservation holder's (resolved in `decide`). */
type KeyPick = bigint | 'mine' | 'holder';
const keyPick = fc.constantFrom<KeyPick>(...KEYS, 'mine', 'mine', 'holder');
const params = fc.record({
  rk: keyPick,
  sark: keyPick,
  allTgPt: fc.boolean(),
  aptpl: fc.boolean(),
  scopeType: fc.constantFrom(1, 3, 5, 6, 7, 8, 1, 3, 5, 6, 7, 8, 0, 2, 0x11),
});
const who = fc.integer({ min: 0, max: NEXUSES.length - 1 });
// Weighted towards the persistent reservation actions: an SPC-2 reservation shuts the others out.
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 16, arbitrary: fc.record({ sa: fc.constantFrom('register', 'register', 'ignore', 'reserve', 'reserve', 'release', 'clear', 'preempt', 'abort' as const), who, p: params }) },
  { weight: 2, arbitrary: fc.record({ sa: fc.constant('move' as const), who, rk: keyPick, sark: keyPick, unreg: fc.boolean(), dest: who }) },
  { weight: 1, arbitrary: fc.record({ sa: fc.constantFrom('spc2-reserve', 'spc2-release', 'loss' as const), who }) },
  { weight: 1, arbitrary: fc.constant({ sa: 'reset' as const }) },
);

function key(s: ResvState, k: KeyPick, who: number): bigint {
  if (k === 'mine') return s.registrations[findReg(s, NEXUSES[who]!)]?.key ?? 0n;
  if (k === 'holder') return s.reservation?.holder != null ? s.registrations[s.reservation.holder]!.key : 0n;
  return k;
}

function decide(s: ResvState, picked: Step): Decision {
  const st = resolve(s, picked);
  switch (st.sa) {
    case 'register':
      return decideRegister(s, NEXUSES[st.who]!, st.p, false);
    case 'ignore':
      return decideRegister(s, NEXUSES[st.who]!, st.p, true);
    case 'reserve':
      return decideReserve(s, NEXUSES[st.who]!, st.p);
    case 'release':
      return decideRelease(s, NEXUSES[st.who]!, st.p);
    case 'clear':
      return decideClear(s, NEXUSES[st.who]!, st.p);
    case 'preempt':
    case 'abort':
      return decidePreempt(s, NEXUSES[st.who]!, st.p, st.sa === 'abort');
    case 'move': {
      const d = NEXUSES[st.dest]!;
      return decideRegisterAndMove(s, NEXUSES[st.who]!, { rk: st.rk, sark: st.sark, unreg: st.unreg, aptpl: false, relTgtId: d.relTgtId, dest: { initiator: d.initiator, isid: d.isid } });
    }
    case 'spc2-reserve':
      return decideSpc2Reserve(s, NEXUSES[st.who]!);
    case 'spc2-release':
      return decideSpc2Release(s, NEXUSES[st.who]!);
    case 'loss':
      return decideNexusLoss(s, NEXUSES[st.who]!);
    case 'reset':
      return decideReset(s);
  }
}

type Resolved = Exclude<Step, { sa: 'move' } | { p: PickedParams }> | { sa: Exclude<Step['sa'], 'move' | 'spc2-reserve' | 'spc2-release' | 'loss' | 'reset'>; who: number; p: PrOutParams } | { sa: 'move'; who: number; rk: bigint; sark: bigint; unreg: boolean; dest: number };

function resolve(s: ResvState, st: Step): Resolved {
  if ('p' in st) return { ...st, p: { ...st.p, rk: key(s, st.p.rk, st.who), sark: key(s, st.p.sark, st.who) } };
  if (st.sa === 'move') return { ...st, rk: key(s, st.rk, st.who), sark: key(s, st.sark, st.who) };
  return st;
}

/** The service actions after which SPC-4 increments PRgeneration (6.15.2): all but RESERVE and RELEASE. */
const BUMPS = new Set(['register', 'ignore', 'clear', 'preempt', 'abort', 'move']);

function idOf(n: { initiator: string; isid: string; relTgtId: number }): string {
  return `${n.initiator},${n.isid},${n.relTgtId}`;
}

/** The registration holding a single-holder reservation, by identity (which survives re-indexing). */
function holderId(s: ResvState): string | null {
  const h = s.reservation?.holder;
  if (h === null || h === undefined) return null;
  const r = s.registrations[h];
  return r ? idOf(r) : 'out of range';
}

function checkInvariants(s: ResvState): void {
  // Registrations never duplicated: one per initiator port and relative target port.
  const ids = s.registrations.map((r) => `${r.initiator},${r.isid},${r.relTgtId}`);
  expect(new Set(ids).size).toBe(ids.length);
  for (const r of s.registrations) expect(r.key).not.toBe(0n);
  // The holder is always a registrant; an all-registrants reservation has none.
  if (s.reservation) {
    expect(s.registrations.length).toBeGreaterThan(0);
    if (isAllRegistrants(s.reservation.type)) expect(s.reservation.holder).toBeNull();
    else {
      expect(s.reservation.holder).not.toBeNull();
      expect(s.reservation.holder!).toBeGreaterThanOrEqual(0);
      expect(s.reservation.holder!).toBeLessThan(s.registrations.length);
    }
  }
  expect(Object.isFrozen(s)).toBe(true);
}

describe('reservation decisions (properties)', () => {
  it('keep the state consistent, bump PRgeneration exactly where SPC-4 says, and change nothing when they refuse', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 60, size: 'max' }), (steps) => {
        let s: ResvState = EMPTY_STATE;
        for (const st of steps) {
          const before = encodeState(s);
          const d = decide(s, st);
          // Pure: the input is untouched and the same question gets the same answer.
          expect(encodeState(s)).toBe(before);
          expect(JSON.stringify(decide(s, st), (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v))).toBe(JSON.stringify(d, (_, v: unknown) => (typeof v === 'bigint' ? v.toString(16) : v)));
          if (d.outcome.status !== 'good') {
            expect(d.state).toBeNull();
            expect(d.uas).toEqual([]);
            expect(d.abort).toBeNull();
          }
          if (!d.state) continue;
          const next = d.state;
          expect(next.generation).toBe(BUMPS.has(st.sa) ? (s.generation + 1) >>> 0 : s.generation);
          if (st.sa !== 'abort') expect(d.abort).toBeNull();
          checkInvariants(next);
          // The holder stays the same I_T nexus unless the action hands the reservation over.
          const was = holderId(s);
          const now = holderId(next);
          if (was && now) {
            // (The registration of a nexus may name another port: one made with ALL_TG_PT.)
            const regOf = (n: ItlNexus) => idOf(next.registrations[findReg(next, n)]!);
            if (st.sa === 'preempt' || st.sa === 'abort') expect([was, regOf(NEXUSES[st.who]!)]).toContain(now);
            else if (st.sa === 'move') expect(now).toBe(regOf(NEXUSES[st.dest]!));
            else expect(now).toBe(was);
          }
          // The stable JSON form carries everything.
          expect(decodeState(encodeState(next))).toEqual(next);
          s = next;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a nexus that holds the reservation never conflicts; a non-registrant always does for EXCLUSIVE ACCESS', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 60, size: 'max' }), (steps) => {
        let s: ResvState = EMPTY_STATE;
        for (const st of steps) s = decide(s, st).state ?? s;
        for (const n of NEXUSES) {
          const i = findReg(s, n);
          const r = s.reservation;
          if (r && (isAllRegistrants(r.type) ? i >= 0 : r.holder === i)) {
            expect(prConflict(s, n, 'write')).toBe(false);
            expect(prConflict(s, n, 'read')).toBe(false);
          }
          if (r && r.type === 3 && i < 0) expect(prConflict(s, n, 'read')).toBe(true);
          expect(prConflict(s, n, 'allowed')).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });
});

const [A1, A2, A3, B] = NEXUSES as [ItlNexus, ItlNexus, ItlNexus, ItlNexus];
const p = (rk: bigint, sark: bigint, scopeType = 0, extra: Partial<PrOutParams> = {}): PrOutParams => ({ rk, sark, allTgPt: false, aptpl: false, scopeType, ...extra });

function run(s: ResvState, ...ds: Array<(s: ResvState) => Decision>): ResvState {
  for (const d of ds) {
    const r = d(s);
    expect(r.outcome.status).toBe('good');
    s = r.state ?? s;
  }
  return s;
}

describe('reservation decisions (cases)', () => {
  it('PREEMPT of the holder: the holder index follows the preemptor, victims hear REGISTRATIONS PREEMPTED, the others RESERVATIONS RELEASED when the type changes', () => {
    let s = run(
      EMPTY_STATE,
      (x) => decideRegister(x, A1, p(0n, 1n), false),
      (x) => decideRegister(x, B, p(0n, 2n), false),
      (x) => decideRegister(x, A3, p(0n, 3n), false),
      (x) => decideReserve(x, A1, p(1n, 0n, 1)),
    );
    const d = decidePreempt(s, A3, p(3n, 1n, 3), true);
    expect(d.outcome.status).toBe('good');
    s = d.state!;
    expect(s.registrations.map((r) => r.key)).toEqual([2n, 3n]);
    expect(s.reservation).toEqual({ type: 3, holder: 1 });
    expect(d.uas).toEqual([
      { to: { initiator: 'iqn.b', isid: '800000000003', relTgtId: 2 }, asc: Sense.RESERVATIONS_RELEASED },
      { to: { initiator: 'iqn.a', isid: '800000000001', relTgtId: 1 }, asc: Sense.REGISTRATIONS_PREEMPTED },
    ]);
    expect(d.abort).toEqual({ victims: [{ initiator: 'iqn.a', isid: '800000000001', relTgtId: 1 }], except: A3 });
    // PREEMPT with a key nobody has conflicts; service action key 0 without a reservation to preempt is a parameter error.
    expect(decidePreempt(s, B, p(2n, 9n, 3), false).outcome.status).toBe('conflict');
    const zero = decidePreempt(run(EMPTY_STATE, (x) => decideRegister(x, B, p(0n, 2n), false)), B, p(2n, 0n, 3), false).outcome;
    expect(zero).toEqual({ status: 'check', asc: Sense.INVALID_FIELD_IN_PARAM_LIST, info: { field: 8, cdb: false } });
  });

  it('REGISTER AND MOVE with UNREG keeps the holder on the destination whatever the order', () => {
    let s = run(
      EMPTY_STATE,
      (x) => decideRegister(x, B, p(0n, 2n), false),
      (x) => decideRegister(x, A1, p(0n, 1n), false),
      (x) => decideReserve(x, A1, p(1n, 0n, 1)),
    );
    const d = decideRegisterAndMove(s, A1, { rk: 1n, sark: 9n, unreg: true, aptpl: false, relTgtId: 2, dest: { initiator: 'iqn.b', isid: '800000000003' } });
    s = d.state!;
    expect(s.registrations).toEqual([{ key: 9n, initiator: 'iqn.b', isid: '800000000003', relTgtId: 2, allTgPt: false }]);
    expect(s.reservation).toEqual({ type: 1, holder: 0 });
    // To itself: an error in the TransportID.
    const self = decideRegisterAndMove(s, B, { rk: 9n, sark: 5n, unreg: false, aptpl: false, relTgtId: 2, dest: { initiator: 'iqn.b', isid: '800000000003' } });
    expect(self.outcome).toEqual({ status: 'check', asc: Sense.INVALID_FIELD_IN_PARAM_LIST, info: { field: 24, cdb: false } });
  });

  it('RELEASE of the wrong type is INVALID RELEASE OF PERSISTENT RESERVATION; a bad type in RESERVE is a CDB error', () => {
    const s = run(
      EMPTY_STATE,
      (x) => decideRegister(x, A1, p(0n, 1n), false),
      (x) => decideReserve(x, A1, p(1n, 0n, 5)),
    );
    expect(decideRelease(s, A1, p(1n, 0n, 1)).outcome).toEqual({ status: 'check', asc: Sense.INVALID_RELEASE_OF_PR });
    expect(decideReserve(s, A1, p(1n, 0n, 2)).outcome).toEqual({ status: 'check', asc: Sense.INVALID_FIELD_IN_CDB, info: { field: 2, cdb: true, bit: 3 } });
    expect(decideReserve(s, A1, p(1n, 0n, 0x15)).outcome).toEqual({ status: 'check', asc: Sense.INVALID_FIELD_IN_CDB, info: { field: 2, cdb: true, bit: 7 } });
  });

  it('SPC-2: one I_T_L nexus holds it; the same port through another node or session is another nexus; nexus loss and reset release it', () => {
    const s = run(EMPTY_STATE, (x) => decideSpc2Reserve(x, A1));
    expect(s.spc2).toEqual(A1);
    expect(decideSpc2Reserve(s, { ...A1, session: 99 }).outcome.status).toBe('conflict');
    expect(decideSpc2Reserve(s, { ...A1, node: 'n9' }).outcome.status).toBe('conflict');
    expect(decideSpc2Reserve(s, { ...A1, lun: 1 }).outcome.status).toBe('conflict');
    expect(nexusConflictIn(s, B, 'read', false)).toBe(true);
    expect(nexusConflictIn(s, B, 'allowed', false)).toBe(false);
    expect(nexusConflictIn(s, B, 'allowed', true)).toBe(true); // a PR OUT through another nexus
    expect(nexusConflictIn(s, A1, 'write', true)).toBe(false);
    expect(decideSpc2Release(s, B)).toMatchObject({ outcome: { status: 'good' }, state: null });
    expect(decideNexusLoss(s, B).state).toBeNull();
    expect(decideNexusLoss(s, A1).state!.spc2).toBeNull();
    expect(decideReset(s).state!.spc2).toBeNull();
    // While registrations exist both SPC-2 commands conflict.
    const r = run(EMPTY_STATE, (x) => decideRegister(x, B, p(0n, 1n), false));
    expect(decideSpc2Reserve(r, A1).outcome.status).toBe('conflict');
    expect(decideSpc2Release(r, A1).outcome.status).toBe('conflict');
    // And a PR OUT from another nexus conflicts with the SPC-2 holder inside the decision too.
    expect(decideRegister(s, B, p(0n, 1n), false).outcome.status).toBe('conflict');
  });
});

describe('the state value in JSON', () => {
  it('is stable (keys as hex, fixed field order) and refuses malformed input without throwing', () => {
    const s = run(EMPTY_STATE, (x) => decideRegister(x, A1, p(0n, 0xdead_beef_0000_0001n, 0, { allTgPt: true, aptpl: true }), false), (x) => decideReserve(x, A1, p(0xdead_beef_0000_0001n, 0n, 1)));
    expect(encodeState(s)).toBe(
      '{"v":1,"generation":1,"aptpl":true,"registrations":[{"key":"deadbeef00000001","initiator":"iqn.a","isid":"800000000001","relTgtId":1,"allTgPt":true}],"reservation":{"type":1,"holder":0},"spc2":null}',
    );
    const withSpc2 = { ...EMPTY_STATE, spc2: B };
    expect(decodeState(encodeState(withSpc2))).toEqual(withSpc2);
    for (const bad of ['', '[]', '{"v":2}', '{"v":1,"generation":0,"aptpl":false,"registrations":[],"reservation":null}', '{"v":1,"generation":0,"aptpl":false,"registrations":[],"reservation":null,"spc2":{"initiator":"x"}}']) {
      expect(() => decodeState(bad)).not.toThrow();
      expect('error' in decodeState(bad)).toBe(true);
    }
  });
});

import type { Asc } from './constants.js';
import { sameInitiatorPort, type NexusId } from './nexus.js';
import { prFromJson, prToJson, type StoredPr, type StoredRegistration } from './pr-store.js';
import type { ReservationClass } from './op.js';

// The reservation state of one logical unit as a plain, immutable value (SPC-4 5.13 persistent
// reservations and the SPC-2 RESERVE/RELEASE holder), so that it can be compared, replaced as a
// whole, sent to another node and stored under one key: nothing in it points at a session or a
// TgtDev of this process. Who is who is said by identities (NexusId, ItlNexus) that mean the
// same thing on every node of a cluster.

export const PrType = {
  WRITE_EXCLUSIVE: 1,
  EXCLUSIVE_ACCESS: 3,
  WRITE_EXCLUSIVE_REGISTRANTS_ONLY: 5,
  EXCLUSIVE_ACCESS_REGISTRANTS_ONLY: 6,
  WRITE_EXCLUSIVE_ALL_REGISTRANTS: 7,
  EXCLUSIVE_ACCESS_ALL_REGISTRANTS: 8,
} as const;

export const VALID_TYPES: readonly number[] = [1, 3, 5, 6, 7, 8];

/** A registration: an I_T nexus (every target port with ALL_TG_PT) and its reservation key. */
export type Registration = StoredRegistration;

/**
 * An I_T_L nexus across nodes: what holds an SPC-2 reservation, and who asks for a change. SPC-2
 * ties the reservation to the nexus itself, not to a name: a new session of the same initiator
 * port is another nexus (the old one was lost), so the identity names the node and that node's
 * session as well as the ports and the LUN.
 */
export interface ItlNexus extends NexusId {
  lun: number;
  /** The node whose session holds it ('local' for a single target). */
  node: string;
  /** That node's session id. */
  session: number;
}

export interface ResvState {
  readonly generation: number;
  readonly aptpl: boolean;
  readonly registrations: readonly Registration[];
  /** Type and holder (index into registrations; null for the all-registrants types). */
  readonly reservation: { readonly type: number; readonly holder: number | null } | null;
  readonly spc2: ItlNexus | null;
}

export const EMPTY_STATE: ResvState = Object.freeze({ generation: 0, aptpl: false, registrations: [], reservation: null, spc2: null });

/**
 * Who a unit attention is for, as data (it may be applied on another node): every I_T nexus of
 * an initiator port through one relative target port, or through every port (relTgtId null), as
 * a registration matches.
 */
export interface NexusMatcher {
  initiator: string;
  isid: string;
  relTgtId: number | null;
}

export interface UnitAttentionTo {
  to: NexusMatcher;
  asc: Asc;
}

export function isAllRegistrants(type: number): boolean {
  return type === PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS || type === PrType.EXCLUSIVE_ACCESS_ALL_REGISTRANTS;
}

export function isRegistrantsOnly(type: number): boolean {
  return type === PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY || type === PrType.EXCLUSIVE_ACCESS_REGISTRANTS_ONLY;
}

/** Does registration `r` cover I_T nexus `n`? */
export function regCovers(r: Registration, n: NexusId): boolean {
  return sameInitiatorPort(r, n) && (r.allTgPt || r.relTgtId === n.relTgtId);
}

export function matcherOf(r: Registration): NexusMatcher {
  return { initiator: r.initiator, isid: r.isid, relTgtId: r.allTgPt ? null : r.relTgtId };
}

export function matches(m: NexusMatcher, n: NexusId): boolean {
  return sameInitiatorPort(m, n) && (m.relTgtId === null || m.relTgtId === n.relTgtId);
}

/** Index of the registration of nexus `n`, -1 when it has none. */
export function findReg(s: ResvState, n: NexusId): number {
  return s.registrations.findIndex((r) => regCovers(r, n));
}

export function isHolder(s: ResvState, i: number): boolean {
  if (i < 0 || !s.reservation) return false;
  return isAllRegistrants(s.reservation.type) || s.reservation.holder === i;
}

export function sameSpc2(a: ItlNexus, b: ItlNexus): boolean {
  return a.node === b.node && a.session === b.session && a.lun === b.lun && sameInitiatorPort(a, b) && a.relTgtId === b.relTgtId;
}

/**
 * Does a command of class `res` from nexus `n` conflict with the persistent reservation? (SPC-4
 * 5.13.1, the table of commands vs reservation types).
 */
export function prConflict(s: ResvState, n: NexusId, res: ReservationClass): boolean {
  if (!s.reservation || res === 'allowed') return false;
  const i = findReg(s, n);
  if (isHolder(s, i)) return false;
  switch (s.reservation.type) {
    case PrType.WRITE_EXCLUSIVE:
      return res === 'write';
    case PrType.EXCLUSIVE_ACCESS:
      return true;
    case PrType.WRITE_EXCLUSIVE_REGISTRANTS_ONLY:
    case PrType.WRITE_EXCLUSIVE_ALL_REGISTRANTS:
      return res === 'write' && i < 0;
    default: // the exclusive-access registrants types
      return i < 0;
  }
}

/**
 * Whether nexus `me` conflicts with the reservations for a command of class `res` (prOut: a
 * PERSISTENT RESERVE OUT, which conflicts with an SPC-2 reservation of another nexus too).
 */
export function nexusConflictIn(s: ResvState, me: ItlNexus, res: ReservationClass, prOut: boolean): boolean {
  if (s.spc2 && !sameSpc2(s.spc2, me) && (prOut || res !== 'allowed')) return true;
  return prConflict(s, me, res);
}

/** The part of the state APTPL persists (the SPC-2 holder does not survive power loss). */
export function persistentPart(s: ResvState): StoredPr {
  return { generation: s.generation, aptpl: s.aptpl, registrations: s.registrations, reservation: s.reservation };
}

export function fromStored(p: StoredPr): ResvState {
  return Object.freeze({ generation: p.generation, aptpl: p.aptpl, registrations: p.registrations.map((r) => ({ ...r })), reservation: p.reservation ? { ...p.reservation } : null, spc2: null });
}

const JSON_VERSION = 1;

/** The stable JSON form (keys as hex, fields in a fixed order): what a cluster store keeps. */
export function encodeState(s: ResvState): string {
  const spc2 = s.spc2 ? { initiator: s.spc2.initiator, isid: s.spc2.isid, relTgtId: s.spc2.relTgtId, lun: s.spc2.lun, node: s.spc2.node, session: s.spc2.session } : null;
  return JSON.stringify({ v: JSON_VERSION, ...prToJson(s), spc2 });
}

/** Parse encodeState's output; an error message for anything malformed, never a throw. */
export function decodeState(text: string): ResvState | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'not an object' };
  const o = v as Record<string, unknown>;
  if (o.v !== JSON_VERSION) return { error: `unknown version ${String(o.v)}` };
  const p = prFromJson(o);
  if ('error' in p) return p;
  let spc2: ItlNexus | null = null;
  if (o.spc2 !== null) {
    const h = o.spc2 as Record<string, unknown> | undefined;
    if (typeof h !== 'object' || h === null) return { error: 'bad spc2' };
    const int = (x: unknown, max: number) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max;
    if (typeof h.initiator !== 'string' || h.initiator.length === 0 || h.initiator.length > 255) return { error: 'bad spc2 initiator' };
    if (typeof h.isid !== 'string' || !/^[0-9a-f]{12}$/.test(h.isid)) return { error: 'bad spc2 isid' };
    if (!int(h.relTgtId, 65535) || !int(h.lun, 0xffffffff) || !int(h.session, Number.MAX_SAFE_INTEGER)) return { error: 'bad spc2 nexus' };
    if (typeof h.node !== 'string' || h.node.length === 0 || h.node.length > 255) return { error: 'bad spc2 node' };
    spc2 = { initiator: h.initiator, isid: h.isid, relTgtId: h.relTgtId as number, lun: h.lun as number, node: h.node, session: h.session as number };
  }
  return Object.freeze({ ...fromStored(p), spc2 });
}

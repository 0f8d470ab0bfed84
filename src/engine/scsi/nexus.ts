import type { ScstSession } from '../session.js';

// I_T nexus identity for reservations (SPC-4 5.13, iSCSI SAM-5 mapping, RFC 7143 §4.4.1): the
// SCSI initiator port is "iSCSI name + ,i,0x + ISID", the target port is the target with its
// relative target port identifier. Sessions do not carry the ISID themselves, so the transport
// registers it here when a session is created.

/** One side of a reservation: who registered or holds it. */
export interface NexusId {
  /** iSCSI initiator name, lower-cased (iSCSI names compare case-insensitively). */
  initiator: string;
  /** ISID as 12 hex digits, lower-case. */
  isid: string;
  /** Relative target port identifier of the target port. */
  relTgtId: number;
}

const isids = new WeakMap<ScstSession, string>();
/** The transport's initiator name where it differs from the session's (iSCSI per_portal_acl). */
const portNames = new WeakMap<ScstSession, string>();

/** Called by the transport once per session, before its first command. */
export function registerIsid(sess: ScstSession, isid: Buffer, initiator?: string): void {
  isids.set(sess, isid.toString('hex').toLowerCase());
  if (initiator !== undefined && initiator !== sess.initiatorName) portNames.set(sess, initiator);
}

export function nexusOf(sess: ScstSession): NexusId {
  return {
    initiator: (portNames.get(sess) ?? sess.initiatorName).toLowerCase(),
    isid: isids.get(sess) ?? '000000000000',
    relTgtId: sess.target.relTgtId || 1,
  };
}

export function sameInitiatorPort(a: { initiator: string; isid: string }, b: { initiator: string; isid: string }): boolean {
  return a.initiator === b.initiator && a.isid === b.isid;
}

const PROTOCOL_ISCSI = 5;

/** An iSCSI TransportID, format 01b (initiator port: name,i,0x<ISID>), padded to 4 bytes. */
export function encodeTransportId(n: { initiator: string; isid: string }): Buffer {
  const text = Buffer.from(`${n.initiator},i,0x${n.isid}`, 'utf8');
  const len = (text.length + 1 + 3) & ~3; // NUL-terminated, multiple of 4
  const b = Buffer.alloc(4 + len);
  b[0] = 0x40 | PROTOCOL_ISCSI;
  b.writeUInt16BE(len, 2);
  text.copy(b, 4);
  return b;
}

export type ParsedTransportId = { initiator: string; isid: string | null; length: number } | { error: 'format' | 'length' };

/**
 * Decode an iSCSI TransportID at the start of `b` (format 00b: name only, matching every ISID;
 * 01b: initiator port). Never throws; a malformed one yields an error tag.
 */
export function parseTransportId(b: Buffer): ParsedTransportId {
  if (b.length < 4) return { error: 'length' };
  const format = b[0]! >> 6;
  if ((b[0]! & 0x0f) !== PROTOCOL_ISCSI || format > 1) return { error: 'format' };
  const addl = b.readUInt16BE(2);
  if (addl < 4 || addl % 4 !== 0 || 4 + addl > b.length) return { error: 'length' };
  const body = b.subarray(4, 4 + addl);
  const nul = body.indexOf(0);
  const text = body.subarray(0, nul < 0 ? body.length : nul).toString('utf8');
  if (format === 0) {
    if (!text || text.includes(',')) return { error: 'format' };
    return { initiator: text.toLowerCase(), isid: null, length: 4 + addl };
  }
  const m = /^(.+),i,0x([0-9a-fA-F]{12})$/.exec(text);
  if (!m) return { error: 'format' };
  return { initiator: m[1]!.toLowerCase(), isid: m[2]!.toLowerCase(), length: 4 + addl };
}

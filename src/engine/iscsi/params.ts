// Login/Text key negotiation on the target side, RFC 7143 sections 6 (rules) and 13 (keys), plus
// the iSER keys of RFC 7145 that a TCP-only target must still answer. Pure: feed it the pairs of
// each (reassembled) Login or Text request, send back what it returns.
//
// Decisions where the RFC leaves a choice (each has a test):
// - A value that does not parse, a Boolean other than Yes/No, a number below the key's range, a
//   number above the range of a Maximum-function key, or a list with nothing we accept is
//   answered key=Reject and the key keeps its current value (RFC 7143 6.2.1/6.2.2 allow Reject).
// - A number above the range of a Minimum-function key is answered with our own value: the RFC
//   lets the responder "select an admissible value", and min(offer, ours) is one. This is what
//   makes e.g. MaxBurstLength=16777216 from a sloppy initiator work.
// - Protocol errors fail the login with 0x0200 (initiator error), as Linux LIO does: a key sent
//   twice in one login (RFC 7143 6.3), a reserved constant (Reject/Irrelevant/NotUnderstood)
//   used as an offer (6.2), a key the target alone may send, a key outside the stage it belongs
//   to (operational keys in the security stage, security keys in the operational stage,
//   SendTargets during login), a leading-only key on a non-leading connection.
// - Missing InitiatorName (or TargetName on a Normal session) in the first request: 0x0207.
//   SessionType other than Discovery/Normal: 0x0209 (session type not supported).
// - In Full Feature Phase text negotiation there is no login status: a protocol error comes back
//   as `fail` (the caller sends Reject, reason PROTOCOL_ERROR) and keys that may only be
//   negotiated during login are answered Reject.
// - Security keys (AuthMethod, CHAP_*, SRP_*, KRB_*, SPKM_*) are only checked for repetition
//   here; during the security stage offer() leaves them unanswered for chap.ts.
// - Leading-only keys on a non-leading connection fail the login, except SessionType, which
//   initiators declare on every connection.
// - Values not offered by the initiator keep the RFC default (the target never originates
//   offers). The target declares its MaxRecvDataSegmentLength (when the initiator declares its
//   own, else from finish() in the operational stage), TargetPortalGroupTag (in the response to
//   the first request naming a target) and TargetAlias (if configured, Normal sessions).

import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, LoginStatus, MAX_DATA_SEGMENT_LENGTH, loginStatusClass, loginStatusDetail } from './constants.js';

export type Digest = 'None' | 'CRC32C';
export type NegotiationPhase = 'security' | 'operational' | 'full-feature';
export type SessionType = 'Normal' | 'Discovery';

/** What the administrator configured for a target (scst.conf / sysfs target attributes). */
export interface TargetParams {
  InitialR2T: boolean;
  ImmediateData: boolean;
  MaxRecvDataSegmentLength: number;
  MaxXmitDataSegmentLength: number;
  MaxBurstLength: number;
  FirstBurstLength: number;
  MaxOutstandingR2T: number;
  HeaderDigest: Array<Digest>;
  DataDigest: Array<Digest>;
  DefaultTime2Wait: number;
  DefaultTime2Retain: number;
  MaxConnections: number;
  /** We support 0 only; larger values are answered 0 anyway. */
  ErrorRecoveryLevel: number;
  DataPDUInOrder: boolean;
  DataSequenceInOrder: boolean;
}

/**
 * iscsi-scstd's local defaults (iscsi-scst/usr/param.c, procfs.md 6.3, sysfs.md 7.2). The three
 * length keys default to the kernel's max_data_seg_len, 1 MiB on x86-64 (256 iovecs of 4 KiB
 * pages). DataPDUInOrder/DataSequenceInOrder are No as in SCST: with the OR result function the
 * initiator's Yes still wins, so the engine must place Data-Out by BufferOffset, not by arrival.
 */
export const defaultTargetParams: TargetParams = Object.freeze({
  InitialR2T: false,
  ImmediateData: true,
  MaxRecvDataSegmentLength: 1048576,
  MaxXmitDataSegmentLength: 1048576,
  MaxBurstLength: 1048576,
  FirstBurstLength: 65536,
  MaxOutstandingR2T: 32,
  HeaderDigest: Object.freeze(['None']) as Digest[],
  DataDigest: Object.freeze(['None']) as Digest[],
  DefaultTime2Wait: 0,
  DefaultTime2Retain: 0,
  MaxConnections: 1,
  ErrorRecoveryLevel: 0,
  DataPDUInOrder: false,
  DataSequenceInOrder: false,
}) as TargetParams;

/** The result of a login: negotiated values (RFC defaults where nothing was negotiated). */
export interface SessionParams {
  SessionType: SessionType;
  TargetName: string | null;
  InitiatorName: string | null;
  InitiatorAlias: string | null;
  /** The tag we declared, if any. */
  TargetPortalGroupTag: number | null;
  HeaderDigest: Digest;
  DataDigest: Digest;
  MaxConnections: number;
  InitialR2T: boolean;
  ImmediateData: boolean;
  /** What we declared we can receive (8192 until declared). Feed to PduReceiver after login. */
  MaxRecvDataSegmentLength: number;
  /** Largest data segment we may send: the initiator's declared MaxRecvDataSegmentLength, capped by our configuration. */
  MaxXmitDataSegmentLength: number;
  MaxBurstLength: number;
  FirstBurstLength: number;
  DefaultTime2Wait: number;
  DefaultTime2Retain: number;
  MaxOutstandingR2T: number;
  DataPDUInOrder: boolean;
  DataSequenceInOrder: boolean;
  ErrorRecoveryLevel: number;
  TaskReporting: string;
  iSCSIProtocolLevel: number;
  RDMAExtensions: boolean;
}

export interface NegotiationFailure {
  statusClass: number;
  statusDetail: number;
  reason: string;
}

export type OfferResult = { reply: Array<[string, string]>; sendTargets?: string } | { fail: NegotiationFailure };

// ---- the key table ----

export type KeyType =
  | 'boolean-and'
  | 'boolean-or'
  | 'numeric-min'
  | 'numeric-max'
  | 'list'
  | 'declarative'
  | 'security'
  | 'send-targets'
  /** Obsoleted by RFC 7143 13.25: must be answered Reject, never NotUnderstood. */
  | 'obsolete'
  /** Known but not implemented (X#NodeArchitecture): answered NotUnderstood. */
  | 'unsupported';

export interface KeyDef {
  type: KeyType;
  /** Valid range for numerical values (RFC). */
  min?: number;
  max?: number;
  /** Values the RFC defines, for list keys. */
  values?: readonly string[];
  /** RFC default, as text; null when there is none. */
  rfcDefault: string | null;
  /** Stages/phases in which the initiator may send the key. */
  phases: readonly NegotiationPhase[];
  /** Who may send it. */
  sender: 'initiator' | 'target' | 'both';
  /** LO: leading connection only. */
  leadingOnly: boolean;
  /** "Irrelevant when: SessionType=Discovery". */
  irrelevantInDiscovery: boolean;
  /** "Irrelevant when: RDMAExtensions=No" (iSER, RFC 7145); always so on TCP. */
  irrelevantWithoutRdma: boolean;
}

const LOGIN: readonly NegotiationPhase[] = ['operational'];
const ANY_LOGIN: readonly NegotiationPhase[] = ['security', 'operational'];
const ALL: readonly NegotiationPhase[] = ['security', 'operational', 'full-feature'];
const SEC: readonly NegotiationPhase[] = ['security'];

function k(type: KeyType, phases: readonly NegotiationPhase[], rfcDefault: string | null, more: Partial<KeyDef> = {}): KeyDef {
  return Object.freeze({
    type,
    phases,
    rfcDefault,
    sender: 'both',
    leadingOnly: false,
    irrelevantInDiscovery: false,
    irrelevantWithoutRdma: false,
    ...more,
  } as KeyDef);
}

const MAX24 = MAX_DATA_SEGMENT_LENGTH;
const LO = { leadingOnly: true } as const;
const NOT_DISCOVERY = { leadingOnly: true, irrelevantInDiscovery: true } as const;
const ISER = { irrelevantWithoutRdma: true } as const;

/** Every key of RFC 7143 sections 12 and 13, plus the iSER keys of RFC 7145. */
export const keyTable: Readonly<Record<string, KeyDef>> = Object.freeze({
  // 12: security
  AuthMethod: k('security', SEC, 'None', { values: ['KRB5', 'SRP', 'CHAP', 'None'] }),
  // 13.1 .. 13.9
  HeaderDigest: k('list', LOGIN, 'None', { values: ['CRC32C', 'None'] }),
  DataDigest: k('list', LOGIN, 'None', { values: ['CRC32C', 'None'] }),
  MaxConnections: k('numeric-min', LOGIN, '1', { min: 1, max: 65535, ...NOT_DISCOVERY }),
  SendTargets: k('send-targets', ['full-feature'], null, { sender: 'initiator' }),
  TargetName: k('declarative', ANY_LOGIN, null, { sender: 'initiator' }),
  InitiatorName: k('declarative', ANY_LOGIN, null, { sender: 'initiator' }),
  TargetAlias: k('declarative', ALL, null, { sender: 'target' }),
  InitiatorAlias: k('declarative', ALL, null, { sender: 'initiator' }),
  TargetAddress: k('declarative', ALL, null, { sender: 'target' }),
  TargetPortalGroupTag: k('declarative', ANY_LOGIN, null, { sender: 'target', min: 0, max: 65535 }),
  // 13.10 .. 13.21
  InitialR2T: k('boolean-or', LOGIN, 'Yes', NOT_DISCOVERY),
  ImmediateData: k('boolean-and', LOGIN, 'Yes', NOT_DISCOVERY),
  MaxRecvDataSegmentLength: k('declarative', ['operational', 'full-feature'], '8192', { min: 512, max: MAX24 }),
  MaxBurstLength: k('numeric-min', LOGIN, '262144', { min: 512, max: MAX24, ...NOT_DISCOVERY }),
  FirstBurstLength: k('numeric-min', LOGIN, '65536', { min: 512, max: MAX24, ...NOT_DISCOVERY }),
  DefaultTime2Wait: k('numeric-max', LOGIN, '2', { min: 0, max: 3600, ...LO }),
  DefaultTime2Retain: k('numeric-min', LOGIN, '20', { min: 0, max: 3600, ...LO }),
  MaxOutstandingR2T: k('numeric-min', LOGIN, '1', { min: 1, max: 65535, ...NOT_DISCOVERY }),
  DataPDUInOrder: k('boolean-or', LOGIN, 'Yes', NOT_DISCOVERY),
  DataSequenceInOrder: k('boolean-or', LOGIN, 'Yes', NOT_DISCOVERY),
  ErrorRecoveryLevel: k('numeric-min', LOGIN, '0', { min: 0, max: 2, ...LO }),
  SessionType: k('declarative', ANY_LOGIN, 'Normal', { sender: 'initiator', values: ['Discovery', 'Normal'], ...LO }),
  // 13.23 .. 13.26
  TaskReporting: k('list', LOGIN, 'RFC3720', { values: ['RFC3720', 'ResponseFence', 'FastAbort'], ...NOT_DISCOVERY }),
  iSCSIProtocolLevel: k('numeric-min', LOGIN, '1', { min: 0, max: 31, ...NOT_DISCOVERY }),
  IFMarker: k('obsolete', LOGIN, null),
  OFMarker: k('obsolete', LOGIN, null),
  IFMarkInt: k('obsolete', LOGIN, null),
  OFMarkInt: k('obsolete', LOGIN, null),
  'X#NodeArchitecture': k('unsupported', LOGIN, null, LO),
  // RFC 7145 (iSER)
  RDMAExtensions: k('boolean-and', LOGIN, 'No', NOT_DISCOVERY),
  TargetRecvDataSegmentLength: k('declarative', LOGIN, '8192', { min: 512, max: MAX24, ...ISER }),
  InitiatorRecvDataSegmentLength: k('declarative', LOGIN, '8192', { min: 512, max: MAX24, ...ISER }),
  MaxOutstandingUnexpectedPDUs: k('numeric-min', LOGIN, '0', { min: 0, max: 0xffffffff, ...LO, ...ISER }),
  MaxAHSLength: k('numeric-min', LOGIN, '256', { min: 2, max: 0xffffffff, ...LO, ...ISER }),
  TaggedBufferForSolicitedDataOnly: k('boolean-or', LOGIN, 'No', { ...LO, ...ISER }),
  iSERHelloRequired: k('boolean-or', LOGIN, 'No', { ...LO, ...ISER }),
});

/** Keys owned by the authentication exchange (chap.ts), RFC 7143 12. */
/** The definition of a key the RFC defines; never an Object.prototype member ("valueOf", "__proto__"). */
export function keyDef(key: string): KeyDef | undefined {
  return Object.hasOwn(keyTable, key) ? keyTable[key] : undefined;
}

export function isSecurityKey(key: string): boolean {
  return key === 'AuthMethod' || /^(CHAP|SRP|KRB|SPKM)_/.test(key);
}

const RESERVED_VALUES = new Set(['Reject', 'Irrelevant', 'NotUnderstood']);
/** RFC 7143 6.1: iSCSI names are at most 223 bytes. */
const MAX_NAME_BYTES = 223;
/** RFC 7143 6.1: a simple value (alias etc.) is at most 255 bytes. */
const MAX_SIMPLE_VALUE_BYTES = 255;

/**
 * numerical-value of RFC 7143 6.1: decimal-constant or hex-constant (up to 2**64-1). Returns
 * null if malformed. Values beyond 2**53 lose precision but only ever compare as "too big".
 */
export function parseNumericValue(s: string): number | null {
  if (/^[0-9]{1,20}$/.test(s)) {
    const n = Number(s);
    return n <= 18446744073709551615 ? n : null;
  }
  if (/^0[xX][0-9a-fA-F]{1,16}$/.test(s)) return parseInt(s.slice(2), 16);
  return null;
}

/** Problems with a TargetParams (ranges as iscsi-scstd enforces them); empty if fine. */
export function validateTargetParams(p: TargetParams): string[] {
  const errs: string[] = [];
  const range = (name: keyof TargetParams, min: number, max: number): void => {
    const v = p[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) errs.push(`${name} must be an integer in ${min}..${max}`);
  };
  range('MaxRecvDataSegmentLength', 512, MAX24);
  range('MaxXmitDataSegmentLength', 512, MAX24);
  range('MaxBurstLength', 512, MAX24);
  range('FirstBurstLength', 512, MAX24);
  range('MaxOutstandingR2T', 1, 65535);
  range('DefaultTime2Wait', 0, 3600);
  range('DefaultTime2Retain', 0, 3600);
  range('MaxConnections', 1, 1);
  range('ErrorRecoveryLevel', 0, 0);
  for (const name of ['HeaderDigest', 'DataDigest'] as const) {
    const v = p[name];
    if (!Array.isArray(v) || v.length === 0 || v.some((d) => d !== 'None' && d !== 'CRC32C')) errs.push(`${name} must be a non-empty list of None, CRC32C`);
  }
  return errs;
}

const fail = (code: number, reason: string): { fail: NegotiationFailure } => ({
  fail: { statusClass: loginStatusClass(code), statusDetail: loginStatusDetail(code), reason },
});

export interface NegotiatorOptions {
  /** First connection of the session (LO keys allowed). */
  leading: boolean;
  /** Tag of the portal group serving the login; declared to Normal sessions. */
  targetPortalGroupTag?: number;
  /** TargetAlias to declare to Normal sessions, if configured. */
  targetAlias?: string;
}

/** One per connection: negotiates its login, then its Full Feature Phase text requests. */
export class Negotiator {
  readonly params: SessionParams;
  private readonly target: TargetParams;
  private readonly opts: NegotiatorOptions;
  /** Keys the initiator sent during this login. */
  private readonly seen = new Set<string>();
  private firstRequest = true;
  private failed: NegotiationFailure | null = null;
  private lastLoginPhase: NegotiationPhase | null = null;
  private declaredMrdsl = false;
  private declaredTpgt = false;
  private declaredAlias = false;

  constructor(target: TargetParams, opts: NegotiatorOptions) {
    this.target = target;
    this.opts = opts;
    this.params = {
      SessionType: 'Normal',
      TargetName: null,
      InitiatorName: null,
      InitiatorAlias: null,
      TargetPortalGroupTag: null,
      HeaderDigest: 'None',
      DataDigest: 'None',
      MaxConnections: 1,
      InitialR2T: true,
      ImmediateData: true,
      MaxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
      MaxXmitDataSegmentLength: Math.min(DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, target.MaxXmitDataSegmentLength),
      MaxBurstLength: 262144,
      FirstBurstLength: 65536,
      DefaultTime2Wait: 2,
      DefaultTime2Retain: 20,
      MaxOutstandingR2T: 1,
      DataPDUInOrder: true,
      DataSequenceInOrder: true,
      ErrorRecoveryLevel: 0,
      TaskReporting: 'RFC3720',
      iSCSIProtocolLevel: 1,
      RDMAExtensions: false,
    };
  }

  /**
   * Handles the pairs of one Login request (phase = its CSG stage) or one Text request
   * ('full-feature'). Returns the pairs to answer with, in the order offered, followed by our
   * own declarations; or a failure (the login must end with that status, or, in Full Feature
   * Phase, the request be rejected). For a SendTargets request the value is returned in
   * `sendTargets` ('' for an empty value) and left to the caller to answer.
   */
  offer(pairs: Array<[string, string]>, phase: NegotiationPhase): OfferResult {
    if (phase === 'full-feature') return this.offerText(pairs);
    if (this.failed) return { fail: this.failed };
    const r = this.offerLogin(pairs, phase);
    if ('fail' in r) this.failed = r.fail;
    return r;
  }

  /** Declarations we still owe before the stage transits (call before setting T=1). */
  finish(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    if (this.lastLoginPhase === 'operational') this.declareMrdsl(out);
    this.declareTargetInfo(out);
    // FirstBurstLength can never exceed MaxBurstLength (RFC 7143 13.14), whatever order they came in.
    if (this.params.FirstBurstLength > this.params.MaxBurstLength) this.params.FirstBurstLength = this.params.MaxBurstLength;
    return out;
  }

  // ---- login ----

  private offerLogin(pairs: Array<[string, string]>, phase: NegotiationPhase): OfferResult {
    this.lastLoginPhase = phase;
    const p = this.params;
    const first = this.firstRequest;
    this.firstRequest = false;

    // Protocol checks first, so that a failing request changes nothing.
    const names = new Set<string>();
    for (const [key, value] of pairs) {
      if (names.has(key) || this.seen.has(key)) return fail(LoginStatus.INITIATOR_ERROR, `key ${key} offered twice in one login`);
      names.add(key);
      if (RESERVED_VALUES.has(value)) return fail(LoginStatus.INITIATOR_ERROR, `reserved constant ${value} offered for ${key}`);
      if (isSecurityKey(key)) {
        if (phase !== 'security') return fail(LoginStatus.INITIATOR_ERROR, `security key ${key} outside the security stage`);
        continue;
      }
      const def = keyDef(key);
      if (!def) continue;
      if (!def.phases.includes(phase)) return fail(LoginStatus.INITIATOR_ERROR, `key ${key} not allowed in the ${phase} stage`);
      if (def.sender === 'target') return fail(LoginStatus.INITIATOR_ERROR, `key ${key} may only be sent by a target`);
      // SessionType is tolerated: initiators repeat it on every connection of a session.
      if (def.leadingOnly && !this.opts.leading && key !== 'SessionType') return fail(LoginStatus.INITIATOR_ERROR, `leading-only key ${key} on a non-leading connection`);
    }

    let sessionType: string | undefined;
    let initiatorName: string | undefined;
    let targetName: string | undefined;
    for (const [key, value] of pairs) {
      if (key === 'SessionType') sessionType = value;
      else if (key === 'InitiatorName') initiatorName = value;
      else if (key === 'TargetName') targetName = value;
    }
    if (sessionType !== undefined && sessionType !== 'Normal' && sessionType !== 'Discovery') {
      return fail(LoginStatus.SESSION_TYPE_NOT_SUPPORTED, `unsupported SessionType ${sessionType}`);
    }
    if (!first && sessionType !== undefined && sessionType !== p.SessionType) {
      return fail(LoginStatus.INITIATOR_ERROR, 'SessionType must be declared in the first Login Request');
    }
    if (first) {
      if (!initiatorName) return fail(LoginStatus.MISSING_PARAMETER, 'InitiatorName missing from the first Login Request');
      if ((sessionType ?? 'Normal') === 'Normal' && !targetName) return fail(LoginStatus.MISSING_PARAMETER, 'TargetName missing for a Normal session');
    }
    for (const [what, v] of [
      ['InitiatorName', initiatorName],
      ['TargetName', targetName],
    ] as const) {
      if (v === undefined) continue;
      if (v === '') return fail(LoginStatus.MISSING_PARAMETER, `empty ${what}`);
      if (Buffer.byteLength(v, 'utf8') > MAX_NAME_BYTES) return fail(LoginStatus.INITIATOR_ERROR, `${what} longer than ${MAX_NAME_BYTES} bytes`);
    }

    // Accepted: record and answer.
    for (const [key] of pairs) this.seen.add(key);
    if (sessionType !== undefined) p.SessionType = sessionType as SessionType;
    if (initiatorName !== undefined) p.InitiatorName = initiatorName;
    if (targetName !== undefined) p.TargetName = targetName;

    // Answered in two passes, FirstBurstLength last, so that MaxBurstLength can cap it; replied
    // in the order offered.
    const answers = new Array<string | null>(pairs.length);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < pairs.length; i++) {
        const [key, value] = pairs[i]!;
        if ((key === 'FirstBurstLength') === (pass === 1)) answers[i] = this.answerLoginKey(key, value);
      }
    }
    const reply: Array<[string, string]> = [];
    for (let i = 0; i < pairs.length; i++) {
      const a = answers[i];
      if (a !== null && a !== undefined) reply.push([pairs[i]![0], a]);
    }
    if (pairs.some(([key]) => key === 'MaxRecvDataSegmentLength')) this.declareMrdsl(reply);
    if (first && targetName !== undefined) this.declareTpgt(reply);
    return { reply };
  }

  /** Our answer for one accepted login key, or null when it takes no answer. */
  private answerLoginKey(key: string, value: string): string | null {
    if (isSecurityKey(key)) return null;
    const def = keyDef(key);
    if (!def) return 'NotUnderstood';
    const p = this.params;
    if (def.irrelevantInDiscovery && p.SessionType === 'Discovery') return 'Irrelevant';
    if (def.irrelevantWithoutRdma) return 'Irrelevant';
    const t = this.target;
    switch (key) {
      case 'HeaderDigest':
      case 'DataDigest': {
        const chosen = selectFromList(value, t[key]);
        if (chosen === null) return 'Reject';
        p[key] = chosen as Digest;
        return chosen;
      }
      case 'TaskReporting': {
        const chosen = selectFromList(value, ['RFC3720']);
        if (chosen === null) return 'Reject';
        p.TaskReporting = chosen;
        return chosen;
      }
      case 'InitialR2T':
      case 'DataPDUInOrder':
      case 'DataSequenceInOrder':
        return this.bool(key, value, def.type, t[key]);
      case 'ImmediateData':
        return this.bool(key, value, def.type, t.ImmediateData);
      case 'RDMAExtensions':
        return this.bool(key, value, def.type, false);
      case 'MaxConnections':
        return this.num(key, value, def, 1);
      case 'MaxBurstLength':
        return this.num(key, value, def, t.MaxBurstLength);
      case 'FirstBurstLength':
        return this.num(key, value, def, Math.min(t.FirstBurstLength, p.MaxBurstLength));
      case 'DefaultTime2Wait':
      case 'DefaultTime2Retain':
      case 'MaxOutstandingR2T':
        return this.num(key, value, def, t[key]);
      case 'ErrorRecoveryLevel':
        return this.num(key, value, def, 0);
      case 'iSCSIProtocolLevel':
        return this.num(key, value, def, 1);
      case 'MaxRecvDataSegmentLength': {
        const n = parseNumericValue(value);
        if (n === null || n < def.min! || n > def.max!) return 'Reject';
        p.MaxXmitDataSegmentLength = Math.min(n, t.MaxXmitDataSegmentLength);
        return null;
      }
      case 'InitiatorAlias':
        if (Buffer.byteLength(value, 'utf8') > MAX_SIMPLE_VALUE_BYTES) return 'Reject';
        p.InitiatorAlias = value;
        return null;
      case 'SessionType':
      case 'InitiatorName':
      case 'TargetName':
        return null; // captured by offerLogin
    }
    if (def.type === 'obsolete') return 'Reject';
    return 'NotUnderstood';
  }

  private bool(key: 'InitialR2T' | 'ImmediateData' | 'DataPDUInOrder' | 'DataSequenceInOrder' | 'RDMAExtensions', value: string, type: KeyType, ours: boolean): string {
    if (value !== 'Yes' && value !== 'No') return 'Reject';
    const offered = value === 'Yes';
    const result = type === 'boolean-and' ? offered && ours : offered || ours;
    this.params[key] = result;
    return result ? 'Yes' : 'No';
  }

  private num(
    key: 'MaxConnections' | 'MaxBurstLength' | 'FirstBurstLength' | 'DefaultTime2Wait' | 'DefaultTime2Retain' | 'MaxOutstandingR2T' | 'ErrorRecoveryLevel' | 'iSCSIProtocolLevel',
    value: string,
    def: KeyDef,
    ours: number,
  ): string {
    const n = parseNumericValue(value);
    if (n === null || n < def.min!) return 'Reject';
    let result: number;
    if (def.type === 'numeric-min') {
      result = Math.min(n, ours);
    } else {
      if (n > def.max!) return 'Reject';
      result = Math.max(n, ours);
    }
    if (result < def.min! || result > def.max!) return 'Reject';
    this.params[key] = result;
    return String(result);
  }

  private declareMrdsl(out: Array<[string, string]>): void {
    if (this.declaredMrdsl) return;
    this.declaredMrdsl = true;
    this.params.MaxRecvDataSegmentLength = this.target.MaxRecvDataSegmentLength;
    out.push(['MaxRecvDataSegmentLength', String(this.target.MaxRecvDataSegmentLength)]);
  }

  private declareTpgt(out: Array<[string, string]>): void {
    const tag = this.opts.targetPortalGroupTag;
    if (this.declaredTpgt || tag === undefined || this.params.SessionType !== 'Normal') return;
    this.declaredTpgt = true;
    this.params.TargetPortalGroupTag = tag;
    out.push(['TargetPortalGroupTag', String(tag)]);
  }

  private declareTargetInfo(out: Array<[string, string]>): void {
    if (this.params.SessionType !== 'Normal' || this.lastLoginPhase === null) return;
    this.declareTpgt(out);
    const alias = this.opts.targetAlias;
    if (!this.declaredAlias && alias) {
      this.declaredAlias = true;
      out.push(['TargetAlias', alias]);
    }
  }

  // ---- full feature phase ----

  private offerText(pairs: Array<[string, string]>): OfferResult {
    const names = new Set<string>();
    for (const [key, value] of pairs) {
      if (names.has(key)) return fail(LoginStatus.INITIATOR_ERROR, `key ${key} sent twice in one text request`);
      names.add(key);
      if (RESERVED_VALUES.has(value)) return fail(LoginStatus.INITIATOR_ERROR, `reserved constant ${value} offered for ${key}`);
    }
    const reply: Array<[string, string]> = [];
    let sendTargets: string | undefined;
    for (const [key, value] of pairs) {
      const def = keyDef(key);
      if (!def) {
        reply.push([key, 'NotUnderstood']);
        continue;
      }
      if (!def.phases.includes('full-feature') || def.sender === 'target') {
        reply.push([key, 'Reject']);
        continue;
      }
      switch (key) {
        case 'SendTargets':
          sendTargets = value;
          break;
        case 'MaxRecvDataSegmentLength': {
          const n = parseNumericValue(value);
          if (n === null || n < def.min! || n > def.max!) reply.push([key, 'Reject']);
          else this.params.MaxXmitDataSegmentLength = Math.min(n, this.target.MaxXmitDataSegmentLength);
          break;
        }
        case 'InitiatorAlias':
          if (Buffer.byteLength(value, 'utf8') > MAX_SIMPLE_VALUE_BYTES) reply.push([key, 'Reject']);
          else this.params.InitiatorAlias = value;
          break;
        default:
          reply.push([key, 'Reject']);
      }
    }
    return sendTargets === undefined ? { reply } : { reply, sendTargets };
  }
}

/** Processing order inside one request: values others depend on come first. */
/** RFC 7143 6.2.1: the first value in the offer's list that we accept; unknown values are ignored. */
function selectFromList(offer: string, accepted: readonly string[]): string | null {
  for (const v of offer.split(',')) if (accepted.includes(v)) return v;
  return null;
}

// CHAP authentication, target side, RFC 7143 12.1.3 (RFC 1994 with CHAP_A=5, i.e. MD5):
//   I -> T  CHAP_A=<A1,A2,...>
//   T -> I  CHAP_A=5 CHAP_I=<id> CHAP_C=<challenge>
//   I -> T  CHAP_N=<user> CHAP_R=<MD5(id || secret || challenge)> [CHAP_I=<id2> CHAP_C=<challenge2>]
//   T -> I  [CHAP_N=<our user> CHAP_R=<MD5(id2 || our secret || challenge2)>]   (mutual)
// Every failure is login status 0x0201 (authentication failure); the reason is for the log only,
// the initiator learns nothing beyond "failed".

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface ChapAccount {
  user: string;
  secret: string;
}

export interface ChapConfig {
  /** Accounts an initiator may authenticate as (IncomingUser). */
  incoming: ChapAccount[];
  /** Our own account for mutual CHAP (OutgoingUser). */
  outgoing?: ChapAccount;
}

export type ChapFailure = { statusClass: 2; statusDetail: 1; reason: string };
export type ChapStepResult = { reply: Array<[string, string]>; done: boolean } | { fail: ChapFailure };

/** CHAP_A value for MD5, the only algorithm RFC 7143 requires and the only one we offer. */
export const CHAP_ALGORITHM_MD5 = 5;
/** Our challenge length: the MD5 output size, as Linux LIO and open-iscsi use. */
export const CHAP_CHALLENGE_LENGTH = 16;
/** RFC 7143 12.1.3: an initiator's challenge is at most 1024 bytes. */
export const CHAP_MAX_CHALLENGE_LENGTH = 1024;
const MD5_LENGTH = 16;

/**
 * Decodes a binary value (RFC 7143 6.1): "0x"/"0X" + hex digits (an odd count has an implied
 * leading zero nibble), or "0b"/"0B" + base64. Returns null when malformed or empty.
 */
export function decodeBinaryValue(value: string): Buffer | null {
  if (/^0[xX][0-9a-fA-F]+$/.test(value)) {
    const digits = value.slice(2);
    return Buffer.from(digits.length % 2 ? `0${digits}` : digits, 'hex');
  }
  if (/^0[bB](?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value) && value.length > 2) {
    return Buffer.from(value.slice(2), 'base64');
  }
  return null;
}

/** The CHAP response MD5(id || secret || challenge), RFC 1994 4.1. */
export function chapResponse(id: number, secret: string, challenge: Buffer): Buffer {
  return createHash('md5')
    .update(Buffer.of(id & 0xff))
    .update(Buffer.from(secret, 'utf8'))
    .update(challenge)
    .digest();
}

/**
 * AuthMethod list negotiation (RFC 7143 6.2.1: the first offered value we accept). With any
 * IncomingUser configured only CHAP is acceptable; with none only None (as iscsi-scstd does,
 * procfs.md 6.4).
 */
export function negotiateAuthMethod(offered: string[], chapRequired: boolean): 'None' | 'CHAP' | 'Reject' {
  const want = chapRequired ? 'CHAP' : 'None';
  return offered.includes(want) ? want : 'Reject';
}

const failure = (reason: string): { fail: ChapFailure } => ({ fail: { statusClass: 2, statusDetail: 1, reason } });

type State = 'algorithm' | 'response' | 'done' | 'failed';

export class ChapTarget {
  private state: State = 'algorithm';
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private authenticated: string | null = null;

  constructor(
    private readonly cfg: ChapConfig,
    private readonly random: (n: number) => Buffer = randomBytes,
  ) {}

  /** The CHAP_N the initiator authenticated as, once done (SCST names the session user@IQN). */
  get user(): string | null {
    return this.authenticated;
  }

  /** Feeds the CHAP_* keys of one Login Request (other keys are ignored). */
  step(pairs: Array<[string, string]>): ChapStepResult {
    const r = this.advance(pairs);
    if ('fail' in r) this.state = 'failed';
    return r;
  }

  private advance(pairs: Array<[string, string]>): ChapStepResult {
    const keys = new Map<string, string>();
    for (const [k, v] of pairs) {
      if (!k.startsWith('CHAP_')) continue;
      if (keys.has(k)) return failure(`${k} sent twice`);
      keys.set(k, v);
    }
    switch (this.state) {
      case 'failed':
        return failure('authentication already failed');
      case 'done':
        return failure('CHAP keys after authentication completed');
      case 'algorithm':
        return this.chooseAlgorithm(keys);
      case 'response':
        return this.checkResponse(keys);
    }
  }

  private chooseAlgorithm(keys: Map<string, string>): ChapStepResult {
    const a = keys.get('CHAP_A');
    if (a === undefined || keys.size !== 1) return failure('expected CHAP_A alone to start CHAP');
    const offered = a.split(',').map((v) => (/^[0-9]{1,3}$/.test(v) ? Number(v) : NaN));
    if (!offered.includes(CHAP_ALGORITHM_MD5)) return failure(`no supported CHAP algorithm in CHAP_A=${a}`);
    const idByte = this.random(1);
    const challenge = this.random(CHAP_CHALLENGE_LENGTH);
    if (idByte.length < 1 || challenge.length < CHAP_CHALLENGE_LENGTH) return failure('random source returned too few bytes');
    this.id = idByte[0]!;
    this.challenge = Buffer.from(challenge.subarray(0, CHAP_CHALLENGE_LENGTH));
    this.state = 'response';
    return {
      reply: [
        ['CHAP_A', String(CHAP_ALGORITHM_MD5)],
        ['CHAP_I', String(this.id)],
        ['CHAP_C', `0x${this.challenge.toString('hex')}`],
      ],
      done: false,
    };
  }

  private checkResponse(keys: Map<string, string>): ChapStepResult {
    const name = keys.get('CHAP_N');
    const resp = keys.get('CHAP_R');
    const mutualId = keys.get('CHAP_I');
    const mutualChallenge = keys.get('CHAP_C');
    if (name === undefined || resp === undefined) return failure('CHAP_N and CHAP_R expected');
    for (const k of keys.keys()) if (!['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C'].includes(k)) return failure(`unexpected ${k}`);
    if ((mutualId === undefined) !== (mutualChallenge === undefined)) return failure('mutual CHAP needs both CHAP_I and CHAP_C');

    const got = decodeBinaryValue(resp);
    if (!got || got.length !== MD5_LENGTH) return failure(`malformed CHAP_R for user ${name}`);
    let account: ChapAccount | null = null;
    for (const acc of this.cfg.incoming) {
      if (acc.user !== name) continue;
      if (timingSafeEqual(chapResponse(this.id, acc.secret, this.challenge), got)) {
        account = acc;
        break;
      }
    }
    if (!account) return failure(`CHAP authentication failed for user ${name}`);

    // Only an authenticated initiator gets to make us compute a response (no oracle for strangers).
    const reply: Array<[string, string]> = [];
    if (mutualId !== undefined && mutualChallenge !== undefined) {
      const out = this.cfg.outgoing;
      if (!out) return failure('mutual CHAP requested but no OutgoingUser is configured');
      if (!/^(?:[0-9]{1,3}|0[xX][0-9a-fA-F]{1,2})$/.test(mutualId)) return failure(`malformed CHAP_I=${mutualId}`);
      const id = mutualId.startsWith('0x') || mutualId.startsWith('0X') ? parseInt(mutualId.slice(2), 16) : Number(mutualId);
      if (id > 255) return failure(`CHAP_I=${mutualId} out of range`);
      const challenge = decodeBinaryValue(mutualChallenge);
      if (!challenge || challenge.length > CHAP_MAX_CHALLENGE_LENGTH) return failure('malformed CHAP_C');
      // A reflected challenge would let an attacker get our answer to our own challenge.
      if (challenge.equals(this.challenge)) return failure('initiator reflected our CHAP challenge');
      // RFC 7143 12.1.3: the same secret must not authenticate both directions.
      if (out.secret === account.secret) return failure('OutgoingUser secret equals the IncomingUser secret');
      reply.push(['CHAP_N', out.user], ['CHAP_R', `0x${chapResponse(id, out.secret, challenge).toString('hex')}`]);
    }
    this.authenticated = account.user;
    this.state = 'done';
    return { reply, done: true };
  }
}

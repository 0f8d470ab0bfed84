import type { Logger } from 'pino';
import type { Pdu } from './pdu.js';
import { decodeLogin } from './pdu.js';
import { LoginStage, LoginStatus, loginStatusClass, loginStatusDetail } from './constants.js';
import { parseTextKeys, encodeTextKeys } from './text.js';
import { Negotiator, defaultTargetParams, type SessionParams } from './params.js';
import { ChapTarget, negotiateAuthMethod } from './chap.js';
import type { IscsiContext } from './context.js';
import { heldBack } from '../log-throttle.js';
import type { Target } from '../target.js';
import { iscsiTarget } from './target.js';
import { fullInitiatorName, portalAddress, targetPortalAllowed } from './portal-acl.js';

// The login phase of one connection (RFC 7143 §6): security negotiation (AuthMethod, CHAP),
// operational negotiation, and the decision to admit the initiator to a target.

export interface LoginReply {
  transit: boolean;
  csg: number;
  nsg: number;
  status: number; // LoginStatus code (class << 8 | detail)
  data: Buffer;
}

export interface LoginOutcome {
  params: SessionParams;
  target: Target | null; // null for a discovery session
  initiatorName: string;
  /** The SCST session's initiator name: `initiatorName#portal` with per_portal_acl. */
  fullInitiatorName: string;
  isid: Buffer;
  tsih: number;
  cid: number;
  discovery: boolean;
}

type Pairs = Array<[string, string]>;

/** Text of one login request, continuations included (RFC 7143 leaves it to the target). */
const MAX_LOGIN_TEXT = 65536;

const REDECLARABLE = new Set(['InitiatorName', 'TargetName', 'SessionType', 'InitiatorAlias']);

export class LoginPhase {
  isid: Buffer | null = null;
  tsih = 0;
  cid = 0;
  itt = 0;
  cmdSN = 0;
  initiatorName = '';
  /** The portal address of the connection, as group patterns see it (set when a target is named). */
  portal = '';
  discovery = false;
  target: Target | null = null;
  private started = false;
  private stage: number = LoginStage.SECURITY_NEGOTIATION;
  private authDone = false;
  private chap: ChapTarget | null = null;
  private neg: Negotiator | null = null;
  private pending: Buffer[] = []; // data of Login PDUs sent with C=1
  private pendingBytes = 0;
  /** Login PDUs received (bounded by limits.maxLoginPdus). */
  private pdus = 0;
  /** Set when the final response (transit to full feature) has been produced. */
  outcome: LoginOutcome | null = null;

  constructor(
    private readonly ctx: IscsiContext,
    /** The connection's logger (made on first use). */
    private readonly logger: () => Logger,
    /** The initiator's TCP peer address (address-based access control). */
    private readonly peer = '',
    /** The local address the initiator connected to (allowed_portal, per_portal_acl). */
    private readonly localAddress: () => string = () => '',
  ) {}

  private peerName(): string {
    return this.initiatorName ? `${this.initiatorName} (${this.peer})` : this.peer;
  }

  private fail(status: number, why: string): LoginReply {
    // A peer can fail logins as fast as it can connect: one line a second per address says it.
    const held = this.ctx.logThrottle.admit(`login-refused ${this.peer}`);
    if (held !== null) this.logger().warn({ initiator: this.initiatorName, target: this.target?.name, statusClass: loginStatusClass(status), statusDetail: loginStatusDetail(status), suppressed: held }, `login refused: ${why}${heldBack(held)}`);
    return { transit: false, csg: this.stage, nsg: 0, status, data: Buffer.alloc(0) };
  }

  /** Handle one Login Request; the caller sends the reply (and closes on a failure status). */
  handle(pdu: Pdu): LoginReply {
    const req = decodeLogin(pdu);
    const max = this.ctx.scst.limits.maxLoginPdus;
    if (++this.pdus > max) {
      this.ctx.scst.bounds.hit('login-pdus', this.peerName(), `more than ${max} Login PDUs in one login`);
      return this.fail(LoginStatus.INITIATOR_ERROR, `more than ${max} Login PDUs`);
    }
    // No Login PDU defines an AHS (RFC 7143 §11.12): one carrying it is malformed.
    if (pdu.ahs) return this.fail(LoginStatus.INITIATOR_ERROR, 'Login PDU with an additional header segment');
    if (!this.started) {
      this.started = true;
      this.isid = Buffer.from(req.isid);
      this.tsih = req.tsih;
      this.cid = req.cid;
      this.cmdSN = req.cmdSN;
      if (req.versionMin > 0) return this.fail(LoginStatus.UNSUPPORTED_VERSION, `unsupported version ${req.versionMin}`);
    } else if (!this.isid!.equals(req.isid) || req.cid !== this.cid) {
      return this.fail(LoginStatus.INITIATOR_ERROR, 'ISID or CID changed during login');
    }
    this.itt = req.itt;
    if (req.csg === 2 || req.csg === 3 || (req.transit && (req.nsg === 2 || req.nsg <= req.csg))) return this.fail(LoginStatus.INITIATOR_ERROR, `invalid stage transition ${req.csg}->${req.nsg}`);
    if (req.csg !== this.stage) {
      // The initiator may skip security only when we do not require it.
      if (!(this.stage === LoginStage.SECURITY_NEGOTIATION && req.csg === LoginStage.LOGIN_OPERATIONAL_NEGOTIATION && !this.firstExchangeDone)) return this.fail(LoginStatus.INITIATOR_ERROR, `unexpected stage ${req.csg}`);
    }
    if (req.cont || this.pending.length) {
      // Kept as a list and a running total: what one continuation costs does not grow with
      // the number before it.
      this.pendingBytes += pdu.data.length;
      if (this.pendingBytes > MAX_LOGIN_TEXT) {
        this.ctx.scst.bounds.hit('login-text-bytes', this.peerName(), `login text over ${MAX_LOGIN_TEXT} bytes`);
        return this.fail(LoginStatus.INITIATOR_ERROR, 'login text too long');
      }
      if (pdu.data.length) this.pending.push(Buffer.from(pdu.data));
      if (req.cont) return { transit: false, csg: req.csg, nsg: 0, status: LoginStatus.SUCCESS, data: Buffer.alloc(0) };
    }
    const data = this.pending.length ? Buffer.concat(this.pending) : pdu.data;
    this.pending = [];
    this.pendingBytes = 0;
    const parsed = parseTextKeys(data);
    if ('error' in parsed) return this.fail(LoginStatus.INITIATOR_ERROR, `malformed login keys: ${parsed.error}`);
    // Some initiators (libiscsi) repeat their declarations in every security-stage PDU. The same
    // value again is harmless and dropped; a changed one is an error.
    const pairs: Pairs = [];
    for (const [k, v] of parsed.pairs) {
      if (REDECLARABLE.has(k) && this.declared.has(k)) {
        if (this.declared.get(k) !== v) return this.fail(LoginStatus.INITIATOR_ERROR, `${k} changed during login`);
        continue;
      }
      if (REDECLARABLE.has(k)) this.declared.set(k, v);
      pairs.push([k, v]);
    }

    if (!this.firstExchangeDone) {
      const r = this.admit(pairs, req.csg);
      if (r) return r;
      this.firstExchangeDone = true;
    }
    this.stage = req.csg;

    const reply: Pairs = [];
    if (req.csg === LoginStage.SECURITY_NEGOTIATION) {
      const r = this.security(pairs, reply);
      if (r) return r;
    } else {
      if (this.chapRequired() && !this.authDone) return this.fail(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP required but security negotiation skipped');
      const res = this.negotiator().offer(pairs, 'operational');
      if ('fail' in res) return this.fail((res.fail.statusClass << 8) | res.fail.statusDetail, res.fail.reason);
      reply.push(...res.reply);
    }

    let transit = false;
    let nsg = 0;
    if (req.transit) {
      const canLeaveSecurity = req.csg !== LoginStage.SECURITY_NEGOTIATION || this.authDone;
      if (canLeaveSecurity) {
        transit = true;
        nsg = req.nsg;
      }
    }
    if (transit && nsg === LoginStage.FULL_FEATURE_PHASE) {
      reply.push(...this.negotiator().finish());
      const params = this.negotiator().params;
      if (!this.isLeadingCheck()) return this.fail(LoginStatus.SESSION_DOES_NOT_EXIST, 'adding connections to a session is not supported (MaxConnections=1)');
      this.outcome = {
        params,
        target: this.target,
        initiatorName: this.initiatorName,
        fullInitiatorName: this.target ? fullInitiatorName(this.target, this.initiatorName, this.portal) : this.initiatorName,
        isid: this.isid!,
        tsih: this.tsih,
        cid: this.cid,
        discovery: this.discovery,
      };
    } else if (transit) {
      this.stage = nsg;
    }
    return { transit, csg: req.csg, nsg, status: LoginStatus.SUCCESS, data: encodeTextKeys(reply) };
  }

  private firstExchangeDone = false;
  private readonly declared = new Map<string, string>();

  private isLeadingCheck(): boolean {
    return this.tsih === 0;
  }

  private negotiator(): Negotiator {
    if (!this.neg)
      this.neg = new Negotiator(this.target ? iscsiTarget(this.target).params : defaultDiscoveryParams(), {
        leading: this.tsih === 0,
        ...(this.target ? { targetPortalGroupTag: 1, targetAlias: iscsiTarget(this.target).alias || undefined } : {}),
      });
    return this.neg;
  }

  private chapRequired(): boolean {
    return this.incomingUsers().length > 0;
  }

  private incomingUsers() {
    return this.target ? iscsiTarget(this.target).incomingUsers : this.ctx.driverIncomingUsers();
  }

  /** First PDU: who is it, which target, may it log in at all. */
  private admit(pairs: Pairs, csg: number): LoginReply | null {
    const get = (k: string) => pairs.find(([n]) => n === k)?.[1];
    const ini = get('InitiatorName');
    if (!ini) return this.fail(LoginStatus.MISSING_PARAMETER, 'InitiatorName missing');
    this.initiatorName = ini;
    const type = get('SessionType') ?? 'Normal';
    if (type !== 'Normal' && type !== 'Discovery') return this.fail(LoginStatus.SESSION_TYPE_NOT_SUPPORTED, `session type ${type}`);
    this.discovery = type === 'Discovery';
    if (!this.ctx.driverEnabled()) return this.fail(LoginStatus.SERVICE_UNAVAILABLE, 'iscsi target driver disabled');
    if (this.tsih !== 0) {
      const s = this.ctx.sessions.get(this.tsih);
      return this.fail(s ? LoginStatus.TOO_MANY_CONNECTIONS : LoginStatus.SESSION_DOES_NOT_EXIST, `login with TSIH ${this.tsih}`);
    }
    if (!this.discovery) {
      const tn = get('TargetName');
      if (!tn) return this.fail(LoginStatus.MISSING_PARAMETER, 'TargetName missing');
      const t = this.ctx.scst.targets.get(tn);
      if (!t || !t.enabled) return this.fail(LoginStatus.NOT_FOUND, `target ${tn} not found`);
      if (!this.ctx.addressAllowed(t.name, this.peer)) return this.fail(LoginStatus.NOT_FOUND, `Initiator ${ini} not allowed to connect to target ${tn}`);
      this.target = t;
      // iscsi-scstd answers "target not found" when the portal or the initiator's groups refuse.
      this.portal = portalAddress(this.localAddress());
      if (!targetPortalAllowed(t, this.portal, ini)) return this.fail(LoginStatus.NOT_FOUND, `Initiator ${fullInitiatorName(t, ini, this.portal)} not allowed to connect to target ${tn}`);
      const maxSessions = iscsiTarget(t).maxSessions;
      if (maxSessions > 0 && t.sessions.size >= maxSessions) return this.fail(LoginStatus.OUT_OF_RESOURCES, `target ${tn}: MaxSessions ${maxSessions} reached`);
    }
    if (csg !== LoginStage.SECURITY_NEGOTIATION && this.chapRequired()) return this.fail(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP required but security negotiation skipped');
    return null;
  }

  private security(pairs: Pairs, reply: Pairs): LoginReply | null {
    const secKeys: Pairs = [];
    const other: Pairs = [];
    for (const p of pairs) (p[0] === 'AuthMethod' || p[0].startsWith('CHAP_') ? secKeys : other).push(p);
    // Declaratives and anything else allowed here go through the negotiator.
    if (other.length) {
      const res = this.negotiator().offer(other, 'security');
      if ('fail' in res) return this.fail((res.fail.statusClass << 8) | res.fail.statusDetail, res.fail.reason);
      reply.push(...res.reply);
    }
    const am = secKeys.find(([k]) => k === 'AuthMethod');
    if (am) {
      const method = negotiateAuthMethod(am[1].split(','), this.chapRequired());
      reply.push(['AuthMethod', method]);
      if (method === 'Reject') return this.fail(LoginStatus.AUTHENTICATION_FAILURE, `no acceptable AuthMethod in '${am[1]}'`);
      if (method === 'None') {
        if (this.chapRequired()) return this.fail(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP required');
        this.authDone = true;
      } else {
        this.chap = new ChapTarget({ incoming: this.incomingUsers(), outgoing: (this.target ? iscsiTarget(this.target).outgoingUser : this.ctx.driverOutgoingUser()) ?? undefined });
      }
    }
    const chapKeys = secKeys.filter(([k]) => k !== 'AuthMethod');
    if (chapKeys.length) {
      if (!this.chap) return this.fail(LoginStatus.INITIATOR_ERROR, 'CHAP keys without AuthMethod=CHAP');
      const r = this.chap.step(chapKeys);
      if ('fail' in r) return this.fail((r.fail.statusClass << 8) | r.fail.statusDetail, r.fail.reason);
      reply.push(...r.reply);
      if (r.done) {
        this.authDone = true;
        this.logger().info({ initiator: this.initiatorName }, 'CHAP authentication succeeded');
      }
    }
    if (!am && !chapKeys.length && !this.authDone && !this.chap) {
      // No AuthMethod offered at all: RFC default is None.
      if (this.chapRequired()) return this.fail(LoginStatus.AUTHENTICATION_FAILURE, 'CHAP required, AuthMethod not offered');
      this.authDone = true;
    }
    return null;
  }
}

function defaultDiscoveryParams() {
  return { ...defaultTargetParams };
}

import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { DataDir, type ScsiCmd } from '../cmd.js';
import { Status } from '../scsi/constants.js';
import { execCmd, parseCmd, completeWithSense, fitToEdtl } from '../scsi/exec.js';
import { Sense } from '../scsi/constants.js';
import type { ScstSession, SessionTransport } from '../session.js';
import type { Device } from '../device.js';
import { Opcode, RejectReason, LoginStatus, loginStatusClass, loginStatusDetail, LogoutReason, LogoutResponse, RESERVED_TAG, TmfFunction, TmfResponse, LoginStage } from './constants.js';
import { dataSegmentLength, decodeDataOut, decodeLogout, decodeNopOut, decodeScsiCommand, decodeTaskMgmt, decodeText, opcode, isImmediate, type Pdu } from './pdu.js';
import { PduReceiver, type ProtocolError } from './receiver.js';
import * as S from './sender.js';
import { LoginPhase } from './login.js';
import { IscsiSession } from './session.js';
import { IscsiTask, type R2tState } from './task.js';
import { DataSequence } from './data-seq.js';
import { LOGIN_SLAB_SIZE, OutQueue } from './outq.js';
import { heldBack, LogThrottle } from '../log-throttle.js';
import { countCmd } from '../submit.js';
import { READ_BUFFER_BYTES } from './socket-reader.js';
import type { IscsiContext } from './context.js';
import { snAdd, snLe, snLt } from './serial.js';
import { encodeTextKeys, parseTextKeys } from './text.js';
import { sendTargetsReply } from './discovery.js';
import { taskManagement } from './tmf.js';
import { boundedAll } from '../tmf.js';
import { registerIsid } from '../scsi/nexus.js';
import { iscsiTarget } from './target.js';
import { turnNow } from '../turn-clock.js';

type Phase = 'login' | 'ffp' | 'logout' | 'closed';

/** Reasons to stop reading a connection's socket. */
const ReadGate = {
  /** Replies queued beyond limits.maxReplyBytes. */
  REPLIES: 1,
  /** This turn's share of reading is used up (fairness between connections). */
  TURN: 2,
} as const;

let nextConnId = 1;

/**
 * One TCP connection: the login phase, then the full feature phase of its session. Replies are
 * laid out in one output slab (outq.ts) and written once per event-loop turn, so a burst of small
 * responses leaves in one write while a lone response is never held back.
 */
export class IscsiConnection implements SessionTransport {
  readonly id = nextConnId++;
  phase: Phase = 'login';
  private logger: Logger | null = null;
  private readonly rx: PduReceiver;
  private statSN = 0;
  private headerDigest = false;
  private dataDigest = false;
  private maxXmit = 8192;
  private login: LoginPhase | null;
  session: IscsiSession | null = null;
  /** Tasks by ITT. */
  readonly tasks = new Map<number, IscsiTask>();
  /** Non-immediate commands that arrived ahead of ExpCmdSN, delivered in order. */
  private readonly held = new Map<number, Pdu>();
  private nextTtt = 1;
  private readonly r2tByTtt = new Map<number, { task: IscsiTask; r2t: R2tState }>();
  private readonly out = new OutQueue(LOGIN_SLAB_SIZE);
  /** Commands whose buffers are queued for the socket: returned to the pool once written. */
  private writeHolds: ScsiCmd[] = [];
  private flushScheduled = false;
  /** performance.now() ms, as every time of a connection (monotonic: a wall-clock step moves no timeout). */
  readonly acceptedAt = performance.now();
  private lastRx = this.acceptedAt;
  /** Why reading the socket is suspended (bits of ReadGate); read while 0. */
  private readGates = 0;
  /** socket.bytesWritten when queued replies last made progress, and when that was. */
  private lastWritten = 0;
  private lastWriteProgress = this.acceptedAt;
  /** When replies last went out (an idle connection gives its output slab back). */
  private lastTx = this.acceptedAt;
  private nopOutstanding: { ttt: number; sentAt: number } | null = null;
  private textContinuation: { ttt: number; rest: Buffer } | null = null;
  private closed: Promise<void> | null = null;
  /** "address:port" of the initiator. */
  readonly peer: string;

  constructor(
    readonly socket: Socket,
    readonly ctx: IscsiContext,
    /** The initiator's address, as accept saw it (asking the socket costs a system call). */
    readonly remoteAddress: string,
    remotePort: number,
  ) {
    this.peer = `${remoteAddress}:${remotePort}`;
    this.login = new LoginPhase(ctx, () => this.log, remoteAddress, () => this.local.address);
    this.rx = new PduReceiver({ onPdu: (p) => this.onPdu(p), onError: (e) => this.onProtocolError(e), placeData: (bhs) => this.placeData(bhs) });
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'socket error'));
    socket.on('close', () => this.teardown('connection closed'));
  }

  /** Lines the peer can trigger at will (Rejects, ignored commands), once a second at most. */
  private get logThrottle(): LogThrottle {
    return (this.throttle ??= new LogThrottle());
  }

  private throttle: LogThrottle | null = null;

  /** This connection's logger, made when first needed: most connections never log. */
  get log(): Logger {
    return (this.logger ??= this.ctx.log.child({ conn: this.id, peer: this.peer }));
  }

  /** The portal address this connection came in on (SendTargets answers with it). */
  get local(): { address: string; port: number } {
    return { address: this.socket.localAddress ?? '', port: this.socket.localPort ?? 0 };
  }

  /**
   * Once a second (the driver's housekeeping timer): the login timeout, keep-alive NOP-Ins, and
   * RspTimeout for replies the initiator does not take.
   */
  tick(now: number): void {
    if (this.phase === 'login') {
      const limit = this.ctx.scst.limits.loginTimeoutMs;
      if (now - this.acceptedAt > limit) {
        this.ctx.scst.bounds.hit('login-timeout', this.peer, `not logged in ${limit / 1000} s after connecting`);
        this.drop(`login not completed within ${limit / 1000} s`);
      }
      return;
    }
    if (this.phase !== 'ffp' || !this.session) return;
    if (now - this.lastTx > 1000) this.out.release();
    const written = this.socket.bytesWritten;
    if (written !== this.lastWritten || this.socket.writableLength === 0) {
      this.lastWritten = written;
      this.lastWriteProgress = now;
    } else {
      const rsp = ((this.session.target ? iscsiTarget(this.session.target).rspTimeout : 90)) * 1000;
      if (now - this.lastWriteProgress > rsp) {
        this.ctx.scst.bounds.hit('rsp-timeout', this.peerName(), `${this.socket.writableLength} bytes of replies not taken for ${rsp / 1000} s`);
        return this.drop(`replies not taken by the initiator for ${rsp / 1000} s (RspTimeout)`);
      }
    }
    this.keepAlive(now);
  }

  private peerName(): string {
    return this.session ? `${this.session.initiatorName} (${this.peer})` : this.peer;
  }

  /** Suspend or resume reading for one reason; the socket is read while no reason holds. */
  private gateRead(gate: number, closed: boolean): void {
    const before = this.readGates;
    this.readGates = closed ? before | gate : before & ~gate;
    if (this.socket.destroyed || (before === 0) === (this.readGates === 0)) return;
    if (this.readGates) this.socket.pause();
    else this.socket.resume();
  }

  /** Bytes read from the socket; `chunk` is valid only during the call (socket-reader.ts). */
  receive(chunk: Buffer): void {
    this.lastRx = turnNow();
    this.ctx.poller.touch();
    this.rx.push(chunk);
    // A read that filled the whole buffer means more is waiting, and libuv would read this
    // socket again at once (up to 32 times a turn: 8 MiB of one initiator's bulk data before
    // anyone else's command). One buffer a turn each: the rest waits for the next turn, after
    // every other connection has been read.
    if (chunk.length === READ_BUFFER_BYTES && !(this.readGates & ReadGate.TURN)) {
      this.gateRead(ReadGate.TURN, true);
      setImmediate(this.nextTurn);
    }
  }

  private readonly nextTurn = (): void => this.gateRead(ReadGate.TURN, false);

  // ---- output -------------------------------------------------------------------------------

  private send(bhs: Buffer, data: Buffer | null = null, digests = true): void {
    if (this.phase === 'closed') return;
    this.out.pdu(bhs, data, digests && this.headerDigest, digests && this.dataDigest);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Adaptive Nagle: while other tasks of this connection are still in flight their replies
      // are about to follow, so gather them until the end of this event-loop turn; the last
      // (or only) outstanding reply is written as soon as the current work is done.
      if (this.tasks.size <= 1) queueMicrotask(this.flushBound);
      else setImmediate(this.flushBound);
    }
  }

  private readonly flushBound = () => this.flush();

  private flush(): void {
    this.flushScheduled = false;
    const holds = this.writeHolds;
    this.writeHolds = [];
    if (this.phase === 'closed' || this.socket.destroyed) {
      this.out.discard();
      for (const c of holds) c.put();
      return;
    }
    if (this.out.empty) {
      for (const c of holds) c.put();
      return;
    }
    const socket = this.socket;
    this.lastTx = turnNow();
    // Large Data-In went out as views of pool buffers: they may be reused only after the kernel
    // has them, so those commands are let go from the last write's callback.
    const done = holds.length ? () => holds.forEach((c) => c.put()) : undefined;
    let corked = false;
    this.out.drain((b, last) => {
      if (!last && !corked) {
        socket.cork();
        corked = true;
      }
      socket.write(b, last ? done : undefined);
    });
    if (corked) socket.uncork();
    // Replies the initiator does not take stay with us: past the bound, stop taking its
    // commands until they drain (it can only make us hold what its window already allows).
    if (!(this.readGates & ReadGate.REPLIES) && socket.writableLength > this.ctx.scst.limits.maxReplyBytes) {
      this.ctx.scst.bounds.hit('reply-bytes', this.peerName(), `${socket.writableLength} bytes of replies queued > ${this.ctx.scst.limits.maxReplyBytes}: reading paused`);
      this.gateRead(ReadGate.REPLIES, true);
      socket.once('drain', () => this.gateRead(ReadGate.REPLIES, false));
    }
    // A reply going out is network activity too: the initiator's next command usually follows
    // it. Without this, a command whose work went to the thread pool (the poller backs off
    // meanwhile) leaves the loop asleep when that next command arrives (measured: QD1 4 KiB
    // fileio writes 100-114 us, nullio writes that never leave the loop 53-62 us).
    this.ctx.poller.touch();
  }

  private takeStatSN(): number {
    const s = this.statSN;
    this.statSN = snAdd(this.statSN, 1);
    return s;
  }

  private get expCmdSN(): number {
    return this.session?.expCmdSN ?? this.login?.cmdSN ?? 0;
  }

  private get maxCmdSN(): number {
    return this.session?.maxCmdSN ?? this.login?.cmdSN ?? 0;
  }

  private reject(bhs: Buffer, reason: number, why: string): void {
    const held = this.logThrottle.admit('reject');
    if (held !== null) this.log.warn({ reason, opcode: bhs[0]! & 0x3f, suppressed: held }, `reject: ${why}${heldBack(held)}`);
    const h = S.reject({ reason, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN, dataSN: 0 });
    this.send(h, Buffer.from(bhs.subarray(0, 48)));
  }

  /** Drop the connection (protocol error at ERL 0, teardown). */
  drop(why: string, byPeer = true): void {
    if (this.phase === 'closed') return;
    // A peer that reconnects as fast as it can is dropped as often: one line a second per
    // address for what peers cause; what an administrator or the daemon decides is always said.
    const held = byPeer ? this.ctx.logThrottle.admit(`drop ${this.remoteAddress}`) : 0;
    if (held !== null) this.log.warn({ suppressed: held }, `dropping connection: ${why}${heldBack(held)}`);
    this.flush();
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 200).unref();
    this.teardown(why);
  }

  forceClose(reason: string): void {
    this.drop(reason, false);
  }

  // ---- input --------------------------------------------------------------------------------

  private onProtocolError(e: ProtocolError): void {
    if (e.fatal || this.phase === 'login') return this.drop(`protocol error: ${e.message}`);
    if (e.kind === 'data-digest' && e.bhs) {
      const bhs = e.bhs;
      // ERL 0: a Data-Out with a bad digest cannot be recovered; reject it and fail the task.
      this.reject(bhs, RejectReason.DATA_DIGEST_ERROR, e.message);
      if (opcode(bhs) === Opcode.DATA_OUT) this.drop('data digest error on Data-Out (ERL 0)');
      return;
    }
    if (e.bhs) this.reject(e.bhs, RejectReason.PROTOCOL_ERROR, e.message);
    this.drop(`protocol error: ${e.message}`);
  }

  private onPdu(pdu: Pdu): void {
    if (this.phase === 'closed') return;
    try {
      if (this.phase === 'login') return this.onLoginPdu(pdu);
      this.onFfpPdu(pdu);
    } catch (err) {
      // A bug must not take the daemon down: log it and drop only this connection.
      this.log.error({ err }, 'internal error handling PDU');
      this.drop('internal error');
    }
  }

  private onLoginPdu(pdu: Pdu): void {
    if (opcode(pdu.bhs) !== Opcode.LOGIN_REQ) {
      return this.drop(`opcode 0x${opcode(pdu.bhs).toString(16)} before login completed`);
    }
    const lp = this.login!;
    const isFirst = lp.isid === null;
    const reply = lp.handle(pdu);
    if (isFirst) this.statSN = pdu.bhs.readUInt32BE(28); // start at the initiator's ExpStatSN
    let tsih = 0;
    const done = lp.outcome && reply.status === LoginStatus.SUCCESS;
    if (reply.status !== LoginStatus.SUCCESS) this.ctx.loginStats.failed(lp.target?.name ?? '', reply.status);
    else if (done) this.ctx.loginStats.succeeded(lp.outcome!.target?.name ?? '');
    if (done) {
      const o = lp.outcome!;
      if (!o.discovery && o.target) this.reinstate(o.initiatorName, o.isid, o.target.name);
      tsih = this.ctx.sessions.allocTsih();
      let scst: ScstSession | null = null;
      if (o.target) {
        scst = this.ctx.scst.createSession(o.target, o.fullInitiatorName, this);
        // Reservations identify the initiator port by its iSCSI name and ISID (not the full name).
        registerIsid(scst, o.isid, o.initiatorName);
      }
      const depth = o.target ? Math.max(1, iscsiTarget(o.target).queuedCommands) : 8;
      this.session = new IscsiSession(tsih, o.isid, o.initiatorName, o.target, o.params, scst, lp.cmdSN, depth);
      this.session.conn = this;
      this.ctx.sessions.add(this.session);
    }
    const h = S.loginResponse({
      transit: reply.transit,
      cont: false,
      csg: reply.csg,
      nsg: reply.nsg,
      versionMax: 0,
      versionActive: 0,
      isid: lp.isid ?? Buffer.alloc(6),
      tsih,
      itt: lp.itt,
      statSN: this.takeStatSN(),
      expCmdSN: this.session?.expCmdSN ?? lp.cmdSN,
      maxCmdSN: this.session?.maxCmdSN ?? lp.cmdSN,
      statusClass: loginStatusClass(reply.status),
      statusDetail: loginStatusDetail(reply.status),
    });
    this.send(h, reply.data.length ? reply.data : null, false);
    if (reply.status !== LoginStatus.SUCCESS) {
      // The failure response goes out, then the connection closes (RFC 7143 §6.x).
      this.flush();
      this.phase = 'logout';
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
      return;
    }
    if (done) {
      const p = this.session!.params;
      this.phase = 'ffp';
      this.login = null;
      this.ctx.loginEnded(this);
      this.flush(); // the final login response goes out without digests
      this.out.release(); // what login needed is not what full feature phase will
      this.headerDigest = p.HeaderDigest === 'CRC32C';
      this.dataDigest = p.DataDigest === 'CRC32C';
      this.rx.headerDigest = this.headerDigest;
      this.rx.dataDigest = this.dataDigest;
      this.rx.maxRecvDataSegmentLength = p.MaxRecvDataSegmentLength;
      this.maxXmit = p.MaxXmitDataSegmentLength;
      // Only when it is written: the line and this connection's logger would cost every login.
      if (this.ctx.log.isLevelEnabled('info'))
        this.log.info(
          { tsih, initiator: this.session!.initiatorName, target: this.session!.target?.name ?? '(discovery)', params: p },
          `session ${tsih} logged in: ${this.session!.initiatorName} -> ${this.session!.target?.name ?? 'discovery'}`,
        );
    }
  }

  /** Session reinstatement: a new leading login with the same ISID replaces the old session. */
  private reinstate(initiator: string, isid: Buffer, targetName: string): void {
    const s = this.ctx.sessions.nexus(initiator, isid, targetName);
    if (s?.conn && s.conn !== this) {
      this.log.info({ tsih: s.tsih }, `reinstating session ${s.tsih}`);
      s.conn.drop('session reinstatement');
    }
  }

  private onFfpPdu(pdu: Pdu): void {
    const op = opcode(pdu.bhs);
    const sess = this.session!;
    if (this.phase === 'logout' && op !== Opcode.NOP_OUT) return;
    switch (op) {
      case Opcode.SCSI_CMD:
      case Opcode.TASK_MGMT_REQ:
      case Opcode.TEXT_REQ:
      case Opcode.LOGOUT_REQ:
      case Opcode.NOP_OUT:
        return this.ordered(pdu, sess);
      case Opcode.DATA_OUT:
        return this.onDataOut(pdu);
      case Opcode.SNACK_REQ:
        return this.reject(pdu.bhs, RejectReason.COMMAND_NOT_SUPPORTED, 'SNACK at ErrorRecoveryLevel 0');
      case Opcode.LOGIN_REQ:
        this.reject(pdu.bhs, RejectReason.PROTOCOL_ERROR, 'Login in full feature phase');
        return this.drop('Login in full feature phase');
      default:
        return this.reject(pdu.bhs, RejectReason.COMMAND_NOT_SUPPORTED, `unknown opcode 0x${op.toString(16)}`);
    }
  }

  /** CmdSN ordering (RFC 7143 §4.2.2.1): immediate PDUs go at once, others in CmdSN order. */
  private ordered(pdu: Pdu, sess: IscsiSession): void {
    const cmdSN = pdu.bhs.readUInt32BE(24);
    const op = opcode(pdu.bhs);
    // A NOP-Out answering our ping (ITT 0xffffffff) carries no CmdSN to consume.
    if (isImmediate(pdu.bhs) || (op === Opcode.NOP_OUT && pdu.bhs.readUInt32BE(16) === RESERVED_TAG)) return this.dispatch(pdu);
    if (snLt(cmdSN, sess.expCmdSN) || snLt(sess.maxCmdSN, cmdSN)) {
      // Outside the window or a duplicate: silently ignored, as the RFC requires.
      const held = this.logThrottle.admit('cmdsn');
      if (held !== null) this.log.warn({ cmdSN, expCmdSN: sess.expCmdSN, maxCmdSN: sess.maxCmdSN, suppressed: held }, `CmdSN outside the command window: ignored${heldBack(held)}`);
      return;
    }
    if (cmdSN !== sess.expCmdSN) {
      if (this.held.size >= sess.queueDepth) return this.drop('too many out-of-order commands');
      this.held.set(cmdSN, Buffer.isBuffer(pdu.data) ? copyPdu(pdu) : pdu);
      return;
    }
    this.consume(pdu, sess);
    // Deliver whatever was waiting for this one.
    for (let next = this.held.get(sess.expCmdSN); next; next = this.held.get(sess.expCmdSN)) {
      this.held.delete(sess.expCmdSN);
      this.consume(next, sess);
    }
  }

  /** Take the next CmdSN. Only SCSI commands hold their slot of the window until they finish. */
  private consume(pdu: Pdu, sess: IscsiSession): void {
    sess.expCmdSN = snAdd(sess.expCmdSN, 1);
    if (opcode(pdu.bhs) !== Opcode.SCSI_CMD) sess.maxCmdSN = snAdd(sess.maxCmdSN, 1);
    else if (this.preAborted.size > 0) {
      const cmdSN = pdu.bhs.readUInt32BE(24);
      if (this.preAborted.get(cmdSN) === pdu.bhs.readUInt32BE(16)) {
        // Aborted before it arrived: it takes its CmdSN and nothing else.
        this.preAborted.delete(cmdSN);
        sess.maxCmdSN = snAdd(sess.maxCmdSN, 1);
        return;
      }
    }
    this.dispatch(pdu);
  }

  /** CmdSN -> ITT of commands an ABORT TASK named before they arrived (RFC 7143 §11.5.1). */
  private readonly preAborted = new Map<number, number>();

  /**
   * ABORT TASK for a command not yet received but inside the window: the target must consider
   * it received (and aborted). Returns false when it cannot be such a command.
   */
  abortBeforeArrival(refCmdSN: number, itt: number, tmfCmdSN: number): boolean {
    const sess = this.session;
    if (!sess || snLt(refCmdSN, sess.expCmdSN) || !snLt(refCmdSN, tmfCmdSN) || snLt(sess.maxCmdSN, refCmdSN)) return false;
    if (this.preAborted.size >= sess.queueDepth) return false;
    const held = this.held.get(refCmdSN);
    if (held && held.bhs.readUInt32BE(16) !== itt) return false;
    this.preAborted.set(refCmdSN, itt);
    return true;
  }

  private dispatch(pdu: Pdu): void {
    switch (opcode(pdu.bhs)) {
      case Opcode.SCSI_CMD:
        return this.onScsiCommand(pdu);
      case Opcode.TASK_MGMT_REQ:
        return taskManagement(this, decodeTaskMgmt(pdu));
      case Opcode.TEXT_REQ:
        return this.onText(pdu);
      case Opcode.LOGOUT_REQ:
        return this.onLogout(pdu);
      case Opcode.NOP_OUT:
        return this.onNopOut(pdu);
    }
  }

  /** Non-immediate commands that completed open the window by one (LIO-style MaxCmdSN). */
  private openWindow(task: IscsiTask): void {
    if (!task.immediate && this.session) this.session.maxCmdSN = snAdd(this.session.maxCmdSN, 1);
  }

  // ---- NOP ----------------------------------------------------------------------------------

  private onNopOut(pdu: Pdu): void {
    const n = decodeNopOut(pdu);
    if (n.itt === RESERVED_TAG) {
      if (this.nopOutstanding && n.ttt === this.nopOutstanding.ttt) this.nopOutstanding = null;
      return;
    }
    if (!this.session?.scst && n.ttt !== RESERVED_TAG) return this.reject(pdu.bhs, RejectReason.PROTOCOL_ERROR, 'NOP-Out with TTT');
    const h = S.nopIn({ lun: n.lunRaw, itt: n.itt, ttt: RESERVED_TAG, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN });
    this.send(h, pdu.data.length ? Buffer.from(pdu.data) : null);
  }

  /** Target-initiated NOP-In on idle connections; no answer within NopInTimeout drops it. */
  private keepAlive(now: number): void {
    const t = this.session!.target;
    const interval = (t ? iscsiTarget(t).nopInInterval : 30) * 1000;
    const timeout = (t ? iscsiTarget(t).nopInTimeout : 30) * 1000;
    if (this.nopOutstanding) {
      if (now - this.nopOutstanding.sentAt > timeout) this.drop(`no NOP-Out answer within ${timeout / 1000} s`);
      return;
    }
    if (interval > 0 && now - this.lastRx >= interval) {
      const ttt = this.allocTtt();
      this.nopOutstanding = { ttt, sentAt: now };
      const h = S.nopIn({ lun: Buffer.alloc(8), itt: RESERVED_TAG, ttt, statSN: this.statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN });
      this.send(h, null);
    }
  }

  private allocTtt(): number {
    let t = this.nextTtt;
    this.nextTtt = this.nextTtt >= 0x7fffffff ? 1 : this.nextTtt + 1;
    if (t === RESERVED_TAG) t = 1;
    return t;
  }

  // ---- SCSI commands ------------------------------------------------------------------------

  private onScsiCommand(pdu: Pdu): void {
    const sess = this.session!;
    const c = decodeScsiCommand(pdu);
    if (!sess.scst) return this.rejectCommand(pdu, c.immediate, RejectReason.PROTOCOL_ERROR, 'SCSI command in a discovery session');
    if (this.tasks.has(c.itt)) return this.rejectCommand(pdu, c.immediate, RejectReason.TASK_IN_PROGRESS, `ITT 0x${c.itt.toString(16)} already in use`);
    if (c.immediate && this.tasks.size >= sess.queueDepth) {
      // Immediate commands bypass the CmdSN window, so they are counted here: beyond
      // QueuedCommands the SAM answer, never silence and never an unbounded table.
      this.ctx.scst.bounds.hit('queued-commands', this.peerName(), `immediate command with ${this.tasks.size} commands in progress (QueuedCommands ${sess.queueDepth}): TASK SET FULL`);
      return this.respondStatus(c.itt, Status.TASK_SET_FULL);
    }
    const p = sess.params;
    const imm = pdu.data.length;
    if (imm > 0) {
      if (!c.write) return this.rejectCommand(pdu, c.immediate, RejectReason.PROTOCOL_ERROR, 'immediate data on a command without W bit');
      if (!p.ImmediateData || imm > p.FirstBurstLength || imm > c.expectedDataTransferLength) return this.rejectCommand(pdu, c.immediate, RejectReason.PROTOCOL_ERROR, 'immediate data not allowed or too long');
    }
    if (!c.final && (p.InitialR2T || !c.write)) return this.rejectCommand(pdu, c.immediate, RejectReason.PROTOCOL_ERROR, 'unsolicited data not allowed (InitialR2T=Yes)');
    const cmd = sess.scst.newCmd(c.itt, c.lun < 0 ? 0xffff : c.lun, c.cdb, c.expectedDataTransferLength, this.lastRx);
    const task = new IscsiTask(c.itt, cmd, c.cmdSN, c.immediate, c.expectedDataTransferLength, c.write, c.read);
    this.tasks.set(c.itt, task);
    cmd.owner = 'iscsi';
    cmd.onComplete(() => this.onCmdComplete(task));
    const ok = parseCmd(cmd);
    countCmd(cmd);
    if (ok && cmd.dir === DataDir.WRITE && !c.write && cmd.dataLength > 0) {
      // The CDB wants data the initiator did not announce (W=0).
      completeWithSense(cmd, Sense.INVALID_FIELD_IN_CDB);
    } else if (ok && cmd.dir === DataDir.WRITE && cmd.dataLength > c.expectedDataTransferLength) {
      // The residual is reported against the CDB's length, whatever the command makes of it.
      task.cdbLength = cmd.dataLength;
      fitToEdtl(cmd, c.expectedDataTransferLength);
    }
    // Whatever happened in parse, account for data the initiator is sending unsolicited: the
    // immediate data, and with F=0 Data-Out up to the burst's end.
    if (imm > 0 || !c.final) {
      const burst = new DataSequence(0, c.final ? imm : Math.min(p.FirstBurstLength, c.expectedDataTransferLength), p.DataPDUInOrder);
      burst.add(0, imm);
      task.unsolicited = burst;
      task.unsolicitedOpen = !burst.complete;
      task.nextR2tOffset = burst.length;
    }
    if (cmd.isDone) {
      task.discardData = true;
      if (!task.unsolicitedOpen) this.respond(task);
      return;
    }
    if (cmd.dir !== DataDir.WRITE || cmd.dataLength === 0) {
      if (task.unsolicited) task.discardData = true;
      if (!task.unsolicitedOpen) execCmd(cmd);
      return;
    }
    task.xferLen = Math.min(cmd.dataLength, c.expectedDataTransferLength);
    if (imm > 0) this.acceptData(task, 0, pdu.data);
    this.cmdState(cmd, 'data_wait');
    if (!task.unsolicitedOpen) this.afterUnsolicited(task);
  }

  /** A rejected command never runs: its CmdSN slot is given back at once. */
  private rejectCommand(pdu: Pdu, immediate: boolean, reason: number, why: string): void {
    if (!immediate && this.session) this.session.maxCmdSN = snAdd(this.session.maxCmdSN, 1);
    this.reject(pdu.bhs, reason, why);
  }

  private cmdState(cmd: ScsiCmd, owner: string): void {
    cmd.owner = owner;
  }

  /**
   * Copy data its sequence accepted into the command buffer and account for it there too (the
   * core runs a write only when every byte arrived); bytes beyond what the CDB needs are dropped.
   */
  private acceptData(task: IscsiTask, offset: number, data: Buffer): void {
    const cmd = task.cmd;
    if (task.discardData || !cmd.pbuf || offset >= task.xferLen) return;
    const n = Math.min(data.length, task.xferLen - offset);
    const dst = cmd.buf;
    // Data the receiver placed straight into the buffer (placeData) is already where it goes.
    if (data.buffer !== dst.buffer || data.byteOffset !== dst.byteOffset + offset) data.copy(dst, offset, 0, n);
    const why = cmd.markReceived(offset, n);
    if (why && !task.failed) {
      // The sequences tile the buffer, so this is a bug; the command fails rather than run.
      task.failed = true;
      this.log.error({ itt: task.itt, offset, length: n }, `data-out accounting: ${why}`);
    }
  }

  /**
   * A Data-Out whose data straddles socket chunks is written straight into its command's buffer
   * (no assembly buffer, no second copy). Only where the PDU can be valid: its task is a write
   * still collecting data, and the range lies inside what the command transfers. The command is
   * held until the receiver is done with the buffer, so an abort meanwhile cannot recycle it.
   * Whatever else is wrong with the PDU is found when it is delivered, as for any other.
   */
  private placeData(bhs: Buffer): { buf: Buffer; offset: number; release(): void } | null {
    if (this.phase !== 'ffp' || opcode(bhs) !== Opcode.DATA_OUT) return null;
    const task = this.tasks.get(bhs.readUInt32BE(16));
    if (!task || !task.write || task.discardData || task.released) return null;
    const cmd = task.cmd;
    if (!cmd.pbuf || cmd.isDone) return null;
    const offset = bhs.readUInt32BE(40);
    const len = dataSegmentLength(bhs);
    if (offset + len > task.xferLen) return null;
    // Only where delivery will accept it: a PDU that is a protocol error is never placed.
    if (typeof this.sequenceOf(task, bhs.readUInt32BE(20), offset, len, (bhs[1]! & 0x80) !== 0) === 'string') return null;
    cmd.get();
    return { buf: cmd.buf, offset, release: () => cmd.put() };
  }

  private onDataOut(pdu: Pdu): void {
    const d = decodeDataOut(pdu);
    const task = this.tasks.get(d.itt);
    // A Data-Out racing an abort of its task is harmless: rejected, the connection stays.
    if (!task || !task.write) return this.reject(pdu.bhs, RejectReason.PROTOCOL_ERROR, `Data-Out for unknown task 0x${d.itt.toString(16)}`);
    const len = pdu.data.length;
    const seq = this.sequenceOf(task, d.ttt, d.bufferOffset, len, d.final);
    if (typeof seq === 'string') {
      // At ErrorRecoveryLevel 0 nothing in this task's data can be trusted any more.
      this.reject(pdu.bhs, RejectReason.PROTOCOL_ERROR, seq);
      return this.drop(seq);
    }
    this.checkDataSN(task, d.dataSN, seq.expDataSN++);
    seq.add(d.bufferOffset, len);
    this.acceptData(task, d.bufferOffset, pdu.data);
    if (!seq.complete) return;
    if (seq === task.unsolicited) {
      task.unsolicitedOpen = false;
      if (task.discardData || task.cmd.isDone) return this.respondOrExec(task);
    } else {
      this.r2tByTtt.delete(d.ttt);
      task.r2ts!.delete(d.ttt);
    }
    this.afterUnsolicited(task);
  }

  /**
   * The data sequence a Data-Out (its task, TTT, Buffer Offset, length and F bit) belongs to, or
   * why it fits none: outside any burst or R2T, overlapping what arrived, out of order where the
   * negotiated DataPDUInOrder / DataSequenceInOrder forbid it, or F=1 before its sequence is
   * full. Shared by placement and delivery, so data is placed only where it may go.
   */
  private sequenceOf(task: IscsiTask, ttt: number, offset: number, len: number, final: boolean): DataSequence | string {
    let seq: DataSequence;
    if (ttt === RESERVED_TAG) {
      if (!task.unsolicitedOpen || !task.unsolicited) return 'unsolicited Data-Out outside the unsolicited burst';
      seq = task.unsolicited;
    } else {
      const ent = this.r2tByTtt.get(ttt);
      if (!ent || ent.task !== task) return `Data-Out with TTT 0x${ttt.toString(16)}, which names no outstanding R2T of its task`;
      // Outstanding R2Ts are kept in the order they were sent, which is offset order.
      if (this.session!.params.DataSequenceInOrder && task.r2ts!.values().next().value !== ent.r2t) {
        return `Data-Out for R2TSN ${ent.r2t.r2tSN} before an earlier R2T is answered (DataSequenceInOrder=Yes)`;
      }
      seq = ent.r2t.seq;
    }
    return seq.check(offset, len, final) ?? seq;
  }

  /**
   * Data-Out PDUs of a sequence are numbered from 0 (RFC 7143 §11.7.5). At ErrorRecoveryLevel 0
   * a gap cannot be recovered: the data is taken in, and the command fails instead of running.
   */
  private checkDataSN(task: IscsiTask, got: number, expected: number): void {
    if (got === expected || task.failed) return;
    task.failed = true;
    this.log.warn({ itt: task.itt, dataSN: got, expected }, 'Data-Out with unexpected DataSN: the command will fail');
  }

  private respondOrExec(task: IscsiTask): void {
    if (task.cmd.isDone) this.respond(task);
    else if (task.discardData) execCmd(task.cmd);
  }

  /** Issue R2Ts for what is still missing, up to MaxOutstandingR2T; execute when all is in. */
  private afterUnsolicited(task: IscsiTask): void {
    const p = this.session!.params;
    if (task.cmd.isDone) return this.respond(task);
    // The burst and the R2Ts tile [0, nextR2tOffset): when they reach the end and none is
    // outstanding, every byte has arrived.
    if (task.nextR2tOffset >= task.xferLen && !task.r2ts?.size) {
      if (task.failed) return completeWithSense(task.cmd, Sense.DATA_PHASE_ERROR);
      execCmd(task.cmd);
      return;
    }
    const r2ts = (task.r2ts ??= new Map());
    while (r2ts.size < p.MaxOutstandingR2T && task.nextR2tOffset < task.xferLen) {
      const len = Math.min(p.MaxBurstLength, task.xferLen - task.nextR2tOffset);
      const r: R2tState = { ttt: this.allocTtt(), r2tSN: task.r2tSN++, seq: new DataSequence(task.nextR2tOffset, len, p.DataPDUInOrder) };
      task.nextR2tOffset += len;
      r2ts.set(r.ttt, r);
      this.r2tByTtt.set(r.ttt, { task, r2t: r });
      const h = S.r2t({ lun: task.cmd.lun, itt: task.itt, ttt: r.ttt, statSN: this.statSN, expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN, r2tSN: r.r2tSN, bufferOffset: r.seq.offset, desiredDataTransferLength: len });
      this.send(h, null);
    }
  }

  private onCmdComplete(task: IscsiTask): void {
    // Write data may still be arriving for a command that failed early; respond when it is in.
    if (task.unsolicitedOpen) {
      task.discardData = true;
      return;
    }
    this.forgetR2ts(task);
    this.respond(task);
  }

  /** Send Data-In (with phase collapse) and/or SCSI Response, then release the task. */
  private respond(task: IscsiTask): void {
    if (task.responded) return;
    task.responded = true;
    const cmd = task.cmd;
    if (cmd.aborted || this.phase === 'closed') return this.release(task);
    const p = this.session!.params;
    let residual = 0;
    let under = false;
    let over = false;
    let sent = 0;
    if (cmd.dir === DataDir.READ && cmd.status === Status.GOOD) {
      sent = Math.min(cmd.dataInLength, task.edtl);
    }
    // Residuals relate EDTL to what the command transferred (or would have, for writes).
    const wanted = cmd.dir === DataDir.READ ? cmd.dataInLength : cmd.dir === DataDir.WRITE ? Math.max(cmd.dataLength, task.cdbLength) : 0;
    const transferred = cmd.dir === DataDir.READ ? sent : Math.min(wanted, task.edtl);
    if (task.edtl > transferred && (cmd.dir !== DataDir.NONE || task.edtl > 0)) {
      under = true;
      residual = task.edtl - transferred;
    } else if (wanted > task.edtl) {
      over = true;
      residual = wanted - task.edtl;
    }
    const collapse = sent > 0 && cmd.sense === null && cmd.status === Status.GOOD;
    if (sent > 0) {
      const buf = cmd.buf;
      let off = 0;
      let burst = 0;
      while (off < sent) {
        const n = Math.min(this.maxXmit, sent - off, p.MaxBurstLength - burst);
        const last = off + n >= sent;
        const endOfSequence = last || burst + n >= p.MaxBurstLength;
        const withStatus = last && collapse;
        const o = this.out.begin(this.headerDigest);
        S.dataIn(
          {
            final: endOfSequence,
            status: withStatus ? cmd.status : undefined,
            underflow: withStatus && under,
            overflow: withStatus && over,
            residualCount: withStatus ? residual : 0,
            lun: task.cmd.lun,
            itt: task.itt,
            ttt: RESERVED_TAG,
            statSN: withStatus ? this.takeStatSN() : 0,
            expCmdSN: this.expCmdSN,
            maxCmdSN: withStatus ? this.windowAfter(task) : this.maxCmdSN,
            dataSN: task.dataSN++,
            bufferOffset: off,
          },
          this.out.buf,
          o,
        );
        if (this.out.endRange(o, buf, off, n, this.dataDigest)) task.dataQueued = true;
        this.scheduleFlush();
        off += n;
        burst = endOfSequence ? 0 : burst + n;
      }
      if (collapse) return this.release(task);
    }
    const sense = cmd.sense ? S.senseDataSegment(cmd.sense) : null;
    const o = this.out.begin(this.headerDigest);
    S.scsiResponse(
      {
        itt: task.itt,
        status: cmd.status,
        response: 0,
        underflow: under,
        overflow: over,
        residualCount: residual,
        statSN: this.takeStatSN(),
        expCmdSN: this.expCmdSN,
        maxCmdSN: this.windowAfter(task),
        expDataSN: task.dataSN,
      },
      this.out.buf,
      o,
    );
    this.out.end(o, sense, this.dataDigest);
    this.scheduleFlush();
    this.release(task);
  }

  /** A SCSI Response for a command that never became a task (refused before it started). */
  private respondStatus(itt: number, status: number): void {
    const o = this.out.begin(this.headerDigest);
    S.scsiResponse({ itt, status, response: 0, underflow: false, overflow: false, residualCount: 0, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN, expDataSN: 0 }, this.out.buf, o);
    this.out.end(o, null, this.dataDigest);
    this.scheduleFlush();
  }

  private windowAfter(task: IscsiTask): number {
    this.openWindow(task);
    return this.maxCmdSN;
  }

  /** Drop the transport's reference: the command leaves its tables when its I/O is done too. */
  release(task: IscsiTask): void {
    if (task.released) return;
    task.released = true;
    if (task.cmd.aborted && !task.immediate && !task.responded) this.openWindow(task);
    this.forgetR2ts(task);
    this.tasks.delete(task.itt);
    if (task.dataQueued && this.phase !== 'closed') this.writeHolds.push(task.cmd);
    else task.cmd.put();
    const waiters = task.releaseWaiters;
    task.releaseWaiters = null;
    if (waiters) for (const w of waiters) w();
  }

  private forgetR2ts(task: IscsiTask): void {
    if (!task.r2ts) return;
    for (const ttt of task.r2ts.keys()) this.r2tByTtt.delete(ttt);
    task.r2ts.clear();
  }

  /**
   * Abort a task (TMF or teardown): no response will be sent for it. Returns a promise that
   * settles when its command has left the device (never waits for anything else).
   */
  abortTask(task: IscsiTask): Promise<void> {
    const cmd = task.cmd;
    cmd.aborted = true;
    // Not yet in the device: it ends here. In the device: it ends when the device answers.
    if (!cmd.isDone && (cmd.state === 'data_wait' || cmd.state === 'parsed' || cmd.state === 'new')) cmd.complete(Status.TASK_ABORTED);
    if (cmd.isDone && !task.released) {
      task.responded = true;
      this.release(task);
    }
    if (task.released) return Promise.resolve();
    return new Promise((resolve) => (task.releaseWaiters ??= []).push(resolve));
  }

  abortCommand(cmd: ScsiCmd): Promise<void> {
    const task = this.tasks.get(cmd.tag);
    return task && task.cmd === cmd ? this.abortTask(task) : Promise.resolve();
  }

  abortDeviceTasks(device: Device | null): Promise<void> {
    const ps = [...this.tasks.values()].filter((t) => device === null || t.cmd.tgtDev?.device === device).map((t) => this.abortTask(t));
    return Promise.all(ps).then(() => undefined);
  }

  sendTmfResponse(itt: number, response: number): void {
    const h = S.taskMgmtResponse({ response, itt, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN });
    this.send(h, null);
  }

  // ---- Text, Logout -------------------------------------------------------------------------

  private onText(pdu: Pdu): void {
    const t = decodeText(pdu);
    const reply = (data: Buffer, final: boolean, ttt: number) => {
      const h = S.textResponse({ final, cont: !final, lun: Buffer.alloc(8), itt: t.itt, ttt, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN });
      this.send(h, data.length ? data : null);
    };
    if (t.ttt !== RESERVED_TAG) {
      // Continuation of a long answer.
      const c = this.textContinuation;
      if (!c || c.ttt !== t.ttt) return this.reject(pdu.bhs, RejectReason.INVALID_PDU_FIELD, 'Text request with unknown TTT');
      return this.sendTextPart(c.rest, reply);
    }
    const parsed = parseTextKeys(pdu.data);
    if ('error' in parsed) return this.reject(pdu.bhs, RejectReason.PROTOCOL_ERROR, `malformed text keys: ${parsed.error}`);
    const out: Array<[string, string]> = [];
    for (const [k, v] of parsed.pairs) {
      if (k === 'SendTargets') out.push(...sendTargetsReply(this, v));
      else out.push([k, 'NotUnderstood']);
    }
    this.sendTextPart(encodeTextKeys(out), reply);
  }

  private sendTextPart(data: Buffer, reply: (d: Buffer, final: boolean, ttt: number) => void): void {
    if (data.length <= this.maxXmit) {
      this.textContinuation = null;
      return reply(data, true, RESERVED_TAG);
    }
    const ttt = this.allocTtt();
    this.textContinuation = { ttt, rest: data.subarray(this.maxXmit) };
    reply(data.subarray(0, this.maxXmit), false, ttt);
  }

  private onLogout(pdu: Pdu): void {
    const l = decodeLogout(pdu);
    const reason = l.reasonCode;
    const respond = (response: number) => {
      const h = S.logoutResponse({ response, itt: l.itt, statSN: this.takeStatSN(), expCmdSN: this.expCmdSN, maxCmdSN: this.maxCmdSN, time2Wait: 0, time2Retain: 0 });
      this.send(h, null);
    };
    if (reason === LogoutReason.REMOVE_CONNECTION_FOR_RECOVERY) return respond(LogoutResponse.CONNECTION_RECOVERY_NOT_SUPPORTED);
    if (reason === LogoutReason.CLOSE_CONNECTION && l.cid !== this.login?.cid && this.session && l.cid !== this.cid) return respond(LogoutResponse.CID_NOT_FOUND);
    this.phase = 'logout';
    this.log.info({ tsih: this.session?.tsih }, 'logout requested');
    const pending = [...this.tasks.values()].map((t) => this.abortTask(t));
    void boundedAll(pending, this.ctx.teardownTimeoutMs).then(async () => {
      // The I_T nexus ends here, not when the socket closes later: what it held (an SPC-2
      // reservation, a medium removal prevention) is released before the initiator hears back,
      // on every node of a cluster-mode LU too (bounded: a store that cannot commit gives up).
      if (this.session?.scst) await boundedAll([this.ctx.scst.closeSession(this.session.scst)], this.ctx.teardownTimeoutMs);
      if (this.phase === 'closed') return;
      this.phase = 'ffp';
      respond(LogoutResponse.CLOSED_SUCCESSFULLY);
      this.phase = 'logout';
      this.flush();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    });
  }

  cid = 0;

  // ---- teardown -----------------------------------------------------------------------------

  /**
   * Release everything this connection holds, whatever state its tasks are in. Waits only for
   * this connection's own commands still inside a device, and never longer than the bound; what
   * is still stuck then is logged with its details and released anyway.
   */
  teardown(why: string): Promise<void> {
    if (this.closed) return this.closed;
    this.phase = 'closed';
    this.rx.close(); // lets go of a command buffer a half-received Data-Out was being placed into
    this.ctx.loginEnded(this);
    this.held.clear();
    this.out.discard();
    for (const c of this.writeHolds.splice(0)) c.put();
    this.r2tByTtt.clear();
    const sess = this.session;
    const tasks = [...this.tasks.values()];
    this.closed = boundedAll(
      tasks.map((t) => this.abortTask(t)),
      this.ctx.teardownTimeoutMs,
    ).then((timedOut) => {
      if (timedOut) {
        const stuck = [...this.tasks.values()].map((t) => t.cmd.describe());
        this.log.error({ stuck }, `teardown: ${stuck.length} command(s) still stuck after ${this.ctx.teardownTimeoutMs} ms; releasing`);
        for (const t of [...this.tasks.values()]) this.release(t);
      }
      if (sess) {
        this.ctx.sessions.delete(sess);
        if (sess.scst) void this.ctx.scst.closeSession(sess.scst);
        this.log.info({ tsih: sess.tsih, why }, `session ${sess.tsih} closed: ${why}`);
      }
      if (!this.socket.destroyed) this.socket.destroy();
    });
    return this.closed;
  }

  get loginStage(): number {
    return LoginStage.FULL_FEATURE_PHASE;
  }
}

function copyPdu(p: Pdu): Pdu {
  return { bhs: Buffer.from(p.bhs), ahs: p.ahs ? Buffer.from(p.ahs) : null, data: Buffer.from(p.data) };
}

export { snLe };

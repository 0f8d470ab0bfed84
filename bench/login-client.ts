// A small iSCSI initiator session (RFC 7143 §11.12-§11.14) for the benchmark's own clients: it
// logs in without the security stage (no authentication), offers the operational keys once,
// answers the target's NOP-In pings, can log out, and hands every other full-feature PDU to its
// owner (the latency client sends commands through it; idle sessions send none). Every wait is
// bounded.
import { connect, type Socket } from 'node:net';
import { DATA_IN_STATUS, loginRequest, logoutRequest, nopOutReply, Op, opcodeOf, pad4, PduFramer, RESERVED_TAG, STAGE_FULL_FEATURE, textKeys, type PduHandler } from './pdu.js';

const MAX_LOGIN_ROUNDS = 8;
const LOGIN_ITT = 1;
const LOGOUT_ITT = 2;
/** Tags from here on are free for the owner's commands. */
export const FIRST_COMMAND_ITT = 16;
// Every session of the process reads into this one buffer: the framer consumes each chunk before
// the next read, and copies only a PDU that is split across reads.
const readBuffer = Buffer.alloc(64 * 1024);

export interface SessionOptions {
  port: number;
  targetName: string;
  initiatorName: string;
  /** 6 bytes; sessions of one initiator name need distinct ISIDs or they reinstate each other. */
  isid: Buffer;
  /** Connect and login together, ms. */
  timeoutMs?: number;
}

interface LoginPdu {
  bhs: Buffer;
}

export class InitiatorSession {
  private readonly framer: PduFramer;
  private waiter: ((p: LoginPdu | null) => void) | null = null;
  private queue: LoginPdu[] = [];
  private closed = false;
  private loggedIn = false;
  private failure: string | null = null;
  private logoutDone: ((response: number | null) => void) | null = null;
  private handler: PduHandler | null = null;
  /** CmdSN of the next non-immediate command; immediate PDUs carry it without advancing it. */
  cmdSN = 1;
  expStatSN = 0;

  private constructor(private readonly socket: Socket) {
    this.framer = new PduFramer((bhs, data) => this.onPdu(bhs, data));
    const gone = (): void => {
      this.closed = true;
      this.deliver(null);
      this.logoutDone?.(null);
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  /** Connects and logs in; rejects with the reason when the session cannot be opened in time. */
  static async open(o: SessionOptions): Promise<InitiatorSession> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let sess: InitiatorSession | null = null;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({
        host: '127.0.0.1',
        port: o.port,
        onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array): boolean => {
            sess?.receive(buf as Buffer, n);
            return true;
          },
        },
      });
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to 127.0.0.1:${o.port} timed out`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    socket.setNoDelay(true);
    sess = new InitiatorSession(socket);
    try {
      await sess.login(o, deadline);
    } catch (e) {
      sess.close();
      throw e;
    }
    return sess;
  }

  get alive(): boolean {
    return this.loggedIn && !this.closed && this.failure === null;
  }

  /** Why the session failed, if it did. */
  get error(): string | null {
    return this.failure ?? this.framer.error;
  }

  /** Receives the full-feature PDUs that are not pings or the logout response, as views. */
  setHandler(h: PduHandler | null): void {
    this.handler = h;
  }

  send(bhs: Buffer, data?: Buffer): void {
    if (this.socket.destroyed) return;
    if (data === undefined || data.length === 0) {
      this.socket.write(bhs);
      return;
    }
    const padded = pad4(data.length);
    this.socket.write(padded === data.length ? Buffer.concat([bhs, data]) : Buffer.concat([bhs, data, Buffer.alloc(padded - data.length)]));
  }

  /** Logs the session out (close the session) and closes the connection; rejects with the reason. */
  async logout(timeoutMs = 10_000): Promise<void> {
    if (!this.alive) throw new Error(this.error ?? 'session is not logged in');
    const response = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        this.logoutDone = null;
        resolve(null);
      }, timeoutMs);
      this.logoutDone = (r) => {
        clearTimeout(t);
        this.logoutDone = null;
        resolve(r);
      };
      this.send(logoutRequest({ itt: LOGOUT_ITT, cmdSN: this.cmdSN, expStatSN: this.expStatSN }));
    });
    const closedFirst = this.closed;
    this.close();
    if (response === null) throw new Error(closedFirst ? 'connection closed before the logout response' : `no logout response within ${timeoutMs} ms`);
    if (response !== 0) throw new Error(`logout refused: response ${response}`);
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private receive(buf: Buffer, n: number): void {
    if (this.closed) return;
    this.framer.push(buf.subarray(0, n));
    if (this.framer.error !== null) {
      this.failure = this.framer.error;
      this.close();
    }
  }

  private async login(o: SessionOptions, deadline: number): Promise<void> {
    const offer = textKeys([
      ['InitiatorName', o.initiatorName],
      ['TargetName', o.targetName],
      ['SessionType', 'Normal'],
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['MaxRecvDataSegmentLength', '8192'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '262144'],
      ['FirstBurstLength', '65536'],
      ['MaxConnections', '1'],
      ['MaxOutstandingR2T', '1'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['ErrorRecoveryLevel', '0'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
    ]);
    let tsih = 0;
    for (let round = 0; round < MAX_LOGIN_ROUNDS; round++) {
      const data = round === 0 ? offer : Buffer.alloc(0);
      this.send(loginRequest({ isid: o.isid, tsih, itt: LOGIN_ITT, cmdSN: this.cmdSN, expStatSN: this.expStatSN, dataLength: data.length }), data);
      const rsp = await this.next(deadline);
      if (rsp === null) throw new Error(this.error ?? (this.closed ? 'connection closed during login' : 'login timed out'));
      const op = opcodeOf(rsp.bhs);
      if (op !== Op.LOGIN_RSP) throw new Error(`unexpected opcode 0x${op.toString(16)} during login`);
      const statusClass = rsp.bhs[36]!;
      const statusDetail = rsp.bhs[37]!;
      if (statusClass !== 0) throw new Error(`login refused: status class ${statusClass}, detail ${statusDetail}`);
      tsih = rsp.bhs.readUInt16BE(14);
      this.expStatSN = (rsp.bhs.readUInt32BE(24) + 1) >>> 0;
      if (this.loggedIn) return;
    }
    throw new Error(`no full feature phase after ${MAX_LOGIN_ROUNDS} login rounds`);
  }

  private next(deadline: number): Promise<LoginPdu | null> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, Math.max(0, deadline - Date.now()));
      this.waiter = (p) => {
        clearTimeout(t);
        this.waiter = null;
        resolve(p);
      };
    });
  }

  private deliver(p: LoginPdu | null): void {
    if (this.waiter) this.waiter(p);
    else if (p) this.queue.push(p);
  }

  private onPdu(bhs: Buffer, data: Buffer): void {
    if (!this.loggedIn) {
      const own = Buffer.from(bhs);
      // Decided here, not in login(): PDUs behind the last login response in the same read are
      // already full-feature PDUs.
      if (opcodeOf(own) === Op.LOGIN_RSP && own[36] === 0 && (own[1]! & 0x80) !== 0 && (own[1]! & 3) === STAGE_FULL_FEATURE) this.loggedIn = true;
      this.deliver({ bhs: own });
      return;
    }
    const op = opcodeOf(bhs);
    if (op === Op.NOP_IN) {
      if (bhs.readUInt32BE(20) !== RESERVED_TAG) this.send(nopOutReply(bhs, this.cmdSN, this.expStatSN));
      return;
    }
    if (op === Op.LOGOUT_RSP) {
      this.logoutDone?.(bhs[2]!);
      return;
    }
    // StatSN advances with every status the target sends (SCSI Response, Data-In with status).
    if (op === Op.SCSI_RSP || (op === Op.DATA_IN && (bhs[1]! & DATA_IN_STATUS) !== 0)) this.expStatSN = (bhs.readUInt32BE(24) + 1) >>> 0;
    this.handler?.(bhs, data);
  }
}

// A login-only iSCSI initiator (RFC 7143 §11.12, §11.13) that holds an idle session open, for
// measuring what each session costs a daemon. It skips the security stage (no authentication),
// offers the operational keys once, answers the target's NOP-In pings, and never sends a command.
// Every wait is bounded.
import { connect, type Socket } from 'node:net';

const BHS_LENGTH = 48;
const OP_NOP_OUT = 0x00;
const OP_LOGIN_REQ = 0x03;
const OP_NOP_IN = 0x20;
const OP_LOGIN_RSP = 0x23;
const IMMEDIATE = 0x40;
const FINAL = 0x80;
const TRANSIT = 0x80;
const STAGE_OPERATIONAL = 1;
const STAGE_FULL_FEATURE = 3;
const RESERVED_TAG = 0xffffffff;
const MAX_LOGIN_ROUNDS = 8;
// A response larger than this is not a login response from a sane target.
const MAX_PDU = 1024 * 1024;

export interface IdleSessionOptions {
  port: number;
  targetName: string;
  initiatorName: string;
  /** 6 bytes; sessions of one initiator name need distinct ISIDs or they reinstate each other. */
  isid: Buffer;
  timeoutMs?: number;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function textKeys(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

interface Pdu {
  bhs: Buffer;
  data: Buffer;
}

export class IdleSession {
  private rx: Buffer = Buffer.alloc(0);
  private waiter: ((p: Pdu | null) => void) | null = null;
  private queue: Pdu[] = [];
  private closed = false;
  private loggedIn = false;
  private cmdSN = 1;
  private expStatSN = 0;
  private failure: string | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (b: Buffer) => this.onData(b));
    const gone = (): void => {
      this.closed = true;
      this.deliver(null);
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  /** Connects and logs in; rejects with the reason when the session cannot be opened in time. */
  static async open(o: IdleSessionOptions): Promise<IdleSession> {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: o.port });
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
    const sess = new IdleSession(socket);
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

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private async login(o: IdleSessionOptions, deadline: number): Promise<void> {
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
      const bhs = Buffer.alloc(BHS_LENGTH);
      bhs[0] = IMMEDIATE | OP_LOGIN_REQ;
      bhs[1] = TRANSIT | (STAGE_OPERATIONAL << 2) | STAGE_FULL_FEATURE;
      bhs.writeUIntBE(data.length, 5, 3);
      o.isid.copy(bhs, 8, 0, 6);
      bhs.writeUInt16BE(tsih, 14);
      bhs.writeUInt32BE(1, 16); // ITT
      bhs.writeUInt32BE(this.cmdSN, 24);
      bhs.writeUInt32BE(this.expStatSN, 28);
      this.send(bhs, data);
      const rsp = await this.next(deadline);
      if (rsp === null) throw new Error(this.failure ?? (this.closed ? 'connection closed during login' : 'login timed out'));
      if ((rsp.bhs[0]! & 0x3f) !== OP_LOGIN_RSP) throw new Error(`unexpected opcode 0x${(rsp.bhs[0]! & 0x3f).toString(16)} during login`);
      const statusClass = rsp.bhs[36]!;
      const statusDetail = rsp.bhs[37]!;
      if (statusClass !== 0) throw new Error(`login refused: status class ${statusClass}, detail ${statusDetail}`);
      tsih = rsp.bhs.readUInt16BE(14);
      this.expStatSN = (rsp.bhs.readUInt32BE(24) + 1) >>> 0;
      if ((rsp.bhs[1]! & TRANSIT) !== 0 && (rsp.bhs[1]! & 3) === STAGE_FULL_FEATURE) {
        this.loggedIn = true;
        return;
      }
    }
    throw new Error(`no full feature phase after ${MAX_LOGIN_ROUNDS} login rounds`);
  }

  private send(bhs: Buffer, data: Buffer): void {
    if (this.socket.destroyed) return;
    const padded = pad4(data.length);
    this.socket.write(padded === data.length ? Buffer.concat([bhs, data]) : Buffer.concat([bhs, data, Buffer.alloc(padded - data.length)]));
  }

  private next(deadline: number): Promise<Pdu | null> {
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

  private deliver(p: Pdu | null): void {
    if (this.waiter) this.waiter(p);
    else if (p) this.queue.push(p);
  }

  private onData(chunk: Buffer): void {
    this.rx = this.rx.length === 0 ? chunk : Buffer.concat([this.rx, chunk]);
    while (this.rx.length >= BHS_LENGTH) {
      const ahs = this.rx[4]! * 4;
      const dsl = this.rx.readUIntBE(5, 3);
      const total = BHS_LENGTH + ahs + pad4(dsl);
      if (total > MAX_PDU) {
        this.failure = `PDU of ${total} bytes from the target`;
        this.close();
        return;
      }
      if (this.rx.length < total) return;
      const bhs = Buffer.from(this.rx.subarray(0, BHS_LENGTH));
      const data = Buffer.from(this.rx.subarray(BHS_LENGTH + ahs, BHS_LENGTH + ahs + dsl));
      this.rx = this.rx.subarray(total);
      if (this.loggedIn) this.onFullFeaturePdu(bhs);
      else this.deliver({ bhs, data });
    }
  }

  /** Full feature phase: answer pings (NOP-In with a target transfer tag); drop the rest. */
  private onFullFeaturePdu(bhs: Buffer): void {
    if ((bhs[0]! & 0x3f) !== OP_NOP_IN) return;
    const ttt = bhs.readUInt32BE(20);
    if (ttt === RESERVED_TAG) return;
    const out = Buffer.alloc(BHS_LENGTH);
    out[0] = IMMEDIATE | OP_NOP_OUT;
    out[1] = FINAL;
    bhs.copy(out, 8, 8, 16); // LUN
    out.writeUInt32BE(RESERVED_TAG, 16);
    out.writeUInt32BE(ttt, 20);
    out.writeUInt32BE(this.cmdSN, 24);
    out.writeUInt32BE(this.expStatSN, 28);
    this.send(out, Buffer.alloc(0));
  }
}

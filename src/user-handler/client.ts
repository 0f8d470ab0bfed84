import net from 'node:net';
import { encodeFrame, FrameReader, type DaemonMessage } from '../engine/user/protocol.js';

export type ExecRequest = Extract<DaemonMessage, { type: 'exec' }>;
export type Event = Exclude<DaemonMessage, { type: 'exec' | 'registered' | 'error' }>;

export interface RegisterOptions {
  name: string;
  blockSize: number;
  size: number;
  readOnly?: boolean;
  vendor?: string;
  product?: string;
  /** 'data' (default): scstd forwards the data path only; 'all': every command. */
  forward?: 'all' | 'data';
}

/**
 * A small library for writing a user-space device handler for scstd: connect to its socket,
 * register devices, answer the commands it forwards. See README "User-space device handlers".
 */
export class UserHandlerClient {
  private readonly reader: FrameReader<DaemonMessage>;
  private waiting: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  onExec: (req: ExecRequest, dataOut: Buffer) => void = (req) => this.reply(req.id, 0x02);
  onEvent: (ev: Event) => void = () => {};

  private constructor(readonly socket: net.Socket) {
    this.reader = new FrameReader<DaemonMessage>(({ msg, data }) => this.onFrame(msg, data));
    socket.on('data', (c: Buffer) => this.reader.push(c));
    socket.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new Error('connection closed'));
    });
  }

  static connect(path: string, timeoutMs = 5000): Promise<UserHandlerClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(path);
      const t = setTimeout(() => (s.destroy(), reject(new Error(`connect ${path}: timed out`))), timeoutMs);
      s.once('connect', () => (clearTimeout(t), resolve(new UserHandlerClient(s))));
      s.once('error', (e) => (clearTimeout(t), reject(e)));
    });
  }

  register(o: RegisterOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.send({ type: 'register', ...o });
    });
  }

  /** Answer a forwarded command: SCSI status, data-in for reads, sense for CHECK CONDITION. */
  reply(id: number, status: number, dataIn?: Buffer, sense?: Buffer): void {
    this.send({ type: 'reply', id, status, ...(sense ? { sense: sense.toString('hex') } : {}) }, dataIn);
  }

  close(): void {
    this.socket.end();
  }

  private send(msg: object, data?: Buffer): void {
    for (const b of encodeFrame(msg, data)) this.socket.write(b);
  }

  private onFrame(msg: DaemonMessage, data: Buffer): void {
    switch (msg.type) {
      case 'registered':
        return this.waiting.shift()?.resolve();
      case 'error':
        return this.waiting.shift()?.reject(new Error(msg.message));
      case 'exec':
        return this.onExec(msg, data);
      default:
        return this.onEvent(msg);
    }
  }
}

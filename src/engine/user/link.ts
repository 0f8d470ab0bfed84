import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op, Sense, Status } from '../scsi/constants.js';
import { buildSense } from '../scsi/sense.js';
import { engineStats } from '../stats.js';
import type { TgtDev } from '../tgtdev.js';
import { encodeFrame, FrameReader, type DaemonMessage, type HandlerMessage } from './protocol.js';

/** Opcodes forwarded by default ("data"): the data path; identity and mode pages stay built in. */
const DATA_OPS = new Set<number>([
  Op.READ_6, Op.READ_10, Op.READ_12, Op.READ_16,
  Op.WRITE_6, Op.WRITE_10, Op.WRITE_12, Op.WRITE_16,
  Op.WRITE_AND_VERIFY_10, Op.WRITE_AND_VERIFY_12, Op.WRITE_AND_VERIFY_16,
  Op.VERIFY_10, Op.VERIFY_12, Op.VERIFY_16,
  Op.SYNCHRONIZE_CACHE_10, Op.SYNCHRONIZE_CACHE_16,
]);

interface Pending {
  id: number;
  cmd: ScsiCmd;
  dev: Device;
  sentAt: number;
}

export interface LinkHost {
  log: Logger;
  /** Bind a registered name to a device (a placeholder from the config, or a new one). */
  bind(link: UserLink, reg: Extract<HandlerMessage, { type: 'register' }>): Device;
  unbind(link: UserLink, dev: Device): void;
  /** Longest a handler may sit on a command before it is forced out. */
  commandTimeoutMs: number;
}

/**
 * One connected handler process. It owns the commands it has been sent (one reference each) and
 * gives every one of them back exactly once: by its reply, by the link closing, by the per-command
 * timeout, or by the device being closed -- whichever comes first.
 */
export class UserLink {
  readonly devices = new Map<string, Device>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private readonly reader: FrameReader<HandlerMessage>;
  private readonly watchdog: NodeJS.Timeout;
  readonly log: Logger;

  constructor(
    readonly socket: Socket,
    private readonly host: LinkHost,
    readonly peer: string,
  ) {
    this.log = host.log.child({ userHandler: peer });
    this.reader = new FrameReader<HandlerMessage>((f) => this.onFrame(f.msg, f.data));
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      if (this.reader.failed) this.close(`protocol error: ${this.reader.failed}`);
    });
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'user handler socket error'));
    socket.on('close', () => this.close('handler disconnected'));
    this.watchdog = setInterval(() => this.expire(), 250);
    this.watchdog.unref();
  }

  private send(msg: DaemonMessage, data?: Buffer): void {
    if (this.closed || this.socket.destroyed) return;
    for (const b of encodeFrame(msg, data)) this.socket.write(b);
  }

  private onFrame(msg: HandlerMessage, data: Buffer): void {
    try {
      switch (msg.type) {
        case 'register': {
          if (typeof msg.name !== 'string' || !Number.isInteger(msg.blockSize) || !Number.isSafeInteger(msg.size)) throw new Error('register: name, blockSize and size are required');
          const dev = this.host.bind(this, msg);
          this.devices.set(dev.name, dev);
          this.send({ type: 'registered', name: dev.name });
          for (const td of dev.tgtDevs) this.nexus(dev, td, true);
          return;
        }
        case 'reply':
          return this.onReply(msg, data);
        case 'unregister': {
          const dev = this.devices.get(msg.name);
          if (dev) this.detach(dev, 'unregistered by its handler');
          return;
        }
        default:
          throw new Error(`unknown message type '${(msg as { type: string }).type}'`);
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'user handler request refused');
      this.send({ type: 'error', message: (e as Error).message });
    }
  }

  /** The device's forward hook: take the command if this handler executes that opcode. */
  forward(dev: Device, all: boolean, cmd: ScsiCmd): boolean {
    if (!all && !DATA_OPS.has(cmd.opcode)) return false;
    if (this.closed) {
      cmd.complete(Status.CHECK_CONDITION, buildSense(Sense.LU_COMMUNICATION_FAILURE));
      return true;
    }
    const id = this.nextId++;
    cmd.get();
    cmd.owner = `scst_user ${this.peer}`;
    dev.inflight++;
    this.pending.set(id, { id, cmd, dev, sentAt: Date.now() });
    // ABORT TASK and friends reach the handler; it still answers (or is timed out) as usual.
    cmd.onAbort = () => this.send({ type: 'tmf', fn: 'abort', ids: [id], device: dev.name });
    const dir = cmd.dir === DataDir.READ ? 'read' : cmd.dir === DataDir.WRITE ? 'write' : 'none';
    const data = cmd.dir === DataDir.WRITE && cmd.dataLength > 0 ? cmd.buf.subarray(0, cmd.dataLength) : undefined;
    this.send(
      { type: 'exec', id, device: dev.name, lun: cmd.lun, initiator: cmd.session.initiatorName, target: cmd.session.target.name, cdb: cmd.cdb.toString('hex'), dir, dataLength: cmd.dataLength },
      data,
    );
    return true;
  }

  private onReply(msg: Extract<HandlerMessage, { type: 'reply' }>, data: Buffer): void {
    const p = this.pending.get(msg.id);
    if (!p) {
      this.log.debug({ id: msg.id }, 'reply for a command no longer pending (aborted or timed out)');
      return;
    }
    const { cmd } = p;
    let sense: Buffer | null = null;
    if (msg.sense) sense = Buffer.from(msg.sense, 'hex');
    if (cmd.dir === DataDir.READ && data.length > 0) {
      const n = Math.min(data.length, cmd.dataLength);
      data.copy(cmd.allocBuffer(n, true), 0, 0, n);
      cmd.dataInLength = n;
    }
    const status = Number.isInteger(msg.status) ? msg.status : Status.CHECK_CONDITION;
    this.finish(p, status, status === Status.CHECK_CONDITION && !sense ? buildSense(Sense.LOGICAL_UNIT_FAILURE) : sense);
  }

  private finish(p: Pending, status: number, sense: Buffer | null): void {
    if (!this.pending.delete(p.id)) return;
    p.dev.inflight--;
    p.cmd.complete(status, sense);
    p.cmd.put();
  }

  /** Force out pending commands (all, or one device's), with a retryable error; log what was stuck. */
  private force(filter: (p: Pending) => boolean, why: string, stuck: boolean): number {
    const victims = [...this.pending.values()].filter(filter);
    if (victims.length === 0) return 0;
    const details = victims.map((p) => ({ ...p.cmd.describe(), device: p.dev.name, initiator: p.cmd.session.initiatorName }));
    (stuck ? this.log.error.bind(this.log) : this.log.warn.bind(this.log))({ commands: details }, `${why}: ${victims.length} command(s) of user handler ${this.peer} ended with an error`);
    for (const p of victims) {
      if (stuck) engineStats.stuckCommands++;
      else engineStats.abortedCommands++;
      this.finish(p, Status.CHECK_CONDITION, buildSense(Sense.LU_COMMUNICATION_FAILURE));
    }
    return victims.length;
  }

  private expire(): void {
    const limit = Date.now() - this.host.commandTimeoutMs;
    const late = (p: Pending) => p.sentAt < limit;
    if ([...this.pending.values()].some(late)) {
      const ids = [...this.pending.values()].filter(late).map((p) => p.id);
      for (const dev of this.devices.values()) this.send({ type: 'tmf', fn: 'abort', ids, device: dev.name });
      this.force(late, `no reply within ${this.host.commandTimeoutMs} ms`, true);
    }
  }

  /** Device teardown (close/del_device) after its bound: whatever is left is stuck. */
  forceDevice(dev: Device, why: string): number {
    return this.force((p) => p.dev === dev, why, true);
  }

  pendingFor(dev: Device): number {
    let n = 0;
    for (const p of this.pending.values()) if (p.dev === dev) n++;
    return n;
  }

  nexus(dev: Device, td: TgtDev, attached: boolean): void {
    const s = td.session;
    this.send({ type: attached ? 'attach' : 'detach', device: dev.name, session: s.id, initiator: s.initiatorName, target: s.target.name, lun: td.lun });
  }

  private detach(dev: Device, why: string): void {
    this.force((p) => p.dev === dev, why, false);
    this.devices.delete(dev.name);
    this.host.unbind(this, dev);
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    this.log.info({ devices: [...this.devices.keys()] }, `user handler ${this.peer}: ${why}`);
    this.force(() => true, why, false);
    for (const dev of [...this.devices.values()]) this.detach(dev, why);
    if (!this.socket.destroyed) this.socket.destroy();
  }
}

import fs from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import type { Backstore, IoCallback } from '../backing-store.js';
import { Device } from '../device.js';
import { checkDeviceName } from '../names.js';
import { MgmtError } from '../errors.js';
import { Sense } from '../scsi/constants.js';
import type { Scst } from '../scst.js';
import { UserLink, type LinkHost } from './link.js';
import type { HandlerMessage } from './protocol.js';

/**
 * Stands in for the storage of a user-space device: it has the registered size, and closing it
 * (device teardown) forces out whatever the handler still holds. Data never passes through it:
 * data commands are forwarded to the handler whole.
 */
class UserBackstore implements Backstore {
  constructor(
    readonly size: number,
    private readonly onClose: () => void,
  ) {}
  read(_b: Buffer, _o: number, _l: number, _p: number, cb: IoCallback): void {
    cb(Object.assign(new Error('user device: data path is in the handler'), { code: 'EIO' }));
  }
  write(_b: Buffer, _o: number, _l: number, _p: number, _f: boolean, cb: IoCallback): void {
    cb(Object.assign(new Error('user device: data path is in the handler'), { code: 'EIO' }));
  }
  flush(cb: IoCallback): void {
    cb(null);
  }
  async resync(): Promise<number> {
    return this.size;
  }
  async close(): Promise<void> {
    this.onClose();
  }
}

/**
 * Why a user-space device without a handler is not ready: LOGICAL UNIT NOT READY, MANUAL
 * INTERVENTION REQUIRED (SPC-4 04h/03h). Someone has to start the handler; nothing the initiator
 * can do makes the unit ready, and Linux's sd, which answers most NOT READY causes with START
 * STOP UNIT and a TEST UNIT READY poll of up to 100 s per disk at scan, gives up on this one at
 * once. (SCST itself has no such state: its scst_user devices exist only while their handler
 * holds /dev/scst_user open.)
 */
const NO_HANDLER = Sense.NOT_READY_MANUAL_INTERVENTION;

/**
 * Placeholder devices declared in scst.conf (`HANDLER scst_user { DEVICE name }`): they exist,
 * answer INQUIRY, REPORT LUNS and REQUEST SENSE, and are NOT READY until a handler registers.
 */
export function declareUserDevice(scst: Scst, name: string, blockSize = 512): Device {
  if (scst.devices.has(name)) throw new MgmtError('EEXIST', `device ${name} already exists`);
  checkDeviceName(name, 'scst_user');
  const dev = new Device({
    name,
    handler: 'scst_user',
    blockSize,
    readOnly: false,
    writeThrough: false,
    nvCache: false,
    removable: false,
    rotational: true,
    thinProvisioned: false,
    dummy: false,
    tst: 1,
    filename: null,
    setupId: scst.setupId,
    explicit: new Set(),
  });
  dev.t10VendId = 'SCST_USR';
  dev.notReadyCause = NO_HANDLER;
  dev.reservations = scst.reservations;
  scst.devices.set(name, dev);
  return dev;
}

/** The Unix socket user-space handlers connect to (SCST's /dev/scst_user, in our terms). */
export class UserHandlerServer implements LinkHost {
  private server: net.Server | null = null;
  readonly links = new Set<UserLink>();
  readonly log: Logger;
  private owners = new Map<Device, UserLink>();
  private nextPeer = 1;

  constructor(
    private readonly scst: Scst,
    log: Logger,
    readonly socketPath: string,
    public commandTimeoutMs = 30_000,
  ) {
    this.log = log.child({ component: 'scst_user' });
  }

  async listen(): Promise<void> {
    await fs.rm(this.socketPath, { force: true }); // a socket file left by a killed daemon
    await new Promise<void>((resolve, reject) => {
      const srv = net.createServer((sock) => {
        const link = new UserLink(sock, this, `handler-${this.nextPeer++}`);
        this.links.add(link);
        sock.on('close', () => this.links.delete(link));
      });
      srv.once('error', reject);
      srv.listen(this.socketPath, () => resolve());
      this.server = srv;
    });
    await fs.chmod(this.socketPath, 0o600); // only the daemon's owner may register devices
    this.log.info({ socket: this.socketPath }, `user-space handler socket at ${this.socketPath}`);
  }

  bind(link: UserLink, reg: Extract<HandlerMessage, { type: 'register' }>): Device {
    if (!Number.isInteger(reg.blockSize) || reg.blockSize < 512 || reg.blockSize > 65536 || (reg.blockSize & (reg.blockSize - 1)) !== 0) throw new Error(`invalid blockSize ${reg.blockSize}`);
    if (reg.size <= 0 || reg.size % reg.blockSize !== 0) throw new Error(`size ${reg.size} is not a positive multiple of the block size`);
    let dev = this.scst.devices.get(reg.name);
    if (dev && dev.handler !== 'scst_user') throw new Error(`device ${reg.name} exists and belongs to ${dev.handler}`);
    if (dev && this.owners.has(dev)) throw new Error(`device ${reg.name} is already served by another handler`);
    if (!dev) dev = declareUserDevice(this.scst, reg.name, reg.blockSize);
    const d = dev;
    d.blockSize = reg.blockSize;
    d.readOnly = reg.readOnly === true;
    if (reg.vendor) d.t10VendId = reg.vendor.slice(0, 8);
    if (reg.product) d.prodId = reg.product.slice(0, 16);
    d.backstore = new UserBackstore(reg.size, () => link.forceDevice(d, `device ${d.name} closed`));
    const all = reg.forward === 'all';
    d.forward = (cmd) => link.forward(d, all, cmd);
    d.onNexus = (td, attached) => link.nexus(d, td, attached);
    this.owners.set(d, link);
    d.notReadyCause = null;
    d.mediaGeneration++;
    d.queueUA(Sense.CAPACITY_DATA_CHANGED);
    this.log.info({ device: d.name, size: reg.size, blockSize: reg.blockSize, handler: link.peer }, `user-space device ${d.name} registered`);
    return d;
  }

  unbind(link: UserLink, dev: Device): void {
    if (this.owners.get(dev) !== link) return;
    this.owners.delete(dev);
    dev.forward = null;
    dev.onNexus = null;
    dev.backstore = null;
    dev.notReadyCause = NO_HANDLER; // until a handler registers again
    dev.mediaGeneration++;
    this.log.warn({ device: dev.name }, `user-space device ${dev.name} lost its handler`);
  }

  /**
   * Stop accepting and disconnect every handler: what they hold ends with an error now. Bounded:
   * the server's close waits for its connections, which are destroyed here, and the socket file's
   * removal may wait on a slow file system; neither may hold the shutdown past `boundMs`.
   */
  async close(boundMs = 1000): Promise<void> {
    for (const l of [...this.links]) l.close('target shutting down');
    const srv = this.server;
    const closed = new Promise<void>((r) => (srv ? srv.close(() => r()) : r())).then(() => fs.rm(this.socketPath, { force: true }));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, boundMs).unref()))]);
    clearTimeout(timer);
  }

  /** What of the handler socket is still open after close(). */
  alive(): string[] {
    const out: string[] = [];
    if (this.server?.listening) out.push(`scst_user socket ${this.socketPath} listening`);
    for (const l of this.links) if (!l.socket.destroyed) out.push(`scst_user handler connection ${l.peer}`);
    return out;
  }

  /** The node handles alive() names. */
  handles(): unknown[] {
    return [...(this.server ? [this.server] : []), ...[...this.links].map((l) => l.socket)];
  }

  /** Close what is left at once. */
  forceClose(): void {
    for (const l of [...this.links]) {
      l.close('target shutting down');
      l.socket.destroy();
    }
    this.server?.close();
  }
}

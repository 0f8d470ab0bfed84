import type { DeviceIo } from './io-metrics.js';
import type { Backstore, RbdStoreOptions } from './backing-store.js';
import { DeviceType, Sense, type Asc } from './scsi/constants.js';
import type { TgtDev } from './tgtdev.js';
import type { ScsiCmd } from './cmd.js';
import type { LunEntry } from './target.js';
import { defaultIds } from './scsi/identity.js';
import { settledWithin } from './wait.js';
import type { ReservationStore } from './reservations.js';
import { localReservations } from './reservations-local.js';
import { EMPTY_STATE, type ResvState } from './scsi/resv-state.js';

export type HandlerName = 'vdisk_fileio' | 'vdisk_blockio' | 'vdisk_nullio' | 'vdisk_rbd' | 'vcdrom' | 'scst_user';

export interface DeviceInit {
  name: string;
  handler: HandlerName;
  blockSize: number;
  readOnly: boolean;
  writeThrough: boolean;
  nvCache: boolean;
  removable: boolean;
  rotational: boolean;
  thinProvisioned: boolean;
  dummy: boolean;
  tst: number;
  filename: string | null;
  t10DevId?: string;
  usn?: string;
  setupId: bigint;
  /** Whether attributes were set explicitly at creation (for the sysfs [key] marker). */
  explicit: Set<string>;
  /** Peripheral device type; by default from the handler (vcdrom 5, else 0). */
  type?: number;
  /** lb_per_pb_exp: report the backing store's physical block size (default true). */
  lbPerPbExp?: boolean;
  /** vdisk_rbd: the image and how to reach it. */
  rbd?: RbdStoreOptions;
}

/**
 * A SCSI logical unit as SCST's vdisk handler presents it: identity (INQUIRY), geometry, cache
 * policy, and the backing store. A device without a backstore is a CD-ROM with no medium.
 */
export class Device {
  readonly name: string;
  readonly handler: HandlerName;
  readonly type: number;
  blockSize: number;
  readOnly: boolean;
  writeThrough: boolean;
  nvCache: boolean;
  removable: boolean;
  rotational: boolean;
  thinProvisioned: boolean;
  dummy: boolean;
  tst: number;
  filename: string | null;
  /** vdisk_rbd: the image behind the device (pool, image, conf, id, keyring); null otherwise. */
  readonly rbd: RbdStoreOptions | null;
  backstore: Backstore | null = null;
  /** What its commands did, for the metrics (io-metrics.ts), once a command was measured. */
  io: DeviceIo | null = null;
  /** Caching mode page WCE (write-back cache enabled); MODE SELECT may change it. */
  wce: boolean;
  t10VendId: string;
  prodId: string;
  prodRevLvl = '3110';
  t10DevId: string;
  private _usn: string;
  /** Told when the USN changes: the registry holding the device keeps an index of them. */
  usnWatcher: ((dev: Device, old: string) => void) | null = null;
  vendSpecificId: string;
  naaId: string | null = null;
  eui64Id: string | null = null;
  /** SCSI target device name designator of VPD page 0x83 ('' = none). */
  scsiDeviceName = '';
  /** vdisk_gen_dev_id_num(): what the default t10_dev_id and usn are printed from. */
  readonly devId: bigint;
  readonly explicit: Set<string>;
  /** The LUN mappings of this device in creation order, in every LUN set (SCST's dev_acg_dev_list). */
  readonly mappings = new Set<LunEntry>();
  /** Next N of an exported/exportN link (SCST's dev_exported_lun_num): never goes back. */
  exportedLunNum = 0;
  /** Every I_T_L nexus that currently maps this device. */
  readonly tgtDevs: Set<TgtDev> = new NexusSet(this);
  /** Told when a nexus starts or stops mapping this device (user-space handlers want to know). */
  onNexus: ((td: TgtDev, attached: boolean) => void) | null = null;
  /**
   * A user-space handler takes over execution: returns true when it accepted the command (it
   * then completes it), false to let the built-in command sets run it.
   */
  forward: ((cmd: ScsiCmd) => boolean) | null = null;
  /** Where this logical unit's reservation state lives (shared by the nodes of a cluster). */
  reservations: ReservationStore = localReservations;
  /**
   * The reservation state this node enforces for the logical unit: written only by its store
   * (EnforcingStore), read through it by every command's conflict check (a field, no lookup).
   */
  resvState: ResvState = EMPTY_STATE;
  /**
   * A cluster-mode logical unit (cluster_mode 1): whether this node may execute commands on it
   * now, i.e. it is a certain member of the cluster and enforces the shared reservation state.
   * Set by the cluster's reservation store; null for every other device (a null test per command).
   * Called at admission of each command (a field read and a clock read, never a wait).
   */
  clusterGate: (() => boolean) | null = null;
  /** cluster_mode: the reservation state is the cluster's (reservations are then `Scst.clusterReservations`). */
  clusterMode = false;
  /** Nexuses that sent PREVENT MEDIUM REMOVAL. */
  readonly preventers = new Set<TgtDev>();
  private inflightCount = 0;
  private idleWaiters: Array<() => void> = [];
  /** Commands currently executing in the backstore. */
  get inflight(): number {
    return this.inflightCount;
  }
  set inflight(n: number) {
    this.inflightCount = n;
    if (n === 0 && this.idleWaiters.length > 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Resolves true once no command is executing in the backstore, false if `ms` pass first. */
  whenIdle(ms: number): Promise<boolean> {
    return settledWithin(this.inflightCount === 0, this.idleWaiters, ms);
  }
  closing = false;
  /** Bumps whenever the medium or size changes (MMC event status, capacity UA). */
  mediaGeneration = 0;
  /**
   * A removable medium was ejected by START STOP UNIT (LOEJ): still loaded in the tray, but not
   * accessible until a load (LOEJ with START) or a medium change.
   */
  trayOpen = false;
  /** Control mode page SWP: software write protect, set by MODE SELECT for the whole LU. */
  swp = false;
  /** A SANITIZE operation is running: media access is refused until it ends (SBC-4 4.11). */
  sanitizing = false;
  /** SCST's expl_alua: SET TARGET PORT GROUPS accepted, INQUIRY reports explicit ALUA (TPGS 11b). */
  explAlua = false;
  /** lb_per_pb_exp: READ CAPACITY(16) reports logical blocks per physical block. */
  lbPerPbExp: boolean;
  /**
   * Why the logical unit cannot serve medium access although it exists, when that is not a
   * missing medium: a user-space device while no handler serves it. Null when it can.
   */
  notReadyCause: Asc | null = null;

  constructor(init: DeviceInit) {
    this.name = init.name;
    this.handler = init.handler;
    this.type = init.type ?? (init.handler === 'vcdrom' ? DeviceType.CDROM : DeviceType.DISK);
    this.blockSize = init.blockSize;
    this.readOnly = init.readOnly;
    this.writeThrough = init.writeThrough;
    this.nvCache = init.nvCache;
    this.removable = init.removable;
    this.rotational = init.rotational;
    this.thinProvisioned = init.thinProvisioned;
    this.dummy = init.dummy;
    this.tst = init.tst;
    this.filename = init.filename;
    this.explicit = init.explicit;
    this.wce = !init.writeThrough;
    this.lbPerPbExp = init.lbPerPbExp ?? true;
    this.rbd = init.rbd ?? null;
    this.t10VendId = init.handler === 'vdisk_blockio' ? 'SCST_BIO' : init.handler === 'vdisk_rbd' ? 'SCST_RBD' : 'SCST_FIO';
    this.prodId = init.name.slice(0, 16);
    // Default identifiers as vdev_create() derives them. vend_specific_id is copied from the
    // generated t10_dev_id before the add_device parameters are parsed, so a t10_dev_id given
    // there does not reach it.
    const ids = defaultIds(init.name, init.setupId);
    this.devId = ids.devIdNum;
    this.t10DevId = init.t10DevId ?? ids.t10DevId;
    this._usn = init.usn ?? ids.usn;
    this.vendSpecificId = ids.t10DevId;
  }

  /** Unit serial number (VPD page 0x80). */
  get usn(): string {
    return this._usn;
  }

  set usn(v: string) {
    const old = this._usn;
    this._usn = v;
    if (old !== v) this.usnWatcher?.(this, old);
  }

  get size(): number {
    return this.backstore ? this.backstore.size : 0;
  }

  /** Number of logical blocks (whole blocks only). */
  get nblocks(): number {
    return Math.floor(this.size / this.blockSize);
  }

  /**
   * Logical blocks per physical block exponent (READ CAPACITY(16) LBPPBE): the backing store's
   * allocation unit, so initiators align to it and UNMAP can free whole units.
   */
  get lbppbExp(): number {
    const phys = this.backstore?.physicalBlockSize ?? 0;
    if (!this.lbPerPbExp || phys <= this.blockSize) return 0;
    return Math.min(15, Math.floor(Math.log2(phys / this.blockSize)));
  }

  get mediumPresent(): boolean {
    return this.backstore !== null && !this.trayOpen;
  }

  /**
   * The NOT READY sense a medium-access command gets now (TEST UNIT READY, READ CAPACITY, READ,
   * WRITE...), which REQUEST SENSE also reports; null when the logical unit is ready.
   */
  get notReadySense(): Asc | null {
    if (this.notReadyCause) return this.notReadyCause;
    return this.mediumPresent ? null : Sense.MEDIUM_NOT_PRESENT;
  }

  /** Queue a unit attention on every nexus of this device, except `except`. */
  queueUA(asc: Asc, except?: TgtDev): void {
    for (const td of this.tgtDevs) if (td !== except) td.queueUA(asc);
  }

  /** Stable storage is not guaranteed by the backing store: SYNCHRONIZE CACHE must flush. */
  get needsFlush(): boolean {
    return !this.nvCache && !this.writeThrough;
  }
}

/** The set of a device's nexuses, reporting membership changes to the device. */
class NexusSet extends Set<TgtDev> {
  constructor(private readonly dev: Device) {
    super();
  }
  override add(td: TgtDev): this {
    const had = this.has(td);
    super.add(td);
    if (!had) this.dev?.onNexus?.(td, true);
    return this;
  }
  override delete(td: TgtDev): boolean {
    const had = super.delete(td);
    if (had) this.dev.onNexus?.(td, false);
    return had;
  }
}

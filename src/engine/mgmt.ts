import fsp from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Device, HandlerName } from './device.js';
import { MgmtError, einval } from './errors.js';
import { changeMedium, clusterModeRefusal, HANDLERS } from './handlers.js';
import { EMPTY_STATE } from './scsi/resv-state.js';
import { Sense } from './scsi/constants.js';
import type { Scst } from './scst.js';
import { IniGroup, MAX_LUN, type AddrMethod, type LunSet, type Target } from './target.js';
import { Alua } from './alua.js';
import { checkDeviceName, checkGroupName, checkTargetName, MAX_VDISK_NAME } from './names.js';

// Management operations on the core, shared by the management trees (procfs and sysfs). Each
// operation checks everything first and changes nothing when it refuses; a refusal is a
// MgmtError whose message is SCST's own log text for that case, so a tree can log it verbatim.
// Successes are logged here with SCST's wording. State that only the management trees show
// (attributes the engine has no use for) is kept here too, per object, so that both trees and
// every ScstMgmt over the same core see the same values.

export const DEFAULT_GROUP = 'Default';
export { MAX_VDISK_NAME };
/** T10 vendor-specific device identifiers are cut to this many bytes. */
export const MAX_T10_DEV_ID = 25;

export interface VdiskFlags {
  writeThrough: boolean;
  nvCache: boolean;
  readOnly: boolean;
  oDirect: boolean;
  nullio: boolean;
  blockio: boolean;
  removable: boolean;
}

export interface VdiskOpen {
  name: string;
  filename: string;
  /** Bytes; rounded down to a power of two, at least 512. */
  blockSize: number;
  flags: VdiskFlags;
  /** Both NULLIO and BLOCKIO may be given: the last one decides the handler. */
  handler: 'vdisk_fileio' | 'vdisk_blockio' | 'vdisk_nullio';
}

export const isDisk = (d: Device) => d.handler !== 'vcdrom';
export const isCdrom = (d: Device) => d.handler === 'vcdrom';

/** Size in MiB as SCST prints it: `(uint32)(bytes >> 20)` read as a signed int. */
export function sizeMb(bytes: number): number {
  // ToInt32 (`| 0`) is exactly "modulo 2^32, read as signed" for any integer a number holds.
  return Math.floor(bytes / 1048576) | 0;
}

/** How messages name a LUN set: its group's name, or its target's for a target's default set. */
function setName(set: LunSet): string {
  return set.group?.name ?? set.target?.name ?? '?';
}

function predefined(): MgmtError {
  return einval(`Attempt to add/delete/rename predefined group "${DEFAULT_GROUP}"`);
}

// ---- per-object management state ------------------------------------------------------------

/** Core attributes of the sysfs root that the engine does not act on (sysfs.md §4). */
export interface CoreAttrs {
  maxTaskletCmd: number;
  pollUs: number;
  suspendCount: number;
  asyncLunReplace: boolean;
  forceGlobalSgvPool: number;
  clusterName: string;
  /** `threads` as the engine starts with it (SCST: the module parameter): the value that is not key. */
  defaultThreads: number;
}

/** Device attributes only the management trees show (sysfs.md §6.1, §6.2). */
export interface DeviceAttrs {
  maxTgtDevCommands: number;
  numaNodeId: number;
  threadsNum: number;
  threadsPoolType: 'per_initiator' | 'shared';
  prFileName: string | null;
  optTransLen: number;
  readZero: boolean;
  bindAluaState: boolean;
  async: boolean;
  inqVendSpecific: string;
}

/** Target attributes only the management trees show (sysfs.md §7.2). */
export interface TargetAttrs {
  ioGroupingType: string;
  blackHole: number;
  cpuMask: string | null;
  comment: string;
  forwardSrc: number;
  forwardDst: number;
  aenDisabled: number;
}

/** Security-group attributes only the management trees show (sysfs.md §7.4). */
export interface GroupAttrs {
  ioGroupingType: string;
  blackHole: number;
  cpuMask: string | null;
  perSessDedicatedTgtThreads: boolean;
}

export const DEFAULT_OPT_TRANS_LEN = 524288;
/** What Scst starts with before a config sets `threads`. */
export const DEFAULT_THREADS = 1;
export const DEFAULT_MAX_TGT_DEV_COMMANDS = 64;

const coreAttrsMap = new WeakMap<Scst, CoreAttrs>();
const deviceAttrsMap = new WeakMap<Device, DeviceAttrs>();
const targetAttrsMap = new WeakMap<Target, TargetAttrs>();
const groupAttrsMap = new WeakMap<IniGroup, GroupAttrs>();
const aluaMap = new WeakMap<Scst, Alua>();

export function coreAttrs(scst: Scst): CoreAttrs {
  let a = coreAttrsMap.get(scst);
  if (!a) coreAttrsMap.set(scst, (a = { maxTaskletCmd: 10, pollUs: 0, suspendCount: 0, asyncLunReplace: false, forceGlobalSgvPool: 0, clusterName: '', defaultThreads: DEFAULT_THREADS }));
  return a;
}

/** Default thread count of a handler (vdisk's num_threads is 8 for fileio and vcdrom). */
export function defaultThreadsNum(h: HandlerName): number {
  return h === 'vdisk_fileio' || h === 'vcdrom' ? 8 : h === 'scst_user' ? 0 : 1;
}

export function deviceAttrs(dev: Device): DeviceAttrs {
  let a = deviceAttrsMap.get(dev);
  if (!a) {
    a = {
      maxTgtDevCommands: DEFAULT_MAX_TGT_DEV_COMMANDS,
      numaNodeId: -1,
      threadsNum: defaultThreadsNum(dev.handler),
      threadsPoolType: 'per_initiator',
      prFileName: null,
      optTransLen: DEFAULT_OPT_TRANS_LEN,
      readZero: false,
      bindAluaState: dev.handler === 'vdisk_blockio',
      async: false,
      inqVendSpecific: '',
    };
    deviceAttrsMap.set(dev, a);
  }
  return a;
}

export function targetAttrs(t: Target): TargetAttrs {
  let a = targetAttrsMap.get(t);
  if (!a) targetAttrsMap.set(t, (a = { ioGroupingType: 'auto', blackHole: 0, cpuMask: null, comment: '', forwardSrc: 0, forwardDst: 0, aenDisabled: 0 }));
  return a;
}

export function groupAttrs(g: IniGroup): GroupAttrs {
  let a = groupAttrsMap.get(g);
  if (!a) groupAttrsMap.set(g, (a = { ioGroupingType: 'auto', blackHole: 0, cpuMask: null, perSessDedicatedTgtThreads: false }));
  return a;
}

/** The ALUA configuration of a core (device groups, target groups, states). */
export function aluaOf(scst: Scst): Alua {
  let a = aluaMap.get(scst);
  if (!a) {
    aluaMap.set(scst, (a = new Alua((name) => scst.anyTarget(name))));
    a.log = scst.log;
  }
  return a;
}

/** How long del_device waits for backing-store I/O in flight before closing anyway. */
const DEL_DEVICE_DRAIN_MS = 60_000;
/** How long del_target waits for the sessions it closed to go. */
const SESSION_CLOSE_WAIT_MS = 10_000;

export class ScstMgmt {
  constructor(
    readonly scst: Scst,
    private readonly log: Logger,
  ) {}

  // ---- security groups (procfs-era: global, Default first) ---------------------------------

  group(name: string): IniGroup | undefined {
    return this.scst.globalGroups.find(name);
  }

  /**
   * A security group: of target `t` (sysfs ini_groups/mgmt create), or procfs-era and shared by
   * every target when `t` is null (add_group, with its addressing method).
   */
  addGroup(t: Target | null, name: string, addr: AddrMethod = 'PERIPHERAL'): IniGroup {
    if (t) {
      checkGroupName(name, true);
      if (t.group(name)) throw new MgmtError('EEXIST', `acg name ${name} exist`);
      const g = this.scst.addGroup(t, name);
      this.log.info({ target: t.name, group: name }, `Added group ${name} to target ${t.name}`);
      return g;
    }
    checkGroupName(name);
    if (name === DEFAULT_GROUP) throw predefined();
    if (this.group(name)) throw einval(`acg name ${name} exist`);
    const g = new IniGroup(name, null);
    g.addrMethod = addr;
    this.scst.watchGlobalGroup(g);
    this.scst.globalGroups.list.push(g);
    this.log.info({ group: name, addrMethod: addr }, `Created security group ${name}`);
    this.reevaluateAll();
    return g;
  }

  delGroup(t: Target | null, name: string): void {
    if (t) {
      const g = t.group(name);
      if (!g) throw einval(`Group ${name} not found`);
      if ([...t.sessions].some((s) => s.group === g)) throw new MgmtError('EBUSY', `Group ${name} has active sessions`);
      t.groups.splice(t.groups.indexOf(g), 1);
      g.luns.onChange = null;
      this.log.info({ target: t.name, group: name }, `Removed group ${name} from target ${t.name}`);
      this.reevaluateAll();
      return;
    }
    if (name === DEFAULT_GROUP) throw predefined();
    const g = this.group(name);
    if (!g) throw einval(`acg name ${name} not found`);
    if ([...this.scst.sessions].some((s) => s.group === g)) throw new MgmtError('EBUSY', 'Session is not empty');
    const list = this.scst.globalGroups.list;
    list.splice(list.indexOf(g), 1);
    g.luns.onChange = null;
    this.log.info({ group: name }, `Deleted security group ${name}`);
    // No session used it, but a Default_<target> group may have shadowed Default for new logins only.
    this.reevaluateAll();
  }

  renameGroup(oldName: string, newName: string): void {
    if (oldName === DEFAULT_GROUP) throw predefined();
    const g = this.group(oldName);
    if (!g) throw einval(`acg name ${oldName} not found`);
    checkGroupName(newName);
    if (newName === DEFAULT_GROUP) throw predefined();
    if (this.group(newName)) throw new MgmtError('EEXIST', `acg name ${newName} exist`);
    g.name = newName;
    this.log.info({ group: newName, old: oldName }, `Renamed security group ${oldName} to ${newName}`);
    this.reevaluateAll();
  }

  /** The same name twice in one group is refused; across groups it is not. */
  addInitiator(g: IniGroup, name: string): void {
    if (name === '') throw einval('Initiator name required');
    if (g.initiators.includes(name)) throw new MgmtError('EEXIST', `Name ${name} already exists in group ${g.name}`);
    g.initiators.push(name);
    this.log.info({ group: g.name, initiator: name }, `Added name ${name} to group ${g.name} (target ?)`);
    this.reevaluateAll();
  }

  delInitiator(g: IniGroup, name: string): void {
    const i = g.initiators.indexOf(name);
    if (i < 0) throw einval(`Unable to find name '${name}' in group '${g.name}'`);
    g.initiators.splice(i, 1);
    this.log.info({ group: g.name, initiator: name }, `Removed name ${name} from group ${g.name} (target ?)`);
    this.reevaluateAll();
  }

  /**
   * Move NAME from `g` to group `to` of the same target (sysfs.md §11.6), or among the procfs-era
   * groups; to the same group it goes to the end of the list.
   */
  moveInitiator(g: IniGroup, name: string, to: string): void {
    if (g.target) return this.moveWithinTarget(g, g.target, name, to);
    const dst = this.group(to);
    if (!dst) throw einval(`Group ${to} not found`);
    const i = g.initiators.indexOf(name);
    if (i < 0) throw einval(`Unable to find name '${name}' in group '${g.name}'`);
    // SCST removed first and put the name back at the end when the add failed; refuse up front.
    if (dst !== g && dst.initiators.includes(name)) throw new MgmtError('EEXIST', `Name ${name} already exists in group ${dst.name}`);
    g.initiators.splice(i, 1);
    dst.initiators.push(name);
    this.log.info({ group: g.name, to: dst.name, initiator: name }, `Removed name ${name} from group ${g.name} (target ?)`);
    this.log.info({ group: dst.name, initiator: name }, `Added name ${name} to group ${dst.name} (target ?)`);
    this.reevaluateAll();
  }

  clearInitiators(g: IniGroup): void {
    g.initiators.length = 0;
    this.log.info({ group: g.name }, `Removed all names from group ${g.name}`);
    this.reevaluateAll();
  }

  // ---- LUN mappings of a group ----------------------------------------------------------------

  device(name: string): Device {
    const d = this.scst.devices.get(name);
    if (!d) throw einval(`Device ${name} not found`);
    return d;
  }

  private checkLun(lun: number): void {
    if (!Number.isSafeInteger(lun) || lun < 0 || lun > MAX_LUN) throw einval(`Too big LUN ${lun} (max ${MAX_LUN})`);
  }

  /**
   * Map `devName` at `lun` of `set` (sysfs luns/mgmt add, sysfs.md §11.4; procfs add): the device
   * by exact name, LUN 0..16383, free in this set. A procfs-era group's set (no target) logs SCST
   * 1.x's wording, which names no target.
   */
  addLun(set: LunSet, devName: string, lun: number, readOnly: boolean): void {
    const era = set.target === null;
    const where = setName(set);
    const dev = this.scst.devices.get(devName);
    if (!dev) throw einval(era ? `Device ${devName} not found` : `Device '${devName}' not found`);
    this.checkLun(lun);
    if (set.luns.has(lun)) throw new MgmtError('EEXIST', `virt lun ${lun} already exists in group ${where}`);
    set.add(dev, lun, readOnly);
    this.log.info({ group: where, device: devName, lun, readOnly }, `Added device ${devName} to group ${where} (LUN ${lun}, flags 0x${readOnly ? 1 : 0})${era ? ' to target ?' : ''}`);
  }

  /** replace / replace_no_ua (`ua` false): the LUN's device is swapped, or the LUN added. */
  replaceLun(set: LunSet, devName: string, lun: number, readOnly: boolean, ua = true): void {
    const era = set.target === null;
    const where = setName(set);
    const dev = this.scst.devices.get(devName);
    if (!dev) throw einval(era ? `Device ${devName} not found` : `Device '${devName}' not found`);
    this.checkLun(lun);
    if (era && set.luns.has(lun)) this.log.info({ group: where, lun }, `Removed LUN ${lun} from group ${where} (target ?)`);
    // On a free LUN SCST skipped the REPORTED LUNS DATA HAS CHANGED attention; LunSet raises it.
    set.replace(dev, lun, readOnly, ua);
    if (era) this.log.info({ group: where, device: devName, lun, readOnly }, `Added device ${devName} to group ${where} (LUN ${lun}, flags 0x${readOnly ? 1 : 0}) to target ?`);
    else this.log.info({ group: where, device: devName, lun, readOnly }, `Replaced LUN ${lun} of group ${where} by device ${devName}`);
  }

  delLun(set: LunSet, lun: number): void {
    const where = setName(set);
    if (!set.luns.has(lun)) throw einval(`Group ${where} has no LUN ${lun}`);
    set.del(lun);
    this.log.info({ group: where, lun }, `Removed LUN ${lun} from group ${where}`);
  }

  /** procfs del: unmap the first mapping of the device (list order); a device not mapped here is not an error. */
  delLunOfDevice(set: LunSet, devName: string): void {
    const where = setName(set);
    const dev = this.device(devName);
    // The device's mappings are in creation order, which within one set is the set's list order.
    let e = null;
    for (const x of dev.mappings) {
      if (x.set !== set) continue;
      e = x;
      break;
    }
    if (!e) {
      this.log.warn({ group: where, device: devName }, `Device is not found in group ${where}`);
      return;
    }
    set.del(e.lun);
    this.log.info({ group: where, lun: e.lun }, `Removed LUN ${e.lun} from group ${where} (target ?)`);
  }

  clearLuns(set: LunSet): void {
    const where = setName(set);
    if (set.target === null) {
      for (const lun of set.luns.keys()) this.log.info({ group: where, lun }, `Removed LUN ${lun} from group ${where} (target ?)`);
      set.clear();
      return;
    }
    set.clear();
    this.log.info({ group: where }, `Removed all devices from group ${where}`);
  }

  /**
   * Group membership changed: every session re-chooses its group. A session that lands in a
   * different group gets REPORTED LUNS DATA HAS CHANGED on the LUNs it now has.
   */
  reevaluateAll(): void {
    for (const s of this.scst.sessions) {
      const before = s.group;
      const beforeSet = s.luns;
      s.evaluateLuns(false, 'none');
      if (s.group !== before) this.log.info({ initiator: s.initiatorName, target: s.target.name, group: s.group?.name ?? DEFAULT_GROUP }, `Using security group "${s.group?.name ?? DEFAULT_GROUP}" for initiator "${s.initiatorName}" (target ${s.target.name})`);
      if (s.luns !== beforeSet) s.sessionUA(Sense.REPORTED_LUNS_DATA_CHANGED);
    }
  }

  // ---- virtual devices (vdisk/vcdrom) -------------------------------------------------------

  private checkDevName(name: string, handler: HandlerName): void {
    checkDeviceName(name, handler);
    if (this.scst.devices.has(name)) throw new MgmtError('EEXIST', `Device ${name} already exists`);
  }

  async openVdisk(o: VdiskOpen): Promise<Device> {
    const f = o.flags;
    if (!f.nullio && !o.filename.startsWith('/')) throw einval(`File path "${o.filename}" is not absolute`);
    let bs = o.blockSize === 0 ? 512 : o.blockSize;
    if (bs < 512) {
      this.log.error({ device: o.name, blockSize: bs }, `Wrong sector size ${bs}`);
      throw einval(`blocksize ${bs} too small`);
    }
    const pow2 = 2 ** Math.floor(Math.log2(bs));
    if (pow2 !== bs) this.log.warn({ device: o.name, blockSize: bs }, `Block size ${bs} is not a power of two, using ${pow2}`);
    bs = pow2;
    this.checkDevName(o.name, o.handler);
    const handler: HandlerName = o.handler;
    if (f.oDirect) this.log.warn({ device: o.name }, "O_DIRECT flag doesn't currently work, ignoring it, use fileio_tgt in O_DIRECT mode instead");
    if (handler === 'vdisk_blockio') {
      const st = await fsp.stat(o.filename).catch((e: NodeJS.ErrnoException) => {
        throw new MgmtError(e.code === 'ENOENT' || e.code === 'EACCES' ? e.code : 'EINVAL', `filp_open(${o.filename}) failed: ${e.code ?? e.message}`);
      });
      if (!st.isBlockDevice()) throw einval(`File ${o.filename} is NOT a block device`);
    }
    const params: Array<[string, string]> = [['blocksize', String(bs)]];
    if (handler !== 'vdisk_nullio') params.push(['filename', o.filename]);
    if (f.readOnly) params.push(['read_only', '1']);
    if (f.removable) params.push(['removable', '1']);
    const dev = await this.scst.addDevice(handler, o.name, params);
    // procfs combines READ_ONLY with WRITE_THROUGH/NV_CACHE, which the sysfs parameter rules refuse.
    if (f.writeThrough) {
      dev.writeThrough = true;
      dev.wce = false;
    }
    if (f.nvCache) dev.nvCache = true;
    dev.filename = o.filename;
    const given = [f.writeThrough, f.nvCache, f.readOnly, f.oDirect, f.nullio, f.blockio, f.removable];
    const names: string[] = ['WRITE_THROUGH', 'NV_CACHE', 'READ_ONLY', 'O_DIRECT', 'NULLIO', 'BLOCKIO', 'REMOVABLE'].filter((_, i) => given[i]);
    names.push('ROTATIONAL');
    this.log.info({ device: o.name, handler }, `Registering virtual ${handler} device ${o.name} (${names.join(', ')})`);
    const nb = dev.nblocks;
    this.log.info({ device: o.name }, `Attached SCSI target virtual disk ${o.name} (file="${o.filename}", fs=${sizeMb(dev.size)}MB, bs=${dev.blockSize}, nblocks=${nb}, cyln=${Math.floor(nb / 2048)})${nb < 2048 ? ' !WARNING! cyln less than 1' : ''}`);
    return dev;
  }

  async openVcdrom(name: string, filename: string | null): Promise<Device> {
    if (filename !== null && !filename.startsWith('/')) throw einval(`File path "${filename}" is not absolute`);
    this.checkDevName(name, 'vcdrom');
    const dev = await this.scst.addDevice('vcdrom', name, []);
    this.log.info({ device: name }, `Registering virtual CDROM ${name}`);
    if (filename !== null) {
      try {
        await changeMedium(dev, filename);
      } catch (e) {
        await this.scst.delDevice(name, 1000).catch(() => undefined);
        throw e;
      }
      this.log.info({ device: name }, `Attached SCSI target virtual cdrom ${name} (file="${filename}", fs=${sizeMb(dev.size)}MB, bs=${dev.blockSize}, nblocks=${dev.nblocks}, cyln=${Math.floor(dev.nblocks / 2048)})`);
    } else this.log.info({ device: name }, `Attached empty SCSI target virtual cdrom ${name}`);
    return dev;
  }

  /** Insert (absolute path) or eject (empty) the medium of a vcdrom. */
  async changeVcdrom(name: string, filename: string): Promise<void> {
    const dev = this.scst.devices.get(name);
    if (!dev || !isCdrom(dev)) throw einval(`Virtual cdrom with name ${name} not found`);
    if (dev.preventers.size > 0) throw new MgmtError('EBUSY', `Prevent medium removal for virtual device with name ${name}`);
    if (filename !== '' && !filename.startsWith('/')) throw einval(`File path "${filename}" is not absolute`);
    await changeMedium(dev, filename);
    dev.queueUA(Sense.MEDIUM_MAY_HAVE_CHANGED);
    if (filename === '') this.log.info({ device: name }, `Removed media from SCSI target virtual cdrom ${name}`);
    else this.log.info({ device: name, filename }, `Changed SCSI target virtual cdrom ${name} (file="${filename}", fs=${sizeMb(dev.size)}MB, bs=${dev.blockSize}, nblocks=${dev.nblocks}, cyln=${Math.floor(dev.nblocks / 2048)})`);
  }

  /** Unregister a virtual device; its mappings go first (each one logged). */
  async closeDevice(name: string, kind: 'disk' | 'cdrom'): Promise<void> {
    const dev = this.scst.devices.get(name);
    // SCST accepted a disk name on the vcdrom file and vice versa; the type is checked here.
    if (!dev || (kind === 'disk') !== isDisk(dev)) throw einval(kind === 'disk' ? `Device ${name} not found` : `Virtual device with name ${name} not found`);
    for (const e of dev.mappings) {
      const gname = e.set.group?.name ?? `(target ${e.set.target?.name ?? '?'})`;
      this.log.info({ group: gname, lun: e.lun }, `Removed LUN ${e.lun} from group ${gname} (target ?)`);
    }
    const file = dev.filename ?? '';
    await this.scst.delDevice(name);
    this.log.info({ device: name }, `Detached virtual device ${name} ("${file}")`);
    this.log.info({ device: name }, `Virtual device ${name} unregistered`);
  }

  /**
   * cluster_mode of a device at run time. SCST switches the device's reservation handling with
   * activity suspended (scst_pr_set_cluster_mode): the state of the store it leaves is dropped and
   * the one of the store it enters taken (the cluster's, or the APTPL file's). The same here; but
   * since commands cannot be suspended across a cluster, the switch is refused while sessions use
   * the device (EBUSY): a host would otherwise see its reservations change without a unit attention.
   */
  async setClusterMode(dev: Device, on: boolean): Promise<void> {
    if (dev.clusterMode === on) return;
    if (on) {
      const why = clusterModeRefusal(this.scst.clusterReservations, dev.explicit.has('t10_dev_id') && dev.t10DevId !== '');
      if (why) throw einval(`${dev.name}: ${why}`);
    }
    if (dev.tgtDevs.size > 0) throw new MgmtError('EBUSY', `${dev.name}: cluster_mode cannot change while sessions use the device (${dev.tgtDevs.size} I_T nexuses); end them first`);
    const stateDir = this.scst.stateDir ?? process.env.SCSTD_STATE_DIR;
    const from = dev.reservations;
    const to = on ? this.scst.clusterReservations! : this.scst.reservations;
    const enter = async (store: typeof from, mode: boolean) => {
      dev.resvState = EMPTY_STATE;
      dev.clusterGate = null;
      dev.reservations = store;
      dev.clusterMode = mode;
      await store.attach(dev, stateDir);
    };
    from.detach?.(dev);
    try {
      await enter(to, on);
    } catch (e) {
      to.detach?.(dev);
      await enter(from, !on).catch(() => undefined);
      throw new MgmtError('EIO', `${dev.name}: changing cluster_mode into ${on ? 1 : 0} failed: ${(e as Error).message}`);
    }
    this.log.info({ device: dev.name, clusterMode: on }, `${dev.name}: changing cluster_mode from ${on ? 0 : 1} into ${on ? 1 : 0}`);
  }

  async resyncSize(name: string): Promise<void> {
    const dev = this.scst.devices.get(name);
    if (!dev || !isDisk(dev)) throw einval(`Device ${name} not found`);
    // SCST hit an assertion here (procfs.md §9.10).
    if (dev.handler === 'vdisk_nullio') throw einval(`resync_size is not supported on NULLIO device ${name}`);
    const bs = dev.backstore;
    if (!bs) throw new MgmtError('EMEDIUMTYPE', `Device ${name} has no backing file open`);
    const before = bs.size;
    const after = await bs.resync();
    if (after === before) {
      this.log.info({ device: name }, `Size of virtual disk ${name} remained the same`);
      return;
    }
    dev.mediaGeneration++;
    dev.queueUA(Sense.CAPACITY_DATA_CHANGED);
    const nb = dev.nblocks;
    this.log.info({ device: name, size: after }, `New size of SCSI target virtual disk ${name} (fs=${sizeMb(after)}MB, bs=${dev.blockSize}, nblocks=${nb}, cyln=${Math.floor(nb / 2048)})`);
  }

  setT10DevId(name: string, id: string): void {
    const dev = this.scst.devices.get(name);
    if (!dev || !isDisk(dev)) throw einval(`Device ${name} not found`);
    if (id === '') throw einval('T10 device id required');
    const cut = Buffer.from(id, 'utf8').subarray(0, MAX_T10_DEV_ID).toString('utf8');
    dev.t10DevId = cut;
    this.log.info({ device: name, t10DevId: cut }, `T10 device id for device ${name} changed to ${cut}`);
  }

  // ---- sysfs-era objects: devices by handler, targets, per-target groups, LUN sets ---------------

  /** handlers/<h>/mgmt add_device (sysfs.md §11.1): the parameter rules are createDevice's. */
  async addDevice(handler: HandlerName, name: string, params: Array<[string, string]>): Promise<Device> {
    if (name === '') throw einval('Device name required');
    const dev = await this.scst.addDevice(handler, name, params);
    const a = deviceAttrs(dev);
    const numa = params.find(([k]) => k === 'numa_node_id');
    if (numa) a.numaNodeId = Number(numa[1]);
    const bind = params.find(([k]) => k === 'bind_alua_state');
    if (bind) a.bindAluaState = Number(bind[1]) !== 0;
    for (const [k, v] of params) {
      if (k === 'async') a.async = Number(v) !== 0;
    }
    this.log.info({ device: name, handler }, `Attached SCSI target virtual ${handler === 'vcdrom' ? 'cdrom' : 'disk'} ${name}`);
    // SCST opens an empty file too (resync_size picks up a size given later); say so.
    if (isDisk(dev) && dev.backstore && dev.nblocks === 0) this.log.warn({ device: name, filename: dev.filename }, `Device ${name} has no blocks (its file is empty): initiators see no usable capacity until resync_size`);
    return dev;
  }

  /**
   * handlers/<h>/mgmt del_device: unmapped everywhere and out of its device group, then closed once
   * the I/O already in its backing store has come back (bounded). That wait is what makes it a long
   * operation, answered EAGAIN by sysfs while it lasts.
   */
  async delDevice(handler: HandlerName, name: string): Promise<void> {
    const dev = this.scst.devices.get(name);
    // The vdisk handlers share one device list (scst_vdisk.c vdev_find): any of their mgmt files
    // deletes any vdisk device, whichever handler created it.
    const vdisk = (h: HandlerName): boolean => (HANDLERS as readonly string[]).includes(h);
    if (!dev || (dev.handler !== handler && !(vdisk(dev.handler) && vdisk(handler)))) throw einval(`Device ${name} not found`);
    aluaOf(this.scst).dropDevice(dev);
    await this.scst.delDevice(name, DEL_DEVICE_DRAIN_MS);
    this.log.info({ device: name }, `Virtual device ${name} unregistered`);
  }

  target(name: string): Target | undefined {
    return this.scst.targets.get(name);
  }

  addTarget(name: string): Target {
    checkTargetName(name);
    if (this.scst.targets.has(name)) throw new MgmtError('EEXIST', `Target ${name} already exists`);
    const t = this.scst.addTarget(name);
    this.log.info({ target: name, tid: t.tid }, `Target ${name} (tid ${t.tid}) added`);
    return t;
  }

  /** Close the target's sessions (bounded wait), then forget it everywhere. */
  async delTarget(name: string): Promise<void> {
    const t = this.scst.targets.get(name);
    if (!t) throw new MgmtError('ENOENT', `Target ${name} not found`);
    t.enabled = false;
    for (const s of [...t.sessions]) s.transport.forceClose(`target ${name} deleted`);
    if (!(await t.whenNoSessions(SESSION_CLOSE_WAIT_MS))) this.log.error({ target: name, sessions: t.sessions.size }, `target ${name}: sessions still open after ${SESSION_CLOSE_WAIT_MS} ms; removing anyway`);
    this.scst.targets.delete(name);
    aluaOf(this.scst).dropTarget(name);
    this.log.info({ target: name }, `Target ${name} deleted`);
  }

  /** enabled: enabling gives a target without rel_tgt_id a free one (sysfs.md §7.2). */
  setTargetEnabled(t: Target, on: boolean): void {
    if (on && !t.enabled) {
      if (t.relTgtId !== 0 && this.relTgtIdUsed(t.relTgtId, t)) throw new MgmtError('EBADSLT', `Relative target id ${t.relTgtId} is not unique`);
      if (t.relTgtId === 0) {
        let id = 1;
        // In a cluster, not one of another node's either (its targets name their ports by it).
        const alua = aluaOf(this.scst);
        while (this.relTgtIdUsed(id, t, true) || !alua.relTgtIdFree(t.name, id)) id++;
        t.relTgtId = id;
      }
    }
    t.enabled = on;
    this.log.info({ target: t.name, enabled: on }, `Target ${t.name} ${on ? 'enabled' : 'disabled'}`);
  }

  private relTgtIdUsed(id: number, except: Target, anyTarget = false): boolean {
    for (const o of this.scst.allTargets()) if (o !== except && o.relTgtId === id && (anyTarget || o.enabled)) return true;
    return false;
  }

  /** rel_tgt_id: 1..65535, or 0 while disabled; unique among enabled targets (EBADSLT). */
  setRelTgtId(t: Target, id: number): void {
    if (t.enabled && id !== t.relTgtId && this.relTgtIdUsed(id, t)) throw new MgmtError('EBADSLT', `Relative port id ${id} is not unique`);
    if (!Number.isInteger(id) || id > 65535 || id < 0 || (id === 0 && t.enabled)) throw einval(`Invalid relative port id ${id}`);
    // In a cluster the id names this port on every node: it must not be another node's.
    if (id !== 0 && id !== t.relTgtId) aluaOf(this.scst).checkIds({ relTgtId: { target: t.name, id } });
    t.relTgtId = id;
    this.log.info({ target: t.name, relTgtId: id }, `Relative target id of target ${t.name} set to ${id}`);
  }

  private moveWithinTarget(g: IniGroup, t: Target, name: string, to: string): void {
    const dst = t.group(to);
    if (!dst) throw einval(`Group ${to} not found`);
    if (!g.initiators.includes(name)) throw einval(`Initiator ${name} not found in group ${g.name}`);
    if (dst.initiators.includes(name)) throw new MgmtError('EEXIST', `Initiator ${name} already exists in group ${dst.name}`);
    g.initiators.splice(g.initiators.indexOf(name), 1);
    dst.initiators.push(name);
    this.log.info({ group: g.name, to: dst.name, initiator: name }, `Moved initiator ${name} from group ${g.name} to group ${dst.name}`);
    this.reevaluateAll();
  }

  // ---- core -----------------------------------------------------------------------------------

  setThreads(n: number): void {
    if (!Number.isInteger(n) || n <= 0) throw einval(`Illegal threads num value ${n}`);
    const old = this.scst.threads;
    this.scst.threads = n;
    this.log.info({ old, new: n }, `Changed cmd threads num: old ${old}, new ${n}`);
  }
}

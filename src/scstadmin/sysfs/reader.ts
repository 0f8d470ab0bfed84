// Everything scstadmin reads from an SCST sysfs tree (scstadmin.md §3.1, sysfs.md): object
// lists, attributes, creation parameters from the mgmt help texts, LUN maps and sessions. The
// sort rules are the original's: handlers, drivers, targets, groups, device groups and
// target-group targets sorted; devices, initiators, device-group members and target groups in
// directory order.

import { errnoName, type TreeFs } from '../tree/tree-fs.js';
import { compareBytes } from '../../conf/write.js';
import { perlNum, readAttrDir, strerror, type AttrMap, type Exported, type Result } from './attrs.js';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export interface SessionInfo {
  attrs: Map<string, { value?: string; static: boolean }>;
  /** LUN map of the security group the session is bound to; absent for the default set. */
  luns?: Map<string, string>;
}

export interface ScstTreeOptions {
  fs: TreeFs;
  /** The sysfs root R (…/sys/kernel/scst_tgt). */
  root: string;
  out: Output;
  /** -debug: print what would be written instead of writing. */
  debug?: boolean;
  /** Bound of every wait (EAGAIN polling, session close); the original's 300 s. */
  timeoutMs?: number;
  /** Poll interval of those waits; the original's 1 s. */
  pollMs?: number;
}

export const TGT_TYPE_HARDWARE = 1;
export const TGT_TYPE_VIRTUAL = 2;

const SKIP_MGMT = new Set(['mgmt']);
const SKIP_MGMT_UEVENT = new Set(['mgmt', 'uevent']);
const SKIP_HANDLER = new Set(['mgmt', 'uevent', 'module']);
const DEVICE_WRITABLE = new Set(['cpu_mask', 'filename', 'threads_num', 'threads_pool_type']);
const TARGET_WRITABLE = new Set(['enabled', 'cpu_mask']);
const GROUP_WRITABLE = new Set(['cpu_mask']);

export const sortNames = (names: string[]): string[] => names.sort(compareBytes);

/** Last path component of a link text. */
const basename = (link: string): string => link.replace(/.*\//s, '');

/**
 * How many tree accesses a scan keeps in flight. A listing of 10,000 devices is 20,000 stat and
 * readlink calls; on a FUSE tree each waits for the daemon, so they overlap instead of queueing.
 */
const SCAN_IN_FLIGHT = 16;

/** fn over every item, at most SCAN_IN_FLIGHT at once; the results in the items' order. */
async function mapInOrder<T, R>(items: readonly T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(SCAN_IN_FLIGHT, items.length) }, worker));
  return out;
}

/** The items `keep` accepts, in their order; at most SCAN_IN_FLIGHT checks run at once. */
async function filterInOrder<T>(items: readonly T[], keep: (x: T) => Promise<boolean>): Promise<T[]> {
  const ok = await mapInOrder(items, keep);
  return items.filter((_, i) => ok[i]);
}

/** What cluster/ says (scstd --cluster). */
export interface ClusterInfo {
  clusterName: string;
  thisNode: string;
  state: string;
  nodes: Array<{ name: string; state: string; portals: string[] }>;
}

export class ScstReader {
  readonly fs: TreeFs;
  readonly root: string;
  readonly out: Output;
  readonly debug: boolean;
  readonly timeoutMs: number;
  readonly pollMs: number;

  constructor(o: ScstTreeOptions) {
    this.fs = o.fs;
    this.root = o.root.replace(/\/+$/, '');
    this.out = o.out;
    this.debug = o.debug ?? false;
    this.timeoutMs = o.timeoutMs ?? 300_000;
    this.pollMs = o.pollMs ?? 1000;
  }

  path(...parts: string[]): string {
    return [this.root, ...parts].join('/');
  }

  protected sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  async isDir(path: string): Promise<boolean> {
    try {
      return (await this.fs.stat(path)).isDirectory;
    } catch {
      return false;
    }
  }

  async isLink(path: string): Promise<boolean> {
    try {
      return (await this.fs.lstat(path)).isSymbolicLink;
    } catch {
      return false;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.fs.lstat(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Owner-writable, like Perl's `-w` for root on a mount that honours modes. */
  async isWritable(path: string): Promise<boolean> {
    try {
      return ((await this.fs.stat(path)).mode & 0o200) !== 0;
    } catch {
      return false;
    }
  }

  /** Sub-directories of `dir` (links followed), optionally sorted; undefined when unreadable. */
  protected async subdirs(dir: string, sorted: boolean, skip: ReadonlySet<string> = new Set()): Promise<Result<string[]>> {
    let names: string[];
    try {
      names = await this.fs.readdir(dir);
    } catch (e) {
      return [undefined, strerror(e)];
    }
    const candidates = names.filter((n) => n !== '.' && n !== '..' && !skip.has(n));
    const out = await filterInOrder(candidates, (n) => this.isDir(`${dir}/${n}`));
    return [sorted ? sortNames(out) : out, undefined];
  }

  // ---- SCST core -------------------------------------------------------------------------

  /** First line of R/version, undefined when the tree is not there. */
  async version(): Promise<string | undefined> {
    try {
      const text = await this.fs.read(this.path('version'));
      return text.split('\n')[0] ?? '';
    } catch {
      return undefined;
    }
  }

  /**
   * The cluster this daemon is a node of (cluster/, present only with scstd --cluster): its name,
   * this node, and every node's state and portals. [undefined, undefined] when there is none.
   */
  async cluster(): Promise<Result<ClusterInfo | undefined>> {
    const dir = this.path('cluster');
    if (!(await this.isDir(dir))) return [undefined, undefined];
    const line = async (p: string): Promise<string> => ((await this.fs.read(p)).split('\n')[0] ?? '');
    try {
      const [names, err] = await this.subdirs(`${dir}/nodes`, true);
      if (!names) return [undefined, `cluster(): Unable to read directory '${dir}/nodes': ${err}`];
      const nodes = await mapInOrder(names, async (name) => {
        const n = `${dir}/nodes/${name}`;
        // A node that left between the listing and these reads has empty files.
        const state = await line(`${n}/state`).catch(() => '');
        const portals = (await this.fs.read(`${n}/portals`).catch(() => '')).split('\n').filter((x) => x !== '');
        return { name, state, portals };
      });
      return [{ clusterName: await line(`${dir}/cluster_name`), thisNode: await line(`${dir}/this_node`), state: await line(`${dir}/state`), nodes: nodes.filter((n) => n.state !== '') }, undefined];
    } catch (e) {
      return [undefined, `cluster(): Unable to read '${dir}': ${strerror(e)}`];
    }
  }

  scstAttributes(): Promise<Result<AttrMap>> {
    return readAttrDir(this.fs, this.root, 'scstAttributes', 'scst', { skip: SKIP_MGMT, traceLevel: true });
  }

  // ---- handlers and devices ----------------------------------------------------------------

  async handlers(): Promise<Result<string[]>> {
    const [list, err] = await this.subdirs(this.path('handlers'), true);
    return list ? [list, undefined] : [undefined, `handlers(): Unable to read directory '${this.path('handlers')}': ${err}`];
  }

  async handlerExists(handler: string): Promise<boolean> {
    const [list] = await this.handlers();
    return handler !== '' && (list ?? []).includes(handler);
  }

  async deviceHandler(device: string): Promise<string | undefined> {
    try {
      return basename(await this.fs.readlink(this.path('devices', device, 'handler')));
    } catch {
      return undefined;
    }
  }

  /** Devices in directory order: all of R/devices, or those of one handler. */
  async devices(handler?: string): Promise<Result<string[]>> {
    const dir = handler ? this.path('handlers', handler) : this.path('devices');
    let names: string[];
    try {
      names = await this.fs.readdir(dir);
    } catch (e) {
      return [undefined, `devices(): Unable to read directory '${dir}': ${strerror(e)}`];
    }
    const out = await filterInOrder(names, async (n) => (await this.isDir(this.path('devices', n))) && (!handler || (await this.deviceHandler(n)) === handler));
    return [out, undefined];
  }

  async devicesByHandler(handler: string): Promise<Result<string[]>> {
    const [list] = await this.devices(handler);
    if (list) return [list, undefined];
    return [undefined, (await this.handlerExists(handler)) ? 'devicesByHandler() failed' : `devicesByHandler(): Handler '${handler}' is not available`];
  }

  async deviceOpen(device: string): Promise<boolean> {
    if (device === '') return false;
    const [list] = await this.devices();
    return (list ?? []).includes(device);
  }

  async handlerDeviceExists(handler: string, device: string): Promise<boolean> {
    const [list] = await this.devicesByHandler(handler);
    return (list ?? []).includes(device);
  }

  async deviceExists(device: string): Promise<boolean> {
    const [handlers] = await this.handlers();
    for (const h of handlers ?? []) if (await this.handlerDeviceExists(h, device)) return true;
    return false;
  }

  async handlerAttributes(handler: string): Promise<Result<AttrMap>> {
    const [devices] = await this.devices(handler);
    const [attrs, err] = await readAttrDir(this.fs, this.path('handlers', handler), 'handlerAttributes', 'handler', {
      skip: SKIP_HANDLER,
      keepDirs: true,
      traceLevel: true,
      splitType: true,
    });
    if (!attrs) {
      if (!(await this.handlerExists(handler))) return [undefined, `handlerAttributes(): Handler '${handler}' is not available`];
      return [undefined, err];
    }
    attrs.set('devices', { static: true, devices: devices ?? [] });
    return [attrs, undefined];
  }

  /** The comma-separated list after `marker` in a mgmt help text (§3.1). */
  protected async mgmtList(mgmt: string, marker: string): Promise<Result<Set<string>>> {
    let text: string;
    try {
      text = await this.fs.read(mgmt);
    } catch (e) {
      return [undefined, strerror(e)];
    }
    const set = new Set<string>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(marker)) continue;
      set.clear();
      const list = line.slice(line.indexOf(':') + 1).replace(/\.$/, '');
      for (const item of list.split(',')) {
        const t = item.trim();
        if (t !== '') set.add(t);
      }
    }
    return [set, undefined];
  }

  async deviceCreateAttributes(handler: string | undefined): Promise<Result<Set<string>>> {
    if (!handler) return [undefined, 'missing handler argument'];
    const [set, err] = await this.mgmtList(this.path('handlers', handler, 'mgmt'), 'The following parameters available:');
    if (set) return [set, undefined];
    if (!(await this.handlerExists(handler))) return [undefined, `deviceCreateAttributes(): Handler '${handler}' is not available`];
    return [undefined, `deviceCreateAttributes(): Unable to open mgmt interface for handler '${handler}': ${err}`];
  }

  /** Bounded EAGAIN retry of device reads (§3.1: once per poll interval, up to the timeout). */
  protected retryEagain = async (read: () => Promise<string>): Promise<string> => {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        return await read();
      } catch (e) {
        if (errnoName(e) !== 'EAGAIN' || Date.now() >= deadline) throw e;
        await this.sleep(this.pollMs);
      }
    }
  };

  async deviceAttributes(device: string): Promise<Result<AttrMap>> {
    const dir = this.path('devices', device);
    const special = async (name: string, path: string, attrs: AttrMap): Promise<boolean> => {
      if (name === 'exported') {
        attrs.set('exported', { static: true, exported: await this.exportedOf(path) });
        return true;
      }
      if (name === 'handler' || name === 'scsi_device') {
        let value = '';
        try {
          value = basename(await this.fs.readlink(path));
        } catch {
          // Perl's readlink of a non-link yields undef, printed as empty.
        }
        attrs.set(name, { static: true, value });
        return true;
      }
      return false;
    };
    const [attrs, err] = await readAttrDir(this.fs, dir, 'deviceAttributes', 'device', {
      skip: SKIP_MGMT_UEVENT,
      forceWritable: DEVICE_WRITABLE,
      wholeFile: true,
      splitType: true,
      retryEagain: this.retryEagain,
      special,
    });
    if (attrs) return [attrs, undefined];
    if (!device || !(await this.deviceOpen(device))) return [undefined, `deviceAttributes(): Device '${device}' is not open`];
    return [undefined, err];
  }

  /** Parses `exportN` link texts; copy-manager LUNs are not uses (§3.1). */
  private async exportedOf(dir: string): Promise<Exported> {
    const out: Exported = new Map();
    let names: string[] = [];
    try {
      names = await this.fs.readdir(dir);
    } catch {
      return out;
    }
    for (const n of names) {
      let link: string;
      try {
        link = await this.fs.readlink(`${dir}/${n}`);
      } catch {
        continue;
      }
      const g = /^(?:\.\.\/)*targets\/([^/]+)\/([^/]+)\/ini_groups\/([^/]+)\/luns\/(\d+)$/.exec(link);
      const t = g ? null : /^(?:\.\.\/)*targets\/([^/]+)\/([^/]+)\/luns\/(\d+)$/.exec(link);
      let driver: string, target: string, group: string, lun: string;
      if (g) [, driver, target, group, lun] = g as unknown as [string, string, string, string, string];
      else if (t) {
        [, driver, target, lun] = t as unknown as [string, string, string, string];
        group = '';
      } else {
        this.out.out(`internal error: could not parse ${link}\n`);
        continue;
      }
      if (driver === 'copy_manager') continue;
      let byTarget = out.get(driver);
      if (!byTarget) out.set(driver, (byTarget = new Map()));
      let byGroup = byTarget.get(target);
      if (!byGroup) byTarget.set(target, (byGroup = new Map()));
      byGroup.set(group, lun);
    }
    return out;
  }

  // ---- drivers and targets -----------------------------------------------------------------

  async drivers(): Promise<Result<string[]>> {
    const dir = this.path('targets');
    const [list, err] = await this.subdirs(dir, true);
    return list ? [list, undefined] : [undefined, `drivers(): Unable to read directory '${dir}': ${err}`];
  }

  async driverExists(driver: string): Promise<boolean> {
    return driver !== '' && (await this.isDir(this.path('targets', driver)));
  }

  async driverIsVirtualCapable(driver: string): Promise<boolean> {
    return this.isWritable(this.path('targets', driver, 'mgmt'));
  }

  async driverAttributes(driver: string): Promise<Result<AttrMap>> {
    const [attrs, err] = await readAttrDir(this.fs, this.path('targets', driver), 'driverAttributes', 'driver', {
      skip: SKIP_MGMT,
      traceLevel: true,
    });
    if (attrs) return [attrs, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `driverAttributes(): Driver '${driver}' is not available`];
    return [undefined, err];
  }

  private async driverMgmtList(driver: string, marker: string, what: string, iface: string): Promise<Result<Set<string>>> {
    const [set, err] = await this.mgmtList(this.path('targets', driver, 'mgmt'), marker);
    if (set) return [set, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `${what}(): Driver '${driver}' is not available`];
    return [undefined, `${what}(): Unable to open ${iface} for driver '${driver}': ${err}`];
  }

  driverDynamicAttributes(driver: string): Promise<Result<Set<string>>> {
    return this.driverMgmtList(driver, 'The following target driver attributes available:', 'driverDynamicAttributes', 'mgmt interface');
  }

  targetDynamicAttributes(driver: string): Promise<Result<Set<string>>> {
    return this.driverMgmtList(driver, 'The following target attributes available:', 'targetDynamicAttributes', 'mgmt interface');
  }

  targetCreateAttributes(driver: string): Promise<Result<Set<string>>> {
    return this.driverMgmtList(driver, 'The following parameters available:', 'targetCreateAttributes', 'driver mgmt interface');
  }

  /** Is `attribute` a dynamic (add_attribute) attribute of the driver? */
  async isDriverDynamic(driver: string, attribute: string): Promise<boolean> {
    const [set] = await this.driverDynamicAttributes(driver);
    return set?.has(attribute) ?? false;
  }

  async isTargetDynamic(driver: string, attribute: string): Promise<boolean> {
    const [set] = await this.targetDynamicAttributes(driver);
    return set?.has(attribute) ?? false;
  }

  async targets(driver: string): Promise<Result<string[]>> {
    if (driver === '') return [undefined, 'Too few arguments'];
    const dir = this.path('targets', driver);
    const [list, err] = await this.subdirs(dir, true, new Set(['module']));
    if (list) return [list, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `targets(): Driver '${driver}' is not available`];
    return [undefined, `targets(): Unable to read directory '${dir}': ${err}`];
  }

  async targetExists(driver: string, target: string): Promise<boolean> {
    if (driver === '' || target === '' || target === '.' || target === '..' || target === 'module') return false;
    return this.isDir(this.path('targets', driver, target));
  }

  async targetType(driver: string, target: string): Promise<number> {
    if (await this.driverIsVirtualCapable(driver)) {
      const [attrs] = await this.targetAttributes(driver, target);
      return perlNum(attrs?.get('hw_target')?.value) === 1 ? TGT_TYPE_HARDWARE : TGT_TYPE_VIRTUAL;
    }
    return TGT_TYPE_HARDWARE;
  }

  async targetAttributes(driver: string, target: string): Promise<Result<AttrMap>> {
    if (driver === '' || target === '') return [undefined, 'Too few arguments'];
    const dir = this.path('targets', driver, target);
    let sessionsError: string | undefined;
    const special = async (name: string, path: string, attrs: AttrMap): Promise<boolean> => {
      if (name === 'host') {
        let value = '';
        try {
          value = basename(await this.fs.readlink(path));
        } catch {
          // as for device links
        }
        attrs.set('host', { static: true, value });
        return true;
      }
      if (driver === 'scst_local' && name === 'sessions') {
        try {
          const keys = new Map<string, string>();
          (await this.fs.readdir(path)).forEach((s, i) => keys.set(String(i), s));
          attrs.set('session_name', { static: false, keys });
        } catch (e) {
          sessionsError = `targetAttributes(): Unable to read directory '${path}': ${strerror(e)}`;
        }
        return true;
      }
      return false;
    };
    const [attrs, err] = await readAttrDir(this.fs, dir, 'targetAttributes', 'target', {
      skip: SKIP_MGMT_UEVENT,
      forceWritable: TARGET_WRITABLE,
      special,
    });
    if (sessionsError) return [undefined, sessionsError];
    if (attrs) return [attrs, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `targetAttributes(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `targetAttributes(): Target '${target}' is not available`];
    return [undefined, err];
  }

  // ---- groups, initiators, LUNs ------------------------------------------------------------

  async groups(driver: string, target: string): Promise<Result<string[]>> {
    if (driver === '' || target === '') return [undefined, 'Too few arguments'];
    const dir = this.path('targets', driver, target, 'ini_groups');
    const [list, err] = await this.subdirs(dir, true);
    if (list) return [list, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `groups(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `groups(): Target '${target}' is not available`];
    return [undefined, `groups(): Unable to read directory '${dir}': ${err}`];
  }

  async groupExists(driver: string, target: string, group: string): Promise<boolean> {
    if (driver === '' || target === '' || group === '') return false;
    const [list] = await this.groups(driver, target);
    return (list ?? []).includes(group);
  }

  async groupAttributes(driver: string, target: string, group: string): Promise<Result<AttrMap>> {
    const [attrs, err] = await readAttrDir(this.fs, this.path('targets', driver, target, 'ini_groups', group), 'groupAttributes', 'group', {
      skip: SKIP_MGMT,
      forceWritable: GROUP_WRITABLE,
    });
    if (attrs) return [attrs, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `groupAttributes(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `groupAttributes(): Target '${target}' is not available`];
    if (!(await this.groupExists(driver, target, group))) return [undefined, `groupAttributes(): Group '${group}' does not exist`];
    return [undefined, err];
  }

  async initiators(driver: string, target: string, group: string): Promise<Result<string[]>> {
    if (driver === '' || target === '' || group === '') return [undefined, 'Too few arguments'];
    const dir = this.path('targets', driver, target, 'ini_groups', group, 'initiators');
    try {
      return [(await this.fs.readdir(dir)).filter((n) => n !== '.' && n !== '..' && n !== 'mgmt'), undefined];
    } catch (e) {
      if (!(await this.driverExists(driver))) return [undefined, `initiators(): Driver '${driver}' is not available`];
      if (!(await this.targetExists(driver, target))) return [undefined, `initiators(): Target '${target}' is not available`];
      if (!(await this.groupExists(driver, target, group))) return [undefined, `initiators(): Group '${group}' does not exist`];
      return [undefined, `initiators(): Unable to read directory '${dir}': ${strerror(e)}`];
    }
  }

  async initiatorExists(driver: string, target: string, group: string, initiator: string): Promise<boolean> {
    const [list] = await this.initiators(driver, target, group);
    return (list ?? []).includes(initiator);
  }

  lunDir(driver: string, target: string, group?: string): string {
    return group ? this.path('targets', driver, target, 'ini_groups', group, 'luns') : this.path('targets', driver, target, 'luns');
  }

  /** LUN number → device, in directory order. */
  async luns(driver: string, target: string, group?: string): Promise<Result<Map<string, string>>> {
    if (driver === '' || target === '') return [undefined, 'Too few arguments'];
    const dir = this.lunDir(driver, target, group);
    let names: string[];
    try {
      names = await this.fs.readdir(dir);
    } catch (e) {
      if (group && !(await this.groupExists(driver, target, group))) return [undefined, `initiators(): Group '${group}' does not exist`];
      if (!(await this.driverExists(driver))) return [undefined, `luns(): Driver '${driver}' is not available`];
      if (!(await this.targetExists(driver, target))) return [undefined, `luns(): Target '${target}' is not available`];
      return [undefined, `luns(): Unable to read directory '${dir}': ${strerror(e)}`];
    }
    // Each LUN directory is read on its own (several at once); the outcome is taken in listing order.
    type LunRead = { skip: true } | { error: string } | { device: string | undefined };
    const reads = await mapInOrder(names, async (lun): Promise<LunRead> => {
      const lpath = `${dir}/${lun}`;
      if (!(await this.isDir(lpath))) return { skip: true };
      let entries: string[];
      try {
        entries = await this.fs.readdir(lpath);
      } catch (e) {
        return { error: `luns(): Unable to read directory '${lpath}': ${strerror(e)}` };
      }
      let device: string | undefined;
      for (const entry of entries) {
        if (await this.isLink(`${lpath}/${entry}`)) {
          try {
            device = basename(await this.fs.readlink(`${lpath}/${entry}`));
          } catch {
            // vanished between listing and reading
          }
        }
      }
      return { device };
    });
    const luns = new Map<string, string>();
    for (let i = 0; i < names.length; i++) {
      const r = reads[i]!;
      if ('error' in r) return [undefined, r.error];
      if ('device' in r && r.device !== undefined) luns.set(names[i]!, r.device);
    }
    return [luns, undefined];
  }

  async lunExists(driver: string, target: string, lun: string, group?: string): Promise<boolean> {
    const [luns] = await this.luns(driver, target, group);
    for (const l of luns?.keys() ?? []) if (Number(l) === perlNum0(lun)) return true;
    return false;
  }

  async lunCreateAttributes(driver: string, target: string, group?: string): Promise<Result<Set<string>>> {
    const [set, err] = await this.mgmtList(`${this.lunDir(driver, target, group)}/mgmt`, 'The following parameters available:');
    if (set) return [set, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `lunCreateAttributes(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `lunCreateAttributes(): Target '${target}' is not available`];
    if (group && !(await this.groupExists(driver, target, group))) return [undefined, `lunCreateAttributes(): Group '${group}' does not exist`];
    return [undefined, `lunCreateAttributes(): Unable to open luns mgmt interface for group '${group ?? ''}': ${err}`];
  }

  async initiatorCreateAttributes(driver: string, target: string, group: string): Promise<Result<Set<string>>> {
    const [set, err] = await this.mgmtList(this.path('targets', driver, target, 'ini_groups', group, 'initiators', 'mgmt'), 'The following parameters available:');
    if (set) return [set, undefined];
    if (!(await this.groupExists(driver, target, group))) return [undefined, `initiatorCreateAttributes(): Group '${group}' does not exist`];
    return [undefined, `initiatorCreateAttributes(): Unable to open initiators mgmt interface for group '${group}': ${err}`];
  }

  async lunAttributes(driver: string, target: string, lun: string, group?: string): Promise<Result<AttrMap>> {
    const dir = `${this.lunDir(driver, target, group)}/${lun}`;
    const special = async (name: string, path: string, attrs: AttrMap): Promise<boolean> => {
      if (name !== 'device') return false;
      let value = '';
      try {
        value = basename(await this.fs.readlink(path));
      } catch {
        // as for device links
      }
      attrs.set('device', { static: true, value });
      return true;
    };
    const [attrs, err] = await readAttrDir(this.fs, dir, 'lunAttributes', 'lun', { skip: SKIP_MGMT, special });
    if (attrs) return [attrs, undefined];
    if (!(await this.driverExists(driver))) return [undefined, `lunAttributes(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `lunAttributes(): Target '${target}' is not available`];
    if (group && !(await this.groupExists(driver, target, group))) return [undefined, `lunAttributes(): Group '${group}' does not exist`];
    if (!(await this.lunExists(driver, target, lun, group))) return [undefined, `lunAttributes(): LUN '${lun}' does not exist`];
    return [undefined, err];
  }

  /**
   * Initiators are files, so this never succeeds; the text is the original's, including the
   * errno it happens to report (scstadmin.md §5.3).
   */
  async initiatorAttributes(driver: string, target: string, group: string, initiator: string): Promise<Result<AttrMap>> {
    const dir = this.path('targets', driver, target, 'ini_groups', group, 'initiators', initiator);
    if (await this.isDir(dir)) {
      return readAttrDir(this.fs, dir, 'initiatorAttributes', 'initiator', { skip: SKIP_MGMT });
    }
    if (!(await this.driverExists(driver))) return [undefined, `initiatorAttributes(): Driver '${driver}' is not available`];
    if (!(await this.targetExists(driver, target))) return [undefined, `initiatorAttributes(): Target '${target}' is not available`];
    if (!(await this.groupExists(driver, target, group))) return [undefined, `initiatorAttributes(): Group '${group}' does not exist`];
    if (!(await this.initiatorExists(driver, target, group, initiator))) {
      return [undefined, `initiatorAttributes(): Initiator '${initiator}' does not exist`];
    }
    return [undefined, `initiatorAttributes(): Unable to read directory '${dir}': Bad file descriptor`];
  }

  // ---- sessions ----------------------------------------------------------------------------

  async sessions(driver: string, target: string): Promise<Result<Map<string, SessionInfo>>> {
    if (driver === '' || target === '') return [undefined, 'Too few arguments'];
    const dir = this.path('targets', driver, target, 'sessions');
    let names: string[];
    try {
      names = await this.fs.readdir(dir);
    } catch (e) {
      if (!(await this.driverExists(driver))) return [undefined, `sessions(): Driver '${driver}' is not available`];
      if (!(await this.targetExists(driver, target))) return [undefined, `sessions(): Target '${target}' is not available`];
      return [undefined, `sessions(): Unable to read directory '${dir}': ${strerror(e)}`];
    }
    const out = new Map<string, SessionInfo>();
    for (const s of names) {
      const sdir = `${dir}/${s}`;
      let entries: string[];
      try {
        entries = await this.fs.readdir(sdir);
      } catch (e) {
        if (errnoName(e) === 'ENOENT') continue; // the session ended while listing
        return [undefined, `sessions(): Unable to read directory '${dir}': ${strerror(e)}`];
      }
      const info: SessionInfo = { attrs: new Map() };
      for (const a of entries) {
        if (a === 'mgmt') continue;
        const p = `${sdir}/${a}`;
        if (a === 'luns') {
          try {
            const m = /\.\.\/\.\.\/ini_groups\/(.*)\/luns/.exec(await this.fs.readlink(p));
            if (m) info.luns = (await this.luns(driver, target, m[1]!))[0] ?? new Map();
          } catch {
            // not a link: no group binding to show
          }
          continue;
        }
        let mode = 0;
        let isDir = false;
        try {
          const st = await this.fs.stat(p);
          mode = st.mode;
          isDir = st.isDirectory;
        } catch {
          // dangling: unreadable
        }
        if (isDir) continue;
        if (!(mode & 0o400)) {
          info.attrs.set(a, { static: false });
          continue;
        }
        let value = '';
        try {
          value = (await this.fs.read(p)).split('\n')[0] ?? '';
        } catch (e) {
          if (errnoName(e) !== 'EAGAIN') return [undefined, `sessions(): Unable to read session attribute '${a}': ${strerror(e)}`];
        }
        info.attrs.set(a, { value, static: !(mode & 0o200) });
      }
      out.set(s, info);
    }
    return [out, undefined];
  }

  // ---- ALUA --------------------------------------------------------------------------------

  aluaAttributes(): Promise<Result<AttrMap>> {
    // The original does not skip the device-group directories here (§8.1 "normally never").
    return readAttrDir(this.fs, this.path('device_groups'), 'aluaAttributes', 'device', { skip: SKIP_MGMT_UEVENT, keepDirs: true });
  }

  async deviceGroups(): Promise<Result<string[]>> {
    const dir = this.path('device_groups');
    const [list, err] = await this.subdirs(dir, true);
    return list ? [list, undefined] : [undefined, `deviceGroups(): Unable to read directory '${dir}': ${err}`];
  }

  async deviceGroupExists(group: string): Promise<boolean> {
    const [list] = await this.deviceGroups();
    return (list ?? []).includes(group);
  }

  async deviceGroupDevices(group: string): Promise<Result<string[]>> {
    if (group === '') return [undefined, 'Too few arguments'];
    const dir = this.path('device_groups', group, 'devices');
    const [list, err] = await this.subdirs(dir, false);
    if (list) return [list, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `deviceGroupDevices(): Device group '${group}' does not exist`];
    return [undefined, `deviceGroupDevices(): Unable to read directory '${dir}': ${err}`];
  }

  async deviceGroupDeviceExists(group: string, device: string): Promise<boolean> {
    const [list] = await this.deviceGroupDevices(group);
    return (list ?? []).includes(device);
  }

  async targetGroups(group: string): Promise<Result<string[]>> {
    if (group === '') return [undefined, 'Too few arguments'];
    const dir = this.path('device_groups', group, 'target_groups');
    const [list, err] = await this.subdirs(dir, false);
    if (list) return [list, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `targetGroups(): Device group '${group}' does not exist`];
    return [undefined, `targetGroups(): Unable to read directory '${dir}': ${err}`];
  }

  async targetGroupExists(group: string, tgroup: string): Promise<boolean> {
    const [list] = await this.targetGroups(group);
    return (list ?? []).includes(tgroup);
  }

  async targetGroupTargets(group: string, tgroup: string): Promise<Result<string[]>> {
    if (group === '' || tgroup === '') return [undefined, 'Too few arguments'];
    const dir = this.path('device_groups', group, 'target_groups', tgroup);
    const [list, err] = await this.subdirs(dir, true);
    if (list) return [list, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `targetGroupTargets(): Device group '${group}' does not exist`];
    if (!(await this.targetGroupExists(group, tgroup))) return [undefined, `targetGroupTargets(): Target group '${tgroup}' does not exist`];
    return [undefined, `targetGroupTargets(): Unable to read directory '${dir}': ${err}`];
  }

  async targetGroupTargetExists(group: string, tgroup: string, target: string): Promise<boolean> {
    const [list] = await this.targetGroupTargets(group, tgroup);
    return (list ?? []).includes(target);
  }

  async deviceGroupAttributes(group: string): Promise<Result<AttrMap>> {
    const [attrs, err] = await readAttrDir(this.fs, this.path('device_groups', group), 'deviceGroupAttributes', 'device group', { skip: SKIP_MGMT });
    if (attrs) return [attrs, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `deviceGroupAttributes(): Device group '${group}' does not exist`];
    return [undefined, err];
  }

  async targetGroupAttributes(group: string, tgroup: string): Promise<Result<AttrMap>> {
    const dir = this.path('device_groups', group, 'target_groups', tgroup);
    const [attrs, err] = await readAttrDir(this.fs, dir, 'targetGroupAttributes', 'target group', { skip: SKIP_MGMT });
    if (attrs) return [attrs, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `targetGroupAttributes(): Device group '${group}' does not exist`];
    if (!(await this.targetGroupExists(group, tgroup))) return [undefined, `targetGroupAttributes(): Target Group '${tgroup}' does not exist`];
    return [undefined, err];
  }

  /** Attributes of a target-group member; a local target (a link) has none unless `local`. */
  async targetGroupTargetAttributes(group: string, tgroup: string, target: string, local = false): Promise<Result<AttrMap>> {
    const dir = this.path('device_groups', group, 'target_groups', tgroup, target);
    if (!local && (await this.isLink(dir))) return [new Map(), undefined];
    const [attrs, err] = await readAttrDir(this.fs, dir, 'targetGroupTargetAttributes', 'target group target', { skip: SKIP_MGMT });
    if (attrs) return [attrs, undefined];
    if (!(await this.deviceGroupExists(group))) return [undefined, `targetGroupTargetAttributes(): Device group '${group}' does not exist`];
    if (!(await this.targetGroupExists(group, tgroup))) {
      return [undefined, `targetGroupTargetAttributes(): Target Group '${tgroup}' does not exist`];
    }
    if (!(await this.targetGroupTargetExists(group, tgroup, target))) {
      return [undefined, `targetGroupTargetAttributes(): Target '${target}' does not exist`];
    }
    return [undefined, err];
  }
}

/** Perl's `$a == $b` on LUN numbers written as text. */
function perlNum0(s: string): number {
  const m = /^\s*[+-]?\d+/.exec(s);
  return m ? Number(m[0]) : 0;
}

// Test support: a small SCST sysfs tree in memory (sysfs.md), with the semantics scstadmin
// relies on — mgmt commands with their errnos, [key] markers, relative links, the copy manager's
// automatic LUNs, ALUA groups, sessions and the EAGAIN / last_sysfs_mgmt_res protocol — so
// scstadmin's unit tests can check every byte it writes and prints without a FUSE mount. It is
// a model of the reference, not of scstd; integration tests run against the real tree.

import { TreeError } from '../../../src/scstadmin/tree/tree-fs.js';
import { MemTreeFs, memDir, memLink, type MemDir, type MemFile, type MemNode } from '../../../src/scstadmin/tree/mem-tree.js';

export const FAKE_PREFIX = '/fake';
export const FAKE_ROOT = `${FAKE_PREFIX}/sys/kernel/scst_tgt`;

type Entries = Array<readonly [string, MemNode]>;

const einval = (why: string): never => {
  throw new TreeError('EINVAL', why);
};

export interface FAttr {
  value: string;
  /** Prints `[key]`. */
  key: boolean;
  mode: number;
  /** Becomes key once written (t10_dev_id, usn, ...). */
  keyOnWrite?: boolean;
  /** Extra `\n` after the content (vdisk filename, iSCSI daemon attributes). */
  extraNl?: boolean;
  /** Key when the value differs from this default. */
  keyUnless?: string;
  check?: (v: string) => string;
}

function attrText(a: FAttr): string {
  const key = a.key || (a.keyUnless !== undefined && a.value !== a.keyUnless);
  return `${a.value}\n${key ? '[key]\n' : ''}${a.extraNl ? '\n' : ''}`;
}

function attrFile(a: FAttr, onWrite?: (v: string) => void): MemFile {
  return {
    kind: 'file',
    mode: a.mode,
    read: () => attrText(a),
    write: (data: string) => {
      const v = data.replace(/\n$/, '');
      const nv = a.check ? a.check(v) : v;
      a.value = nv;
      if (a.keyOnWrite) a.key = true;
      onWrite?.(nv);
    },
  };
}

const roFile = (text: () => string): MemFile => ({ kind: 'file', mode: 0o444, read: text });

const boolCheck = (v: string): string => (v === '0' || v === '1' ? v : einval('0 or 1 expected'));
const uintCheck = (v: string): string => (/^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? String(Number(v.trim())) : einval('number expected'));

/** Parameters of an add command: `name=value` groups separated by `;` or newline (sysfs.md §2.4). */
export function parseParams(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const group of text.split(/[;\n]/)) {
    const g = group.trim();
    if (g === '') break;
    const m = /^([^\s=]+)\s*=?\s*(\S*)\s*$/.exec(g);
    if (!m || m[2] === '') einval(`bad parameter '${g}'`);
    out.push([m![1]!, m![2]!]);
  }
  return out;
}

/** First word (command) and the rest, after skipping blanks. */
function words(data: string): string[] {
  return data.replace(/\0.*$/s, '').trim().split(/\s+/).filter((w) => w !== '');
}

interface FHandler {
  name: string;
  type: string;
  params: string[];
  /** vdisk_fileio accepts more than it advertises (sysfs.md §11.1). */
  accepts: string[];
}

export interface FDevice {
  name: string;
  handler: string;
  attrs: Map<string, FAttr>;
  exports: Array<{ n: number; link: string }>;
  exportSeq: number;
}

interface FLun {
  device: string;
  readOnly: boolean;
}

interface FGroup {
  name: string;
  attrs: Map<string, FAttr>;
  initiators: string[];
  luns: Map<number, FLun>;
}

interface FSession {
  name: string;
  initiator: string;
  group?: string;
  closable: boolean;
}

interface FTarget {
  name: string;
  attrs: Map<string, FAttr>;
  /** Dynamic (add_target_attribute) values by attribute name. */
  dyn: Map<string, string[]>;
  luns: Map<number, FLun>;
  groups: Map<string, FGroup>;
  sessions: Map<string, FSession>;
}

interface FDriver {
  name: string;
  virtual: boolean;
  createParams: string[];
  driverDyn: string[];
  targetDyn: string[];
  hasEnabled: boolean;
  attrs: Map<string, FAttr>;
  dyn: Map<string, string[]>;
  targets: Map<string, FTarget>;
  /** iSCSI daemon quirk: values end with an extra newline. */
  daemonNl: boolean;
}

interface FTgTarget {
  name: string;
  relTgtId: FAttr;
}

interface FTargetGroup {
  name: string;
  attrs: Map<string, FAttr>;
  targets: Map<string, FTgTarget>;
}

interface FDevGroup {
  name: string;
  devices: string[];
  tgroups: Map<string, FTargetGroup>;
}

const VDISK_HELP_HEAD = 'Usage: echo "add_device device_name [parameters]" >mgmt\n       echo "del_device device_name" >mgmt\n\nwhere parameters are one or more param_name=value pairs separated by \';\'\n\n';

export const HANDLER_PARAMS: Record<string, string[]> = {
  vdisk_fileio: 'active, async, bind_alua_state, blocksize, cluster_mode, dif_filename, dif_mode, dif_static_app_tag, dif_type, filename, numa_node_id, nv_cache, o_direct, read_only, removable, rotational, thin_provisioned, tst, t10_dev_id, write_through'.split(', '),
  vdisk_blockio: 'active, bind_alua_state, blocksize, cluster_mode, dif_filename, dif_mode, dif_static_app_tag, dif_type, filename, numa_node_id, nv_cache, read_only, removable, rotational, thin_provisioned, tst, t10_dev_id, write_through'.split(', '),
  vdisk_nullio: 'blocksize, cluster_mode, dif_mode, dif_static_app_tag, dif_type, dummy, numa_node_id, read_only, removable, rotational, size, size_mb, tst, t10_dev_id'.split(', '),
  vcdrom: ['tst'],
};

const ISCSI_HELP =
  'Usage: echo "add_target target_name [parameters]" >mgmt\n       echo "del_target target_name" >mgmt\n' +
  '       echo "add_attribute <attribute> <value>" >mgmt\n       echo "del_attribute <attribute> <value>" >mgmt\n' +
  '       echo "add_target_attribute target_name <attribute> <value>" >mgmt\n       echo "del_target_attribute target_name <attribute> <value>" >mgmt\n\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n\n" +
  'The following target driver attributes available: IncomingUser, OutgoingUser\n' +
  'The following target attributes available: IncomingUser, OutgoingUser, allowed_portal\n\n';

const LOCAL_HELP =
  'Usage: echo "add_target target_name [parameters]" >mgmt\n       echo "del_target target_name" >mgmt\n' +
  '       echo "add_session target_name session_name" >mgmt\n       echo "del_session target_name session_name" >mgmt\n\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n\n\n" +
  'The following parameters available: session_name\n\n';

const LUNS_HELP =
  'Usage: echo "add H:C:I:L lun [parameters]" >mgmt\n       echo "add VNAME lun [parameters]" >mgmt\n       echo "del lun" >mgmt\n' +
  '       echo "replace H:C:I:L lun [parameters]" >mgmt\n       echo "replace VNAME lun [parameters]" >mgmt\n' +
  '       echo "replace_no_ua H:C:I:L lun [parameters]" >mgmt\n       echo "replace_no_ua VNAME lun [parameters]" >mgmt\n       echo "clear" >mgmt\n\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n\nThe following parameters available: read_only\n";

export interface FakeOptions {
  /** Root version line (default `SCST version: 3.11.0-pre`). */
  version?: string;
  /** Include the scst_local driver (default true). */
  scstLocal?: boolean;
  /** Include a hardware-only driver without targets, `ib_srpt` (default true). */
  ibSrpt?: boolean;
  /** Handlers to offer (default: the four vdisk handlers). */
  handlers?: string[];
}

export class FakeSysfs {
  readonly fs: MemTreeFs;
  readonly root = FAKE_ROOT;
  version: string;
  lastRes = 0;
  /** The next N async commands answer EAGAIN (their result shows in last_sysfs_mgmt_res). */
  eagainWrites = 0;
  /** Reads of last_sysfs_mgmt_res that answer EAGAIN after each EAGAIN write. */
  eagainPolls = 1;
  private pendingPolls = 0;
  readonly scstAttrs = new Map<string, FAttr>();
  readonly handlers = new Map<string, FHandler>();
  readonly devices = new Map<string, FDevice>();
  readonly drivers = new Map<string, FDriver>();
  readonly dgroups = new Map<string, FDevGroup>();
  private cmLun = 0;
  /** Commands that failed, for diagnostics. */
  readonly failures: string[] = [];

  constructor(o: FakeOptions = {}) {
    this.version = o.version ?? 'SCST version: 3.11.0-pre';
    this.scstAttrs.set('setup_id', { value: '0x0', key: false, keyUnless: '0x0', mode: 0o644, check: (v) => `0x${Number(uintCheck(v)).toString(16)}` });
    this.scstAttrs.set('threads', { value: '4', key: false, keyUnless: '4', mode: 0o644, check: uintCheck });
    this.scstAttrs.set('max_tasklet_cmd', { value: '10', key: false, keyUnless: '10', mode: 0o644, check: uintCheck });
    this.scstAttrs.set('suspend', { value: '0', key: false, mode: 0o644 });
    for (const [h, type] of [
      ['vcdrom', '5 - CD-ROM device'],
      ['vdisk_blockio', '0 - Direct-access device (e.g., magnetic disk)'],
      ['vdisk_fileio', '0 - Direct-access device (e.g., magnetic disk)'],
      ['vdisk_nullio', '0 - Direct-access device (e.g., magnetic disk)'],
    ] as const) {
      if (o.handlers && !o.handlers.includes(h)) continue;
      const params = HANDLER_PARAMS[h]!;
      const accepts = h === 'vdisk_fileio' ? [...params, 'size', 'size_mb', 'dummy', 'lb_per_pb_exp', 'usn'] : params;
      this.handlers.set(h, { name: h, type, params, accepts });
    }
    this.addDriver({
      name: 'copy_manager',
      virtual: false,
      createParams: [],
      driverDyn: [],
      targetDyn: [],
      hasEnabled: false,
      daemonNl: false,
      attrs: new Map([['allow_not_connected_copy', { value: '0', key: false, keyUnless: '0', mode: 0o644, check: boolCheck }]]),
    });
    this.newTarget(this.drivers.get('copy_manager')!, 'copy_manager_tgt', []);
    if (o.ibSrpt !== false) {
      this.addDriver({ name: 'ib_srpt', virtual: false, createParams: [], driverDyn: [], targetDyn: [], hasEnabled: false, daemonNl: false, attrs: new Map() });
    }
    this.addDriver({
      name: 'iscsi',
      virtual: true,
      createParams: [],
      driverDyn: ['IncomingUser', 'OutgoingUser'],
      targetDyn: ['IncomingUser', 'OutgoingUser', 'allowed_portal'],
      hasEnabled: true,
      daemonNl: true,
      attrs: new Map([
        ['enabled', { value: '0', key: false, mode: 0o644, extraNl: true, check: boolCheck }],
        ['open_state', { value: 'open', key: false, mode: 0o444 }],
        ['version', { value: '3.11.0-pre', key: false, mode: 0o444 }],
      ]),
    });
    if (o.scstLocal !== false) {
      this.addDriver({ name: 'scst_local', virtual: true, createParams: ['session_name'], driverDyn: [], targetDyn: [], hasEnabled: false, daemonNl: false, attrs: new Map() });
    }
    this.fs = new MemTreeFs(FAKE_PREFIX, this.tree());
  }

  private addDriver(d: Omit<FDriver, 'dyn' | 'targets'>): void {
    this.drivers.set(d.name, { ...d, dyn: new Map(), targets: new Map() });
  }

  // ---- async command bookkeeping -----------------------------------------------------------

  /** Runs an async-class command: records its result; may answer EAGAIN as a busy kernel does. */
  private async_(what: string, fn: () => void): void {
    let errno = 0;
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
      errno = e instanceof TreeError ? ERRNO[e.code] ?? 5 : 5;
      this.failures.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.lastRes = -errno;
    if (this.eagainWrites > 0) {
      this.eagainWrites--;
      this.pendingPolls = this.eagainPolls;
      throw new TreeError('EAGAIN', `${what}: queued`);
    }
    if (err) throw err;
  }

  // ---- devices -----------------------------------------------------------------------------

  private deviceAttrs(handler: string, name: string, p: Map<string, string>): Map<string, FAttr> {
    const a = new Map<string, FAttr>();
    const ro = (v: string, keyWhen: string | null): FAttr => ({ value: v, key: keyWhen !== null && v === keyWhen, mode: 0o444 });
    const num = (k: string, d: string) => p.get(k) ?? d;
    const fileio = handler === 'vdisk_fileio';
    const blockio = handler === 'vdisk_blockio';
    const nullio = handler === 'vdisk_nullio';
    const cd = handler === 'vcdrom';
    a.set('type', ro(this.handlers.get(handler)!.type, null));
    const defThreads = fileio || cd ? '8' : '1';
    a.set('threads_num', { value: defThreads, key: false, keyUnless: defThreads, mode: 0o644, check: uintCheck });
    a.set('threads_pool_type', { value: 'per_initiator', key: false, keyUnless: 'per_initiator', mode: 0o644 });
    if (fileio || blockio || cd) {
      const f = p.get('filename');
      a.set('filename', cd && !f ? { value: 'none', key: false, mode: 0o644, extraNl: true } : { value: f ?? '', key: true, mode: 0o644, extraNl: true });
    }
    const bs = num('blocksize', cd ? '2048' : '512');
    let size = '0';
    if (nullio) size = p.has('size_mb') ? String(Number(p.get('size_mb')) * 1048576) : num('size', '2748779069440');
    else if (fileio) size = p.has('size_mb') ? String(Number(p.get('size_mb')) * 1048576) : num('size', '1048576');
    else if (blockio) size = '1048576';
    a.set('size', { value: size, key: !(nullio && size === '2748779069440') && !cd, mode: fileio || cd ? 0o444 : 0o644 });
    a.set('size_mb', { value: String(Math.floor(Number(size) / 1048576)), key: false, mode: fileio || cd ? 0o444 : 0o644 });
    if (!cd) {
      a.set('blocksize', ro(bs, null));
      a.get('blocksize')!.key = bs !== '512';
      a.set('read_only', ro(num('read_only', '0'), '1'));
      a.set('removable', ro(num('removable', '0'), '1'));
      a.set('rotational', ro(num('rotational', '1'), '0'));
    }
    if (fileio || blockio) {
      a.set('write_through', ro(num('write_through', '0'), '1'));
      a.set('nv_cache', ro(num('nv_cache', '0'), '1'));
      a.set('resync_size', { value: '', key: false, mode: 0o200 });
    }
    if (fileio) a.set('o_direct', ro(num('o_direct', '0'), '1'));
    if (nullio) {
      a.set('dummy', ro(num('dummy', '0'), '1'));
      a.set('read_zero', { value: '0', key: false, keyUnless: '0', mode: 0o644, check: boolCheck });
    }
    a.set('tst', ro(num('tst', '1'), null));
    a.get('tst')!.key = a.get('tst')!.value !== '1';
    const t10 = p.get('t10_dev_id');
    a.set('t10_dev_id', { value: t10 ?? `${name}-t10`.slice(0, 25), key: t10 !== undefined, keyOnWrite: true, mode: 0o644 });
    a.set('usn', { value: p.get('usn') ?? 'f00d', key: p.has('usn'), keyOnWrite: true, mode: 0o644 });
    a.set('prod_id', { value: name.slice(0, 16), key: false, keyOnWrite: true, mode: 0o644 });
    return a;
  }

  private addDevice(handler: FHandler, data: string): void {
    const w = words(data);
    const name = w[1];
    if (!name) einval('Device name required');
    if (name!.includes('/') || name!.includes('.')) einval('bad device name');
    if (this.devices.has(name!)) throw new TreeError('EEXIST', `device ${name} exists`);
    const rest = data.replace(/^\s*\S+\s+\S+\s*/, '');
    const params = new Map<string, string>();
    for (const [k, v] of parseParams(rest)) {
      const key = k.toLowerCase();
      if (!handler.accepts.includes(key)) einval(`unknown parameter ${k}`);
      if (params.has(key)) einval(`${k} given twice`);
      params.set(key, v);
    }
    const fn = params.get('filename');
    if ((handler.name === 'vdisk_fileio' || handler.name === 'vdisk_blockio') && !fn) einval('File name required');
    if (fn !== undefined && !fn.startsWith('/')) einval('filename must be absolute');
    if (handler.name === 'vdisk_fileio' && params.get('read_only') === '1' && (params.get('nv_cache') === '1' || params.get('write_through') === '1')) {
      einval('read_only with cache options');
    }
    const dev: FDevice = { name: name!, handler: handler.name, attrs: this.deviceAttrs(handler.name, name!, params), exports: [], exportSeq: 0 };
    this.devices.set(name!, dev);
    // Every vdisk device gets a copy-manager LUN at creation (sysfs.md §7.6).
    const cm = this.drivers.get('copy_manager')!.targets.get('copy_manager_tgt')!;
    let lun = this.cmLun;
    while (cm.luns.has(lun)) lun = (lun + 1) % 16384;
    this.cmLun = (lun + 1) % 16384;
    this.mapLun(cm.luns, lun, dev, false, 'copy_manager', 'copy_manager_tgt', undefined);
  }

  private delDevice(data: string): void {
    const w = words(data);
    if (w.length !== 2) einval('Syntax error');
    const dev = this.devices.get(w[1]!);
    if (!dev) einval(`no device ${w[1]}`);
    for (const d of this.drivers.values()) {
      for (const t of d.targets.values()) {
        for (const [n, l] of t.luns) if (l.device === dev!.name) t.luns.delete(n);
        for (const g of t.groups.values()) for (const [n, l] of g.luns) if (l.device === dev!.name) g.luns.delete(n);
      }
    }
    for (const g of this.dgroups.values()) g.devices = g.devices.filter((x) => x !== dev!.name);
    this.devices.delete(dev!.name);
  }

  private mapLun(set: Map<number, FLun>, lun: number, dev: FDevice, readOnly: boolean, driver: string, target: string, group: string | undefined): void {
    set.set(lun, { device: dev.name, readOnly });
    const link = group ? `../../../targets/${driver}/${target}/ini_groups/${group}/luns/${lun}` : `../../../targets/${driver}/${target}/luns/${lun}`;
    dev.exports.push({ n: dev.exportSeq++, link });
  }

  // ---- targets -----------------------------------------------------------------------------

  private newTarget(d: FDriver, name: string, params: Array<[string, string]>): FTarget {
    const attrs = new Map<string, FAttr>();
    const nl = d.daemonNl;
    if (d.hasEnabled) attrs.set('enabled', { value: '0', key: false, mode: 0o644, check: boolCheck });
    attrs.set('rel_tgt_id', { value: '0', key: false, keyUnless: '0', mode: 0o644, check: uintCheck });
    attrs.set('addr_method', { value: 'PERIPHERAL', key: false, keyUnless: 'PERIPHERAL', mode: 0o644, check: addrMethod });
    attrs.set('io_grouping_type', { value: 'auto', key: false, keyUnless: 'auto', mode: 0o644 });
    attrs.set('black_hole', { value: '0', key: false, mode: 0o644 });
    attrs.set('cpu_mask', { value: 'ff', key: false, keyUnless: 'ff', mode: 0o644 });
    attrs.set('read_cmd_count', { value: '0', key: false, mode: 0o444 });
    if (d.name === 'iscsi') {
      attrs.set('tid', { value: String(d.targets.size + 1), key: false, mode: 0o444 });
      attrs.set('HeaderDigest', { value: 'None', key: false, keyUnless: 'None', mode: 0o644, extraNl: nl });
      attrs.set('DataDigest', { value: 'None', key: false, keyUnless: 'None', mode: 0o644, extraNl: nl });
      attrs.set('InitialR2T', { value: 'No', key: false, keyUnless: 'No', mode: 0o644, extraNl: nl });
      attrs.set('QueuedCommands', { value: '32', key: false, keyUnless: '32', mode: 0o644, extraNl: nl, check: uintCheck });
    }
    const t: FTarget = { name, attrs, dyn: new Map(), luns: new Map(), groups: new Map(), sessions: new Map() };
    for (const [k, v] of params) {
      if (k === 'session_name') t.sessions.set(v, { name: v, initiator: v, closable: false });
    }
    d.targets.set(name, t);
    return t;
  }

  private driverMgmt(d: FDriver, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if (cmd === 'add_target') {
      if (!w[1]) einval('target name required');
      if (d.targets.has(w[1]!)) throw new TreeError('EEXIST', 'target exists');
      const params = parseParams(data.replace(/^\s*\S+\s+\S+\s*/, ''));
      for (const [k] of params) if (!d.createParams.includes(k)) einval(`unknown parameter ${k}`);
      this.newTarget(d, w[1]!, params);
    } else if (cmd === 'del_target') {
      if (w.length !== 2) einval('Syntax error');
      const t = d.targets.get(w[1]!);
      if (!t) throw new TreeError('ENOENT', 'no target');
      if ([...t.sessions.values()].some((s) => s.closable)) throw new TreeError('EBUSY', 'sessions');
      this.dropTargetLuns(d.name, t);
      d.targets.delete(t.name);
      for (const g of this.dgroups.values()) for (const tg of g.tgroups.values()) tg.targets.delete(t.name);
    } else if (cmd === 'add_attribute' || cmd === 'del_attribute') {
      if (!d.driverDyn.includes(w[1] ?? '')) einval('unknown attribute');
      this.dynChange(d.dyn, w[1]!, w.slice(2).join(' '), cmd.startsWith('add'));
    } else if (cmd === 'add_target_attribute' || cmd === 'del_target_attribute') {
      const t = d.targets.get(w[1] ?? '');
      if (!t) throw new TreeError('ENOENT', 'no target');
      if (!d.targetDyn.includes(w[2] ?? '')) einval('unknown attribute');
      this.dynChange(t.dyn, w[2]!, w.slice(3).join(' '), cmd.startsWith('add'));
    } else {
      einval('Unknown action');
    }
  }

  private dynChange(dyn: Map<string, string[]>, attr: string, value: string, add: boolean): void {
    const list = dyn.get(attr) ?? [];
    if (add) {
      if (value === '') einval('value required');
      if (/User$/.test(attr) && (value.split(' ')[1] ?? '').length < 12) einval('secret too short');
      const user = value.split(' ')[0];
      if (list.some((v) => v.split(' ')[0] === user)) einval('exists');
      dyn.set(attr, attr === 'OutgoingUser' ? [value] : [...list, value]);
    } else {
      const user = value.split(' ')[0];
      const left = list.filter((v) => v.split(' ')[0] !== user);
      if (left.length === list.length) einval('no such value');
      dyn.set(attr, left);
    }
  }

  private dropTargetLuns(driver: string, t: FTarget): void {
    for (const dev of this.devices.values()) {
      dev.exports = dev.exports.filter((e) => !e.link.includes(`/targets/${driver}/${t.name}/`));
    }
  }

  // ---- LUN sets, groups, initiators ---------------------------------------------------------

  private lunMgmt(driver: string, target: FTarget, group: FGroup | undefined, data: string): void {
    const set = group ? group.luns : target.luns;
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    const unexport = (lun: number) => {
      const dev = this.devices.get(set.get(lun)?.device ?? '');
      const suffix = group ? `/ini_groups/${group.name}/luns/${lun}` : `/${target.name}/luns/${lun}`;
      if (dev) dev.exports = dev.exports.filter((e) => !(e.link.includes(`/targets/${driver}/${target.name}`) && e.link.endsWith(suffix)));
    };
    if (cmd === 'add' || cmd === 'replace' || cmd === 'replace_no_ua') {
      const dev = this.devices.get(w[1] ?? '');
      if (!dev) einval(`Device '${w[1]}' not found`);
      if (!/^\d+$/.test(w[2] ?? '')) einval('bad lun');
      const lun = Number(w[2]);
      if (lun > 16383) einval('lun too big');
      let ro = false;
      for (const [k, v] of parseParams(data.replace(/^\s*\S+\s+\S+\s+\S+\s*/, ''))) {
        if (k.toLowerCase() !== 'read_only') einval(`unknown parameter ${k}`);
        ro = Number(v) !== 0;
      }
      if (cmd === 'add' && set.has(lun)) throw new TreeError('EEXIST', 'LUN exists');
      if (set.has(lun)) {
        unexport(lun);
        set.delete(lun);
      }
      this.mapLun(set, lun, dev!, ro, driver, target.name, group?.name);
    } else if (cmd === 'del') {
      if (w.length !== 2) einval('Syntax error');
      const lun = Number(w[1]);
      if (!set.has(lun)) einval('no such LUN');
      unexport(lun);
      set.delete(lun);
    } else if (cmd === 'clear') {
      for (const lun of [...set.keys()]) unexport(lun);
      set.clear();
    } else {
      einval('Unknown action');
    }
  }

  private groupMgmt(d: FDriver, t: FTarget, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if (t.name === 'copy_manager_tgt') einval('no groups here');
    if (cmd === 'create') {
      if (!w[1]) einval('name required');
      if (t.groups.has(w[1]!)) throw new TreeError('EEXIST', 'group exists');
      const attrs = new Map<string, FAttr>([
        ['addr_method', { value: 'PERIPHERAL', key: false, keyUnless: 'PERIPHERAL', mode: 0o644, check: addrMethod }],
        ['io_grouping_type', { value: 'auto', key: false, keyUnless: 'auto', mode: 0o644 }],
        ['black_hole', { value: '0', key: false, mode: 0o644 }],
        ['cpu_mask', { value: 'ff', key: false, keyUnless: 'ff', mode: 0o644 }],
      ]);
      if (d.name === 'iscsi') attrs.set('per_sess_dedicated_tgt_threads', { value: '0', key: false, keyUnless: '0', mode: 0o644, check: boolCheck });
      t.groups.set(w[1]!, { name: w[1]!, attrs, initiators: [], luns: new Map() });
    } else if (cmd === 'del') {
      const g = t.groups.get(w[1] ?? '');
      if (!g) einval('no such group');
      if ([...t.sessions.values()].some((s) => s.group === g!.name)) throw new TreeError('EBUSY', 'group has sessions');
      for (const lun of g!.luns.keys()) {
        const dev = this.devices.get(g!.luns.get(lun)!.device);
        if (dev) dev.exports = dev.exports.filter((e) => !e.link.includes(`/${t.name}/ini_groups/${g!.name}/`));
      }
      t.groups.delete(g!.name);
    } else {
      einval('Unknown action');
    }
  }

  private initMgmt(t: FTarget, g: FGroup, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if (cmd === 'add') {
      if (!w[1]) einval('name required');
      if (g.initiators.includes(w[1]!)) throw new TreeError('EEXIST', 'exists');
      g.initiators.push(w[1]!);
    } else if (cmd === 'del') {
      if (!g.initiators.includes(w[1] ?? '')) einval('not found');
      g.initiators = g.initiators.filter((i) => i !== w[1]);
    } else if (cmd === 'move') {
      const to = t.groups.get(w[2] ?? '');
      if (!w[1] || !to || !g.initiators.includes(w[1])) einval('bad move');
      if (to!.initiators.includes(w[1]!)) throw new TreeError('EEXIST', 'exists');
      g.initiators = g.initiators.filter((i) => i !== w[1]);
      to!.initiators.push(w[1]!);
    } else if (cmd === 'clear') {
      g.initiators = [];
    } else {
      einval('Unknown action');
    }
  }

  // ---- ALUA --------------------------------------------------------------------------------

  private dgMgmt(data: string): void {
    const w = words(data.split('\n')[0] ?? '');
    const cmd = (w[0] ?? '').toLowerCase();
    if ((cmd === 'create' || cmd === 'add') && w[1]) {
      if (this.dgroups.has(w[1])) throw new TreeError('EEXIST', 'exists');
      this.dgroups.set(w[1], { name: w[1], devices: [], tgroups: new Map() });
    } else if (cmd === 'del' && this.dgroups.has(w[1] ?? '')) {
      this.dgroups.delete(w[1]!);
    } else {
      einval('bad device group command');
    }
  }

  private dgDevMgmt(g: FDevGroup, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if (cmd === 'add' && w[1]) {
      if (!this.devices.has(w[1])) einval('no device');
      if ([...this.dgroups.values()].some((x) => x.devices.includes(w[1]!))) throw new TreeError('EEXIST', 'in a group');
      g.devices.push(w[1]);
    } else if (cmd === 'del' && g.devices.includes(w[1] ?? '')) {
      g.devices = g.devices.filter((d) => d !== w[1]);
    } else {
      einval('bad command');
    }
  }

  private tgMgmt(g: FDevGroup, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if ((cmd === 'create' || cmd === 'add') && w[1]) {
      if (g.tgroups.has(w[1])) throw new TreeError('EEXIST', 'exists');
      g.tgroups.set(w[1], {
        name: w[1],
        targets: new Map(),
        attrs: new Map<string, FAttr>([
          ['group_id', { value: '0', key: true, mode: 0o644, check: (v) => (Number(v) >= 1 && Number(v) <= 65535 ? String(Number(v)) : einval('range')) }],
          ['preferred', { value: '0', key: false, keyUnless: '0', mode: 0o644, check: boolCheck }],
          ['state', { value: 'active', key: true, mode: 0o644, check: (v) => (ALUA_STATES.includes(v) ? v : einval('state')) }],
        ]),
      });
    } else if (cmd === 'del' && g.tgroups.has(w[1] ?? '')) {
      g.tgroups.delete(w[1]!);
    } else {
      einval('bad command');
    }
  }

  private tgTargetMgmt(g: FDevGroup, tg: FTargetGroup, data: string): void {
    const w = words(data);
    const cmd = (w[0] ?? '').toLowerCase();
    if (cmd === 'add' && w[1]) {
      if ([...g.tgroups.values()].some((x) => x.targets.has(w[1]!))) throw new TreeError('EEXIST', 'exists');
      tg.targets.set(w[1], { name: w[1], relTgtId: { value: '0', key: true, mode: 0o644, check: uintCheck } });
    } else if (cmd === 'del' && tg.targets.has(w[1] ?? '')) {
      tg.targets.delete(w[1]!);
    } else {
      einval('bad command');
    }
  }

  private localTarget(name: string): { driver: string; target: FTarget } | undefined {
    for (const d of this.drivers.values()) {
      const t = d.targets.get(name);
      if (t) return { driver: d.name, target: t };
    }
    return undefined;
  }

  // ---- sessions (test API) -----------------------------------------------------------------

  /** A logged-in initiator; its group is the first group listing it by exact name. */
  addSession(driver: string, target: string, initiator: string): void {
    const t = this.drivers.get(driver)!.targets.get(target)!;
    let name = initiator;
    for (let i = 1; t.sessions.has(name); i++) name = `${initiator}_${i}`;
    const group = [...t.groups.values()].find((g) => g.initiators.includes(initiator))?.name;
    t.sessions.set(name, { name, initiator, ...(group ? { group } : {}), closable: driver === 'iscsi' });
  }

  // ---- the tree ----------------------------------------------------------------------------

  private attrEntries(attrs: Map<string, FAttr>): Entries {
    return [...attrs].map(([n, a]) => [n, attrFile(a)] as const);
  }

  private dynEntries(dyn: Map<string, string[]>, nl: boolean): Entries {
    const out: Entries = [];
    for (const [name, values] of dyn) {
      values.forEach((v, i) => {
        out.push([i === 0 ? name : `${name}${i}`, { kind: 'file', mode: 0o600, read: () => `${v}\n[key]\n${nl ? '\n' : ''}` } as MemFile]);
      });
    }
    return out;
  }

  private lunSetDir(driver: string, t: FTarget, g: FGroup | undefined, depth: number): MemDir {
    const set = () => (g ? g.luns : t.luns);
    return memDir(() => [
      ['mgmt', { kind: 'file', mode: 0o644, read: () => LUNS_HELP, write: (d: string) => this.async_('luns', () => this.lunMgmt(driver, t, g, d)) } as MemFile],
      ...[...set()].map(
        ([n, l]) =>
          [
            String(n),
            memDir(() => [
              ['read_only', roFile(() => (l.readOnly || this.devices.get(l.device)?.attrs.get('read_only')?.value === '1' ? '1\n[key]\n' : '0\n'))],
              ['device', memLink(`${'../'.repeat(depth)}devices/${l.device}`)],
            ]),
          ] as const,
      ),
    ]);
  }

  private targetDir(d: FDriver, t: FTarget): MemDir {
    return memDir(() => [
      ...this.attrEntries(t.attrs),
      ...this.dynEntries(t.dyn, d.daemonNl),
      ['luns', this.lunSetDir(d.name, t, undefined, 5)],
      [
        'ini_groups',
        memDir(() => [
          [
            'mgmt',
            {
              kind: 'file',
              mode: 0o644,
              read: () => 'Usage: echo "create GROUP_NAME" >mgmt\n       echo "del GROUP_NAME" >mgmt\n',
              write: (data: string) => this.async_('ini_groups', () => this.groupMgmt(d, t, data)),
            } as MemFile,
          ],
          ...[...t.groups.values()].map(
            (g) =>
              [
                g.name,
                memDir(() => [
                  ...this.attrEntries(g.attrs),
                  [
                    'initiators',
                    memDir(() => [
                      [
                        'mgmt',
                        {
                          kind: 'file',
                          mode: 0o644,
                          read: () =>
                            'Usage: echo "add INITIATOR_NAME" >mgmt\n       echo "del INITIATOR_NAME" >mgmt\n       echo "move INITIATOR_NAME DEST_GROUP_NAME" >mgmt\n       echo "clear" >mgmt\n',
                          write: (data: string) => this.async_('initiators', () => this.initMgmt(t, g, data)),
                        } as MemFile,
                      ],
                      ...g.initiators.map((i) => [i, roFile(() => `${i}\n`)] as const),
                    ]),
                  ],
                  ['luns', this.lunSetDir(d.name, t, g, 7)],
                ]),
              ] as const,
          ),
        ]),
      ],
      [
        'sessions',
        memDir(() =>
          [...t.sessions.values()].map(
            (s) =>
              [
                s.name,
                memDir(() => [
                  ['initiator_name', roFile(() => `${s.initiator}\n`)],
                  ['commands', roFile(() => '0\n')],
                  ['active_commands', roFile(() => '0\n')],
                  ...(s.closable
                    ? [['force_close', { kind: 'file', mode: 0o200, write: () => t.sessions.delete(s.name) } as MemFile] as const]
                    : []),
                  ['luns', memLink(s.group ? `../../ini_groups/${s.group}/luns` : '../../luns')],
                ]),
              ] as const,
          ),
        ),
      ],
    ]);
  }

  private driverDir(d: FDriver): MemDir {
    return memDir(() => [
      ...(d.virtual
        ? [
            [
              'mgmt',
              {
                kind: 'file',
                mode: 0o644,
                read: () => (d.name === 'iscsi' ? ISCSI_HELP : LOCAL_HELP),
                write: (data: string) => this.async_(`${d.name}/mgmt`, () => this.driverMgmt(d, data)),
              } as MemFile,
            ] as const,
          ]
        : []),
      ...[...d.attrs].map(([n, a]) => [n, attrFile(a.extraNl === undefined && d.daemonNl ? { ...a } : a)] as const),
      ...this.dynEntries(d.dyn, d.daemonNl),
      ...[...d.targets.values()].map((t) => [t.name, this.targetDir(d, t)] as const),
    ]);
  }

  private deviceDir(dev: FDevice): MemDir {
    return memDir(() => [
      ...[...dev.attrs].map(([n, a]) => {
        if (n === 'resync_size') return [n, { kind: 'file', mode: 0o200, write: () => this.async_('resync', () => undefined) } as MemFile] as const;
        return [n, attrFile(a)] as const;
      }),
      ['handler', memLink(`../../handlers/${dev.handler}`)],
      ['exported', memDir(() => dev.exports.map((e) => [`export${e.n}`, memLink(e.link)] as const))],
    ]);
  }

  private tree(): MemDir {
    const scst = memDir(() => [
      ['version', roFile(() => `${this.version}\nSCST build date: \nSCST build number: \nSCST git commit sha1: \nSCST kver: \nSCST arch type: \n`)],
      ...this.attrEntries(this.scstAttrs),
      [
        'last_sysfs_mgmt_res',
        roFile(() => {
          if (this.pendingPolls > 0) {
            this.pendingPolls--;
            throw new TreeError('EAGAIN', 'busy');
          }
          return `${this.lastRes}\n`;
        }),
      ],
      [
        'handlers',
        memDir(() =>
          [...this.handlers.values()].map(
            (h) =>
              [
                h.name,
                memDir(() => [
                  [
                    'mgmt',
                    {
                      kind: 'file',
                      mode: 0o644,
                      read: () => `${VDISK_HELP_HEAD}The following parameters available: ${h.params.join(', ')}\n\n`,
                      write: (data: string) => {
                        const cmd = (words(data)[0] ?? '').toLowerCase();
                        this.async_(`${h.name}/mgmt`, () => {
                          if (cmd === 'add_device') this.addDevice(h, data);
                          else if (cmd === 'del_device') this.delDevice(data);
                          else einval('Unknown action');
                        });
                      },
                    } as MemFile,
                  ],
                  ['type', roFile(() => `${h.type}\n`)],
                  ...[...this.devices.values()].filter((d) => d.handler === h.name).map((d) => [d.name, memLink(`../../devices/${d.name}`)] as const),
                ]),
              ] as const,
          ),
        ),
      ],
      ['devices', memDir(() => [...this.devices.values()].map((d) => [d.name, this.deviceDir(d)] as const))],
      ['targets', memDir(() => [...this.drivers.values()].map((d) => [d.name, this.driverDir(d)] as const))],
      [
        'device_groups',
        memDir(() => [
          [
            'mgmt',
            {
              kind: 'file',
              mode: 0o644,
              read: () => 'Usage: echo "create group_name" >mgmt\n       echo "del group_name" >mgmt\n',
              write: (data: string) => this.dgMgmt(data),
            } as MemFile,
          ],
          ...[...this.dgroups.values()].map(
            (g) =>
              [
                g.name,
                memDir(() => [
                  [
                    'devices',
                    memDir(() => [
                      [
                        'mgmt',
                        {
                          kind: 'file',
                          mode: 0o644,
                          read: () => 'Usage: echo "add device" >mgmt\n       echo "del device" >mgmt\n',
                          write: (data: string) => this.async_('dg devices', () => this.dgDevMgmt(g, data)),
                        } as MemFile,
                      ],
                      ...g.devices.map((d) => [d, memLink(`../../../devices/${d}`)] as const),
                    ]),
                  ],
                  [
                    'target_groups',
                    memDir(() => [
                      [
                        'mgmt',
                        {
                          kind: 'file',
                          mode: 0o644,
                          read: () => 'Usage: echo "create group_name" >mgmt\n       echo "del group_name" >mgmt\n',
                          write: (data: string) => this.async_('target_groups', () => this.tgMgmt(g, data)),
                        } as MemFile,
                      ],
                      ...[...g.tgroups.values()].map(
                        (tg) =>
                          [
                            tg.name,
                            memDir(() => [
                              [
                                'mgmt',
                                {
                                  kind: 'file',
                                  mode: 0o644,
                                  read: () => 'Usage: echo "add target" >mgmt\n       echo "del target" >mgmt\n',
                                  write: (data: string) => this.async_('tg targets', () => this.tgTargetMgmt(g, tg, data)),
                                } as MemFile,
                              ],
                              ...this.attrEntries(tg.attrs),
                              ...[...tg.targets.values()].map((tt) => {
                                const local = this.localTarget(tt.name);
                                if (local) return [tt.name, memLink(`../../../../targets/${local.driver}/${tt.name}`)] as const;
                                return [tt.name, memDir(() => [['rel_tgt_id', attrFile(tt.relTgtId)]])] as const;
                              }),
                            ]),
                          ] as const,
                      ),
                    ]),
                  ],
                ]),
              ] as const,
          ),
        ]),
      ],
    ]);
    return memDir(() => [['sys', memDir(() => [['kernel', memDir(() => [['scst_tgt', scst]])]])]]);
  }
}

const ALUA_STATES = ['active', 'nonoptimized', 'standby', 'unavailable', 'offline', 'transitioning'];

function addrMethod(v: string): string {
  const u = v.trim().toUpperCase();
  for (const m of ['FLAT', 'PERIPHERAL', 'LUN']) if (u !== '' && m.startsWith(u)) return m;
  return einval('bad address method');
}

const ERRNO: Record<string, number> = { EPERM: 1, ENOENT: 2, EIO: 5, EAGAIN: 11, EACCES: 13, EBUSY: 16, EEXIST: 17, EINVAL: 22 };

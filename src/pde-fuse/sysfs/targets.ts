import { LATENCY_DIRS, LATENCY_SIZES } from '../../engine/latency-stats.js';
import os from 'node:os';
import { einval } from '../../engine/errors.js';
import type { IscsiDriver } from '../../engine/iscsi/portal.js';
import type { IscsiSession } from '../../engine/iscsi/session.js';
import { groupAttrs, targetAttrs, type GroupAttrs } from '../../engine/mgmt.js';
import type { ScstSession } from '../../engine/session.js';
import type { AddrMethod, IniGroup, LunSet, Target } from '../../engine/target.js';
import { MODE_RO, attr, link, type PdeNode } from '../node.js';
import { procIp, procSid } from '../procfs/iscsi.js';
import { firstChar01, keyed, lunOfName, membersDir, ro, rw, sdir, wo } from './attr.js';
import type { SysfsContext } from './context.js';
import { DRIVER } from './exports.js';
import { iscsiDriverAttrs, iscsiTargetAttrs, ISCSI_MGMT_HELP, writeIscsiMgmt } from './iscsi.js';
import { Lexer, chomp, kstrtol, kstrtoul, paramTokens, unknownAction } from './lexer.js';
import { TRACE_HELP, traceFile } from './root.js';
import { copyManagerDir } from './copy-manager.js';
import { CM_DRIVER } from '../../engine/copy_manager/copy-manager.js';
import { SCST_LOCAL } from '../../engine/scst_local/driver.js';
import { localDriverDir } from './scst-local.js';

// R/targets/iscsi/ (sysfs.md §7): the driver, its targets with their core attributes, luns/,
// ini_groups/ and sessions/.

// ---- attributes of a target's default group and of security groups -----------------------------

/** addr_method: strncasecmp(buf, NAME, min(len(NAME), count)) in the order FLAT, PERIPHERAL, LUN. */
export function parseAddrMethod(text: string): AddrMethod {
  for (const m of ['FLAT', 'PERIPHERAL', 'LUN'] as const) {
    const n = Math.min(m.length, text.length);
    if (text.slice(0, n).toUpperCase() === m.slice(0, n)) return m;
  }
  throw einval(`Unknown address method ${text}`);
}

/** io_grouping_type: auto | this_group_only | never (prefix compare as addr_method) or N > 0. */
export function parseIoGrouping(text: string): string {
  for (const m of ['auto', 'this_group_only', 'never']) {
    const n = Math.min(m.length, text.length);
    if (text.slice(0, n).toLowerCase() === m.slice(0, n)) return m;
  }
  let v: number;
  try {
    v = kstrtol(text, 'io_grouping_type');
  } catch {
    throw einval(`Unknown or not allowed I/O grouping type ${text}`);
  }
  if (v <= 0) throw einval(`Unknown or not allowed I/O grouping type ${text}`);
  return String(v);
}

const CPUS = Math.max(1, os.cpus().length);
const ALL_CPUS = (1n << BigInt(CPUS)) - 1n;

/** %*pb: hex in 32-bit groups, most significant first, separated by commas. */
export function formatCpuMask(mask: bigint, ncpus = CPUS): string {
  const groups: string[] = [];
  const n = Math.max(1, Math.ceil(ncpus / 32));
  for (let i = n - 1; i >= 0; i--) {
    const g = (mask >> BigInt(32 * i)) & 0xffffffffn;
    const digits = i === n - 1 ? Math.ceil((ncpus - 32 * i) / 4) : 8;
    groups.push(g.toString(16).padStart(digits, '0'));
  }
  return groups.join(',');
}

/** bitmap_parse of a cpu mask: comma-separated hex groups of at most 32 bits. */
export function parseCpuMask(text: string): bigint {
  const t = chomp(text);
  if (t === '' || !/^[0-9a-fA-F]{1,8}(,[0-9a-fA-F]{1,8})*$/.test(t)) throw einval(`Invalid CPU mask '${t}'`);
  let v = 0n;
  for (const g of t.split(',')) v = (v << 32n) | BigInt(`0x${g}`);
  if (v >> BigInt(CPUS) !== 0n) throw einval(`CPU mask '${t}' names CPUs this system does not have`);
  return v;
}

function renderIoGrouping(v: string): string {
  return keyed(v, v !== 'auto');
}

function groupCoreAttrs(ctx: SysfsContext, holder: { addrMethod: AddrMethod }, extras: () => GroupAttrs | ReturnType<typeof targetAttrs>, what: string): Array<readonly [string, PdeNode]> {
  return [
    [
      'addr_method',
      rw(
        () => keyed(holder.addrMethod, holder.addrMethod !== 'PERIPHERAL'),
        (text) => {
          holder.addrMethod = parseAddrMethod(text);
        },
      ),
    ],
    [
      'io_grouping_type',
      rw(
        () => renderIoGrouping(extras().ioGroupingType),
        (text) => {
          const v = parseIoGrouping(text);
          if (v === extras().ioGroupingType) return;
          return ctx.works.run(`${what}/io_grouping_type`, () => {
            extras().ioGroupingType = v;
          });
        },
      ),
    ],
    [
      'black_hole',
      rw(
        () => `${extras().blackHole}\n`,
        (text) => {
          const c = text[0];
          if (c === undefined || c < '0' || c > '4') throw einval(`black_hole: '${chomp(text)}' is not 0..4`);
          extras().blackHole = Number(c);
        },
      ),
    ],
    [
      'cpu_mask',
      rw(
        () => {
          const m = extras().cpuMask;
          const v = m === null ? ALL_CPUS : BigInt(`0x${m}`);
          return v === ALL_CPUS ? `${formatCpuMask(v)}\n` : `${formatCpuMask(v)}\n[key]\n`;
        },
        (text) => {
          const v = parseCpuMask(text);
          const cur = extras().cpuMask === null ? ALL_CPUS : BigInt(`0x${extras().cpuMask}`);
          if (v === cur) return;
          return ctx.works.run(`${what}/cpu_mask`, () => {
            extras().cpuMask = v === ALL_CPUS ? null : v.toString(16);
          });
        },
      ),
    ],
  ];
}

// ---- LUN sets ------------------------------------------------------------------------------------

export const LUNS_MGMT_HELP =
  'Usage: echo "add H:C:I:L lun [parameters]" >mgmt\n' +
  '       echo "add VNAME lun [parameters]" >mgmt\n' +
  '       echo "del lun" >mgmt\n' +
  '       echo "replace H:C:I:L lun [parameters]" >mgmt\n' +
  '       echo "replace VNAME lun [parameters]" >mgmt\n' +
  '       echo "replace_no_ua H:C:I:L lun [parameters]" >mgmt\n' +
  '       echo "replace_no_ua VNAME lun [parameters]" >mgmt\n' +
  '       echo "clear" >mgmt\n' +
  '\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n" +
  '\nThe following parameters available: read_only\n';

/** add | del | replace | replace_no_ua | clear (sysfs.md §11.4, scst_process_luns_mgmt_store). */
export function writeLunsMgmt(ctx: SysfsContext, set: LunSet, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const a = action.toLowerCase();
  if (!['add', 'del', 'replace', 'replace_no_ua', 'clear'].includes(a)) throw unknownAction(action);
  if (a === 'clear') {
    if (lx.lexem() !== '') throw einval('Too many parameters for clear');
    return ctx.mgmt.clearLuns(set);
  }
  if (a === 'del') {
    const lun = kstrtoul(lx.lexem(), 'LUN');
    if (lx.lexem() !== '') throw einval(`Too many parameters for del LUN ${lun}`);
    return ctx.mgmt.delLun(set, lun);
  }
  const devName = lx.lexem();
  if (!ctx.scst.devices.has(devName)) throw einval(`Device '${devName}' not found`);
  let lun: number;
  try {
    lun = kstrtoul(lx.lexem(), 'LUN');
  } catch {
    throw einval(`Valid LUN required for dev ${devName}`);
  }
  if (lun > 16383) throw einval(`Too big LUN ${lun} (max 16383)`);
  let readOnly = false;
  for (const [k, v] of paramTokens(lx, `device ${devName}`)) {
    const n = kstrtoul(v, k);
    if (k !== 'read_only') throw einval(`Unknown parameter ${k} (device ${devName})`);
    readOnly = n !== 0;
  }
  if (a === 'add') ctx.mgmt.addLun(set, devName, lun, readOnly);
  else ctx.mgmt.replaceLun(set, devName, lun, readOnly, a === 'replace');
}

/** luns/: mgmt and one directory per LUN with read_only and the device link. */
export function lunsDir(ctx: SysfsContext, set: LunSet, where: () => string, depth: number): PdeNode {
  const mgmt = rw(
    () => LUNS_MGMT_HELP,
    (text) => ctx.works.run(`${where()}/luns/mgmt`, () => writeLunsMgmt(ctx, set, text)),
  );
  const fixed = [['mgmt', mgmt] as const];
  const up = '../'.repeat(depth);
  return membersDir(() => fixed, {
    list: () => set.luns.values(),
    get: (name) => {
      const lun = lunOfName(name);
      return lun === undefined ? undefined : set.luns.get(lun);
    },
    count: () => set.luns.size,
    version: () => set.version,
    name: (e) => String(e.lun),
    make: (e) => {
      const entries = [
        ['read_only', ro(() => keyed(e.readOnly || e.device.readOnly ? 1 : 0, e.readOnly || e.device.readOnly))],
        ['device', link(() => `${up}devices/${e.device.name}`)],
      ] as const;
      return sdir(() => entries);
    },
    dirs: true,
  });
}

// ---- security groups -----------------------------------------------------------------------------

const INITIATORS_HELP = 'Usage: echo "add INITIATOR_NAME" >mgmt\n       echo "del INITIATOR_NAME" >mgmt\n       echo "move INITIATOR_NAME DEST_GROUP_NAME" >mgmt\n       echo "clear" >mgmt\n';
const INI_GROUPS_HELP = 'Usage: echo "create GROUP_NAME" >mgmt\n       echo "del GROUP_NAME" >mgmt\n';

export function writeInitiatorsMgmt(ctx: SysfsContext, g: IniGroup, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  switch (action.toLowerCase()) {
    case 'add': {
      const name = lx.lexem();
      if (name === '') throw einval('Invalid initiator name');
      if (name.includes('/') || name === '.' || name === '..' || name === 'mgmt') throw einval(`Invalid initiator name ${name}`);
      return ctx.mgmt.addInitiator(g, name);
    }
    case 'del': {
      const name = lx.lexem();
      if (name === '') throw einval('Invalid initiator name');
      if (!g.initiators.includes(name)) throw einval(`Unable to find initiator '${name}' in group '${g.name}'`);
      return ctx.mgmt.delInitiator(g, name);
    }
    case 'move': {
      const name = lx.lexem();
      if (name === '') throw einval('Invalid initiator name');
      const to = lx.lexem();
      if (to === '') throw einval('Invalid group name');
      return ctx.mgmt.moveInitiator(g, name, to);
    }
    case 'clear':
      return ctx.mgmt.clearInitiators(g);
    default:
      throw unknownAction(action);
  }
}

export function writeIniGroupsMgmt(ctx: SysfsContext, t: Target, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const a = action.toLowerCase();
  if (a !== 'create' && a !== 'del') throw unknownAction(action);
  const name = lx.lexem();
  if (name === '') throw einval('Group name required');
  if (a === 'create') ctx.mgmt.addGroup(t, name);
  else ctx.mgmt.delGroup(t, name);
}

function groupDir(ctx: SysfsContext, t: Target, g: IniGroup): PdeNode {
  const where = () => `${t.name}/${g.name}`;
  const ga = () => groupAttrs(g);
  const initMgmt = rw(
    () => INITIATORS_HELP,
    (text) => ctx.works.run(`${where()}/initiators/mgmt`, () => writeInitiatorsMgmt(ctx, g, text)),
  );
  const entries: Array<readonly [string, PdeNode]> = [
    ...groupCoreAttrs(ctx, g, ga, where()),
    [
      'per_sess_dedicated_tgt_threads',
      rw(
        () => keyed(ga().perSessDedicatedTgtThreads ? 1 : 0, ga().perSessDedicatedTgtThreads),
        (text) => {
          ga().perSessDedicatedTgtThreads = kstrtoul(text, 'per_sess_dedicated_tgt_threads') !== 0;
        },
      ),
    ],
    ['initiators', sdir(() => [['mgmt', initMgmt] as const, ...g.initiators.map((n) => [n, attr(MODE_RO, () => `${n}\n`)] as const)])],
    ['luns', lunsDir(ctx, g.luns, () => g.name, 7)],
  ];
  return sdir(() => entries);
}

function iniGroupsDir(ctx: SysfsContext, t: Target): PdeNode {
  const mgmt = rw(
    () => INI_GROUPS_HELP,
    (text) => ctx.works.run(`${t.name}/ini_groups/mgmt`, () => writeIniGroupsMgmt(ctx, t, text)),
  );
  const nodes = new WeakMap<IniGroup, PdeNode>();
  return sdir(() => [
    ['mgmt', mgmt] as const,
    ...t.groups.map((g) => {
      let n = nodes.get(g);
      if (!n) nodes.set(g, (n = groupDir(ctx, t, g)));
      return [g.name, n] as const;
    }),
  ]);
}

// ---- sessions -------------------------------------------------------------------------------------

export const STAT_NAMES = ['unknown_cmd_count', 'none_cmd_count', 'read_cmd_count', 'write_cmd_count', 'bidi_cmd_count', 'read_io_count_kb', 'write_io_count_kb', 'bidi_io_count_kb', 'read_unaligned_cmd_count', 'write_unaligned_cmd_count', 'bidi_unaligned_cmd_count'] as const;
export type StatName = (typeof STAT_NAMES)[number];

function statValue(s: ScstSession, name: StatName): number {
  const st = s.stats;
  switch (name) {
    case 'unknown_cmd_count':
      return st.unknown;
    case 'none_cmd_count':
      return st.none.cmds;
    case 'read_cmd_count':
      return st.read.cmds;
    case 'write_cmd_count':
      return st.write.cmds;
    case 'read_io_count_kb':
      return Math.floor(st.read.kb);
    case 'write_io_count_kb':
      return Math.floor(st.write.kb);
    case 'read_unaligned_cmd_count':
      return st.read.unaligned;
    case 'write_unaligned_cmd_count':
      return st.write.unaligned;
    default:
      return 0; // bidirectional commands do not exist in this engine
  }
}

/** A write to a counter resets the counters of its data direction. */
function resetStats(s: ScstSession, name: StatName): void {
  const dir = name.split('_')[0];
  if (dir === 'unknown') s.stats.unknown = 0;
  else if (dir === 'none' || dir === 'read' || dir === 'write') {
    const d = s.stats[dir];
    d.cmds = 0;
    d.kb = 0;
    d.unaligned = 0;
  }
}

const iscsiOf = (iscsi: IscsiDriver | null, s: ScstSession): IscsiSession | undefined => {
  return iscsi?.sessions.ofScst(s);
};

function connState(is: IscsiSession): string {
  const c = is.conn;
  if (!c || c.phase === 'closed' || c.phase === 'logout' || c.socket.destroyed) return 'closing';
  if (c.socket.writableLength > 0) return 'space_waiting ';
  return 'established idle ';
}

/** The iSCSI session's negotiated keys and identity (sysfs.md §7.5, driver attributes). */
function iscsiSessionAttrs(ctx: SysfsContext, s: ScstSession): Array<readonly [string, PdeNode]> {
  const is = () => iscsiOf(ctx.iscsi, s);
  const p = () => is()?.params;
  return [
    ['InitialR2T', ro(() => `${p()?.InitialR2T ? 'Yes' : 'No'}\n`)],
    ['ImmediateData', ro(() => `${p()?.ImmediateData ? 'Yes' : 'No'}\n`)],
    ['MaxRecvDataSegmentLength', ro(() => `${p()?.MaxRecvDataSegmentLength ?? 0}\n`)],
    ['MaxXmitDataSegmentLength', ro(() => `${p()?.MaxXmitDataSegmentLength ?? 0}\n`)],
    ['MaxBurstLength', ro(() => `${p()?.MaxBurstLength ?? 0}\n`)],
    ['FirstBurstLength', ro(() => `${p()?.FirstBurstLength ?? 0}\n`)],
    ['MaxOutstandingR2T', ro(() => `${p()?.MaxOutstandingR2T ?? 0}\n`)],
    ['HeaderDigest', ro(() => `${p()?.HeaderDigest ?? 'None'}\n`)],
    ['DataDigest', ro(() => `${p()?.DataDigest ?? 'None'}\n`)],
    ['sid', ro(() => `${is() ? procSid(is()!.isid, is()!.tsih) : '0'}\n`)],
    ['reinstating', ro(() => '0\n')],
    ['thread_pid', ro(() => `${process.pid}\n`)],
  ];
}

/** One connection directory per iSCSI connection, named by the peer's address. */
function iscsiConnDirs(ctx: SysfsContext, s: ScstSession): Array<readonly [string, PdeNode]> {
  const sess = iscsiOf(ctx.iscsi, s);
  const c = sess?.conn;
  if (!sess || !c) return [];
  const ip = procIp(c.remoteAddress);
  return [
    [
      ip,
      sdir(() => [
        ['cid', ro(() => `${c.cid}`)],
        ['ip', ro(() => ip)],
        ['state', ro(() => connState(sess))],
        ['target_ip', ro(() => procIp(c.socket.localAddress))],
        ['transport', ro(() => 'iSCSI-TCP\n')],
      ]),
    ],
  ];
}

/**
 * What a target driver adds to the core's target and session directories (SCST's tgt_attrs and
 * sess_attrs of a target template), and whether its targets have `enabled`.
 */
export interface DriverView {
  readonly name: string;
  readonly hasEnabled: boolean;
  /** Attributes of one target; listed afresh each time (they may come and go). */
  targetAttrs(t: Target): Array<readonly [string, PdeNode]>;
  /** Fixed attributes of one session. */
  sessionAttrs(s: ScstSession): Array<readonly [string, PdeNode]>;
  /** Entries of a session that come and go (connections). */
  sessionDynamic?(s: ScstSession): Array<readonly [string, PdeNode]>;
}

function iscsiView(ctx: SysfsContext): DriverView {
  return {
    name: DRIVER,
    hasEnabled: true,
    targetAttrs: (t) => iscsiTargetAttrs(ctx, t),
    sessionAttrs: (s) => iscsiSessionAttrs(ctx, s),
    sessionDynamic: (s) => iscsiConnDirs(ctx, s),
  };
}

/** sessions/<s>/latency/: n512 r512 w512 b512 ... b524288 (SCST's order); any write zeroes them all. */
function latencyDir(s: ScstSession): PdeNode {
  const files: Array<readonly [string, PdeNode]> = [];
  LATENCY_SIZES.forEach((size, si) => {
    for (const d of ['n', 'r', 'w', 'b'] as const) {
      const di = LATENCY_DIRS.indexOf(d);
      files.push([`${d}${size}`, rw(() => s.latStats?.render(di, si) ?? 'state count min max avg stddev\n', () => s.latStats?.reset())]);
    }
  });
  return sdir(() => files);
}

function sessionDir(s: ScstSession, view: DriverView): PdeNode {
  const stats = STAT_NAMES.map((n) => [n, rw(() => `${statValue(s, n)}\n`, () => resetStats(s, n))] as const);
  const fixed: Array<readonly [string, PdeNode]> = [
    ['initiator_name', ro(() => `${s.initiatorName}\n`)],
    ['commands', ro(() => `${s.cmds.size}\n`)],
    ['active_commands', ro(() => `${s.activeCount}\n`)],
    ...stats,
    ['force_close', wo(() => s.transport.forceClose('force_close through sysfs'))],
    ['latency', latencyDir(s)],
    ...view.sessionAttrs(s),
  ];
  // The LUN set in use: the target's own, or one of its groups' (a procfs-era group has no place here).
  const lunsLink = (): Array<readonly [string, PdeNode]> => {
    const g = s.group;
    if (g === null) return [['luns', link(() => '../../luns')]];
    if (g.target === s.target) return [['luns', link(() => `../../ini_groups/${g.name}/luns`)]];
    return [];
  };
  // One lunN directory per nexus: a session may see thousands, so they are members, not a list.
  const nexuses = membersDir(() => [...fixed, ...lunsLink(), ...(view.sessionDynamic?.(s) ?? [])], {
    list: () => s.tgtDevs.values(),
    get: (name) => {
      const lun = name.startsWith('lun') ? lunOfName(name.slice(3)) : undefined;
      return lun === undefined ? undefined : s.tgtDevs.get(lun);
    },
    count: () => s.tgtDevs.size,
    name: (td) => `lun${td.lun}`,
    make: (td) => {
      const entries = [
        [
          'active_commands',
          ro(() => {
            let n = 0;
            for (const c of s.cmds.values()) if (c.lun === td.lun && !c.isDone) n++;
            return `${n}\n`;
          }),
        ],
        ['thread_pid', ro(() => `${process.pid}\n`)],
        ['thread_index', ro(() => '0\n')],
      ] as const;
      return sdir(() => entries);
    },
    dirs: true,
  });
  return nexuses;
}

function sessionsDir(t: Target, view: DriverView): PdeNode {
  const nodes = new WeakMap<ScstSession, PdeNode>();
  return sdir(() =>
    [...t.sessions]
      .filter((s) => !s.closed)
      .map((s) => {
        let n = nodes.get(s);
        if (!n) nodes.set(s, (n = sessionDir(s, view)));
        return [s.sysfsName, n] as const;
      }),
  );
}

// ---- targets --------------------------------------------------------------------------------------

/**
 * The attributes and directories every target has (sysfs.md §7.2) but `enabled` and `sessions`,
 * which depend on the driver; `stat` sums a counter over the target's sessions.
 */
export function targetCoreEntries(ctx: SysfsContext, t: Target, o: { sgTablesize: number; stat: (name: StatName) => number }): Array<readonly [string, PdeNode]> {
  const ta = () => targetAttrs(t);
  return [
    [
      'rel_tgt_id',
      rw(
        () => keyed(t.relTgtId, t.relTgtId !== 0),
        (text) => {
          let id: number;
          try {
            id = kstrtoul(text, 'rel_tgt_id');
          } catch {
            throw einval('Wrong rel_tgt_id');
          }
          return ctx.works.run(`${t.name}/rel_tgt_id`, () => ctx.mgmt.setRelTgtId(t, id));
        },
      ),
    ],
    ...groupCoreAttrs(ctx, t, ta, t.name),
    [
      'comment',
      rw(
        () => (ta().comment === '' ? '' : keyed(ta().comment, true)),
        (text) => {
          ta().comment = chomp(text);
        },
      ),
    ],
    ['sg_tablesize', ro(() => `${o.sgTablesize}\n`)],
    [
      'forward_src',
      rw(
        () => keyed(ta().forwardSrc, ta().forwardSrc !== 0),
        (text) => {
          const v = kstrtol(text, 'forward_src');
          if (v !== 0 && v !== 1) throw einval(`forward_src ${v} is neither 0 nor 1`);
          ta().forwardSrc = v;
        },
      ),
    ],
    ...(['forward_dst', 'forwarding'] as const).map(
      (n) =>
        [
          n,
          rw(
            () => keyed(ta().forwardDst, ta().forwardDst !== 0),
            (text) => {
              ta().forwardDst = firstChar01(text, n) ? 1 : 0;
            },
          ),
        ] as const,
    ),
    [
      'aen_disabled',
      rw(
        () => keyed(ta().aenDisabled, ta().aenDisabled !== 0),
        (text) => {
          ta().aenDisabled = firstChar01(text, 'aen_disabled') ? 1 : 0;
        },
      ),
    ],
    ...STAT_NAMES.map((n) => [n, ro(() => `${o.stat(n)}\n`)] as const),
    ['luns', lunsDir(ctx, t.defaultLuns, () => t.name, 5)],
    ['ini_groups', iniGroupsDir(ctx, t)],
  ];
}

export function targetDir(ctx: SysfsContext, t: Target, view: DriverView): PdeNode {
  const enabled: Array<readonly [string, PdeNode]> = [
    [
      'enabled',
      rw(
        () => `${t.enabled ? 1 : 0}\n`,
        (text) => {
          const on = firstChar01(text, 'enabled');
          return ctx.works.run(`${t.name}/enabled`, () => ctx.mgmt.setTargetEnabled(t, on));
        },
      ),
    ],
  ];
  const fixed: Array<readonly [string, PdeNode]> = [
    ...(view.hasEnabled ? enabled : []),
    ...targetCoreEntries(ctx, t, { sgTablesize: 128, stat: (n) => [...t.sessions].reduce((sum, s) => sum + statValue(s, n), 0) }),
    ['sessions', sessionsDir(t, view)],
  ];
  // Driver attributes come and go (iSCSI accounts, allowed_portal): listed afresh each time; a
  // path through luns/, ini_groups/ or sessions/ does not make them.
  const dir = sdir(() => [...fixed, ...view.targetAttrs(t)]);
  return { ...dir, child: (name: string) => fixed.find(([n]) => n === name)?.[1] ?? dir.child!(name) };
}

/** R/targets/: the copy manager, the iscsi driver (when the daemon has one) and scst_local (when it has that). */
export function targetsDir(ctx: SysfsContext): PdeNode {
  const drivers: Array<readonly [string, PdeNode]> = [[CM_DRIVER, copyManagerDir(ctx)]];
  if (ctx.iscsi) drivers.push([DRIVER, iscsiDriverDir(ctx, ctx.iscsi)]);
  if (ctx.local) drivers.push([SCST_LOCAL, localDriverDir(ctx, ctx.local)]);
  return sdir(() => drivers);
}

function iscsiDriverDir(ctx: SysfsContext, iscsi: IscsiDriver): PdeNode {
  const view = iscsiView(ctx);
  const mgmt = rw(
    () => ISCSI_MGMT_HELP,
    (text) => ctx.works.run('targets/iscsi/mgmt', () => writeIscsiMgmt(ctx, iscsi, text)),
  );
  const targets = ctx.scst.targets;
  const driver = membersDir(
    () => [['mgmt', mgmt] as const, ...(ctx.build.tracing ? ([['trace_level', traceFile(ctx, ctx.trace.iscsi, 'iscsi', TRACE_HELP.iscsi)]] as const) : []), ...iscsiDriverAttrs(ctx, iscsi)],
    {
      list: () => targets.values(),
      get: (name) => targets.get(name),
      count: () => targets.size,
      name: (t) => t.name,
      make: (t) => targetDir(ctx, t, view),
      dirs: true,
    },
  );
  return driver;
}


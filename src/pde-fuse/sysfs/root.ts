import { MgmtError, einval } from '../../engine/errors.js';
import { coreAttrs } from '../../engine/mgmt.js';
import { engineStats } from '../../engine/stats.js';
import { CmdState } from '../../engine/cmd.js';
import { COMMON_TOKENS, type TraceLevel } from '../procfs/trace.js';
import { keyed, ro, rw } from './attr.js';
import type { SysfsContext } from './context.js';
import { Lexer, chomp, kstrtobool, kstrtol, kstrtoul, unknownAction } from './lexer.js';
import type { PdeFile, PdeNode } from '../node.js';

// The attributes of the sysfs root R (sysfs.md §4) and the trace_level files (§4.2).

const VERSION_LABELS = ['SCST version', 'SCST build date', 'SCST build number', 'SCST git commit sha1', 'SCST kver', 'SCST arch type'] as const;
const CONFIG_ORDER = ['STRICT_SERIALIZING', 'EXTRACHECKS', 'TRACING', 'DEBUG', 'DEBUG_TM', 'DEBUG_RETRY', 'DEBUG_OOM', 'DEBUG_SN', 'USE_EXPECTED_VALUES', 'TEST_IO_IN_SIRQ', 'STRICT_SECURITY'];

export function renderVersion(ctx: SysfsContext): string {
  const b = ctx.build;
  const values = [b.version, b.buildDate, b.buildNumber, b.gitCommit, b.kver, b.arch];
  let out = VERSION_LABELS.map((l, i) => `${l}: ${values[i]}\n`).join('');
  const opts = CONFIG_ORDER.filter((o) => b.options.includes(o));
  if (opts.length) out += `SCST config: ${opts.join(', ')}\n`;
  return out;
}

// ---- trace_level --------------------------------------------------------------------------------

const TRACE_USAGE = '\n\n\nUsage:\n\techo "all|none|default" >trace_level\n\techo "value DEC|0xHEX|0OCT" >trace_level\n\techo "add|del TOKEN" >trace_level\n';

/** The token-list suffix each module adds to the help (sysfs.md §4.2). */
export const TRACE_HELP = { core: '', vdisk: ', order', iscsi: ', d_write, conn, conn_dbg, iov, pdu, net_page' } as const;

export function renderTrace(t: TraceLevel, help: string): string {
  const names: string[] = [];
  for (const [n, bit] of [...COMMON_TOKENS, ...t.local]) if ((t.value & bit) >>> 0 !== 0) names.push(n);
  return `${names.join(' | ')}${TRACE_USAGE}\nwhere TOKEN is one of [function, line, pid, out_of_mem, special, scsi, mgmt, minor, scsi_serializing, retry, pr${help}]\n`;
}

/** all | none | null | default | add TOKEN | del TOKEN | value N (scst_write_trace). */
export function writeTrace(ctx: SysfsContext, t: TraceLevel, name: string, text: string): void {
  if (text.length === 0) throw einval('Empty trace_level command');
  const lx = new Lexer(text);
  const action = lx.lexem().toLowerCase();
  const arg = lx.lexem();
  let next: number;
  switch (action) {
    case 'all':
      next = 0xffffffff;
      break;
    case 'none':
    case 'null':
      next = 0;
      break;
    case 'default':
      next = t.dflt;
      break;
    case 'add':
    case 'del': {
      const tok = arg.toLowerCase();
      const hit = t.local.find(([n]) => n === tok) ?? COMMON_TOKENS.find(([n]) => n === tok);
      if (!hit) throw einval(`Unknown token "${arg}"`);
      next = action === 'add' ? (t.value | hit[1]) >>> 0 : (t.value & ~hit[1]) >>> 0;
      break;
    }
    case 'value':
      next = Number(BigInt.asUintN(32, BigInt(kstrtoul(arg, 'trace value'))));
      break;
    default:
      throw unknownAction(action);
  }
  const old = t.value;
  t.value = next >>> 0;
  const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;
  ctx.log.info({ entry: name, old, new: t.value }, `Changed trace level for "${name}": old ${hex(old)}, new ${hex(t.value)}`);
}

export function traceFile(ctx: SysfsContext, t: TraceLevel, name: string, help: string): PdeFile {
  return rw(
    () => renderTrace(t, help),
    (text) => writeTrace(ctx, t, name, text),
  );
}

// ---- commands in flight -------------------------------------------------------------------------

const OPS: Record<number, string> = { 0x00: 'TEST UNIT READY', 0x03: 'REQUEST SENSE', 0x12: 'INQUIRY', 0x1a: 'MODE SENSE(6)', 0x25: 'READ CAPACITY(10)', 0x28: 'READ(10)', 0x2a: 'WRITE(10)', 0x35: 'SYNCHRONIZE CACHE(10)', 0x88: 'READ(16)', 0x8a: 'WRITE(16)', 0x9e: 'SERVICE ACTION IN(16)', 0xa0: 'REPORT LUNS' };

/** trace_cmds: one line per command not yet finished (at most 4 KiB, as SCST). */
export function renderTraceCmds(ctx: SysfsContext): string {
  let out = '';
  for (const s of ctx.scst.sessions) {
    for (const c of s.cmds.values()) {
      if (c.state === CmdState.FREED) continue;
      const op = OPS[c.opcode] ?? `0x${c.opcode.toString(16).padStart(2, '0')}`;
      const line = `cmd ${c.id}: state ${c.state}; op ${op}; proc time ${Math.floor((performance.now() - c.createdAt) / 1000)} sec; tgtt iscsi; tgt ${s.target.name}; session ${s.sysfsName}; grp ${s.group?.name ?? '(default)'}; LUN ${c.lun}; ini ${s.initiatorName}; cdb ${c.cdb.toString('hex')}\n`;
      if (out.length + line.length > 4096) return out;
      out += line;
    }
  }
  return out;
}

// ---- the root -----------------------------------------------------------------------------------

export function rootAttributes(ctx: SysfsContext): Array<readonly [string, PdeNode]> {
  const core = () => coreAttrs(ctx.scst);
  const scst = ctx.scst;
  const entries: Array<readonly [string, PdeNode]> = [
    ['version', ro(() => renderVersion(ctx))],
    [
      'threads',
      rw(
        () => keyed(scst.threads, scst.threads !== core().defaultThreads),
        (text) => {
          const n = kstrtol(text, 'threads');
          if (n <= 0) throw einval(`Illegal threads num value ${n}`);
          if (n === scst.threads) return;
          return ctx.works.run('threads', () => ctx.mgmt.setThreads(n));
        },
      ),
    ],
    [
      'setup_id',
      rw(
        () => keyed(`0x${scst.setupId.toString(16)}`, scst.setupId !== 0n),
        (text) => {
          const v = kstrtoul(text, 'setup_id');
          if (v > 0xffffffff) throw einval(`setup_id ${v} is out of range`);
          scst.setupId = BigInt(v);
          ctx.log.info({ setupId: v }, `Changed setup_id to 0x${v.toString(16)}`);
        },
      ),
    ],
    [
      'max_tasklet_cmd',
      rw(
        () => keyed(core().maxTaskletCmd, core().maxTaskletCmd !== 10),
        (text) => {
          core().maxTaskletCmd = kstrtoul(text, 'max_tasklet_cmd');
        },
      ),
    ],
    [
      'poll_us',
      rw(
        () => keyed(core().pollUs, core().pollUs !== 0),
        (text) => {
          core().pollUs = kstrtoul(text, 'poll_us');
        },
      ),
    ],
    [
      'suspend',
      rw(
        () => `${core().suspendCount}\n`,
        (text) => {
          // The count is kept for tools that read it back; this engine does not stop I/O for it.
          const v = kstrtol(text, 'suspend');
          const c = core();
          if (v >= 0) c.suspendCount++;
          else if (c.suspendCount > 0) c.suspendCount--;
          ctx.log.info({ suspend: c.suspendCount }, v >= 0 ? 'Suspending SCST activity (counted only)' : 'Resuming SCST activity');
        },
      ),
    ],
    [
      'measure_latency',
      rw(
        () => `${scst.measureLatency ? 1 : 0}\n`,
        (text) => {
          scst.measureLatency = kstrtol(text, 'measure_latency') !== 0;
        },
      ),
    ],
    [
      'async_lun_replace',
      rw(
        () => `${core().asyncLunReplace ? 1 : 0}\n`,
        (text) => {
          core().asyncLunReplace = kstrtobool(text, 'async_lun_replace');
        },
      ),
    ],
    [
      'force_global_sgv_pool',
      rw(
        () => keyed(core().forceGlobalSgvPool, core().forceGlobalSgvPool !== 0),
        (text) => {
          core().forceGlobalSgvPool = kstrtoul(text, 'force_global_sgv_pool');
        },
      ),
    ],
    [
      'cluster_name',
      rw(
        () => (core().clusterName === '' ? '' : keyed(core().clusterName, true)),
        (text) => {
          const v = chomp(text);
          if (v.length >= 64) throw einval(`cluster_name is too long (${v.length} characters, max 63)`);
          // The cluster's etcd keys are named after it: a member cannot move to another cluster.
          if (ctx.cluster && v !== core().clusterName) throw new MgmtError('EBUSY', `cluster_name cannot change while scstd is node ${ctx.cluster.node} of cluster '${ctx.cluster.clusterName}' (--cluster)`);
          core().clusterName = v;
        },
      ),
    ],
    ['trace_cmds', ro(() => renderTraceCmds(ctx))],
    ['trace_mcmds', ro(() => '')],
    ['last_sysfs_mgmt_res', ro(() => ctx.works.render())],
    // Extra, read-only: the engine's counts of commands it aborted and of commands it had to force
    // out after their bound expired (src/engine/stats.ts). Never key, so tools never save them.
    ['aborted_cmd_count', ro(() => `${engineStats.abortedCommands}\n`)],
    ['stuck_cmd_count', ro(() => `${engineStats.stuckCommands}\n`)],
  ];
  if (ctx.build.tracing) entries.push(['trace_level', traceFile(ctx, ctx.trace.core, 'scsi_tgt', TRACE_HELP.core)]);
  return entries;
}


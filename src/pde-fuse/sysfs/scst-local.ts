import { MgmtError, einval } from '../../engine/errors.js';
import { DEFAULT_SCSI_TRANSPORT_VERSION, SCST_LOCAL, SCST_LOCAL_VERSION, type LocalDriver } from '../../engine/scst_local/driver.js';
import type { ScstSession } from '../../engine/session.js';
import type { Target } from '../../engine/target.js';
import { attr, MODE_RW, type PdeNode } from '../node.js';
import { keyed, membersDir, ro, rw } from './attr.js';
import type { SysfsContext } from './context.js';
import { Lexer, kstrtoul, targetCommand } from './lexer.js';
import { TRACE_HELP, traceFile } from './root.js';
import { CORE_DEFAULT, CORE_TOKENS, TraceLevel } from '../procfs/trace.js';
import { targetDir, type DriverView } from './targets.js';

// R/targets/scst_local/ (sysfs.md §7.1, §7.2, §11.3): the driver's mgmt, version and stats; its
// targets are the core's target directories (targets.ts) with scst_local's two attributes and no
// `enabled`; its sessions carry host_no and transport_id.

export const SCST_LOCAL_MGMT_HELP =
  'Usage: echo "add_target target_name [parameters]" >mgmt\n' +
  '       echo "del_target target_name" >mgmt\n' +
  '       echo "add_session target_name session_name" >mgmt\n' +
  '       echo "del_session target_name session_name" >mgmt\n' +
  '\n' +
  '\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n\n" +
  'The following parameters available: session_name\n' +
  '\n';

/** add_target's parameters: `session_name=NAME` tokens separated by ';' (each makes a session). */
function sessionNames(lx: Lexer): string[] {
  const out: string[] = [];
  for (let guard = 0; guard <= lx.s.length; guard++) {
    const tok = lx.token();
    if (tok === null) break;
    const t = new Lexer(tok);
    const p = t.lexem();
    if (p === '') break;
    if (p.toLowerCase() !== 'session_name') throw einval(`Unknown parameter ${p}`);
    const v = t.lexem();
    if (v === '') throw einval(`Wrong session name ${v}`);
    out.push(v);
  }
  return out;
}

/** targets/scst_local/mgmt: add_target, del_target (the core's), add_session, del_session (the driver's). */
export async function writeLocalMgmt(ctx: SysfsContext, local: LocalDriver, text: string): Promise<void> {
  const lx = new Lexer(text);
  const word = lx.lexem();
  const cmd = word.toLowerCase();
  const tc = targetCommand(lx, cmd);
  if (tc?.cmd === 'del_target') {
    await local.delTarget(tc.name);
    ctx.alua.dropTarget(tc.name);
    return;
  }
  if (tc) {
    local.addTarget(tc.name, sessionNames(lx));
    return;
  }
  const targetName = lx.lexem();
  if (targetName === '') throw einval('Target name required');
  if (!local.target(targetName)) throw einval(`Target ${targetName} not found`);
  const sessionName = lx.lexem();
  if (sessionName === '') throw einval('Session name required');
  if (cmd === 'add_session') local.addSession(targetName, sessionName);
  else if (cmd === 'del_session') await local.delSession(targetName, sessionName);
  else throw einval(`Unknown action "${word}"`);
}

function localView(local: LocalDriver): DriverView {
  return {
    name: SCST_LOCAL,
    hasEnabled: false,
    targetAttrs: (t: Target) => {
      const st = local.stateOf(t);
      return [
        [
          'scsi_transport_version',
          rw(
            () => (st.scsiTransportVersion !== 0 ? `0x${st.scsiTransportVersion.toString(16)}\n[key]\n` : `0x${DEFAULT_SCSI_TRANSPORT_VERSION.toString(16)}\n`),
            (text) => {
              st.scsiTransportVersion = kstrtoul(text, 'scsi_transport_version') & 0xffff;
            },
          ),
        ],
        [
          'phys_transport_version',
          rw(
            () => keyed(`0x${st.physTransportVersion.toString(16)}`, st.physTransportVersion !== 0),
            (text) => {
              st.physTransportVersion = kstrtoul(text, 'phys_transport_version') & 0xffff;
            },
          ),
        ],
      ];
    },
    sessionAttrs: (s: ScstSession) => [
      [
        'host_no',
        ro(() => {
          const ls = local.ofScst(s);
          if (!ls) throw einval('session has no host');
          return `${ls.number}\n`;
        }),
      ],
      [
        'transport_id',
        attr(
          MODE_RW,
          () => {
            const ls = local.ofScst(s);
            if (!ls) throw new MgmtError('ENOENT', 'session is gone');
            // Raw bytes, as scst_local emits them one character each.
            return ls.transportId ?? ls.sasTransportId();
          },
          (data) => {
            const ls = local.ofScst(s);
            if (!ls) throw new MgmtError('ENOENT', 'session is gone');
            ls.transportId = data.length === 0 ? null : Buffer.from(data);
          },
        ),
      ],
    ],
  };
}

/** R/targets/scst_local. */
export function localDriverDir(ctx: SysfsContext, local: LocalDriver): PdeNode {
  const mgmt = rw(
    () => SCST_LOCAL_MGMT_HELP,
    (text) => ctx.works.run('targets/scst_local/mgmt', () => writeLocalMgmt(ctx, local, text)),
  );
  // scst_local's own trace flags (its module's trace_flag), the core's tokens.
  const trace = new TraceLevel(SCST_LOCAL, CORE_TOKENS, CORE_DEFAULT);
  const opts = ['EXTRACHECKS', 'TRACING', 'DEBUG'].filter((o) => ctx.build.options.includes(o));
  const fixed: Array<readonly [string, PdeNode]> = [
    ['mgmt', mgmt],
    ...(ctx.build.tracing ? ([['trace_level', traceFile(ctx, trace, SCST_LOCAL, TRACE_HELP.core)]] as const) : []),
    ['version', ro(() => [SCST_LOCAL_VERSION, ...opts].map((l) => `${l}\n`).join(''))],
    ['stats', ro(() => `Aborts: ${local.stats.aborts}, Device Resets: ${local.stats.deviceResets}, Target Resets: ${local.stats.targetResets}\n`)],
  ];
  const view = localView(local);
  return membersDir(() => fixed, {
    list: () => local.targets.values(),
    get: (name) => local.targets.get(name),
    count: () => local.targets.size,
    name: (t) => t.name,
    make: (t) => targetDir(ctx, t, view),
    dirs: true,
  });
}

import { CM_SESSION, CM_TARGET } from '../../engine/copy_manager/copy-manager.js';
import type { LunEntry } from '../../engine/target.js';
import { link, type PdeNode } from '../node.js';
import { keyed, lunOfName, membersDir, ro, rw, sdir } from './attr.js';
import type { SysfsContext } from './context.js';
import { kstrtoul } from './lexer.js';
import { targetCoreEntries, type StatName } from './targets.js';

// R/targets/copy_manager (sysfs.md §7.1, §7.6): the driver's allow_not_connected_copy and
// dif_capabilities, no mgmt and no enabled; its one target copy_manager_tgt with the core target
// attributes (no enabled), the DIF ones, and the one session copy_manager_sess through which
// SCST's copy manager reaches every device it holds.

/** scst_cm_tgtt: dif_supported and hardware DIF types 1 to 3. */
const DIF_CAPABILITIES = 'dif_supported, hw_dif_type1_supported, hw_dif_type2_supported, hw_dif_type3_supported\n';
const DIF_CHECKS_FAILED = '\tapp\tref\tguard\ntgt\t0\t0\t0\nscst\t0\t0\t0\ndev\t0\t0\t0\n';
/** scst_cm_tgtt.sg_tablesize. */
const SG_TABLESIZE = 0xffff;

function stat(ctx: SysfsContext, name: StatName): number {
  const s = ctx.scst.copyManager.stats;
  if (name === 'read_cmd_count') return s.readCmds;
  if (name === 'read_io_count_kb') return Math.floor(s.readBytes / 1024);
  return 0;
}

/** sessions/copy_manager_sess: the internal session that holds a nexus to every CM LUN. */
function sessionDir(ctx: SysfsContext): PdeNode {
  const set = ctx.scst.copyManager.target.defaultLuns;
  const fixed: Array<readonly [string, PdeNode]> = [
    ['initiator_name', ro(() => `${CM_SESSION}\n`)],
    // A session of a target that supports DIF has it (scst_sysfs.c: tgt_dif_supported).
    ['dif_checks_failed', rw(() => DIF_CHECKS_FAILED, () => undefined)],
    ['commands', ro(() => '0\n')],
    ['active_commands', ro(() => '0\n')],
    ...(['unknown_cmd_count', 'none_cmd_count', 'read_cmd_count', 'write_cmd_count', 'bidi_cmd_count', 'read_io_count_kb', 'write_io_count_kb', 'bidi_io_count_kb', 'read_unaligned_cmd_count', 'write_unaligned_cmd_count', 'bidi_unaligned_cmd_count'] as const).map(
      (n) =>
        [
          n,
          rw(
            () => `${stat(ctx, n)}\n`,
            () => {
              if (n.startsWith('read')) {
                ctx.scst.copyManager.stats.readCmds = 0;
                ctx.scst.copyManager.stats.readBytes = 0;
              }
            },
          ),
        ] as const,
    ),
    ['luns', link(() => '../../luns')],
  ];
  return membersDir(() => fixed, {
    list: () => set.luns.values(),
    get: (name) => {
      const lun = name.startsWith('lun') ? lunOfName(name.slice(3)) : undefined;
      return lun === undefined ? undefined : set.luns.get(lun);
    },
    count: () => set.luns.size,
    version: () => set.version,
    name: (e: LunEntry) => `lun${e.lun}`,
    make: () => {
      const entries = [
        ['active_commands', ro(() => '0\n')],
        ['thread_pid', ro(() => `${process.pid}\n`)],
        ['thread_index', ro(() => '0\n')],
      ] as const;
      return sdir(() => entries);
    },
    dirs: true,
  });
}

function targetDir(ctx: SysfsContext): PdeNode {
  const t = ctx.scst.copyManager.target;
  const session = sessionDir(ctx);
  const entries: Array<readonly [string, PdeNode]> = [
    ...targetCoreEntries(ctx, t, { sgTablesize: SG_TABLESIZE, stat: (n) => stat(ctx, n) }),
    ['dif_capabilities', ro(() => DIF_CAPABILITIES)],
    ['dif_checks_failed', rw(() => DIF_CHECKS_FAILED, () => undefined)],
    ['sessions', sdir(() => [[CM_SESSION, session]])],
  ];
  return sdir(() => entries);
}

/** R/targets/copy_manager. */
export function copyManagerDir(ctx: SysfsContext): PdeNode {
  const cm = ctx.scst.copyManager;
  const tgt = targetDir(ctx);
  const entries: Array<readonly [string, PdeNode]> = [
    [
      'allow_not_connected_copy',
      rw(
        () => keyed(cm.allowNotConnectedCopy ? 1 : 0, cm.allowNotConnectedCopy),
        (text) => {
          const v = kstrtoul(text, 'allow_not_connected_copy');
          cm.allowNotConnectedCopy = v !== 0;
          ctx.log.info({ allowNotConnectedCopy: v }, `copy_manager: allow_not_connected_copy set to ${v}`);
        },
      ),
    ],
    ['dif_capabilities', ro(() => DIF_CAPABILITIES)],
    [CM_TARGET, tgt],
  ];
  return sdir(() => entries);
}

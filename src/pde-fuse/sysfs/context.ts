import type { Logger } from 'pino';
import type { Alua } from '../../engine/alua.js';
import type { ClusterView } from '../../cluster/membership.js';
import { MgmtError } from '../../engine/errors.js';
import type { IscsiDriver } from '../../engine/iscsi/portal.js';
import type { LocalDriver } from '../../engine/scst_local/driver.js';
import { aluaOf, type ScstMgmt } from '../../engine/mgmt.js';
import type { Scst } from '../../engine/scst.js';
import { SCST_VERSION } from '../../engine/scst.js';
import { ERRNO } from '../pdefs.js';
import { CORE_DEFAULT, CORE_TOKENS, ISCSI_DEFAULT, ISCSI_TOKENS, TraceLevel, VDISK_DEFAULT, VDISK_TOKENS } from '../procfs/trace.js';

/** What the build "was compiled with" (sysfs.md §4.1). */
export interface SysfsBuild {
  version: string;
  buildDate: string;
  buildNumber: string;
  gitCommit: string;
  kver: string;
  arch: string;
  /** SCST config options in SCST's fixed order (TRACING, DEBUG, ...). */
  options: string[];
  /** trace_level files exist (release and debug builds). */
  tracing: boolean;
  /** The scst_user module is loaded: handlers/scst_user exists (scstd without --no-user-socket). */
  userHandler: boolean;
  /** The pass-through modules (scst_disk, scst_cdrom) are loaded: handlers/dev_disk and dev_cdrom exist (scstd without --no-pass-through). */
  passThrough: boolean;
  /** handlers/vdisk_rbd exists (scstd without --no-rbd). */
  rbd: boolean;
}

export const DEFAULT_SYSFS_BUILD: SysfsBuild = {
  version: SCST_VERSION,
  userHandler: true,
  passThrough: true,
  rbd: true,
  buildDate: '',
  buildNumber: '',
  gitCommit: '',
  kver: '',
  arch: process.arch === 'x64' ? 'x86_64' : process.arch,
  options: ['TRACING'],
  tracing: true,
};

/** Longest a work holds back the works queued after it. */
const MAX_WORK_BLOCK_MS = 120_000;

/**
 * The sysfs work queue (sysfs.md §3): asynchronous commands run one after another; a writer waits
 * a bounded time for its own and otherwise gets EAGAIN while the work goes on. `active` counts the
 * works queued or running; `last` is the result of the last finished one (0 or -errno).
 */
export class SysfsWorks {
  active = 0;
  last = 0;
  private chain: Promise<unknown> = Promise.resolve();

  /**
   * @param waitMs how long a writer waits before EAGAIN (SCST: 15 s); 0 answers every
   * asynchronous write with EAGAIN at once, as SCST's CONFIG_SCST_DEBUG_SYSFS_EAGAIN does.
   */
  constructor(
    public waitMs: number,
    private readonly log: Logger,
  ) {}

  /** Queue `op`; resolves when it is done, or throws EAGAIN when it is still running at the bound. */
  run(what: string, op: () => void | Promise<void>): Promise<void> {
    this.active++;
    const work = this.chain.then(async () => {
      try {
        await op();
        return null;
      } catch (e) {
        return e;
      }
    });
    const finished = work.then((e) => {
      this.active--;
      if (e instanceof MgmtError) this.last = -ERRNO[e.errno];
      else if (e) this.last = -ERRNO.EIO;
      else this.last = 0;
      if (e && !(e instanceof MgmtError)) this.log.error({ err: e, work: what }, `${what}: internal error`);
      return e;
    });
    // The next work waits for this one, but not for ever: a work that never ends must not stop
    // every later command (it still counts as active until it does end).
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise((r) => (timer = setTimeout(r, MAX_WORK_BLOCK_MS).unref()));
    void finished.then(() => clearTimeout(timer));
    this.chain = Promise.race([finished, bound]);
    if (this.waitMs <= 0) {
      // SCST's CONFIG_SCST_DEBUG_SYSFS_EAGAIN: every asynchronous write answers EAGAIN at once.
      return Promise.reject(new MgmtError('EAGAIN', `${what}: queued`));
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      // Unref'd: the writer's FUSE request holds the process while it waits; after the shutdown
      // has answered it, this wait must not hold the process for another waitMs.
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        this.log.info({ work: what, waitMs: this.waitMs }, `${what}: still running after ${this.waitMs} ms; the writer gets EAGAIN, last_sysfs_mgmt_res reports the outcome`);
        reject(new MgmtError('EAGAIN', `${what}: in progress`));
      }, this.waitMs).unref();
      void finished.then((e) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e) reject(e instanceof MgmtError ? e : new MgmtError('EIO', `${what}: internal error`));
        else resolve();
      });
    });
  }

  /** last_sysfs_mgmt_res: EAGAIN while anything is queued or running. */
  render(): string {
    if (this.active > 0) throw new MgmtError('EAGAIN', 'sysfs works in progress');
    return `${this.last}\n`;
  }
}

export interface SysfsContext {
  scst: Scst;
  mgmt: ScstMgmt;
  iscsi: IscsiDriver | null;
  /** The scst_local target driver, when the daemon has one. */
  local: LocalDriver | null;
  alua: Alua;
  log: Logger;
  build: SysfsBuild;
  /** Shared with the procfs tree: a change through either shows in both. */
  trace: { core: TraceLevel; vdisk: TraceLevel; iscsi: TraceLevel };
  works: SysfsWorks;
  /** The daemon's cluster membership (scstd --cluster): the cluster/ directory; null without. */
  cluster: ClusterView | null;
}

export interface SysfsOptions {
  build?: Partial<SysfsBuild>;
  trace?: SysfsContext['trace'];
  /** The writer's bound before EAGAIN (default 15 s as SCST). */
  asyncWaitMs?: number;
  /** The scst_local driver to publish under targets/ (none: no scst_local directory). */
  local?: LocalDriver | null;
  /** Cluster membership to publish under cluster/ (scstd --cluster). */
  cluster?: ClusterView | null;
}

export function makeSysfsContext(scst: Scst, mgmt: ScstMgmt, iscsi: IscsiDriver | null, log: Logger, o: SysfsOptions = {}): SysfsContext {
  return {
    scst,
    mgmt,
    iscsi,
    local: o.local ?? null,
    alua: aluaOf(scst),
    log,
    build: { ...DEFAULT_SYSFS_BUILD, ...o.build },
    trace: o.trace ?? {
      core: new TraceLevel('scsi_tgt', CORE_TOKENS, CORE_DEFAULT),
      vdisk: new TraceLevel('vdisk', VDISK_TOKENS, VDISK_DEFAULT),
      iscsi: new TraceLevel('iscsi', ISCSI_TOKENS, ISCSI_DEFAULT),
    },
    works: new SysfsWorks(o.asyncWaitMs ?? 15_000, log),
    cluster: o.cluster ?? null,
  };
}

import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Fuse from 'fuse-native';
import type { Logger } from 'pino';
import { ERRNO, type PdeFs } from './pdefs.js';
import { fuseMountsAt } from './mountinfo.js';
import { onPath } from '../on-path.js';

// Publishes a PdeFs through FUSE (fuse-native, libfuse 2). Everything here runs on the daemon's
// event loop: libfuse's threads only wait for our callbacks, and nothing in the daemon touches the
// mount point's contents (that would wait on ourselves), only its mount table entry.

/**
 * libfuse options (procfs.md §1.1, §1.4): content is produced per read, so the kernel must not use
 * sizes or cached attributes (direct_io, attr_timeout=0: a stat of an object just deleted asks us,
 * and scstadmin confirms a deletion that way). Names found are kept for a second
 * (entry_timeout=1): a path walk then asks only for each directory's attributes (the permission
 * check), not also for each name, which halves the requests of a scan of 10,000 devices; an
 * object deleted meanwhile still fails that attribute request, and a new name is never cached as
 * missing (negative_timeout=0). Shell redirection's O_TRUNC comes with open (atomic_o_trunc); the
 * kernel checks the procfs modes (default_permissions) for every user (allow_other); auto_unmount
 * removes the mount when this process dies, even by SIGKILL.
 */
export const FUSE_MOUNT_OPTIONS = 'direct_io,entry_timeout=1,attr_timeout=0,negative_timeout=0,atomic_o_trunc,default_permissions,allow_other,auto_unmount,subtype=pde,fsname=scstd';

const EPERM = -ERRNO.EPERM;
const EACCES = -ERRNO.EACCES;
const EIO = -ERRNO.EIO;
const ENOTCONN = 'ENOTCONN';
/** What a reader gets from a FUSE server that went away; pending writes get it at the end. */
const FUSE_ENOTCONN = -107;
const EXTERNAL_TIMEOUT_MS = 10_000;

interface FuseBinding {
  fuse_native_unmount(mnt: string, thread: Buffer): void;
}

/** fuse-native's native binding, the very instance its index.js loaded (addons load once). */
function fuseBinding(): FuseBinding {
  const req = createRequire(import.meta.url);
  const main = req.resolve('fuse-native');
  return (createRequire(main)('node-gyp-build') as (dir: string) => FuseBinding)(path.dirname(main));
}

/**
 * fuse-native answers a request itself after this long. Only a write (its command, bounded by
 * the write queue and the sysfs wait) and a read (a long listing renders in slices) wait for
 * anything; every other operation here answers before its callback returns, so it goes without
 * the timer fuse-native would otherwise arm and clear for each request (one per stat of a
 * 10,000-entry scan).
 */
const FUSE_TIMEOUTS: Record<string, number | false> = {
  default: 120_000,
  ...Object.fromEntries(['getattr', 'fgetattr', 'access', 'statfs', 'readdir', 'opendir', 'releasedir', 'readlink', 'open', 'release', 'flush', 'truncate', 'ftruncate', 'utimens', 'create', 'chmod', 'chown', 'unlink', 'rename', 'mkdir', 'rmdir'].map((op) => [op, false])),
};

class PdeFuse extends Fuse {
  /** Options added to FUSE_MOUNT_OPTIONS for this mount. */
  extraOptions = '';
  private released = false;
  protected override _fuseOptions(): string {
    const base = super._fuseOptions();
    const own = this.extraOptions ? `${FUSE_MOUNT_OPTIONS},${this.extraOptions}` : FUSE_MOUNT_OPTIONS;
    return base ? `${base},${own}` : `-o${own}`;
  }

  /** The libfuse session still holds the event loop. */
  get sessionHeld(): boolean {
    return !this.released && this._thread !== null;
  }

  /**
   * Let go of the libfuse session's wake-up handle, a ref'd libuv handle that holds the event loop
   * and that Node does not list (process.getActiveResourcesInfo() does not show it). fuse-native
   * lets go of it only after its own `fusermount -uz` succeeded, which runs without a bound: a
   * mount removed by someone else (fusermount fails) or a fusermount that hangs kept the daemon
   * alive for ever after its shutdown. Only for a mounted session; once.
   */
  releaseSession(): void {
    if (!this.sessionHeld) return;
    this.released = true;
    fuseBinding().fuse_native_unmount(this.mnt, this._thread!);
  }
}

function run(cmd: string, args: string[], timeoutMs = EXTERNAL_TIMEOUT_MS): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    // SIGKILL: a helper stuck in the kernel ignores nothing else either, and must not outlive its bound.
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}`.trim() || (err?.message ?? '') }));
  });
}

/** A FUSE write the daemon has not answered yet (it waits for a management command). */
interface PendingWrite {
  path: string;
  answer(result: number): void;
}

/**
 * What a FUSE mount needs from the machine, checked before mounting so that a missing piece is
 * one clear sentence naming what to install instead of a libfuse error, or a mount that works and
 * then cannot be removed (as root libfuse mounts without fusermount, but unmounting needs it).
 */
export async function checkFuseAvailable(): Promise<void> {
  const noMount = 'or start scstd with --no-mount';
  try {
    await fsp.access('/dev/fuse', fsp.constants.R_OK | fsp.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`/dev/fuse is missing: load the fuse module (modprobe fuse) or, in a container, pass the device (--device /dev/fuse); ${noMount}`);
    throw new Error(`/dev/fuse cannot be opened (${code}): run as root or as a member of the group owning /dev/fuse; ${noMount}`);
  }
  if (!(await onPath('fusermount'))) throw new Error(`fusermount is not installed (Debian: apt-get install -y fuse); ${noMount}`);
}

/** Whether `p` is a dead FUSE mount (its server is gone). */
async function isStale(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === ENOTCONN;
  }
}

/**
 * A mount left by a daemon that was killed: its entry is still in the mount table but its server
 * is gone (ENOTCONN). Lazily unmount it. A live mount at the same place belongs to another daemon
 * and is an error.
 */
export async function cleanStaleMount(mountPoint: string, log: Logger): Promise<void> {
  const mounts = await fuseMountsAt(mountPoint);
  const stale = await isStale(mountPoint);
  if (mounts.length === 0 && !stale) return;
  if (!stale && mounts.includes(mountPoint)) throw new Error(`${mountPoint} is already mounted and answering (another scstd?)`);
  for (const mp of mounts.length ? mounts.reverse() : [mountPoint]) {
    const r = await run('fusermount', ['-uz', mp]);
    if (r.ok) log.warn({ mountPoint: mp }, `cleaned stale FUSE mount ${mp} left by a previous daemon`);
    else throw new Error(`cannot unmount stale FUSE mount ${mp}: ${r.out}`);
  }
}

/**
 * Maps the FUSE callbacks onto a PdeFs; no callback can throw. Writes are the only answers that
 * wait (for a management command); they are listed in `pending` until answered.
 */
function operations(pfs: PdeFs, log: Logger, pending: Set<PendingWrite>): Fuse.Ops {
  const guard = <A extends unknown[]>(name: string, fn: (...a: A) => void, fail: (...a: A) => void) =>
    (...a: A) => {
      pfs.fuseRequests.set(name, (pfs.fuseRequests.get(name) ?? 0) + 1);
      try {
        fn(...a);
      } catch (e) {
        log.error({ err: e, op: name }, `FUSE ${name} failed`);
        fail(...a);
      }
    };
  return {
    getattr: guard(
      'getattr',
      (p: string, cb: (err: number, st?: Fuse.Stat) => void) => {
        const st = pfs.getattr(p);
        if (typeof st === 'number') cb(st);
        else cb(0, st);
      },
      (_p, cb) => cb(EIO),
    ),
    readdir: guard(
      'readdir',
      (p: string, cb: (err: number, names?: string[]) => void) => {
        const r = pfs.readdir(p);
        // `.` and `..` first, as procfs and kernfs list them (sysfs.md §2.6).
        if (typeof r === 'number') cb(r);
        else cb(0, ['.', '..', ...r]);
      },
      (_p, cb) => cb(EIO),
    ),
    readlink: guard(
      'readlink',
      (p: string, cb: (err: number, target?: string) => void) => {
        const r = pfs.readlink(p);
        if (typeof r === 'number') cb(r);
        else cb(0, r);
      },
      (_p, cb) => cb(EIO),
    ),
    open: guard(
      'open',
      (p: string, flags: number, cb: (err: number, fd?: number) => void) => {
        const fh = pfs.open(p, flags);
        if (fh < 0) cb(fh);
        else cb(0, fh);
      },
      (_p, _f, cb) => cb(EIO),
    ),
    release: guard(
      'release',
      (_p: string, fd: number, cb: (r: number) => void) => {
        pfs.release(fd);
        cb(0);
      },
      (_p, _fd, cb) => cb(0),
    ),
    read: guard(
      'read',
      (_p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (r: number) => void) => {
        const answer = (r: Buffer | number): void => cb(typeof r === 'number' ? r : r.copy(buf, 0));
        const r = pfs.read(fd, len, pos);
        if (r instanceof Promise) {
          // The buffer is libfuse's and stays valid until we answer.
          r.then(answer, (e: unknown) => {
            log.error({ err: e }, 'FUSE read failed');
            cb(EIO);
          });
        } else answer(r);
      },
      (_p, _fd, _b, _l, _pos, cb) => cb(EIO),
    ),
    write: guard(
      'write',
      (p: string, fd: number, buf: Buffer, len: number, pos: number, cb: (r: number) => void) => {
        // The buffer is libfuse's memory, valid only until we answer: copy it first.
        const data = Buffer.from(buf.subarray(0, len));
        // Answered once: by the command, or by the shutdown's force-close, whichever is first.
        const w: PendingWrite = {
          path: p,
          answer: (r) => {
            if (!pending.delete(w)) return;
            cb(r);
          },
        };
        pending.add(w);
        pfs.write(fd, data, pos).then(w.answer, (e: unknown) => {
          log.error({ err: e }, 'FUSE write failed');
          w.answer(EIO);
        });
      },
      (_p, _fd, _b, _l, _pos, cb) => cb(EIO),
    ),
    // A LUN file (dev/) flushes its logical unit's write cache; a tree file has nothing to flush.
    fsync: guard(
      'fsync',
      (_p: string, _datasync: boolean, fd: number, cb: (r: number) => void) => {
        pfs.fsync(fd).then(cb, (e: unknown) => {
          log.error({ err: e }, 'FUSE fsync failed');
          cb(EIO);
        });
      },
      (_p, _d, _fd, cb) => cb(EIO),
    ),
    // O_TRUNC from shell redirection: a command file has nothing to truncate.
    truncate: (p, _size, cb) => cb(typeof pfs.getattr(p) === 'number' ? -ERRNO.ENOENT : 0),
    ftruncate: (_p, _fd, _size, cb) => cb(0),
    utimens: (p, _a, _m, cb) => cb(typeof pfs.getattr(p) === 'number' ? -ERRNO.ENOENT : 0),
    create: (_p, _mode, cb) => cb(EACCES),
    chmod: (_p, _m, cb) => cb(EPERM),
    chown: (_p, _u, _g, cb) => cb(EPERM),
    unlink: (_p, cb) => cb(EPERM),
    rename: (_s, _d, cb) => cb(EPERM),
    mkdir: (_p, _m, cb) => cb(EPERM),
    rmdir: (_p, cb) => cb(EPERM),
  };
}

/**
 * A published tree. The FUSE mount is at `<dir>/<sub>` (sub '' = `<dir>` itself, whose root then
 * holds proc/scsi_tgt and sys/kernel/scst_tgt; sub 'proc' = the procfs tree alone).
 */
export class PdeMount {
  private constructor(
    private readonly fuse: PdeFuse,
    readonly mountPoint: string,
    private readonly log: Logger,
    private readonly pending: Set<PendingWrite>,
    private readonly pfs: PdeFs,
  ) {}

  static async mount(dir: string, pfs: PdeFs, log: Logger, sub = 'proc'): Promise<PdeMount> {
    const mountPoint = sub ? path.join(path.resolve(dir), sub) : path.resolve(dir);
    await checkFuseAvailable();
    await fsp.mkdir(path.resolve(dir), { recursive: true });
    await cleanStaleMount(mountPoint, log);
    await fsp.mkdir(mountPoint, { recursive: true });
    const pending = new Set<PendingWrite>();
    const fuse = new PdeFuse(mountPoint, operations(pfs, log, pending), { timeout: FUSE_TIMEOUTS });
    // Mounted on the --mount directory itself, the tree covers whatever is there (an empty proc/
    // left by an older daemon, say); libfuse 2 refuses a non-empty mount point without this.
    if (!sub) fuse.extraOptions = 'nonempty';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`FUSE mount at ${mountPoint} did not complete within ${EXTERNAL_TIMEOUT_MS} ms`)), EXTERNAL_TIMEOUT_MS);
      fuse.mount((err) => {
        clearTimeout(timer);
        if (err) reject(new Error(`FUSE mount at ${mountPoint} failed: ${err.message}`));
        else resolve();
      });
    });
    log.info({ mountPoint }, `management tree mounted at ${mountPoint}`);
    return new PdeMount(fuse, mountPoint, log, pending, pfs);
  }

  /**
   * Detach the mount (lazily: readers inside it keep what they hold, new lookups fail) within
   * `boundMs`, then let go of the libfuse session whatever happened, so that it never holds the
   * process. Writes still waiting for a command go on being answered until forceClose(). Returns
   * false when the mount could not be removed (logged).
   */
  async unmount(boundMs = EXTERNAL_TIMEOUT_MS): Promise<boolean> {
    this.pfs.opTimes.logLongest();
    const r = await run('fusermount', ['-uz', this.mountPoint], Math.max(100, boundMs));
    this.fuse.releaseSession();
    let ok = r.ok;
    if (!r.ok) {
      const still = (await fuseMountsAt(this.mountPoint)).includes(this.mountPoint);
      if (still) this.log.error({ mountPoint: this.mountPoint, out: r.out }, `cannot unmount ${this.mountPoint}: ${r.out}`);
      else this.log.warn({ mountPoint: this.mountPoint, out: r.out }, `${this.mountPoint} was no longer mounted (unmounted by someone else?)`);
      ok = !still;
    }
    if (ok) this.log.info({ mountPoint: this.mountPoint }, `management tree unmounted from ${this.mountPoint}`);
    return ok;
  }

  /** FUSE requests served, by operation. */
  get fuseRequests(): ReadonlyMap<string, number> {
    return this.pfs.fuseRequests;
  }

  /** What of the mount still holds the process (after unmount(): writes not answered yet). */
  alive(): string[] {
    const out: string[] = [];
    if (this.fuse.sessionHeld) out.push(`FUSE session of ${this.mountPoint}`);
    if (this.pending.size > 0) out.push(`${this.pending.size} FUSE write(s) unanswered (${[...this.pending].map((w) => w.path).join(', ')})`);
    return out;
  }

  /** Answer what is still waiting (ENOTCONN, as from a server that is gone) and let go of the session. */
  forceClose(): void {
    for (const w of [...this.pending]) w.answer(FUSE_ENOTCONN);
    this.fuse.releaseSession();
  }
}

// Test support: scstd's management trees (src/pde-fuse, a PdeFs) in-process behind the TreeFs
// interface, mounted at `mountPoint`, so scstadmin's tests can run against the real engine
// without FUSE. Symbolic links are resolved here, as the kernel's VFS does for a FUSE mount.

import type { PdeFs } from '../../../src/pde-fuse/pdefs.js';
import { TreeError, type TreeFs, type TreeReader, type TreeStat } from '../../../src/scstadmin/tree/tree-fs.js';

const O_RDONLY = 0;
const O_WRONLY = 1;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

const NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  16: 'EBUSY',
  17: 'EEXIST',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  34: 'ERANGE',
  57: 'EBADSLT',
  75: 'EOVERFLOW',
  124: 'EMEDIUMTYPE',
};

const errName = (neg: number): string => NAMES[-neg] ?? `E${-neg}`;

export class PdeTreeFs implements TreeFs {
  /** Every write attempted (path below the mount point, data, errno name on failure). */
  readonly writes: Array<{ path: string; data: string; error?: string }> = [];

  constructor(
    private readonly mountPoint: string,
    private readonly pde: PdeFs,
  ) {}

  /** The tree's own path of `path`, links followed (the last one only when `follow`). */
  private resolve(path: string, follow: boolean): string {
    const mp = this.mountPoint.replace(/\/+$/, '');
    if (path !== mp && !path.startsWith(`${mp}/`)) throw new TreeError('ENOENT', `${path}: outside the tree`);
    let todo = path.slice(mp.length).split('/').filter((s) => s !== '' && s !== '.');
    let done: string[] = [];
    for (let hops = 0; todo.length > 0; ) {
      const name = todo.shift()!;
      if (name === '..') {
        done.pop();
        continue;
      }
      const p = `/${[...done, name].join('/')}`;
      const st = this.pde.getattr(p);
      if (typeof st === 'number') throw new TreeError(errName(st), `${path}: ${errName(st)}`);
      if ((st.mode & S_IFMT) === S_IFLNK && (todo.length > 0 || follow)) {
        if (++hops > 40) throw new TreeError('ELOOP', `${path}: too many links`);
        const target = this.pde.readlink(p) as string;
        if (target.startsWith('/')) throw new TreeError('ENOENT', `${path}: absolute link`);
        todo = [...target.split('/').filter((s) => s !== '' && s !== '.'), ...todo];
        continue;
      }
      done = [...done, name];
    }
    return `/${done.join('/')}`;
  }

  async readdir(path: string): Promise<string[]> {
    const r = this.pde.readdir(this.resolve(path, true));
    if (typeof r === 'number') throw new TreeError(errName(r), `${path}: ${errName(r)}`);
    return r;
  }

  private statOf(p: string): TreeStat {
    const st = this.pde.getattr(p);
    if (typeof st === 'number') throw new TreeError(errName(st), `${p}: ${errName(st)}`);
    const kind = st.mode & S_IFMT;
    return { isDirectory: kind === S_IFDIR, isFile: kind === 0o100000, isSymbolicLink: kind === S_IFLNK, mode: st.mode & 0o7777 };
  }

  async stat(path: string): Promise<TreeStat> {
    return this.statOf(this.resolve(path, true));
  }

  async lstat(path: string): Promise<TreeStat> {
    return this.statOf(this.resolve(path, false));
  }

  async readlink(path: string): Promise<string> {
    const r = this.pde.readlink(this.resolve(path, false));
    if (typeof r === 'number') throw new TreeError(errName(r), `${path}: ${errName(r)}`);
    return r;
  }

  async read(path: string, max = 1 << 20): Promise<string> {
    const reader = await this.openReader(path);
    try {
      return await reader.read(max);
    } finally {
      await reader.close();
    }
  }

  async write(path: string, data: string): Promise<number> {
    const rel = path.slice(this.mountPoint.replace(/\/+$/, '').length);
    try {
      const n = await this.write1(path, data);
      this.writes.push({ path: rel, data });
      return n;
    } catch (e) {
      this.writes.push({ path: rel, data, error: (e as TreeError).code });
      throw e;
    }
  }

  private async write1(path: string, data: string): Promise<number> {
    let p: string;
    try {
      p = this.resolve(path, true);
    } catch (e) {
      throw new TreeError((e as TreeError).code, (e as Error).message, 'open');
    }
    const fh = this.pde.open(p, O_WRONLY);
    if (fh < 0) throw new TreeError(errName(fh), `${path}: ${errName(fh)}`, 'open');
    try {
      const n = await this.pde.write(fh, Buffer.from(data, 'utf8'));
      if (n < 0) throw new TreeError(errName(n), `${path}: ${errName(n)}`);
      return n;
    } finally {
      this.pde.release(fh);
    }
  }

  async openReader(path: string): Promise<TreeReader> {
    const p = this.resolve(path, true);
    const fh = this.pde.open(p, O_RDONLY);
    if (fh < 0) throw new TreeError(errName(fh), `${path}: ${errName(fh)}`, 'open');
    return {
      read: async (max: number) => {
        const b = await this.pde.read(fh, max, 0);
        if (typeof b === 'number') throw new TreeError(errName(b), `${path}: ${errName(b)}`);
        return b.toString('utf8');
      },
      close: async () => this.pde.release(fh),
    };
  }
}

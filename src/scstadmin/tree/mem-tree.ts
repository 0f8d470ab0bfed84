// An in-memory management tree behind the TreeFs interface: directories whose entries are
// computed on every listing, files that render on every read and take one command per write,
// and relative symbolic links. It follows the kernfs rules scstadmin depends on (sysfs.md §2.1):
// no write bit means EACCES even for root, no read bit means EACCES on read. Used to unit-test
// scstadmin against a tree whose every byte is known.

import { TreeError, type TreeFs, type TreeReader, type TreeStat } from './tree-fs.js';

export interface MemFile {
  readonly kind: 'file';
  readonly mode: number;
  /** Whole content; throws TreeError (e.g. EAGAIN) to fail the read. */
  read?: () => string;
  /** One command; throws TreeError to fail the write with that errno. */
  write?: (data: string) => void;
}

export interface MemDir {
  readonly kind: 'dir';
  readonly mode: number;
  entries(): ReadonlyArray<readonly [string, MemNode]>;
}

export interface MemLink {
  readonly kind: 'link';
  readonly target: string;
}

export type MemNode = MemFile | MemDir | MemLink;

export const memDir = (entries: () => ReadonlyArray<readonly [string, MemNode]>, mode = 0o755): MemDir => ({ kind: 'dir', mode, entries });
export const memLink = (target: string): MemLink => ({ kind: 'link', target });

export interface WriteRecord {
  /** Path relative to the mount prefix, starting with `/`. */
  path: string;
  data: string;
  /** errno name when the write failed. */
  error?: string;
}

const MAX_LINK_HOPS = 40;

/** A TreeFs over MemNodes, answering paths below `prefix` (e.g. `/fake`). */
export class MemTreeFs implements TreeFs {
  /** Every write attempted, in order: what a test asserts byte for byte. */
  readonly writes: WriteRecord[] = [];

  constructor(
    private readonly prefix: string,
    private readonly root: MemDir,
  ) {}

  private parts(path: string): string[] {
    const p = path.startsWith(this.prefix) ? path.slice(this.prefix.length) : null;
    if (p === null || (p !== '' && !p.startsWith('/'))) throw new TreeError('ENOENT', `${path}: outside the tree`);
    return p.split('/').filter((s) => s !== '' && s !== '.');
  }

  /** Walks `parts`; intermediate links are always followed, the last one only when `follow`. */
  private resolve(path: string, follow: boolean): { node: MemNode; parts: string[] } {
    let todo = this.parts(path);
    let done: string[] = [];
    let node: MemNode = this.root;
    let hops = 0;
    while (todo.length > 0) {
      const name = todo[0]!;
      todo = todo.slice(1);
      if (name === '..') {
        done = done.slice(0, -1);
        node = this.walk(done);
        continue;
      }
      if (node.kind !== 'dir') throw new TreeError('ENOTDIR', `${path}: not a directory`);
      const hit: readonly [string, MemNode] | undefined = node.entries().find(([n]) => n === name);
      if (!hit) throw new TreeError('ENOENT', `${path}: no such file or directory`);
      const child = hit[1];
      if (child.kind === 'link' && (todo.length > 0 || follow)) {
        if (++hops > MAX_LINK_HOPS) throw new TreeError('ELOOP', `${path}: too many symbolic links`);
        const target = child.target.split('/').filter((s) => s !== '' && s !== '.');
        todo = [...target, ...todo];
        if (child.target.startsWith('/')) {
          // Absolute link text names the real file system, which this tree does not contain.
          throw new TreeError('ENOENT', `${path}: absolute link ${child.target}`);
        }
        node = this.walk(done);
        continue;
      }
      done = [...done, name];
      node = child;
    }
    return { node, parts: done };
  }

  private walk(parts: readonly string[]): MemNode {
    let node: MemNode = this.root;
    for (const name of parts) {
      if (node.kind !== 'dir') throw new TreeError('ENOTDIR', 'not a directory');
      const hit: readonly [string, MemNode] | undefined = node.entries().find(([n]) => n === name);
      if (!hit) throw new TreeError('ENOENT', 'no such file or directory');
      node = hit[1];
    }
    return node;
  }

  private static statOf(node: MemNode): TreeStat {
    if (node.kind === 'dir') return { isDirectory: true, isFile: false, isSymbolicLink: false, mode: node.mode };
    if (node.kind === 'link') return { isDirectory: false, isFile: false, isSymbolicLink: true, mode: 0o777 };
    return { isDirectory: false, isFile: true, isSymbolicLink: false, mode: node.mode };
  }

  async readdir(path: string): Promise<string[]> {
    const { node } = this.resolve(path, true);
    if (node.kind !== 'dir') throw new TreeError('ENOTDIR', `${path}: not a directory`);
    return node.entries().map(([n]) => n);
  }

  async stat(path: string): Promise<TreeStat> {
    return MemTreeFs.statOf(this.resolve(path, true).node);
  }

  async lstat(path: string): Promise<TreeStat> {
    return MemTreeFs.statOf(this.resolve(path, false).node);
  }

  async readlink(path: string): Promise<string> {
    const { node } = this.resolve(path, false);
    if (node.kind !== 'link') throw new TreeError('EINVAL', `${path}: not a symbolic link`);
    return node.target;
  }

  private readable(path: string): MemFile {
    const { node } = this.resolve(path, true);
    if (node.kind === 'dir') throw new TreeError('EISDIR', `${path}: is a directory`);
    if (node.kind !== 'file') throw new TreeError('ENOENT', path);
    if ((node.mode & 0o400) === 0 || !node.read) throw new TreeError('EACCES', `${path}: not readable`);
    return node;
  }

  async read(path: string, max = 1 << 20): Promise<string> {
    const text = this.readable(path).read!();
    return Buffer.from(text, 'utf8').subarray(0, max).toString('utf8');
  }

  async write(path: string, data: string): Promise<number> {
    const rel = `/${this.parts(path).join('/')}`;
    let node: MemNode;
    try {
      node = this.resolve(path, true).node;
    } catch (e) {
      const code = (e as TreeError).code;
      this.writes.push({ path: rel, data, error: code });
      throw new TreeError(code, (e as Error).message, 'open');
    }
    const fail = (code: string): never => {
      this.writes.push({ path: rel, data, error: code });
      throw new TreeError(code, `${path}: ${code}`, 'open');
    };
    if (node.kind === 'dir') return fail('EISDIR');
    if (node.kind !== 'file') return fail('ENOENT');
    if ((node.mode & 0o200) === 0 || !node.write) return fail('EACCES');
    if (data.length === 0) return 0;
    try {
      node.write(data);
    } catch (e) {
      this.writes.push({ path: rel, data, error: e instanceof TreeError ? e.code : 'EIO' });
      throw e instanceof TreeError ? e : new TreeError('EIO', String(e));
    }
    this.writes.push({ path: rel, data });
    return Buffer.byteLength(data);
  }

  async openReader(path: string): Promise<TreeReader> {
    const file = this.readable(path);
    return {
      read: async (max: number) => Buffer.from(file.read!(), 'utf8').subarray(0, max).toString('utf8'),
      close: async () => undefined,
    };
  }
}

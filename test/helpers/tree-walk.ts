// Walks a management tree (PdeFs, without FUSE) for the hostile-input tests.
import { expect } from 'vitest';
import type { PdeFs } from '../../src/pde-fuse/pdefs.js';
import { now } from './procfs.js';

/** Every regular file under `root` whose mode has the owner write bit. */
export function writableFiles(fs: PdeFs, root: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    const st = fs.getattr(p);
    if (typeof st === 'number') return;
    const kind = st.mode & 0o170000;
    if (kind === 0o040000) for (const n of fs.readdir(p) as string[]) walk(`${p}/${n}`);
    else if (kind === 0o100000 && st.mode & 0o200) out.push(p);
  };
  walk(root);
  return out;
}

/** Read every readable file and every link: the tree must still render after whatever was done. */
export function readWholeTree(fs: PdeFs, root: string): void {
  const walk = (p: string) => {
    const st = fs.getattr(p);
    if (typeof st === 'number') return;
    const kind = st.mode & 0o170000;
    if (kind === 0o040000) for (const n of fs.readdir(p) as string[]) walk(`${p}/${n}`);
    else if (kind === 0o100000 && st.mode & 0o400) {
      const r = now(fs.readPath(p));
      if (typeof r === 'number') expect([-11, -13], p).toContain(r);
    } else if (kind === 0o120000) expect(typeof fs.readlink(p)).toBe('string');
  };
  walk(root);
}

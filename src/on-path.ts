import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

// Whether a program can be run by name: what a start-up check (fusermount for the FUSE mount)
// and the benchmark (which peers are installed) ask before depending on one. Asynchronous: the
// daemon asks while it serves. (test/prereqs.mjs has its own copy: it runs before the build.)

/** Whether an executable `name` is in one of PATH's directories. */
export async function onPath(name: string, path = process.env.PATH ?? ''): Promise<boolean> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this one
    }
  }
  return false;
}

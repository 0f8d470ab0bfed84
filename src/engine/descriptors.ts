// The process's open-file descriptors: how many it may have (RLIMIT_NOFILE, soft) and how many
// it has. Every connection is one, so the connection bound is kept below the limit; and since
// libuv closes connections it cannot accept for want of a descriptor without telling anyone (its
// EMFILE trick), the daemon watches how close it runs to the limit to say so. Linux /proc only;
// elsewhere both answers are null.

import fs from 'node:fs/promises';

/** The soft limit on open files, null where it cannot be read. */
export async function openFilesLimit(): Promise<number | null> {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(await fs.readFile('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Descriptors open now; 'exhausted' when counting them fails for want of one (listing /proc
 * takes a descriptor too); null where they cannot be counted.
 */
export async function descriptorsInUse(): Promise<number | 'exhausted' | null> {
  try {
    return (await fs.readdir('/proc/self/fd')).length;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'EMFILE' || code === 'ENFILE' ? 'exhausted' : null;
  }
}

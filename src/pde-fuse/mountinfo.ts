// Reading this mount namespace's mount table (/proc/self/mountinfo). No FUSE here: the benchmark
// uses it too, to check that a daemon it stopped left no mount behind.
import fsp from 'node:fs/promises';

/** Mount points listed in /proc/self/mountinfo at or below `dir` whose type is FUSE. */
export async function fuseMountsAt(dir: string): Promise<string[]> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  // Field 5 is the mount point, with blanks and backslashes written as octal escapes.
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0 || f.length < sep + 2) continue;
    const mp = unescape(f[4] ?? '');
    const type = f[sep + 1] ?? '';
    if ((mp === dir || mp.startsWith(`${dir}/`)) && type.startsWith('fuse')) out.push(mp);
  }
  return out;
}

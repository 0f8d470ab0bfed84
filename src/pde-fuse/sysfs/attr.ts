import { einval } from '../../engine/errors.js';
import { MODE_RO, MODE_RW, attr, kdir, type PdeDir, type PdeFile, type PdeNode } from '../node.js';
import { cText, kstrtol, kstrtoul } from './lexer.js';

// Building blocks of the sysfs tree: the [key] marker (sysfs.md §2.3), kernfs listing order
// (§2.6) and attribute factories for the common value kinds.

export const KEY_MARK = '[key]';

/** `<value>\n`, plus `[key]\n` when the value must be saved. */
export function keyed(value: string | number, key: boolean): string {
  return key ? `${value}\n${KEY_MARK}\n` : `${value}\n`;
}

const INT_MAX = 0x7fffffff;
const TWO32 = 0x1_0000_0000;
/** GOLDEN_RATIO_64 (0x61c8864680b583eb) as two 32-bit halves. */
const GOLDEN_HI = 0x61c88646;
const GOLDEN_LO = 0x80b583eb;

/** High 32 bits of the 64-bit product of two unsigned 32-bit numbers (exact, in 16-bit limbs). */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 0x10000)) >>> 0;
}

/**
 * kernfs_name_hash on a 64-bit kernel without namespaces (sysfs.md §2.6): the unsigned long
 * arithmetic in two 32-bit halves, so a listing of 10,000 names hashes them in about a
 * millisecond (64-bit BigInt arithmetic took 6 µs a name).
 */
export function kernfsHash(name: string): number {
  let hi = 0;
  let lo = 0;
  let ascii = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    // h + (c << 4) + (c >> 4), then * 11, modulo 2^64 (c < 0x80: its high half is 0)
    const l = lo + (c << 4) + (c >>> 4);
    const l32 = l >>> 0;
    const h = hi + (l - l32) / TWO32;
    const l11 = l32 * 11;
    lo = l11 >>> 0;
    hi = (h * 11 + (l11 - lo) / TWO32) >>> 0;
  }
  if (!ascii) {
    hi = 0;
    lo = 0;
    for (const byte of Buffer.from(name, 'utf8')) {
      // `char` is signed on x86: bytes >= 0x80 become negative, then unsigned long.
      const chi = byte >= 0x80 ? 0xffffffff : 0;
      const clo = byte >= 0x80 ? (0xffffff00 | byte) >>> 0 : byte;
      const l = lo + ((clo << 4) >>> 0) + (((clo >>> 4) | (chi << 28)) >>> 0);
      const l32 = l >>> 0;
      const h = (hi + (((chi << 4) | (clo >>> 28)) >>> 0) + (chi >>> 4) + (l - l32) / TWO32) >>> 0;
      const l11 = l32 * 11;
      lo = l11 >>> 0;
      hi = (h * 11 + (l11 - lo) / TWO32) >>> 0;
    }
  }
  // (h * GOLDEN_RATIO_64) >> 32, modulo 2^64: the high half of the low 64 bits of the product.
  const top = (mulHi32(lo, GOLDEN_LO) + (Math.imul(hi, GOLDEN_LO) >>> 0) + (Math.imul(lo, GOLDEN_HI) >>> 0)) >>> 0;
  let r = top & INT_MAX;
  if (r < 2) r += 2;
  if (r >= INT_MAX) r = INT_MAX - 1;
  return r;
}

/** strcmp: UTF-8 byte order, which for strings is code point order (not UTF-16 unit order). */
function cmpBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Names in kernfs readdir order: by name hash, ties by strcmp. */
export function kernfsOrderNames(names: readonly string[]): string[] {
  const keyed = names.map((n) => ({ h: kernfsHash(n), n }));
  keyed.sort((a, b) => a.h - b.h || cmpBytes(a.n, b.n));
  return keyed.map((k) => k.n);
}

/** Entries in kernfs readdir order: by name hash, ties by strcmp. */
export function kernfsOrder<T extends readonly [string, unknown]>(entries: readonly T[]): T[] {
  const withHash = entries.map((e) => ({ h: kernfsHash(e[0]), e }));
  withHash.sort((a, b) => a.h - b.h || cmpBytes(a.e[0], b.e[0]));
  return withHash.map((x) => x.e);
}

type Entries = ReadonlyArray<readonly [string, PdeNode]>;

const countDirs = (entries: Entries): number => {
  let n = 0;
  for (const [, node] of entries) if (node.kind === 'dir') n++;
  return n;
};

/**
 * A sysfs directory: entries computed on each listing, listed in kernfs order. A lookup searches
 * them unsorted: only a listing pays for the order.
 */
export function sdir(entries: () => Entries): PdeDir {
  return {
    ...kdir(() => kernfsOrder(entries())),
    child: (name) => entries().find(([n]) => n === name)?.[1],
    subdirs: () => countDirs(entries()),
  };
}

/** One entry per member of a live engine collection (devices, LUNs, targets). */
export interface Members<T extends object> {
  /** The members, in the engine's order. */
  list(): Iterable<T>;
  /** The member called `name`, from the engine's own index (never a search). */
  get(name: string): T | undefined;
  /** How many members there are (counted as subdirectories when `dirs`). */
  count(): number;
  /** Changes whenever a member comes or goes: the sorted listing is kept until it does. */
  version?(): number;
  name(m: T): string;
  /** The member's node; made once per member object and kept while the member lives. */
  make(m: T): PdeNode;
  /** Each member is a directory (devices, LUNs), not a file or link. */
  dirs: boolean;
}

/** Merge two lists, each in kernfs order, into one. */
function mergeOrdered(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  let ha = i < a.length ? kernfsHash(a[i]!) : 0;
  let hb = j < b.length ? kernfsHash(b[j]!) : 0;
  while (i < a.length && j < b.length) {
    if (ha < hb || (ha === hb && cmpBytes(a[i]!, b[j]!) <= 0)) {
      out.push(a[i++]!);
      if (i < a.length) ha = kernfsHash(a[i]!);
    } else {
      out.push(b[j++]!);
      if (j < b.length) hb = kernfsHash(b[j]!);
    }
  }
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/**
 * A sysfs directory of a few fixed entries and one entry per member of an engine collection. A
 * lookup by name goes to the fixed entries, then to the collection's index; nlink is counted
 * without listing; a listing (readdir) takes names only and sorts the members once per change of
 * the collection. So reaching devices/<d>/<attr> costs the same with 10 devices or 10,000, and
 * `ls` of 10,000 entries costs a merge, not a sort, while nothing changes.
 */
export function membersDir<T extends object>(fixed: () => Entries, m: Members<T>): PdeDir {
  const nodes = new WeakMap<T, PdeNode>();
  const nodeOf = (x: T): PdeNode => {
    let n = nodes.get(x);
    if (!n) nodes.set(x, (n = m.make(x)));
    return n;
  };
  let sorted: { version: number; names: string[] } | null = null;
  const memberNames = (): string[] => {
    const version = m.version?.();
    if (sorted && version !== undefined && sorted.version === version) return sorted.names;
    const names: string[] = [];
    for (const x of m.list()) names.push(m.name(x));
    const ordered = kernfsOrderNames(names);
    sorted = version === undefined ? null : { version, names: ordered };
    return ordered;
  };
  return {
    ...kdir(() => {
      const out: Array<readonly [string, PdeNode]> = [...fixed()];
      for (const x of m.list()) out.push([m.name(x), nodeOf(x)]);
      return kernfsOrder(out);
    }),
    child: (name) => {
      const f = fixed().find(([n]) => n === name);
      if (f) return f[1];
      const x = m.get(name);
      return x === undefined ? undefined : nodeOf(x);
    },
    subdirs: () => countDirs(fixed()) + (m.dirs ? m.count() : 0),
    names: () => mergeOrdered(kernfsOrderNames(fixed().map(([n]) => n)), memberNames()),
  };
}

/** A LUN number as its directory is named (decimal, no leading zeros), or undefined. */
export function lunOfName(name: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(name)) return undefined;
  return Number(name);
}

/** A read-only attribute. */
export function ro(read: () => string): PdeFile {
  return attr(MODE_RO, read);
}

/** A read/write attribute taking the text of one write (C string). */
export function rw(read: () => string, write: (text: string) => void | Promise<void>): PdeFile {
  return attr(MODE_RW, read, (d) => write(cText(d)));
}

/** A write-only (0200) attribute. */
export function wo(write: (text: string) => void | Promise<void>): PdeFile {
  return attr(0o200, () => '', (d) => write(cText(d)));
}

/** Exactly `0` or `1` (an optional newline after it). */
export function parse01(text: string, what: string): boolean {
  const v = kstrtoul(text, what);
  if (v > 1) throw einval(`${what}: ${v} is neither 0 nor 1`);
  return v === 1;
}

/** The first character `0` or `1` (SCST's "first char" booleans). */
export function firstChar01(text: string, what: string): boolean {
  if (text[0] === '0') return false;
  if (text[0] === '1') return true;
  throw einval(`${what}: expected 0 or 1`);
}

export { kstrtol, kstrtoul };

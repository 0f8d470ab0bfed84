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

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;
const INT_MAX = 0x7fffffff;

const hashCache = new Map<string, number>();
const HASH_CACHE_MAX = 50_000;

/** kernfs_name_hash on a 64-bit kernel without namespaces (sysfs.md §2.6); memoized. */
export function kernfsHash(name: string): number {
  const hit = hashCache.get(name);
  if (hit !== undefined) return hit;
  if (hashCache.size >= HASH_CACHE_MAX) hashCache.clear();
  const r = computeHash(name);
  hashCache.set(name, r);
  return r;
}

function computeHash(name: string): number {
  let h = 0n;
  for (const byte of Buffer.from(name, 'utf8')) {
    // `char` is signed on x86: bytes >= 0x80 become negative, then unsigned long.
    const c = byte >= 0x80 ? BigInt.asUintN(64, BigInt(byte - 0x100)) : BigInt(byte);
    h = (((h + ((c << 4n) & MASK64) + (c >> 4n)) & MASK64) * 11n) & MASK64;
  }
  let r = Number(((h * GOLDEN_RATIO_64) & MASK64) >> 32n) & INT_MAX;
  if (r < 2) r += 2;
  if (r >= INT_MAX) r = INT_MAX - 1;
  return r;
}

const cmpBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** Entries in kernfs readdir order: by name hash, ties by strcmp. */
export function kernfsOrder<T extends readonly [string, unknown]>(entries: readonly T[]): T[] {
  const withHash = entries.map((e) => [kernfsHash(e[0]), e] as const);
  withHash.sort((a, b) => a[0] - b[0] || cmpBytes(a[1][0], b[1][0]));
  return withHash.map(([, e]) => e);
}

/** A sysfs directory: entries computed on each listing, listed in kernfs order. */
export function sdir(entries: () => ReadonlyArray<readonly [string, PdeNode]>): PdeDir {
  return kdir(() => kernfsOrder(entries()));
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

// How scstadmin reads an attribute directory (scstadmin.md §3.1): the owner's mode bits decide
// "static", the first line is the value, `[key]` on the second line (anywhere after the first
// for devices) makes it a key attribute, and key files named `<name><digits>` are extra values
// of `<name>`. Everything later (listings, -write_config, -config) works on this shape.

import { errnoName, type TreeFs } from '../tree/tree-fs.js';

/** device → LUN uses as driver → target → group ('' for the default LUN set) → LUN. */
export type Exported = Map<string, Map<string, Map<string, string>>>;

export interface Attr {
  /** Read-only (no owner write bit), the original's "static". */
  static: boolean;
  /** Value of a non-key attribute; undefined when the file is write-only. */
  value?: string;
  /** Values of a key attribute by index ('0' for `name`, 'N' for `nameN`). */
  keys?: Map<string, string>;
  /** trace_level: the levels its help text offers. */
  set?: string[];
  /** Device `exported/`: where the device is mapped. */
  exported?: Exported;
  /** Handler listing: its devices. */
  devices?: string[];
}

export type AttrMap = Map<string, Attr>;

/** strerror texts for the errno names a tree access can report (Perl prints `$!`). */
const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ELOOP: 'Too many levels of symbolic links',
  ENOTCONN: 'Transport endpoint is not connected',
  ENAMETOOLONG: 'File name too long',
  EBADSLT: 'Invalid slot',
  EMEDIUMTYPE: 'Wrong medium type',
  ERANGE: 'Numerical result out of range',
  EOVERFLOW: 'Value too large for defined data type',
  EOPNOTSUPP: 'Operation not supported',
  ETIMEDOUT: 'Connection timed out',
  ENOSYS: 'Function not implemented',
};

export function strerror(e: unknown): string {
  const code = typeof e === 'string' ? e : errnoName(e);
  return STRERROR[code] ?? code;
}

/** `IncomingUser1` → ['IncomingUser', '1']; a name without trailing digits keeps index '0'. */
export function splitKeyIndex(name: string): [string, string] {
  const m = /^(\D+)(\d+)$/.exec(name);
  return m ? [m[1]!, m[2]!] : [name, '0'];
}

const S_IRUSR = 0o400;
const S_IWUSR = 0o200;

export interface ReadAttrOptions {
  /** Entry names never treated as attributes. */
  skip: ReadonlySet<string>;
  /** Attributes that count as writable whatever their mode. */
  forceWritable?: ReadonlySet<string>;
  /** Device rule: one read, `[key]` searched in everything after the first line. */
  wholeFile?: boolean;
  /** Parse `trace_level` into value + possible levels. */
  traceLevel?: boolean;
  /** Split `type` (`0 - Direct-access ...`) into type and type_string. */
  splitType?: boolean;
  /** Read sub-directories as (empty) attributes instead of skipping them (handler quirk). */
  keepDirs?: boolean;
  /** Bounded retry of EAGAIN reads (device rule); otherwise EAGAIN reads as an empty value. */
  retryEagain?: (read: () => Promise<string>) => Promise<string>;
  /** Entries the caller interprets itself (links such as `handler`, `exported/`). */
  special?: (name: string, path: string, attrs: AttrMap) => Promise<boolean>;
}

export type Result<T> = [T, undefined] | [undefined, string];

/** The parsed text of one trace_level file: its value line and the levels between [ and ]. */
export function parseTraceLevel(text: string): { value: string; set: string[] } {
  const lines = text.split('\n');
  const value = lines[0] ?? '';
  let rest = '';
  let start = false;
  // The original collects every line from the first one without '[' onwards, glued together.
  for (const line of lines.slice(1)) {
    if (!line.includes('[')) start = true;
    if (start) rest += line;
  }
  const open = rest.indexOf('[');
  const close = rest.lastIndexOf(']');
  const set: string[] = [];
  if (open >= 0 && close > open) {
    for (const t of rest.slice(open + 1, close).split(',')) set.push(t.trim());
  }
  return { value, set };
}

/**
 * Reads every attribute of `dir`. `what` names the caller in error texts, as the original's
 * `deviceAttributes(): Unable to read device attribute 'x': <strerror>`.
 */
export async function readAttrDir(fs: TreeFs, dir: string, what: string, noun: string, o: ReadAttrOptions): Promise<Result<AttrMap>> {
  const attrs: AttrMap = new Map();
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    return [undefined, `${what}(): Unable to read directory '${dir}': ${strerror(e)}`];
  }
  for (const name of names) {
    if (name === '.' || name === '..' || o.skip.has(name)) continue;
    const path = `${dir}/${name}`;
    if (o.special && (await o.special(name, path, attrs))) continue;
    let mode = 0;
    let isDir = false;
    try {
      const st = await fs.stat(path);
      mode = st.mode;
      isDir = st.isDirectory;
    } catch {
      // A dangling entry reads as unreadable, like Perl's undefined mode.
    }
    if (isDir && !o.keepDirs) continue;
    if (!(mode & S_IRUSR) && !isDir) {
      attrs.set(name, { static: false, value: undefined });
      continue;
    }
    const isStatic = !(o.forceWritable?.has(name) || mode & S_IWUSR);
    let text: string;
    try {
      const read = () => fs.read(path, o.wholeFile ? 4096 : undefined);
      text = isDir ? '' : o.retryEagain ? await o.retryEagain(read) : await read();
    } catch (e) {
      const code = errnoName(e);
      if (code === 'EAGAIN' || code === 'EISDIR') {
        text = '';
      } else {
        return [undefined, `${what}(): Unable to read ${noun} attribute '${name}': ${strerror(e)}`];
      }
    }
    const nl = text.indexOf('\n');
    const value = nl < 0 ? text : text.slice(0, nl);
    const rest = nl < 0 ? '' : text.slice(nl + 1);
    const second = o.wholeFile ? rest : rest.split('\n')[0] ?? '';
    const isKey = second.includes('[key]');
    let attrName = name;
    let index = '0';
    if (isKey) [attrName, index] = splitKeyIndex(name);
    if (o.traceLevel && attrName === 'trace_level') {
      const t = parseTraceLevel(text);
      attrs.set(attrName, { static: isStatic, value: t.value, set: t.set });
      continue;
    }
    if (o.splitType && attrName === 'type') {
      const sep = value.indexOf(' - ');
      attrs.set('type', { static: isStatic, value: sep < 0 ? value : value.slice(0, sep) });
      attrs.set('type_string', { static: true, ...(sep < 0 ? {} : { value: value.slice(sep + 3) }) });
      continue;
    }
    const prev = attrs.get(attrName);
    if (isKey) {
      const keys = prev?.keys ?? new Map<string, string>();
      keys.set(index, value);
      attrs.set(attrName, { ...prev, static: isStatic, keys });
    } else {
      attrs.set(attrName, { ...prev, static: isStatic, value });
    }
  }
  return [attrs, undefined];
}

/** All values an attribute currently has: every key value, or the single non-key value. */
export function attrValues(a: Attr | undefined): string[] {
  if (!a) return [];
  if (a.keys) return [...a.keys.values()];
  return a.value === undefined ? [] : [a.value];
}

/** The value scstadmin compares against: key index 0, or the plain value. */
export function attrValue(a: Attr | undefined): string | undefined {
  if (!a) return undefined;
  if (a.keys) return a.keys.get('0');
  return a.value;
}

/** Perl's numeric view of a string (leading blanks, sign, digits, fraction; else 0). */
export function perlNum(s: string | undefined): number {
  if (s === undefined) return 0;
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/.exec(s);
  if (!m) return 0;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : 0;
}

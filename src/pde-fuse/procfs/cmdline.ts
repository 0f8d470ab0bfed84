import { einval } from '../../engine/errors.js';

// How SCST's procfs write handlers read a command (procfs.md §1.3): the bytes are a C string
// (cut at the first NUL), one trailing newline is dropped, tokens are separated by isspace()
// runs, and numbers are simple_strtoul(s, &end, 0).

/** Writes longer than PAGE_SIZE - 512 are refused with EOVERFLOW. */
export const MAX_COMMAND_BYTES = 3584;

const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);
export const isSpace = (c: string | undefined): boolean => c !== undefined && SPACE.has(c);

/** The command text of one write: up to the first NUL, minus one trailing '\n' if asked. */
export function commandText(data: Buffer, stripNewline = true): string {
  const nul = data.indexOf(0);
  let s = (nul < 0 ? data : data.subarray(0, nul)).toString('utf8');
  if (stripNewline && s.endsWith('\n')) s = s.slice(0, -1);
  return s;
}

/** Case-(in)sensitive keyword at position 0; keywords that take arguments include their space. */
export function startsWithKeyword(s: string, kw: string, caseInsensitive: boolean): boolean {
  const head = s.slice(0, kw.length);
  return caseInsensitive ? head.toLowerCase() === kw.toLowerCase() : head === kw;
}

/** A read position in a command line. */
export class Cursor {
  pos = 0;
  constructor(readonly s: string) {}

  skipSpace(): this {
    while (this.pos < this.s.length && isSpace(this.s[this.pos])) this.pos++;
    return this;
  }

  /** The next run of non-space characters (empty at the end); leading spaces are skipped. */
  token(): string {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.s.length && !isSpace(this.s[this.pos])) this.pos++;
    return this.s.slice(start, this.pos);
  }

  get atEnd(): boolean {
    return this.pos >= this.s.length;
  }

  /** Whether only spaces remain. */
  get onlySpaceLeft(): boolean {
    for (let i = this.pos; i < this.s.length; i++) if (!isSpace(this.s[i])) return false;
    return true;
  }

  rest(): string {
    return this.s.slice(this.pos);
  }

  peek(): string | undefined {
    return this.s[this.pos];
  }

  /** simple_strtoul(p, &p, 0) at the cursor: never throws; `digits` is 0 when nothing was read. */
  number(): { value: bigint; digits: number } {
    const r = strtoul(this.s, this.pos);
    this.pos = r.end;
    return r;
  }
}

const digitValue = (c: string): number => {
  const code = c.toLowerCase().charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  return 99;
};

/**
 * The kernel's simple_strtoul with base 0: `0x` hex, leading `0` octal, else decimal; stops at the
 * first invalid character; no sign, no leading-space skipping; nothing numeric gives 0. The value
 * wraps at 64 bits like an unsigned long.
 */
export function strtoul(s: string, start = 0): { value: bigint; end: number; digits: number } {
  let i = start;
  let base = 10n;
  if (s[i] === '0') {
    if ((s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s[i + 2] ?? 'z') < 16) {
      base = 16n;
      i += 2;
    } else base = 8n;
  }
  let v = 0n;
  let digits = 0;
  while (i < s.length) {
    const d = digitValue(s[i]!);
    if (BigInt(d) >= base) break;
    v = BigInt.asUintN(64, v * base + BigInt(d));
    i++;
    digits++;
  }
  return { value: v, end: i, digits };
}

/** A bigint as a JS number for range checks (huge values stay huge). */
export const toNumber = (v: bigint): number => (v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v));

/** C's (int) conversion of an unsigned long. */
export const toInt32 = (v: bigint): number => Number(BigInt.asIntN(32, v));

export const tooManyArguments = () => einval('Too many arguments');
export const unknownAction = (line: string) => einval(`Unknown action "${line}"`);

/** printf's %-Ns / %-Nd: left-justified, padded with spaces, never truncated. */
export const pad = (v: string | number, n: number): string => String(v).padEnd(n);

import { MgmtError, einval } from '../../engine/errors.js';

// How SCST's sysfs store routines read what was written (sysfs.md §2.2, §2.4): the buffer is a
// C string (cut at the first NUL); `mgmt` commands are split into lexems and parameter tokens by
// scst_get_next_lexem/scst_get_next_token_str; numbers go through the kernel's kstrto* family.

const SPACE = new Set([' ', '\t', '\n', '\v', '\f', '\r']);
export const isSpace = (c: string | undefined): boolean => c !== undefined && SPACE.has(c);

/** The text of one write: what a C string of it holds. */
export function cText(data: Buffer): string {
  const nul = data.indexOf(0);
  return (nul < 0 ? data : data.subarray(0, nul)).toString('utf8');
}

/** A read position over a command, with SCST's two primitives. */
export class Lexer {
  pos = 0;
  constructor(readonly s: string) {}

  /**
   * scst_get_next_lexem: skip white space and '='; the word runs to the next white space, '=' or
   * the end; one delimiter after it is consumed. At the end the lexem is ''.
   */
  lexem(): string {
    let p = this.pos;
    while (p < this.s.length && (isSpace(this.s[p]) || this.s[p] === '=')) p++;
    let q = p;
    while (q < this.s.length && !isSpace(this.s[q]) && this.s[q] !== '=') q++;
    const word = this.s.slice(p, q);
    this.pos = q < this.s.length ? q + 1 : q;
    return word;
  }

  /** scst_get_next_token_str: text up to ';', '\n' or the end; null for an empty one (stop). */
  token(): string | null {
    const p = this.pos;
    let i = p;
    while (i < this.s.length && this.s[i] !== '\n' && this.s[i] !== ';') i++;
    if (i === p) return null;
    this.pos = i < this.s.length ? i + 1 : i;
    return this.s.slice(p, i);
  }

  rest(): string {
    return this.s.slice(this.pos);
  }
}

/**
 * `name=value` groups after the command words (vdisk add_device, LUN parameters): each token must
 * lex to exactly a name and a value. Names are returned lower-cased (they are compared
 * case-insensitively); an empty token ends the list and whatever follows it is ignored.
 */
/**
 * A driver's targets/<driver>/mgmt line that SCST's core lexes itself for every driver
 * (scst_tgtt_mgmt_store): `add_target NAME ...` (the lexer left at the rest) or `del_target NAME`
 * (nothing may follow). Null for any other command, which is the driver's.
 */
export function targetCommand(lx: Lexer, cmd: string): { cmd: 'add_target' | 'del_target'; name: string } | null {
  if (cmd !== 'add_target' && cmd !== 'del_target') return null;
  const name = lx.lexem();
  if (name === '') throw einval('Target name required');
  if (cmd === 'del_target') {
    const extra = lx.lexem();
    if (extra !== '') throw einval(`Syntax error on "${extra}"`);
  }
  return { cmd, name };
}

export function paramTokens(lx: Lexer, what: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let guard = 0; guard <= lx.s.length; guard++) {
    const tok = lx.token();
    if (tok === null) break;
    const t = new Lexer(tok);
    const name = t.lexem();
    if (name === '') throw einval(`Syntax error at ${tok} (${what})`);
    const value = t.lexem();
    if (value === '') throw einval(`Parameter ${name} value missed for ${what}`);
    if (t.lexem() !== '') throw einval(`Too many parameter's ${name} values (${what})`);
    out.push([name.toLowerCase(), value]);
  }
  return out;
}

// ---- kstrto* -----------------------------------------------------------------------------------

const digit = (c: string): number => {
  const x = c.toLowerCase().charCodeAt(0);
  if (x >= 48 && x <= 57) return x - 48;
  if (x >= 97 && x <= 102) return x - 87;
  return 99;
};

/**
 * kstrtoull(s, 0): optional '+', base from the prefix (0x hex, 0 octal, else decimal), digits to
 * the end but for one trailing newline. Anything else is EINVAL; so is a value above 2^64-1 (the
 * kernel says ERANGE, which this daemon's errno set does not carry).
 */
export function kstrtoull(s: string, what = 'value'): bigint {
  let i = 0;
  if (s[i] === '+') i++;
  let base = 10n;
  if (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && digit(s[i + 2] ?? 'z') < 16) {
    base = 16n;
    i += 2;
  } else if (s[i] === '0') base = 8n;
  let v = 0n;
  let n = 0;
  while (i < s.length && BigInt(digit(s[i]!)) < base) {
    v = v * base + BigInt(digit(s[i]!));
    i++;
    n++;
  }
  if (n === 0) throw einval(`${what}: '${s}' is not a number`);
  if (s[i] === '\n') i++;
  if (i !== s.length) throw einval(`${what}: '${s}' is not a number`);
  if (v > 0xffffffffffffffffn) throw einval(`${what}: '${s}' is out of range`);
  return v;
}

/** kstrtoll(s, 0): like kstrtoull with an optional '-'; range of a signed 64-bit number. */
export function kstrtoll(s: string, what = 'value'): bigint {
  if (s.startsWith('-')) {
    const v = kstrtoull(s.slice(1), what);
    if (s[1] === '+' || v > 0x8000000000000000n) throw einval(`${what}: '${s}' is not a valid number`);
    return -v;
  }
  const v = kstrtoull(s, what);
  if (v > 0x7fffffffffffffffn) throw einval(`${what}: '${s}' is out of range`);
  return v;
}

/** kstrtoul as a JS number (values beyond 2^53 are refused: nothing here takes them). */
export function kstrtoul(s: string, what = 'value'): number {
  const v = kstrtoull(s, what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw einval(`${what}: '${s}' is out of range`);
  return Number(v);
}

/** kstrtol(s, 0) as a JS number. */
export function kstrtol(s: string, what = 'value'): number {
  const v = kstrtoll(s, what);
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw einval(`${what}: '${s}' is out of range`);
  return Number(v);
}

/** The kernel's kstrtobool: 1/y/Y/on, 0/n/N/off (first characters decide). */
export function kstrtobool(s: string, what = 'value'): boolean {
  const a = s[0];
  const b = (s[1] ?? '').toLowerCase();
  if (a === '1' || a === 'y' || a === 'Y') return true;
  if (a === '0' || a === 'n' || a === 'N') return false;
  if (a === 'o' || a === 'O') {
    if (b === 'n') return true;
    if (b === 'f') return false;
  }
  throw einval(`${what}: '${s}' is not a boolean`);
}

/** Text up to the first newline (what most string attributes store). */
export function firstLine(s: string): string {
  const nl = s.indexOf('\n');
  return nl < 0 ? s : s.slice(0, nl);
}

/** One trailing newline dropped. */
export function chomp(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

export function trimBlanks(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a])) a++;
  while (b > a && isSpace(s[b - 1])) b--;
  return s.slice(a, b);
}

export const unknownAction = (word: string): MgmtError => einval(`Unknown action "${word}"`);

import fsp from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';

// /etc/initiators.allow and /etc/initiators.deny (procfs.md §6.5): address-based admission per
// target. A login is refused iff the deny file matches and the allow file does not. The files are
// read at every decision, so edits apply without a reload.

/**
 * The address list of the first line whose first field is the target's name or ALL; null when
 * no line applies. Comment lines, lines without a blank, and a last line without its newline are
 * skipped, as iscsi-scstd does.
 */
export function addressListFor(text: string, target: string): string | null {
  const lines = text.split('\n');
  lines.pop(); // the part after the last newline: ignored, complete or not
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const m = /^(\S+)[ \t]+(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === target || m[1] === 'ALL') return m[2]!;
  }
  return null;
}

function ipv4Bits(a: string): bigint {
  return a.split('.').reduce((v, o) => (v << 8n) | BigInt(Number(o)), 0n);
}

function ipv6Bits(a: string): bigint | null {
  if (!isIPv6(a)) return null;
  let s = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = ipv4Bits(v4[1]!);
    s = s.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? (s.split('::') as [string, string]) : [s, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

/** One item of a list against the initiator's address. */
export function itemMatches(item: string, peer: string): boolean {
  if (item === 'ALL') return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer);
  const p4 = mapped ? mapped[1]! : isIPv4(peer) ? peer : null;
  const v6 = /^\[([^\]]+)\](?:\/(\d+))?$/.exec(item);
  if (v6) {
    const want = ipv6Bits(v6[1]!);
    const have = p4 === null ? ipv6Bits(peer) : null;
    if (want === null || have === null) return false;
    if (v6[2] === undefined) return want === have;
    const bits = Number(v6[2]);
    if (bits < 0 || bits > 127) return false;
    const mask = bits === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - bits)) - 1n);
    // The network address must have its host bits clear, or it never matches.
    return (want & mask) === want && (have & mask) === want;
  }
  const v4 = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(item);
  if (!v4 || !isIPv4(v4[1]!) || p4 === null) return false;
  if (v4[2] === undefined) return v4[1] === p4;
  const bits = Number(v4[2]);
  if (bits < 0 || bits > 31) return false; // /32 is not accepted
  const mask = bits === 0 ? 0n : 0xffffffffn ^ ((1n << BigInt(32 - bits)) - 1n);
  const want = ipv4Bits(v4[1]!);
  return (want & mask) === want && (ipv4Bits(p4) & mask) === want;
}

/** Whether the applicable line of a file lists the address. */
export function fileMatches(text: string | null, target: string, peer: string): boolean {
  if (text === null) return false;
  const list = addressListFor(text, target);
  if (list === null) return false;
  return list.split(',').some((i) => itemMatches(i.trim(), peer));
}

/** The decision for given file contents (null: the file does not exist). */
export function initiatorAllowed(allow: string | null, deny: string | null, target: string, peer: string): boolean {
  return !(fileMatches(deny, target, peer) && !fileMatches(allow, target, peer));
}

/** Reads both files (missing ones never match) and decides. */
export async function checkInitiatorAddress(files: { allow: string | null; deny: string | null }, target: string, peer: string): Promise<boolean> {
  const read = (f: string | null) => (f === null ? Promise.resolve(null) : fsp.readFile(f, 'utf8').catch(() => null));
  const [allow, deny] = await Promise.all([read(files.allow), read(files.deny)]);
  return initiatorAllowed(allow, deny, target, peer);
}

import type { IscsiDriver } from '../../engine/iscsi/portal.js';
import type { IscsiSession } from '../../engine/iscsi/session.js';
import type { IscsiConnection } from '../../engine/iscsi/connection.js';
import { isIPv4, isIPv6 } from 'node:net';
import { file, staticDir, type PdeDir } from '../node.js';
import type { ProcfsContext } from './context.js';

// iscsi/ (procfs.md §5): version and the session listing of the iSCSI target driver.

/** SCST's sid: ISID and TSIH as one little-endian 64-bit number, i.e. TSIH·2^48 + reversed ISID. */
export function procSid(isid: Buffer, tsih: number): string {
  let v = BigInt(tsih & 0xffff) << 48n;
  for (let i = 0; i < 6 && i < isid.length; i++) v |= BigInt(isid[i]!) << BigInt(8 * i);
  return v.toString(16);
}

/** IPv4 dotted quad; IPv6 as eight 4-digit groups in brackets, uncompressed. */
export function procIp(addr: string | undefined): string {
  if (!addr) return 'Unknown family 0';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  if (isIPv4(addr)) return addr;
  if (!isIPv6(addr)) return 'Unknown family 0';
  const [head, tail = ''] = addr.split('::') as [string, string?];
  const h = head ? head.split(':') : [];
  const t = addr.includes('::') && tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `[${groups.map((g) => g.padStart(4, '0').toLowerCase()).join(':')}]`;
}

function connState(c: IscsiConnection): string {
  if (c.phase === 'closed' || c.phase === 'logout' || c.socket.destroyed) return 'closing';
  // Replies queued behind a full socket: SCST's "waiting for send space".
  if (c.socket.writableLength > 0) return 'space_waiting ';
  return 'established idle ';
}

const digest = (d: string) => (d === 'CRC32C' ? 'crc32c' : d === 'None' ? 'none' : 'unknown');

export function renderIscsiSessions(iscsi: IscsiDriver, targets: Iterable<{ tid: number; name: string }>): string {
  let out = '';
  const sessions = [...iscsi.sessions.values()].filter((s) => s.target !== null).sort((a, b) => a.createdAt - b.createdAt);
  for (const t of targets) {
    out += `tid:${t.tid} name:${t.name}\n`;
    for (const s of sessions as IscsiSession[]) {
      if (s.target!.name !== t.name) continue;
      out += `\tsid:${procSid(s.isid, s.tsih)} initiator:${s.initiatorName} (reinstating no)\n`;
      const c = s.conn;
      if (c) out += `\t\tcid:${c.cid} ip:${procIp(c.remoteAddress)} state:${connState(c)} hd:${digest(s.params.HeaderDigest)} dd:${digest(s.params.DataDigest)}\n`;
    }
  }
  return out;
}

/** The iSCSI module's version and those of its build options that exist for it. */
export function renderIscsiVersion(ctx: ProcfsContext): string {
  const opts = ['EXTRACHECKS', 'TRACING', 'DEBUG', 'DEBUG_DIGEST_FAILURES'].filter((o) => ctx.build.options.includes(o));
  return [ctx.build.version, ...opts].map((l) => `${l}\n`).join('');
}

export function iscsiDir(ctx: ProcfsContext, iscsi: IscsiDriver): PdeDir {
  const entries = [
    ['version', file(() => renderIscsiVersion(ctx))],
    ...(ctx.build.tracing ? ([['trace_level', file(() => ctx.trace.iscsi.render(), (d) => ctx.trace.iscsi.write(d, ctx.log, (n) => ctx.scst.devices.has(n)))]] as const) : []),
    ['session', file(() => renderIscsiSessions(iscsi, ctx.scst.targets.values()))],
  ] as const;
  return staticDir(entries);
}

import type { Logger } from 'pino';
import { MgmtError, einval } from '../../engine/errors.js';
import { Cursor, commandText, startsWithKeyword, unknownAction } from './cmdline.js';

// trace_level files (procfs.md §3.6): a bit mask per entry, read as the names of the set bits.
// In this daemon the mask is bookkeeping for scripts that set and read it back.

type Table = ReadonlyArray<readonly [string, number]>;

/** Print order of the bits every trace_level file knows. */
export const COMMON_TOKENS: Table = [
  ['out_of_mem', 0x100],
  ['minor', 0x200],
  ['sg', 0x80],
  ['mem', 0x40],
  ['buff', 0x20],
  ['entryexit', 0x10],
  ['pid', 0x8],
  ['line', 0x4],
  ['function', 0x2],
  ['debug', 0x1],
  ['special', 0x2000],
  ['scsi', 0x1000],
  ['mgmt', 0x400],
  ['mgmt_dbg', 0x800],
  ['flow_control', 0x4000],
  ['pr', 0x8000],
];

export const CORE_TOKENS: Table = [
  ['retry', 0x80000000],
  ['scsi_serializing', 0x40000000],
  ['data_send', 0x20000000],
  ['data_received', 0x01000000],
  ['block', 0x10000],
];
export const VDISK_TOKENS: Table = [['order', 0x80000000]];
export const ISCSI_TOKENS: Table = [
  ['d_write', 0x80000000],
  ['conn', 0x40000000],
  ['conn_dbg', 0x04000000],
  ['iov', 0x20000000],
  ['pdu', 0x10000000],
  ['net_page', 0x08000000],
];

/** Defaults of a non-debug tracing build: out_of_mem|pid|special|mgmt for the core. */
export const CORE_DEFAULT = 0x2508;
/** vdisk and iSCSI defaults (out_of_mem|special|mgmt; iSCSI adds conn). UNCONFIRMED exact values. */
export const VDISK_DEFAULT = 0x2500;
export const ISCSI_DEFAULT = 0x40002500;

/** A trace mask, possibly shared by several files (vdisk and vcdrom share one). */
export class TraceLevel {
  value: number;
  constructor(
    readonly entry: string,
    readonly local: Table,
    readonly dflt: number,
  ) {
    this.value = dflt;
  }

  render(): string {
    const names: string[] = [];
    for (const [n, bit] of [...COMMON_TOKENS, ...this.local]) if ((this.value & bit) >>> 0 === bit) names.push(n);
    return names.length ? `${names.join(' | ')}\n` : 'none\n';
  }

  private lookup(token: string): number {
    const t = token.toLowerCase();
    const hit = this.local.find(([n]) => n === t) ?? COMMON_TOKENS.find(([n]) => n === t);
    if (!hit) throw einval(`Unknown token "${token}"`);
    return hit[1];
  }

  /**
   * One write: `all`, `none`/`null`, `default`, `add TOKEN`, `del TOKEN`, `value N`,
   * `dump_prs DEV` (case-insensitive prefixes; no newline stripping, tokens stop at spaces).
   */
  write(data: Buffer, log: Logger, deviceExists: (name: string) => boolean, entry = this.entry): void {
    const line = commandText(data, false);
    const kw = (k: string) => startsWithKeyword(line, k, true);
    let next: number;
    if (kw('all')) next = 0xffffffff;
    else if (kw('none') || kw('null')) next = 0;
    else if (kw('default')) next = this.dflt;
    else if (kw('add') || kw('del')) {
      const c = new Cursor(line);
      c.pos = 3;
      const token = c.token();
      if (token === '') throw einval('Missing token');
      const bit = this.lookup(token);
      next = kw('add') ? (this.value | bit) >>> 0 : (this.value & ~bit) >>> 0;
    } else if (kw('value')) {
      const c = new Cursor(line);
      c.pos = 5;
      c.skipSpace();
      next = Number(BigInt.asUintN(32, c.number().value));
    } else if (kw('dump_prs')) {
      const c = new Cursor(line);
      c.pos = 8;
      const dev = c.token();
      if (!deviceExists(dev)) throw new MgmtError('ENOENT', `Device ${dev} not found`);
      log.info({ device: dev }, `Persistent reservations of device ${dev}: none registered`);
      return;
    } else throw unknownAction(line);
    const old = this.value;
    this.value = next >>> 0;
    const hex = (v: number) => `0x${v.toString(16).padStart(8, '0')}`;
    log.info({ entry, old, new: this.value }, `Changed trace level for "${entry}": old ${hex(old)}, new ${hex(this.value)}`);
  }
}

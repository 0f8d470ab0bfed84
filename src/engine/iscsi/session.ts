import type { ScstSession } from '../session.js';
import type { Target } from '../target.js';
import type { SessionParams } from './params.js';
import type { IscsiConnection } from './connection.js';
import { snAdd } from './serial.js';

/**
 * An iSCSI session (RFC 7143 §3.4): identified by ISID + initiator name (+ target), given a TSIH
 * at the end of its leading login. It owns the command numbering window. We negotiate
 * MaxConnections=1, so it has exactly one connection.
 */
export class IscsiSession {
  expCmdSN: number;
  maxCmdSN: number;
  conn: IscsiConnection | null = null;
  readonly createdAt = Date.now();

  constructor(
    readonly tsih: number,
    readonly isid: Buffer,
    readonly initiatorName: string,
    readonly target: Target | null,
    readonly params: SessionParams,
    readonly scst: ScstSession | null,
    initialCmdSN: number,
    readonly queueDepth: number,
  ) {
    this.expCmdSN = initialCmdSN;
    this.maxCmdSN = snAdd(initialCmdSN, queueDepth - 1);
  }

  get sid(): bigint {
    // SCST's sid: ISID in the upper 48 bits, TSIH in the lower 16.
    return (BigInt('0x' + this.isid.toString('hex')) << 16n) | BigInt(this.tsih);
  }

  get isidHex(): string {
    return this.isid.toString('hex');
  }
}

/**
 * The driver's sessions, found by TSIH (login with a TSIH, SendTargets), by I_T nexus (session
 * reinstatement: same initiator, ISID and target) and by the core's session (the management
 * tree): each a map, so that a login storm or a listing costs the same per session at any count.
 */
export class IscsiSessionTable {
  private readonly byTsih = new Map<number, IscsiSession>();
  private readonly byNexus = new Map<string, IscsiSession>();
  private readonly byScst = new Map<ScstSession, IscsiSession>();
  private nextTsih = 1;

  get size(): number {
    return this.byTsih.size;
  }

  get(tsih: number): IscsiSession | undefined {
    return this.byTsih.get(tsih);
  }

  values(): IterableIterator<IscsiSession> {
    return this.byTsih.values();
  }

  /** The session of this I_T nexus (initiator name, ISID, target), if one is logged in. */
  nexus(initiatorName: string, isid: Buffer, target: string | null): IscsiSession | undefined {
    return this.byNexus.get(nexusKey(initiatorName, isid, target));
  }

  ofScst(s: ScstSession): IscsiSession | undefined {
    return this.byScst.get(s);
  }

  add(s: IscsiSession): void {
    this.byTsih.set(s.tsih, s);
    this.byNexus.set(nexusKey(s.initiatorName, s.isid, s.target?.name ?? null), s);
    if (s.scst) this.byScst.set(s.scst, s);
  }

  delete(s: IscsiSession): void {
    if (this.byTsih.get(s.tsih) !== s) return;
    this.byTsih.delete(s.tsih);
    const k = nexusKey(s.initiatorName, s.isid, s.target?.name ?? null);
    if (this.byNexus.get(k) === s) this.byNexus.delete(k);
    if (s.scst) this.byScst.delete(s.scst);
  }

  /** A TSIH no session uses (0 is reserved, RFC 7143 §11.12.7). */
  allocTsih(): number {
    for (let i = 0; i < 0x10000; i++) {
      const t = this.nextTsih;
      this.nextTsih = this.nextTsih >= 0xffff ? 1 : this.nextTsih + 1;
      if (!this.byTsih.has(t)) return t;
    }
    throw new Error('no free TSIH');
  }
}

function nexusKey(initiatorName: string, isid: Buffer, target: string | null): string {
  return `${initiatorName}\0${isid.toString('hex')}\0${target ?? ''}`;
}

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

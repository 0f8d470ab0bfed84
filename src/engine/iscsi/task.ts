import type { ScsiCmd } from '../cmd.js';
import type { DataSequence } from './data-seq.js';

/** An R2T sent and not yet fully answered: its TTT, its number, and the range it asked for. */
export interface R2tState {
  ttt: number;
  r2tSN: number;
  seq: DataSequence;
}

/**
 * The iSCSI side of one SCSI task (RFC 7143 §3.2.x): the ITT, its place in the CmdSN order, and
 * for writes the bookkeeping of unsolicited and solicited data until the whole buffer is in.
 */
export class IscsiTask {
  /** Bytes the initiator will send (write) = min(EDTL, what the CDB needs). */
  xferLen = 0;
  /** The CDB's own data-out length when the command was shrunk to a smaller EDTL (else 0). */
  cdbLength = 0;
  /**
   * The unsolicited burst: immediate data plus, when the command PDU had F=0, Data-Out PDUs up
   * to min(FirstBurstLength, EDTL) bytes (RFC 7143 §13.13-14). Null when nothing is unsolicited.
   */
  unsolicited: DataSequence | null = null;
  /** Unsolicited Data-Out still to come (the command PDU had F=0 and the burst is not full). */
  unsolicitedOpen = false;
  /** Next offset to ask for with an R2T: the burst and the R2Ts so far tile [0, nextR2tOffset). */
  nextR2tOffset = 0;
  /** Outstanding R2Ts by TTT; created on the first R2T (most commands never need one). */
  r2ts: Map<number, R2tState> | null = null;
  r2tSN = 0;
  dataSN = 0;
  /** The command failed before its data arrived: swallow the data, then respond. */
  discardData = false;
  responded = false;
  /** Released the transport's reference. */
  released = false;
  /** Data digest errors etc. that must fail the command once data is complete. */
  failed = false;
  /** Data-In PDUs referencing the command buffer are queued for the socket. */
  dataQueued = false;
  /** Called once the task is released; created only when somebody waits (abort, teardown). */
  releaseWaiters: Array<() => void> | null = null;

  constructor(
    readonly itt: number,
    readonly cmd: ScsiCmd,
    readonly cmdSN: number,
    readonly immediate: boolean,
    readonly edtl: number,
    readonly write: boolean,
    readonly read: boolean,
  ) {}
}

import { DataDir, type ScsiCmd } from './cmd.js';
import { Status } from './scsi/constants.js';
import { completeWithSense, execCmd, fitToEdtl, parseCmd } from './scsi/exec.js';
import { Sense } from './scsi/constants.js';
import type { ScstSession } from './session.js';

// The fabric-neutral way into the core for a transport that has a command and all its data-out
// at hand (scst_local, copy engines): SCST's scst_rx_cmd + scst_cmd_init_done + scst_rx_data in
// one call. A transport that collects data in pieces (iSCSI R2Ts) drives parseCmd/execCmd itself.

/** Per-session counters of SCST's sessions/<s>/*_cmd_count, *_io_count_kb (counted at parse). */
export function countCmd(cmd: ScsiCmd): void {
  const st = cmd.session.stats;
  const kb = cmd.dataLength / 1024;
  if (cmd.dir === DataDir.READ) (st.read.cmds++, (st.read.kb += kb));
  else if (cmd.dir === DataDir.WRITE) (st.write.cmds++, (st.write.kb += kb));
  else st.none.cmds++;
}

export interface SubmitRequest {
  /** Task tag, unique among the session's commands in flight. */
  tag: number;
  lun: number;
  cdb: Buffer;
  /** The data-out the initiator sends (writes): its length is the expected transfer length. */
  dataOut?: Buffer;
  /** Where data-in goes (reads): its length is the expected transfer length. */
  dataIn?: Buffer;
  /** Called once the command exists and before it runs (a transport keeps it to abort it). */
  onCmd?: (cmd: ScsiCmd) => void;
}

export interface SubmitResult {
  status: number;
  sense: Buffer | null;
  /** Bytes of data-in placed in `dataIn`. */
  dataIn: number;
  aborted: boolean;
}

/**
 * Run one command through the whole core (LUN lookup, unit attentions, reservations, ALUA, the
 * device) and settle with its outcome once it is complete and its buffer is back in the pool.
 * Data-in is copied into the caller's buffer before that; nothing of the command outlives it.
 */
export function submitCmd(sess: ScstSession, req: SubmitRequest, owner: string): Promise<SubmitResult> {
  const edtl = req.dataOut ? req.dataOut.length : (req.dataIn?.length ?? 0);
  const cmd = sess.newCmd(req.tag, req.lun, req.cdb, edtl);
  cmd.owner = owner;
  return new Promise<SubmitResult>((resolve) => {
    cmd.onComplete((c) => {
      let n = 0;
      if (c.status === Status.GOOD && c.dir === DataDir.READ && req.dataIn && c.pbuf && !c.aborted) {
        n = Math.min(c.dataInLength, req.dataIn.length);
        c.buf.copy(req.dataIn, 0, 0, n);
      }
      const result: SubmitResult = { status: c.status, sense: c.sense, dataIn: n, aborted: c.aborted };
      // The transport's reference: dropped once the outcome is taken (the command then leaves
      // the session's table, or when a backstore call still holding it comes back).
      c.put();
      resolve(result);
    });
    req.onCmd?.(cmd);
    const ok = parseCmd(cmd);
    countCmd(cmd);
    if (!ok || cmd.isDone) return;
    if (cmd.dir === DataDir.WRITE && cmd.dataLength > 0) {
      const out = req.dataOut;
      if (!out) return completeWithSense(cmd, Sense.INVALID_FIELD_IN_CDB);
      if (cmd.dataLength > out.length) {
        fitToEdtl(cmd, out.length);
        if (cmd.isDone) return;
      }
      const n = Math.min(cmd.dataLength, out.length);
      out.copy(cmd.buf, 0, 0, n);
      const why = cmd.markReceived(0, n);
      if (why) return completeWithSense(cmd, Sense.DATA_PHASE_ERROR);
    }
    execCmd(cmd);
  });
}

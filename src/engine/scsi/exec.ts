import { CmdState, DataDir, type ScsiCmd } from '../cmd.js';
import { Sense, Status, type Asc } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_DATA_FROM_MEDIUM, F_DURING_SANITIZE, F_MEDIUM, F_NO_LUN, F_NO_UA, F_WRITE_MEDIUM, type OpTable } from './op.js';
import { diskOps, cdromOps } from './ops.js';
import { Op } from './constants.js';
import { reservationConflict } from './reserve.js';
import { sanitizeFailed, sanitizeProgressSense } from './sanitize.js';
import type { TgtDev } from '../tgtdev.js';
import type { Device } from '../device.js';
import { aluaStateFor } from '../alua.js';
import { MAX_TRANSFER_BYTES } from './sbc.js';
import { extBlockIfAny } from '../ext-block.js';

// The SCSI core's two steps for every command (scst_targ.c's parse and exec stages), between
// which the transport collects write data.

export function completeWithSense(cmd: ScsiCmd, asc: Asc, info?: ConstructorParameters<typeof ScsiError>[1]): void {
  cmd.complete(Status.CHECK_CONDITION, buildSense(asc, info));
}

function tableFor(type: number): OpTable {
  return type === 5 ? cdromOps : diskOps;
}

/**
 * Decode the CDB and decide direction and length. Returns false when the command was completed
 * right here (bad CDB, unit attention, unknown LUN...); the transport then just sends the status.
 */
export function parseCmd(cmd: ScsiCmd): boolean {
  const td = cmd.session.tgtDevs.get(cmd.lun) ?? null;
  cmd.tgtDev = td;
  const dev = td?.device ?? null;
  let op = tableFor(dev ? dev.type : 0).get(cmd.opcode);
  if (op && dev && op.available && !op.available(dev)) op = undefined;
  cmd.op = op ?? null;
  if (!td && !(op && op.flags & F_NO_LUN)) {
    completeWithSense(cmd, Sense.LUN_NOT_SUPPORTED);
    return false;
  }
  if (!op) {
    completeWithSense(cmd, Sense.INVALID_OPCODE, { field: 0 });
    return false;
  }
  if (td && !(op.flags & F_NO_UA) && td.hasUA) {
    cmd.complete(Status.CHECK_CONDITION, td.takeUA());
    return false;
  }
  // NACA: we do not support ACA (SPC-4 8.x CONTROL byte).
  const control = cmd.cdb[cdbLength(cmd.opcode) - 1] ?? 0;
  if (control & 0x04) {
    completeWithSense(cmd, Sense.INVALID_FIELD_IN_CDB, { field: cdbLength(cmd.opcode) - 1, bit: 2 });
    return false;
  }
  let parseError: ScsiError | null = null;
  try {
    op.parse(cmd, dev);
  } catch (e) {
    if (!(e instanceof ScsiError)) throw e;
    // A logical unit that is not ready has no capacity to judge a CDB's range against: a
    // medium-access command hears why it is not ready (below; SCST checks that before the range
    // too), not LOGICAL BLOCK ADDRESS OUT OF RANGE, which initiators do not retry.
    if (!(td && dev && (cmd.op ?? op).flags & F_MEDIUM && dev.notReadySense)) {
      cmd.complete(Status.CHECK_CONDITION, e.sense());
      return false;
    }
    parseError = e;
  }
  // A service-action group has now handed over to the member that serves the command.
  op = cmd.op ?? op;
  if (td && dev) {
    if (dev.sanitizing && !(op.flags & F_DURING_SANITIZE)) {
      cmd.complete(Status.CHECK_CONDITION, sanitizeProgressSense(dev));
      return false;
    }
    if (clusterFenced(dev, cmd)) {
      completeWithSense(cmd, ALUA_NOT_READY.transitioning);
      return false;
    }
    const access = aluaStateFor(dev, cmd.session.target.relTgtId || 1);
    if (access !== 'active' && access !== 'nonoptimized' && op.flags & F_MEDIUM) {
      // Through a port in this state the medium is out of reach (SPC-4 5.16.2.4).
      completeWithSense(cmd, ALUA_NOT_READY[access]);
      return false;
    }
    if (reservationConflict(cmd, op, dev, td)) {
      cmd.complete(Status.RESERVATION_CONFLICT);
      return false;
    }
    const notReady = op.flags & F_MEDIUM ? dev.notReadySense : null;
    if (notReady) {
      completeWithSense(cmd, notReady);
      return false;
    }
    if (op.flags & F_MEDIUM && sanitizeFailed(dev) && cmd.opcode !== Op.SANITIZE) {
      completeWithSense(cmd, Sense.SANITIZE_FAILED);
      return false;
    }
    if (op.flags & F_WRITE_MEDIUM && writeProtected(td)) {
      completeWithSense(cmd, Sense.WRITE_PROTECTED);
      return false;
    }
  }
  if (parseError) {
    cmd.complete(Status.CHECK_CONDITION, parseError.sense());
    return false;
  }
  if (cmd.dir === DataDir.WRITE && cmd.dataLength > MAX_TRANSFER_BYTES) {
    // No parameter list is that long, and no write may be (Block Limits VPD).
    completeWithSense(cmd, Sense.INVALID_FIELD_IN_CDB);
    return false;
  }
  // Data-out and medium reads take their buffer now (data-out is placed as it arrives); an
  // emulated reply takes what it returns, whatever the allocation length asked (replyData).
  const medium = (op.flags & F_DATA_FROM_MEDIUM) !== 0;
  if (cmd.dataLength > 0 && (cmd.dir === DataDir.WRITE || (cmd.dir === DataDir.READ && medium))) {
    const refused = cmd.session.bufferRefusal(cmd.dataLength);
    if (refused) {
      cmd.complete(refused);
      return false;
    }
    // Bytes of an earlier command must never be sent or written: the buffer is zeroed unless
    // every byte is overwritten first (data-out runs only once all of it arrived, execCmd).
    const overwritten = cmd.dir === DataDir.WRITE || (dev?.backstore?.fillsReads === true && !dev.forward);
    cmd.allocBuffer(cmd.dataLength, overwritten);
  }
  cmd.state = cmd.dir === DataDir.WRITE && cmd.dataLength > 0 ? CmdState.DATA_WAIT : CmdState.PARSED;
  return true;
}

const ALUA_NOT_READY: Record<'standby' | 'unavailable' | 'offline' | 'transitioning', Asc> = {
  transitioning: { key: 2, asc: 0x04, ascq: 0x0a },
  standby: { key: 2, asc: 0x04, ascq: 0x0b },
  unavailable: { key: 2, asc: 0x04, ascq: 0x0c },
  offline: { key: 2, asc: 0x04, ascq: 0x12 },
};

/**
 * A cluster-mode logical unit on a node that is not a certain member of its cluster (or does not
 * enforce the shared reservation state yet) executes nothing that reads or changes the medium or
 * the reservations: the initiator hears that the logical unit is in transition (SPC-4 5.16.2.6)
 * and retries, on this path later or on another. What SPC-4 lets a device server answer in the
 * transitioning state without the medium or the shared state is still answered: INQUIRY, REPORT
 * LUNS, REPORT TARGET PORT GROUPS and REQUEST SENSE. TEST UNIT READY reports the transition.
 */
function clusterFenced(dev: Device, cmd: ScsiCmd): boolean {
  const gate = dev.clusterGate;
  if (!gate || gate()) return false;
  switch (cmd.opcode) {
    case Op.INQUIRY:
    case Op.REPORT_LUNS:
    case Op.REQUEST_SENSE:
      return false;
    case Op.MAINTENANCE_IN:
      return (cmd.cdb[1]! & 0x1f) !== 0x0a;
    default:
      return true;
  }
}

/** Read-only LUN or device, or software write protect (control mode page SWP). */
export function writeProtected(td: TgtDev): boolean {
  return td.isReadOnly || td.device.swp;
}

/**
 * The initiator will send less data-out than the CDB describes (SAM-5 overflow). Commands that
 * can shrink to what arrives do (a WRITE writes the blocks it gets); the rest are refused.
 */
export function fitToEdtl(cmd: ScsiCmd, edtl: number): void {
  const op = cmd.op;
  const dev = cmd.tgtDev?.device;
  if (!op?.fitToEdtl || !dev) return completeWithSense(cmd, Sense.INVALID_FIELD_IN_CDB);
  try {
    op.fitToEdtl(cmd, dev, edtl);
  } catch (e) {
    if (e instanceof ScsiError) cmd.complete(Status.CHECK_CONDITION, e.sense());
    else throw e;
  }
}

/** Run a parsed command whose data (if any) has arrived. */
export function execCmd(cmd: ScsiCmd): void {
  if (cmd.isDone) return;
  cmd.enterExec();
  cmd.owner = 'device';
  const td = cmd.tgtDev;
  const dev = td?.device ?? null;
  if (cmd.dir === DataDir.WRITE && !cmd.dataOutComplete) {
    // The transport must not get here: it runs a write only when all its data arrived. If it
    // ever does, the bytes that did not arrive are not written from a recycled buffer.
    cmd.session.core.log.error({ cmd: cmd.describe() }, 'write executed before all its data arrived: refused');
    return completeWithSense(cmd, Sense.DATA_PHASE_ERROR);
  }
  // An externally blocked device (sysfs block) holds the command; it runs here again when unblocked.
  if (dev && extBlockIfAny(dev)?.hold(cmd, () => execCmd(cmd))) return;
  // Admission again: a write's data may have arrived after the node lost its certain membership.
  if (dev && clusterFenced(dev, cmd)) return completeWithSense(cmd, ALUA_NOT_READY.transitioning);
  if (dev?.forward && dev.forward(cmd)) return;
  try {
    cmd.op!.exec(cmd, dev, td);
  } catch (e) {
    if (e instanceof ScsiError) cmd.complete(Status.CHECK_CONDITION, e.sense());
    else {
      completeWithSense(cmd, Sense.INTERNAL_TARGET_FAILURE);
      throw e;
    }
  }
}

export function cdbLength(opcode: number): number {
  switch (opcode >> 5) {
    case 0:
      return 6;
    case 1:
    case 2:
      return 10;
    case 4:
      return 16;
    case 5:
      return 12;
    default:
      return 16;
  }
}

export { F_NO_UA };

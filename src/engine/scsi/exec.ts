import { CmdState, DataDir, type ScsiCmd } from '../cmd.js';
import { Sense, Status, type Asc } from './constants.js';
import { buildSense, ScsiError } from './sense.js';
import { F_MEDIUM, F_NO_LUN, F_NO_UA, F_WRITE_MEDIUM, type OpTable } from './op.js';
import { diskOps, cdromOps } from './ops.js';

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
  const op = tableFor(dev ? dev.type : 0).get(cmd.opcode);
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
  try {
    op.parse(cmd, dev);
  } catch (e) {
    if (e instanceof ScsiError) {
      cmd.complete(Status.CHECK_CONDITION, e.sense());
      return false;
    }
    throw e;
  }
  if (dev && op.flags & F_MEDIUM && !dev.mediumPresent) {
    completeWithSense(cmd, Sense.MEDIUM_NOT_PRESENT);
    return false;
  }
  if (td && op.flags & F_WRITE_MEDIUM && td.isReadOnly) {
    completeWithSense(cmd, Sense.WRITE_PROTECTED);
    return false;
  }
  if (cmd.dir !== DataDir.NONE && cmd.dataLength > 0) cmd.allocBuffer(cmd.dataLength);
  cmd.state = cmd.dir === DataDir.WRITE && cmd.dataLength > 0 ? CmdState.DATA_WAIT : CmdState.PARSED;
  return true;
}

/** Run a parsed command whose data (if any) has arrived. */
export function execCmd(cmd: ScsiCmd): void {
  if (cmd.isDone) return;
  cmd.state = CmdState.EXEC;
  cmd.owner = 'device';
  const td = cmd.tgtDev;
  const dev = td?.device ?? null;
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

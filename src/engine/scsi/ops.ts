import type { Device } from '../device.js';
import { Op } from './constants.js';
import type { OpDesc, OpTable } from './op.js';
import { spcOps } from './spc.js';
import { sbcOps } from './sbc.js';
import { mmcOps } from './mmc.js';
import { maintenanceOps, setOpTableLookup } from './maintenance.js';
import { persistentReserveIn, persistentReserveOut } from './pr.js';
import { release10, release6, reserve10, reserve6 } from './reserve.js';
import { getLbaStatus, unmap, writeSame10, writeSame16 } from './thin.js';
import { compareAndWrite, orWrite, writeAtomic16 } from './caw.js';
import { extendedCopyGroup, receiveCopyResults } from './xcopy.js';
import { sanitize } from './sanitize.js';

// Operation tables per peripheral device type, split by standard as tgt does (spc, sbc, mmc),
// plus the reservation, provisioning, atomic, copy and sanitize command sets.

function reservationOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.RESERVE_6, reserve6],
    [Op.RELEASE_6, release6],
    [Op.RESERVE_10, reserve10],
    [Op.RELEASE_10, release10],
    [Op.PERSISTENT_RESERVE_IN, persistentReserveIn],
    [Op.PERSISTENT_RESERVE_OUT, persistentReserveOut],
  ]);
}

function blockExtraOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.UNMAP, unmap],
    [Op.WRITE_SAME_10, writeSame10],
    [Op.WRITE_SAME_16, writeSame16],
    [Op.COMPARE_AND_WRITE, compareAndWrite],
    [Op.ORWRITE_16, orWrite],
    [Op.WRITE_ATOMIC_16, writeAtomic16],
    [Op.EXTENDED_COPY, extendedCopyGroup],
    [Op.RECEIVE_COPY_RESULTS, receiveCopyResults],
    [Op.SANITIZE, sanitize],
  ]);
}

export const diskOps: OpTable = new Map([...spcOps(), ...reservationOps(), ...maintenanceOps(), ...sbcOps(), ...blockExtraOps()]);

// The block commands MMC-6 defines for CD/DVD devices.
const CDROM_FROM_SBC = [Op.READ_10, Op.READ_12, Op.READ_CAPACITY_10, Op.SERVICE_ACTION_IN_16, Op.WRITE_10, Op.WRITE_12, Op.WRITE_AND_VERIFY_10, Op.VERIFY_10, Op.VERIFY_12, Op.SYNCHRONIZE_CACHE_10];
const sbc = sbcOps();
// SANITIZE is decoded on CD-ROMs too, with no sanitize method available (INVALID FIELD IN CDB
// on the service action): an unknown opcode here makes iscsi-test-cu (libiscsi 1.19) return
// from its *EraseReserved tests without restoring its PDU hook, and its next run spins forever.
export const cdromOps: OpTable = new Map([...spcOps(), ...reservationOps(), ...maintenanceOps(), ...mmcOps(), ...CDROM_FROM_SBC.map((op) => [op, sbc.get(op)!] as const), [Op.SANITIZE, sanitize] as const]);

export function opTableFor(dev: Device): OpTable {
  return dev.type === 5 ? cdromOps : diskOps;
}

setOpTableLookup(opTableFor);


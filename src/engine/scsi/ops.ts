import { Op } from './constants.js';
import type { OpTable } from './op.js';
import { spcOps } from './spc.js';
import { sbcOps } from './sbc.js';
import { mmcOps } from './mmc.js';

// Operation tables per peripheral device type, split by standard as tgt does (spc, sbc, mmc).

export const diskOps: OpTable = new Map([...spcOps(), ...sbcOps()]);

const CDROM_FROM_SBC = [Op.READ_10, Op.READ_12, Op.READ_CAPACITY_10, Op.SERVICE_ACTION_IN_16, Op.WRITE_10, Op.WRITE_12, Op.VERIFY_10, Op.VERIFY_12];
const sbc = sbcOps();
export const cdromOps: OpTable = new Map([...spcOps(), ...mmcOps(), ...CDROM_FROM_SBC.map((op) => [op, sbc.get(op)!] as const)]);

import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';

/** May run while a unit attention is pending (SPC-4 table 47: INQUIRY, REPORT LUNS, REQUEST SENSE). */
export const F_NO_UA = 1;
/** Needs a medium (NOT READY / MEDIUM NOT PRESENT otherwise). */
export const F_MEDIUM = 2;
/** Modifies the medium: refused with DATA PROTECT on read-only LUNs. */
export const F_WRITE_MEDIUM = 4;
/** Allowed on a LUN that is not mapped (INQUIRY answers with qualifier 3, REPORT LUNS). */
export const F_NO_LUN = 8;

/**
 * One operation code. `parse` validates the CDB and sets cmd.dir / cmd.dataLength (throwing a
 * ScsiError for a bad CDB); `exec` performs it and calls cmd.complete() exactly once, possibly
 * later. `td` is null only for F_NO_LUN commands addressed to an unmapped LUN.
 */
export interface OpDesc {
  name: string;
  flags: number;
  parse(cmd: ScsiCmd, dev: Device | null): void;
  exec(cmd: ScsiCmd, dev: Device | null, td: TgtDev | null): void;
}

export type OpTable = Map<number, OpDesc>;

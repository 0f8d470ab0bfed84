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
/** Still served while a sanitize operation is in progress (SBC-4 4.11: INQUIRY, REPORT LUNS...). */
export const F_DURING_SANITIZE = 16;
/**
 * Data-In is the medium's bytes as the backstore reads them (READ): a backstore that fills every
 * byte it reads (Backstore.fillsReads) overwrites the whole buffer, which then need not be zeroed.
 */
export const F_DATA_FROM_MEDIUM = 32;

/**
 * What a command may do while another I_T nexus holds a reservation (SPC-4 5.13.1): 'allowed'
 * never conflicts, 'read' conflicts with the exclusive-access types, 'write' with every type.
 */
export type ReservationClass = 'allowed' | 'read' | 'write';

/**
 * One operation code (or one service action of it). `parse` validates the CDB and sets cmd.dir /
 * cmd.dataLength (throwing a ScsiError for a bad CDB); `exec` performs it and calls
 * cmd.complete() exactly once, possibly later. `td` is null only for F_NO_LUN commands addressed
 * to an unmapped LUN.
 */
export interface OpDesc {
  name: string;
  flags: number;
  /** Under a reservation of another nexus; 'write' when absent (the safe default). */
  res?: ReservationClass;
  /** Service action code, for the members of a service-action group. */
  sa?: number;
  /** Members of a service-action group, by service action (the group's own parse dispatches). */
  serviceActions?: ReadonlyMap<number, OpDesc>;
  /**
   * CDB usage data for REPORT SUPPORTED OPERATION CODES: one mask per CDB byte, bits set where
   * the device server looks at the CDB (byte 0 is the opcode itself).
   */
  usage?: readonly number[] | ((dev: Device) => readonly number[] | null);
  /** Whether this device serves the command at all (absent: always); else INVALID OPCODE. */
  available?(dev: Device): boolean;
  /**
   * The initiator announced fewer data-out bytes (EDTL) than the CDB asks for. Shrink the
   * command to what will arrive, or throw a ScsiError. Absent: the command is refused.
   */
  fitToEdtl?(cmd: ScsiCmd, dev: Device, edtl: number): void;
  parse(cmd: ScsiCmd, dev: Device | null): void;
  exec(cmd: ScsiCmd, dev: Device | null, td: TgtDev | null): void;
}

export type OpTable = Map<number, OpDesc>;

/** The usage mask of `op` as this device reports it. */
export function usageOf(op: OpDesc, dev: Device): readonly number[] | null {
  if (!op.usage || (op.available && !op.available(dev))) return null;
  return typeof op.usage === 'function' ? op.usage(dev) : op.usage;
}

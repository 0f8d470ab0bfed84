import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';
import { Op, Status } from './constants.js';
import type { OpDesc, ReservationClass } from './op.js';
import { hasRegistrations, prConflict } from './pr.js';
import { invalidField } from './util.js';
import { nexusOf } from './nexus.js';

// SPC-2 reservations (RESERVE/RELEASE 6 and 10): one I_T_L nexus may reserve the logical unit;
// everyone else then gets RESERVATION CONFLICT for anything but the few commands that never
// conflict. Lost on RELEASE, logical unit or target reset, and when the holder's session ends.
// While persistent reservation registrations exist, both commands conflict (SPC-4 5.13.3).

const holders = new WeakMap<Device, TgtDev>();

/** The nexus holding the SPC-2 reservation; a holder whose session is gone holds nothing. */
export function spc2Holder(dev: Device): TgtDev | null {
  const h = holders.get(dev);
  if (!h) return null;
  if (!dev.tgtDevs.has(h)) {
    holders.delete(dev);
    return null;
  }
  return h;
}

/** Reset (logical unit reset, target reset): the SPC-2 reservation is released. */
export function clearSpc2Reservation(dev: Device): void {
  holders.delete(dev);
}

/** I_T nexus loss: the reservation goes if `td` holds it (SPC-4 5.13.6). */
export function releaseSpc2ReservationOf(dev: Device, td: TgtDev): void {
  if (spc2Holder(dev) === td) holders.delete(dev);
}

/**
 * Whether `cmd` must end with RESERVATION CONFLICT because of a reservation held through another
 * I_T nexus: the SPC-2 one first, then the persistent one.
 */
export function reservationConflict(cmd: ScsiCmd, op: OpDesc, dev: Device, td: TgtDev): boolean {
  return nexusConflict(dev, td, op.res ?? 'write', cmd.opcode === Op.PERSISTENT_RESERVE_OUT);
}

/** The same for an access of class `res` by nexus `td` (the copy manager's reads and writes). */
export function nexusConflict(dev: Device, td: TgtDev, res: ReservationClass, prOut = false): boolean {
  const h = spc2Holder(dev);
  // A registration attempt through another nexus conflicts with an SPC-2 reservation too.
  if (h && h !== td && (prOut || res !== 'allowed')) return true;
  return prConflict(dev, nexusOf(td.session), res);
}

function parse6(cmd: ScsiCmd): void {
  if (cmd.cdb[1]! & 0x1f) throw invalidField(1); // no third-party or extent reservations
}

function parse10(cmd: ScsiCmd): void {
  if (cmd.cdb[1]! & 0x13) throw invalidField(1); // 3RDPTY, LONGID, EXTENT
  if (cmd.cdb.readUInt16BE(7) !== 0) throw invalidField(7);
}

function doReserve(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  if (hasRegistrations(dev)) return cmd.complete(Status.RESERVATION_CONFLICT);
  const h = spc2Holder(dev);
  if (h && h !== td) return cmd.complete(Status.RESERVATION_CONFLICT);
  holders.set(dev, td);
  cmd.complete(Status.GOOD);
}

function doRelease(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  if (hasRegistrations(dev)) return cmd.complete(Status.RESERVATION_CONFLICT);
  // A RELEASE from anyone but the holder succeeds without effect (SPC-2 7.17).
  if (spc2Holder(dev) === td) holders.delete(dev);
  cmd.complete(Status.GOOD);
}

function op(name: string, code: number, ten: boolean, run: typeof doReserve, res: ReservationClass): OpDesc {
  return {
    name,
    flags: 0,
    res,
    usage: ten ? [code, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0x07] : [code, 0, 0, 0, 0, 0x07],
    parse: ten ? parse10 : parse6,
    exec: (cmd, dev, td) => run(cmd, dev!, td!),
  };
}

export const reserve6 = op('RESERVE(6)', Op.RESERVE_6, false, doReserve, 'write');
export const release6 = op('RELEASE(6)', Op.RELEASE_6, false, doRelease, 'allowed');
export const reserve10 = op('RESERVE(10)', Op.RESERVE_10, true, doReserve, 'write');
export const release10 = op('RELEASE(10)', Op.RELEASE_10, true, doRelease, 'allowed');

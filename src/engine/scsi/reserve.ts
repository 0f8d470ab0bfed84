import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';
import { itlOf } from '../reservations.js';
import { Op } from './constants.js';
import type { OpDesc, ReservationClass } from './op.js';
import { decideAndComplete } from './pr.js';
import { decideNexusLoss, decideReset, decideSpc2Release, decideSpc2Reserve, type Decision } from './resv-decide.js';
import { nexusConflictIn, sameSpc2, type ItlNexus, type ResvState } from './resv-state.js';
import { invalidField } from './util.js';

// SPC-2 reservations (RESERVE/RELEASE 6 and 10): one I_T_L nexus may reserve the logical unit;
// everyone else then gets RESERVATION CONFLICT for anything but the few commands that never
// conflict. Lost on RELEASE, logical unit or target reset, and when the holder's nexus goes
// (session end, LUN unmapped, I_T NEXUS RESET). While persistent reservation registrations
// exist, both commands conflict (SPC-4 5.13.3). The holder is part of the device's reservation
// state (resv-state.ts), changed through its store like the persistent reservations.

function itl(td: TgtDev): ItlNexus {
  return itlOf(td.session, td.lun, td.device.reservations.node);
}

/** A change no command waits for (resets, nexus loss): the store logs what it cannot commit. */
function changeQuietly(dev: Device, decide: (s: ResvState) => Decision): Promise<void> {
  return dev.reservations.change(dev, decide).then(
    () => undefined,
    () => undefined,
  );
}

/** Reset (logical unit reset, target reset): the SPC-2 reservation is released. */
export function clearSpc2Reservation(dev: Device): Promise<void> {
  if (!dev.reservations.current(dev).spc2) return Promise.resolve();
  return changeQuietly(dev, decideReset);
}

/** I_T nexus loss: the reservation goes if `td` holds it (SPC-4 5.13.6). */
export function releaseSpc2ReservationOf(dev: Device, td: TgtDev): Promise<void> {
  const h = dev.reservations.current(dev).spc2;
  if (!h) return Promise.resolve();
  const who = itl(td);
  if (!sameSpc2(h, who)) return Promise.resolve();
  return changeQuietly(dev, (s) => decideNexusLoss(s, who));
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
  const s = dev.reservations.current(dev);
  // The data path of an unreserved logical unit: nothing to compare.
  if (!s.spc2 && !s.reservation) return false;
  return nexusConflictIn(s, itl(td), res, prOut);
}

function parse6(cmd: ScsiCmd): void {
  if (cmd.cdb[1]! & 0x1f) throw invalidField(1); // no third-party or extent reservations
}

function parse10(cmd: ScsiCmd): void {
  if (cmd.cdb[1]! & 0x13) throw invalidField(1); // 3RDPTY, LONGID, EXTENT
  if (cmd.cdb.readUInt16BE(7) !== 0) throw invalidField(7);
}

function doReserve(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const who = itl(td);
  decideAndComplete(cmd, dev, (s) => decideSpc2Reserve(s, who));
}

function doRelease(cmd: ScsiCmd, dev: Device, td: TgtDev): void {
  const who = itl(td);
  decideAndComplete(cmd, dev, (s) => decideSpc2Release(s, who));
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

import type { Logger } from 'pino';
import type { Device } from '../device.js';
import { einval } from '../errors.js';
import { luDesignators } from '../scsi/identity.js';
import { MAX_LUN, Target, type LunEntry } from '../target.js';

// The copy manager (SCST's scst_copy_mgr.c): a target driver built into the core whose one
// target, copy_manager_tgt, gets every virtual device as a LUN when the device is registered.
// EXTENDED COPY names its source and destination logical units by designator; they are looked
// up among the devices this target holds, so an initiator may copy to or from a logical unit
// its own session does not see, when some other LUN mapping lets it (or when
// allow_not_connected_copy says not to ask).

export const CM_DRIVER = 'copy_manager';
export const CM_TARGET = 'copy_manager_tgt';
export const CM_SESSION = 'copy_manager_sess';
/** Handlers whose devices SCST assigns to the copy manager (auto_cm_assignment_possible). */
const AUTO_ASSIGNED = new Set(['vdisk_fileio', 'vdisk_blockio', 'vdisk_nullio', 'vdisk_rbd', 'vcdrom']);
/** Designators longer than this are not compliant (SCST skips them with a warning). */
const MAX_DESIGNATOR_LEN = 20;
/** The copy manager's own INQUIRY (VPD 0x83) for a device: what SCST's session counts as one read. */
const INQUIRY_ALLOC = 4096;

/** The copy manager's target: not an iSCSI target, no `enabled`, no security groups. */
export class CopyManagerTarget extends Target {
  override driverName = CM_DRIVER;
}

export function isCopyManagerTarget(t: Target | null): boolean {
  return t instanceof CopyManagerTarget;
}

export class CopyManager {
  readonly target = new CopyManagerTarget(CM_TARGET, 0);
  /** SCST's scst_cm_next_lun: where the search for a free LUN starts; never reset. */
  private nextLun = 0;
  /** allow_not_connected_copy (copy_manager driver attribute, default 0). */
  allowNotConnectedCopy = false;
  /** The scst module parameter auto_cm_assignment. */
  autoAssignment = true;
  /** The copy manager session's INQUIRY commands (SCST sends one per device it learns). */
  readonly stats = { readCmds: 0, readBytes: 0 };

  constructor(private readonly log: Logger) {
    this.target.defaultLuns.guard = (dev, readOnly) => {
      // scst_cm_on_add_lun: the copy manager writes through its LUNs.
      if (readOnly || dev.readOnly) throw einval('Copy Manager does not support read only devices');
    };
  }

  /** A device was registered: give it a LUN of copy_manager_tgt (scst_cm_on_dev_register). */
  deviceRegistered(dev: Device): void {
    if (!this.autoAssignment || !AUTO_ASSIGNED.has(dev.handler)) return;
    if (this.lunOf(dev) !== null) return;
    const lun = this.freeLun();
    // SCST_ADD_LUN_CM: no read-only check and no REPORTED LUNS DATA HAS CHANGED for this one.
    this.target.defaultLuns.add(dev, lun, false, false);
    this.learned(dev);
    this.log.info({ device: dev.name, lun, target: CM_TARGET }, `Added device ${dev.name} to group ${CM_TARGET} (LUN ${lun}, flags 0x4) to target ${CM_TARGET}`);
  }

  /** A LUN added through luns/mgmt or scst.conf: SCST reads the device's designators again. */
  learned(dev: Device): void {
    this.stats.readCmds++;
    // Counted as SCST's session counts it: the command's whole buffer, its allocation length
    // (SCST's t/07 sees 44 KB for 11 of them).
    this.stats.readBytes += INQUIRY_ALLOC;
  }

  /** The first LUN of copy_manager_tgt that maps `dev` (scst_cm_get_lun). */
  lunOf(dev: Device): number | null {
    for (const e of dev.mappings) if (e.set === this.target.defaultLuns) return e.lun;
    return null;
  }

  /** scst_cm_get_free_lun: the counter goes on from the last assignment and wraps at MAX_LUN. */
  private freeLun(): number {
    const luns = this.target.defaultLuns.luns;
    for (let tries = 0; tries <= MAX_LUN; tries++) {
      const lun = this.nextLun++;
      if (lun >= MAX_LUN) {
        this.nextLun = 0;
        continue;
      }
      if (!luns.has(lun)) return lun;
    }
    throw einval(`${CM_TARGET} has no free LUN`);
  }

  /**
   * The device one of whose logical-unit designators `d` is (an identification descriptor's
   * designator: code set byte, type byte, reserved, length, value), among the disks the copy
   * manager holds; SCST compares the protocol/code-set and PIV/association/type bytes whole.
   */
  findByDesignator(d: Buffer): Device | null {
    if (d.length < 4) return null;
    const len = d[3]!;
    if (len > MAX_DESIGNATOR_LEN || d.length < 4 + len) return null;
    const value = d.subarray(4, 4 + len);
    const seen = new Set<Device>();
    for (const e of this.target.defaultLuns.luns.values()) {
      const dev = e.device;
      if (seen.has(dev) || dev.type !== 0) continue;
      seen.add(dev);
      for (const x of luDesignators(dev)) {
        // Only logical-unit designators with no protocol identifier are kept (scst_cm_init_inq_finish).
        if ((x[0]! & 0xf0) !== 0 || (x[1]! & 0xf0) !== 0) continue;
        if (x[0] === d[0] && x[1] === d[1] && x[3] === len && x.subarray(4, 4 + len).equals(value)) return dev;
      }
    }
    return null;
  }

  /**
   * scst_cm_check_access: whether `initiator` may have the copy manager use `dev`: always with
   * allow_not_connected_copy; else when some target's default LUN set maps it, or a security
   * group one of whose names matches the initiator does.
   */
  mayAccess(initiator: string, dev: Device): boolean {
    if (this.allowNotConnectedCopy) return true;
    for (const e of dev.mappings) {
      if (this.isOwn(e)) continue;
      const g = e.set.group;
      if (g === null || g.matches(initiator)) return true;
      // A procfs-era Default group serves every initiator no other group names.
      if (g.target === null && g.name === 'Default') return true;
    }
    this.log.warn({ initiator, device: dev.name }, `Initiator ${initiator} not allowed to use device ${dev.name} in EXTENDED COPY command`);
    return false;
  }

  private isOwn(e: LunEntry): boolean {
    return e.set === this.target.defaultLuns;
  }
}

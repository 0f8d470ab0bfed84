import { crc32c } from '@node-rs/crc32';
import type { Device } from '../device.js';
import { padAscii } from './util.js';

// The identity of a vdisk logical unit exactly as kernel SCST's vdisk handler derives and reports
// it (scst_vdisk.c: vdisk_gen_dev_id_num, vdev_create, vdisk_usn_vpd, vdisk_dev_id_vpd), so that a
// configuration migrated from the kernel target shows initiators the same disks (multipath WWIDs,
// VMware datastores and Windows volumes follow these bytes).

/** Size of vdisk's t10_dev_id buffer (char[16 + 8 + 2]): at most 25 characters. */
export const T10_DEV_ID_MAX = 25;

/**
 * The kernel's crc32c(seed, buf, len): the reflected Castagnoli register started at `seed`, with
 * neither the initial nor the final inversion of the standard CRC-32C (libcrc32c returns the shash
 * context without finalising it). @node-rs/crc32 computes the standard CRC continuing from a
 * previous CRC value: it inverts its initial state on entry and its result on exit, so the raw
 * register seeded with 0 is the complement of the library's CRC continued from ~0.
 */
export function kernelCrc32c(buf: Uint8Array): number {
  return ~crc32c(buf, 0xffffffff) >>> 0;
}

/** vdisk_gen_dev_id_num(): crc32c(0, name, strlen(name) + 1) in the low 32 bits, setup_id above. */
export function vdiskDevIdNum(name: string, setupId: bigint): bigint {
  const nameZ = Buffer.concat([Buffer.from(name, 'utf8'), Buffer.alloc(1)]);
  return ((setupId & 0xffffffffn) << 32n) | BigInt(kernelCrc32c(nameZ));
}

/** The default identifiers vdev_create() derives from the name and setup_id. */
export interface DefaultIds {
  devIdNum: bigint;
  /** snprintf(t10_dev_id, 26, "%llx-%s"). */
  t10DevId: string;
  /** scnprintf(usn, 21, "%llx"). */
  usn: string;
}

export function defaultIds(name: string, setupId: bigint): DefaultIds {
  const devIdNum = vdiskDevIdNum(name, setupId);
  const hex = devIdNum.toString(16);
  return { devIdNum, t10DevId: `${hex}-${name}`.slice(0, T10_DEV_ID_MAX), usn: hex };
}

export function designator(codeSet: number, assoc: number, type: number, value: Buffer, protocol?: number): Buffer {
  const h = Buffer.alloc(4);
  h[0] = ((protocol ?? 0) << 4) | codeSet;
  h[1] = (protocol !== undefined ? 0x80 : 0) | (assoc << 4) | type;
  h[3] = value.length;
  return Buffer.concat([h, value]);
}

const CODE_BINARY = 1;
const CODE_ASCII = 2;
const CODE_UTF8 = 3;
const ASSOC_LU = 0;
const ASSOC_PORT = 1;
const ASSOC_DEVICE = 2;
const TYPE_T10 = 1;
const TYPE_EUI64 = 2;
const TYPE_NAA = 3;
const TYPE_REL_PORT = 4;
const TYPE_TPG = 5;
const TYPE_SCSI_NAME = 8;

const hexBytes = (h: string) => Buffer.from(h.replace(/^0x/i, ''), 'hex');

/**
 * The EUI-64 designator's value: eui64_id when set; with neither eui64_id nor naa_id set, vdisk's
 * "compatibility mode" - the first eight bytes of the t10_dev_id string (NUL padded, the buffer
 * is zeroed), not a real EUI-64.
 */
function eui64Value(dev: Device): Buffer | null {
  if (dev.eui64Id) return hexBytes(dev.eui64Id);
  if (dev.naaId) return null;
  const v = Buffer.alloc(8);
  Buffer.from(dev.t10DevId, 'latin1').copy(v, 0, 0, 8);
  return v;
}

/**
 * The logical-unit designators (association 0) of the Device Identification page, in the
 * kernel's order: T10 vendor ID (t10_vend_id padded to 8, then vend_specific_id), EUI-64, NAA.
 * SCST's copy manager identifies EXTENDED COPY targets by exactly these.
 */
export function luDesignators(dev: Device): Buffer[] {
  const out = [designator(CODE_ASCII, ASSOC_LU, TYPE_T10, Buffer.concat([padAscii(dev.t10VendId, 8), Buffer.from(dev.vendSpecificId, 'latin1')]))];
  const eui = eui64Value(dev);
  if (eui) out.push(designator(CODE_BINARY, ASSOC_LU, TYPE_EUI64, eui));
  if (dev.naaId) out.push(designator(CODE_BINARY, ASSOC_LU, TYPE_NAA, hexBytes(dev.naaId)));
  return out;
}

/** A 4-byte binary designator holding a 16-bit port or group number (SPC-4 7.8.6.7, 7.8.6.8). */
function port16(type: number, n: number): Buffer {
  const v = Buffer.alloc(4);
  v.writeUInt16BE(n & 0xffff, 2);
  return designator(CODE_BINARY, ASSOC_PORT, type, v);
}

/**
 * The designation descriptors of VPD page 0x83 as vdisk_dev_id_vpd() lists them: the SCSI target
 * device name (only when scsi_device_name is set: UTF-8, association 2, NUL-padded to the next
 * multiple of 4 - a whole 4 more when already aligned), the T10 vendor ID, the relative target port
 * (binary, association 1, no protocol identifier), the target port group (only when the device and
 * the target are in an ALUA device group: tgId non-zero), then EUI-64 and NAA.
 */
export function deviceIdentificationDescriptors(dev: Device, scsiDeviceName: string, relTgtId: number, tgId: number): Buffer {
  const parts: Buffer[] = [];
  if (scsiDeviceName !== '') {
    const raw = Buffer.from(scsiDeviceName, 'utf8');
    const v = Buffer.alloc(raw.length + 4 - (raw.length % 4));
    raw.copy(v);
    parts.push(designator(CODE_UTF8, ASSOC_DEVICE, TYPE_SCSI_NAME, v));
  }
  const lu = luDesignators(dev);
  parts.push(lu[0]!, port16(TYPE_REL_PORT, relTgtId));
  if (tgId !== 0) parts.push(port16(TYPE_TPG, tgId));
  parts.push(...lu.slice(1));
  return Buffer.concat(parts);
}

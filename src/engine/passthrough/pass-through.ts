import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MgmtError, einval } from '../errors.js';

// SCST's SCSI pass-through device handlers (scst_disk.c, scst_cdrom.c): they do not create
// devices, they take over a host SCSI device H:C:I:L. In user mode a host SCSI device can only be
// reached through its SCSI generic node (/dev/sgN, SG_IO), as tgt's bs_sg does; this module finds
// such a device the way the kernel's handlers/<h>/mgmt does (scst_sysfs.c,
// scst_process_devt_pass_through_mgmt_store) and refuses what cannot be served. Forwarding SG_IO
// is not implemented: a matching sg device is refused with EOPNOTSUPP, saying so.

export interface PassThroughHandler {
  readonly name: string;
  /** SCSI peripheral device type the handler serves (the kernel compares it with the device's). */
  readonly type: number;
}

export const PASS_THROUGH_HANDLERS: readonly PassThroughHandler[] = [
  { name: 'dev_disk', type: 0 },
  { name: 'dev_cdrom', type: 5 },
];

export function passThroughHandler(name: string): PassThroughHandler | undefined {
  return PASS_THROUGH_HANDLERS.find((h) => h.name === name);
}

/** Where the host's sysfs is: tests point it at a tree of their own. */
export const HOST_SYSFS = '/sys';

/** A host SCSI device as /sys/bus/scsi/devices/H:C:I:L describes it. */
export interface HostScsiDevice {
  hctl: string;
  type: number;
  /** Its SCSI generic node (/dev/sgN), null when the sg driver does not serve it. */
  sg: string | null;
}

const U32 = 0xffffffff;

/**
 * H:C:I:L as the kernel scans it (sscanf "%u:%u:%u:%llu" must fill all four): decimal numbers,
 * host/channel/id 32-bit, LUN 64-bit. Returns the canonical spelling, or null.
 */
export function parseHctl(s: string): string | null {
  const m = /^\+?(\d+):\+?(\d+):\+?(\d+):\+?(\d+)/.exec(s);
  if (!m) return null;
  const [h, c, i, l] = [m[1]!, m[2]!, m[3]!, m[4]!].map((x) => BigInt(x));
  if (h! > U32 || c! > U32 || i! > U32 || l! > 0xffffffffffffffffn) return null;
  return `${h}:${c}:${i}:${l}`;
}

/** The host SCSI device H:C:I:L, or null when the host has none by that address. */
export async function findHostScsiDevice(hctl: string, sysRoot = HOST_SYSFS): Promise<HostScsiDevice | null> {
  const dir = join(sysRoot, 'bus', 'scsi', 'devices', hctl);
  let typeText: string;
  try {
    typeText = await readFile(join(dir, 'type'), 'latin1');
  } catch {
    return null;
  }
  const type = Number.parseInt(typeText.trim(), 10);
  let sg: string | null = null;
  try {
    const names = (await readdir(join(dir, 'scsi_generic'))).filter((n) => /^sg\d+$/.test(n));
    if (names.length > 0) sg = `/dev/${names[0]}`;
  } catch {
    // no scsi_generic directory: the sg driver is not loaded or does not serve this device
  }
  return { hctl, type: Number.isNaN(type) ? -1 : type, sg };
}

/**
 * handlers/<dev_disk|dev_cdrom>/mgmt: `add_device H:C:I:L` / `del_device H:C:I:L`, checked in the
 * kernel's order (device given, one argument, H:C:I:L syntax, device exists, type matches the
 * handler, then the action). `text` is the whole command as written.
 */
export async function passThroughMgmt(h: PassThroughHandler, action: string, devstr: string, extra: string, text: string, sysRoot = HOST_SYSFS): Promise<never> {
  if (devstr === '') throw einval('Device required');
  const syntax = () => einval(`Syntax error on "${text.replace(/\n$/, '')}"`);
  if (extra !== '') throw syntax();
  const hctl = parseHctl(devstr);
  if (hctl === null) throw syntax();
  const dev = await findHostScsiDevice(hctl, sysRoot);
  if (!dev) throw einval(`Device ${hctl} not found: this host has no SCSI device ${hctl} (${join(sysRoot, 'bus/scsi/devices')})`);
  if (dev.type !== h.type) throw einval(`Type ${dev.type} of device ${hctl} differs from type ${h.type} of dev handler ${h.name}`);
  switch (action.toLowerCase()) {
    case 'add_device':
      if (dev.sg === null) throw new MgmtError('ENODEV', `Device ${hctl} has no SCSI generic node (is the sg driver loaded?): ${h.name} reaches host devices only through SG_IO`);
      throw new MgmtError('EOPNOTSUPP', `Device ${hctl} (${dev.sg}) cannot be assigned to ${h.name}: SCSI pass-through (SG_IO) is not implemented in user mode`);
    case 'del_device':
      throw einval(`Device ${hctl} is not assigned to handler ${h.name}`);
    default:
      throw einval(`Unknown action "${action}"`);
  }
}

import type { Device } from '../device.js';
import { padAscii } from './util.js';

// Designators that name a logical unit (SPC-4 7.8.6, association 0): used in the Device
// Identification VPD page and to find the logical units an EXTENDED COPY names.

export function designator(codeSet: number, assoc: number, type: number, value: Buffer, protocol?: number): Buffer {
  const h = Buffer.alloc(4);
  h[0] = ((protocol ?? 0) << 4) | codeSet;
  h[1] = (protocol !== undefined ? 0x80 : 0) | (assoc << 4) | type;
  h[3] = value.length;
  return Buffer.concat([h, value]);
}

export function naaValue(dev: Device): Buffer {
  if (dev.naaId) return Buffer.from(dev.naaId.replace(/^0x/i, ''), 'hex');
  // NAA 3 (locally assigned): 60 bits from the device id, stable across restarts.
  const v = Buffer.alloc(8);
  const id = dev.devId & ((1n << 60n) - 1n);
  v.writeBigUInt64BE((3n << 60n) | id);
  return v;
}

/** T10 vendor ID, NAA and (when set) EUI-64 designators of the logical unit. */
export function luDesignators(dev: Device): Buffer[] {
  const out = [designator(2, 0, 1, Buffer.concat([padAscii(dev.t10VendId, 8), Buffer.from(dev.t10DevId, 'latin1')])), designator(1, 0, 3, naaValue(dev))];
  if (dev.eui64Id) out.push(designator(1, 0, 2, Buffer.from(dev.eui64Id.replace(/^0x/i, ''), 'hex')));
  return out;
}

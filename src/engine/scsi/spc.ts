import { DataDir, type ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import type { TgtDev } from '../tgtdev.js';
import { Op, Sense, Status } from './constants.js';
import { ScsiError } from './sense.js';
import { F_DURING_SANITIZE, F_MEDIUM, F_NO_LUN, F_NO_UA, type OpDesc, type OpTable } from './op.js';
import { dataIn, good, invalidField, padAscii, replyData, writeU64 } from './util.js';
import { blockLimitsVpd, blockCharacteristicsVpd, logicalBlockProvisioningVpd, supportsDpoFua } from './sbc.js';
import { deviceIdentificationDescriptors } from './identity.js';
import { deviceGroupOf, reportTargetPortGroups as aluaGroups } from '../alua.js';
import { sanitizeProgressSense } from './sanitize.js';
import { clearSpc2Reservation } from './reserve.js';

// SPC-4 commands common to every device type.

const VERSION_DESCRIPTORS = [0x00a0 /* SAM-5 */, 0x0960 /* iSCSI */, 0x0460 /* SPC-4 */];

function standardInquiry(cmd: ScsiCmd, dev: Device | null): Buffer {
  const b = Buffer.alloc(74);
  if (!dev) {
    b[0] = 0x7f; // peripheral qualifier 011b: no LU at this LUN
    b[4] = 74 - 5;
    return b;
  }
  b[0] = dev.type;
  b[1] = dev.removable ? 0x80 : 0;
  b[2] = 0x06; // SPC-4
  b[3] = 0x12; // HISUP, response data format 2
  b[4] = b.length - 5;
  // TPGS 01b: implicit ALUA (REPORT TARGET PORT GROUPS), 11b with SCST's expl_alua for a device
  // in a device group (SET TARGET PORT GROUPS too); 3PC: EXTENDED COPY on disks.
  b[5] = 0x10 | (dev.explAlua && deviceGroupOf(dev) ? 0x20 : 0) | (dev.type === 0 ? 0x08 : 0);
  b[7] = 0x02; // CMDQUE
  padAscii(dev.t10VendId, 8).copy(b, 8);
  padAscii(dev.prodId, 16).copy(b, 16);
  padAscii(dev.prodRevLvl, 4).copy(b, 32);
  const descs = [...VERSION_DESCRIPTORS, dev.type === 5 ? 0x04e0 /* MMC-5 */ : 0x04c0 /* SBC-3 */];
  descs.forEach((d, i) => b.writeUInt16BE(d, 58 + i * 2));
  return b;
}

function vpdPage(type: number, page: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h[0] = type;
  h[1] = page;
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function deviceIdentificationVpd(cmd: ScsiCmd, dev: Device): Buffer {
  const relTgtId = cmd.session.target.relTgtId || 1;
  const tgId = aluaGroups(dev, relTgtId)?.ownGroup?.targetPortGroup ?? 0;
  return vpdPage(dev.type, 0x83, deviceIdentificationDescriptors(dev, dev.scsiDeviceName, relTgtId, tgId));
}

export function supportedVpdPages(dev: Device): number[] {
  return dev.type === 0 ? [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2] : [0x00, 0x80, 0x83];
}

const inquiry: OpDesc = {
  name: 'INQUIRY',
  flags: F_NO_UA | F_NO_LUN | F_DURING_SANITIZE,
  res: 'allowed',
  usage: [Op.INQUIRY, 0x01, 0xff, 0xff, 0xff, 0x07],
  parse(cmd) {
    const evpd = cmd.cdb[1]! & 1;
    if (cmd.cdb[1]! & 0xfe) throw invalidField(1);
    if (!evpd && cmd.cdb[2] !== 0) throw invalidField(2);
    dataIn(cmd, cmd.cdb.readUInt16BE(3));
  },
  exec(cmd, dev) {
    const evpd = cmd.cdb[1]! & 1;
    if (!evpd || !dev) {
      if (evpd && !dev) {
        const b = Buffer.alloc(4);
        b[0] = 0x7f;
        return replyData(cmd, b);
      }
      return replyData(cmd, standardInquiry(cmd, dev));
    }
    const page = cmd.cdb[2]!;
    const pages = supportedVpdPages(dev);
    if (!pages.includes(page)) throw invalidField(2);
    switch (page) {
      case 0x00:
        return replyData(cmd, vpdPage(dev.type, 0, Buffer.from(pages)));
      case 0x80:
        return replyData(cmd, vpdPage(dev.type, 0x80, Buffer.from(dev.usn, 'latin1')));
      case 0x83:
        return replyData(cmd, deviceIdentificationVpd(cmd, dev));
      case 0xb0:
        return replyData(cmd, vpdPage(dev.type, 0xb0, blockLimitsVpd(dev)));
      case 0xb1:
        return replyData(cmd, vpdPage(dev.type, 0xb1, blockCharacteristicsVpd(dev)));
      case 0xb2:
        return replyData(cmd, vpdPage(dev.type, 0xb2, logicalBlockProvisioningVpd(dev)));
    }
  },
};

const testUnitReady: OpDesc = {
  name: 'TEST UNIT READY',
  flags: F_MEDIUM,
  res: 'allowed',
  usage: [Op.TEST_UNIT_READY, 0, 0, 0, 0, 0x07],
  parse() {},
  exec: good,
};

function descriptorSense(fixed: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x72;
  b[1] = fixed[2]! & 0x0f;
  b[2] = fixed[12]!;
  b[3] = fixed[13]!;
  return b;
}

const requestSense: OpDesc = {
  name: 'REQUEST SENSE',
  flags: F_NO_UA | F_NO_LUN | F_DURING_SANITIZE,
  res: 'allowed',
  usage: [Op.REQUEST_SENSE, 0x01, 0, 0, 0xff, 0x07],
  parse(cmd) {
    if (cmd.cdb[1]! & 0xfe) throw invalidField(1);
    dataIn(cmd, cmd.cdb[4]!);
  },
  exec(cmd, dev, td) {
    let s: Buffer | null = null;
    if (!td) s = ScsiErrorSense(Sense.LUN_NOT_SUPPORTED);
    else s = td.takeUA();
    if (!s && dev?.sanitizing) s = sanitizeProgressSense(dev);
    const notReady = dev?.notReadySense;
    if (!s && notReady) s = ScsiErrorSense(notReady);
    if (!s) s = ScsiErrorSense(Sense.NO_ADDITIONAL_SENSE);
    replyData(cmd, cmd.cdb[1]! & 1 ? descriptorSense(s) : s);
  },
};

function ScsiErrorSense(a: (typeof Sense)[keyof typeof Sense]): Buffer {
  return new ScsiError(a).sense();
}

/** LUN encoding per the group's addressing method (peripheral below 256, else flat). */
export function encodeReportLun(lun: number, method: string): Buffer {
  const b = Buffer.alloc(8);
  if (method === 'FLAT' || lun > 255) {
    b[0] = 0x40 | ((lun >> 8) & 0x3f);
    b[1] = lun & 0xff;
  } else b[1] = lun;
  return b;
}

const reportLuns: OpDesc = {
  name: 'REPORT LUNS',
  flags: F_NO_UA | F_NO_LUN | F_DURING_SANITIZE,
  res: 'allowed',
  usage: [Op.REPORT_LUNS, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    const select = cmd.cdb[2]!;
    if (select > 2 && !(select >= 0x10 && select <= 0x12)) throw invalidField(2);
    const alloc = cmd.cdb.readUInt32BE(6);
    if (alloc < 16) throw invalidField(6);
    dataIn(cmd, alloc);
  },
  exec(cmd) {
    const s = cmd.session;
    const select = cmd.cdb[2]!;
    const luns = select === 1 ? [] : [...s.tgtDevs.keys()].sort((a, b) => a - b);
    const method = s.group?.addrMethod ?? s.target.addrMethod;
    const b = Buffer.alloc(8 + luns.length * 8);
    b.writeUInt32BE(luns.length * 8, 0);
    luns.forEach((l, i) => encodeReportLun(l, method).copy(b, 8 + i * 8));
    // REPORT LUNS clears a pending REPORTED LUNS DATA HAS CHANGED on this nexus (SPC-4 6.33).
    const td = cmd.tgtDev;
    if (td) {
      const pending: Buffer[] = [];
      for (let u = td.takeUA(); u; u = td.takeUA()) if (!(u[12] === 0x3f && u[13] === 0x0e)) pending.push(u);
      for (const u of pending) td.queueUA({ key: u[2]!, asc: u[12]!, ascq: u[13]! });
    }
    replyData(cmd, b);
  },
};

// ---- Mode pages -----------------------------------------------------------------------------

type PageControl = 0 | 1 | 2;

function rwErrorRecoveryPage(_dev: Device, pc: PageControl): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x01;
  p[1] = 0x0a;
  if (pc !== 1) p[2] = 0xc0; // AWRE, ARRE
  return p;
}

function cachingPage(dev: Device, pc: PageControl): Buffer {
  const p = Buffer.alloc(20);
  p[0] = 0x08;
  p[1] = 0x12;
  if (pc === 1) p[2] = 0x04; // WCE is changeable
  else if (pc === 2) p[2] = dev.writeThrough ? 0 : 0x04;
  else p[2] = dev.wce && !dev.writeThrough ? 0x04 : 0;
  return p;
}

function controlPage(dev: Device, pc: PageControl): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x0a;
  p[1] = 0x0a;
  if (pc === 1) {
    p[4] = 0x08; // SWP is changeable
    return p;
  }
  p[2] = (dev.tst & 7) << 5;
  p[3] = 0x10; // QUEUE ALGORITHM MODIFIER 1: unrestricted reordering allowed
  if (pc === 0 && dev.swp) p[4] = 0x08;
  p[5] = 0x40; // TAS: aborted commands of other nexuses get TASK ABORTED
  p.writeUInt16BE(0xffff, 8); // busy timeout: unlimited
  return p;
}

function informationalExceptionsPage(_dev: Device, _pc: PageControl): Buffer {
  const p = Buffer.alloc(12);
  p[0] = 0x1c;
  p[1] = 0x0a;
  return p;
}

const MODE_PAGES: Array<[number, (d: Device, pc: PageControl) => Buffer]> = [
  [0x01, rwErrorRecoveryPage],
  [0x08, cachingPage],
  [0x0a, controlPage],
  [0x1c, informationalExceptionsPage],
];

function modeSense(cmd: ScsiCmd, dev: Device, ten: boolean): Buffer {
  const dbd = (cmd.cdb[1]! & 0x08) !== 0 || dev.type === 5;
  const llbaa = ten && (cmd.cdb[1]! & 0x10) !== 0;
  const pc = (cmd.cdb[2]! >> 6) as PageControl | 3;
  const page = cmd.cdb[2]! & 0x3f;
  const subpage = cmd.cdb[3]!;
  if (pc === 3) throw new ScsiError(Sense.SAVING_PARAMS_NOT_SUPPORTED);
  let pages: Buffer[];
  if (page === 0x3f) {
    if (subpage !== 0 && subpage !== 0xff) throw invalidField(3);
    pages = MODE_PAGES.map(([, f]) => f(dev, pc));
  } else {
    const f = MODE_PAGES.find(([n]) => n === page);
    if (!f || subpage !== 0) throw invalidField(2, 5);
    pages = [f[1](dev, pc)];
  }
  let bd = Buffer.alloc(0);
  if (!dbd && dev.type === 0) {
    if (llbaa) {
      bd = Buffer.alloc(16);
      writeU64(bd, dev.nblocks, 0);
      bd.writeUInt32BE(dev.blockSize, 12);
    } else {
      bd = Buffer.alloc(8);
      bd.writeUInt32BE(Math.min(dev.nblocks, 0xffffffff), 0);
      bd.writeUInt32BE(dev.blockSize & 0xffffff, 4);
    }
  }
  const td = cmd.tgtDev;
  const wp = td?.isReadOnly || dev.swp ? 0x80 : 0;
  const devSpecific = wp | (supportsDpoFua(dev) ? 0x10 : 0); // DPOFUA
  const body = Buffer.concat([bd, ...pages]);
  if (ten) {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(6 + body.length, 0);
    h[3] = devSpecific;
    h[4] = llbaa ? 1 : 0;
    h.writeUInt16BE(bd.length, 6);
    return Buffer.concat([h, body]);
  }
  const h = Buffer.alloc(4);
  h[0] = Math.min(255, 3 + body.length);
  h[2] = devSpecific;
  h[3] = bd.length;
  return Buffer.concat([h, body]);
}

const modeSense6: OpDesc = {
  name: 'MODE SENSE(6)',
  flags: 0,
  res: 'read',
  usage: [Op.MODE_SENSE_6, 0x08, 0xff, 0xff, 0xff, 0x07],
  parse(cmd) {
    dataIn(cmd, cmd.cdb[4]!);
  },
  exec(cmd, dev) {
    replyData(cmd, modeSense(cmd, dev!, false));
  },
};

const modeSense10: OpDesc = {
  name: 'MODE SENSE(10)',
  flags: 0,
  res: 'read',
  usage: [Op.MODE_SENSE_10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x07],
  parse(cmd) {
    dataIn(cmd, cmd.cdb.readUInt16BE(7));
  },
  exec(cmd, dev) {
    replyData(cmd, modeSense(cmd, dev!, true));
  },
};

function paramListError(): ScsiError {
  return new ScsiError(Sense.INVALID_FIELD_IN_PARAM_LIST);
}

/** Apply a MODE SELECT parameter list: only the caching page's WCE may change. */
function modeSelect(cmd: ScsiCmd, dev: Device, td: TgtDev | null, ten: boolean): void {
  const len = cmd.dataLength;
  if (len === 0) return good(cmd);
  const d = cmd.buf.subarray(0, len);
  const hdrLen = ten ? 8 : 4;
  if (len < hdrLen) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  const bdLen = ten ? d.readUInt16BE(6) : d[3]!;
  let off = hdrLen + bdLen;
  if (off > len) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
  let newWce: boolean | null = null;
  let newSwp: boolean | null = null;
  while (off < len) {
    if (off + 2 > len) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
    const code = d[off]! & 0x3f;
    if (d[off]! & 0x40) throw paramListError(); // subpage format: none supported
    const plen = d[off + 1]!;
    if (off + 2 + plen > len) throw new ScsiError(Sense.PARAM_LIST_LENGTH_ERROR);
    const page = d.subarray(off, off + 2 + plen);
    const gen = MODE_PAGES.find(([n]) => n === code);
    if (!gen) throw paramListError();
    const current = gen[1](dev, 0);
    const changeable = gen[1](dev, 1);
    if (plen !== current.length - 2) throw paramListError();
    for (let i = 2; i < current.length; i++) {
      if ((page[i]! ^ current[i]!) & ~changeable[i]!) throw paramListError();
    }
    if (code === 0x08) newWce = (page[2]! & 0x04) !== 0;
    if (code === 0x0a) newSwp = (page[4]! & 0x08) !== 0;
    off += 2 + plen;
  }
  let changed = false;
  if (newWce !== null && newWce !== dev.wce) {
    dev.wce = newWce;
    changed = true;
  }
  if (newSwp !== null && newSwp !== dev.swp) {
    dev.swp = newSwp;
    changed = true;
  }
  // Mode pages are shared by every nexus of the LU: the others learn about it (SPC-4 7.5.x).
  if (changed) dev.queueUA(Sense.MODE_PARAMETERS_CHANGED, td ?? undefined);
  good(cmd);
}

function modeSelectParse(cmd: ScsiCmd, ten: boolean): void {
  if (cmd.cdb[1]! & 0x01) throw new ScsiError(Sense.SAVING_PARAMS_NOT_SUPPORTED); // SP
  const len = ten ? cmd.cdb.readUInt16BE(7) : cmd.cdb[4]!;
  cmd.dir = len ? DataDir.WRITE : DataDir.NONE;
  cmd.dataLength = len;
}

const modeSelect6: OpDesc = {
  name: 'MODE SELECT(6)',
  flags: 0,
  res: 'write',
  usage: [Op.MODE_SELECT_6, 0x11, 0, 0, 0xff, 0x07],
  parse: (cmd) => modeSelectParse(cmd, false),
  exec: (cmd, dev, td) => modeSelect(cmd, dev!, td, false),
};

const modeSelect10: OpDesc = {
  name: 'MODE SELECT(10)',
  flags: 0,
  res: 'write',
  usage: [Op.MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
  parse: (cmd) => modeSelectParse(cmd, true),
  exec: (cmd, dev, td) => modeSelect(cmd, dev!, td, true),
};

const sendDiagnostic: OpDesc = {
  name: 'SEND DIAGNOSTIC',
  flags: 0,
  res: 'write',
  usage: [Op.SEND_DIAGNOSTIC, 0x04, 0, 0xff, 0xff, 0x07],
  parse(cmd) {
    // Only the default self-test (SELFTEST=1, no parameter list) is supported.
    if (!(cmd.cdb[1]! & 0x04) || cmd.cdb.readUInt16BE(3) !== 0) throw invalidField(1, 2);
  },
  exec: good,
};

const preventAllow: OpDesc = {
  name: 'PREVENT ALLOW MEDIUM REMOVAL',
  flags: 0,
  res: 'allowed',
  usage: [Op.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0x03, 0x07],
  parse(cmd) {
    if (cmd.cdb[4]! & 0xfc) throw invalidField(4);
  },
  exec(cmd, dev, td) {
    const prevent = (cmd.cdb[4]! & 0x03) !== 0;
    if (dev!.removable && td) {
      if (prevent) dev!.preventers.add(td);
      else dev!.preventers.delete(td);
    }
    good(cmd);
  },
};

/**
 * START STOP UNIT. A virtual disk never spins down, so START and power conditions are accepted
 * without effect; on a removable medium LOEJ ejects (the medium stays in the tray, inaccessible)
 * or loads it back, unless some nexus prevents medium removal.
 */
const startStopUnit: OpDesc = {
  name: 'START STOP UNIT',
  flags: 0,
  res: 'write',
  usage: [Op.START_STOP_UNIT, 0x01, 0, 0x0f, 0xf7, 0x07],
  parse() {},
  exec(cmd, dev) {
    const d = dev!;
    const b4 = cmd.cdb[4]!;
    const powerCondition = b4 >> 4;
    const loej = (b4 & 0x02) !== 0;
    const start = (b4 & 0x01) !== 0;
    // With a POWER CONDITION, START and LOEJ are ignored (SBC-4 5.25).
    if (powerCondition !== 0 || !loej || !d.removable) return good(cmd);
    if (d.preventers.size > 0) throw new ScsiError(Sense.MEDIUM_REMOVAL_PREVENTED);
    if (start) {
      if (d.backstore === null) throw new ScsiError(Sense.MEDIUM_NOT_PRESENT);
      if (d.trayOpen) {
        d.trayOpen = false;
        d.mediaGeneration++;
      }
    } else if (!d.trayOpen) {
      d.trayOpen = true;
      d.mediaGeneration++;
    }
    good(cmd);
  },
};

/** What a logical unit reset (or target reset) returns to its defaults (SAM-5 6.3.3). */
export function resetLogicalUnit(dev: Device): Promise<void> {
  dev.preventers.clear();
  dev.wce = !dev.writeThrough;
  dev.swp = false;
  return clearSpc2Reservation(dev);
}

export function spcOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.INQUIRY, inquiry],
    [Op.TEST_UNIT_READY, testUnitReady],
    [Op.REQUEST_SENSE, requestSense],
    [Op.REPORT_LUNS, reportLuns],
    [Op.MODE_SENSE_6, modeSense6],
    [Op.MODE_SENSE_10, modeSense10],
    [Op.MODE_SELECT_6, modeSelect6],
    [Op.MODE_SELECT_10, modeSelect10],
    [Op.SEND_DIAGNOSTIC, sendDiagnostic],
    [Op.PREVENT_ALLOW_MEDIUM_REMOVAL, preventAllow],
    [Op.START_STOP_UNIT, startStopUnit],
  ]);
}

export { Status };

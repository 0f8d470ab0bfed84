import type { ScsiCmd } from '../cmd.js';
import type { Device } from '../device.js';
import { Op } from './constants.js';
import { F_MEDIUM, type OpDesc, type OpTable } from './op.js';
import { dataIn, invalidField, replyData } from './util.js';

// MMC basics for a read-only CD-ROM backed by an ISO image: enough for initiators to find the
// medium, its size and its single data track.

const PROFILE_CDROM = 0x0008;

function lbaToMsf(lba: number): [number, number, number] {
  const l = lba + 150;
  return [Math.floor(l / (60 * 75)), Math.floor(l / 75) % 60, l % 75];
}

function tocAddress(b: Buffer, off: number, lba: number, msf: boolean): void {
  if (msf) {
    const [m, s, f] = lbaToMsf(lba);
    b[off + 1] = m;
    b[off + 2] = s;
    b[off + 3] = f;
  } else b.writeUInt32BE(lba, off);
}

const readToc: OpDesc = {
  name: 'READ TOC/PMA/ATIP',
  flags: F_MEDIUM,
  res: 'read',
  usage: [Op.READ_TOC, 0x02, 0x0f, 0, 0, 0, 0xff, 0xff, 0xff, 0x07],
  parse(cmd) {
    const format = cmd.cdb[2]! & 0x0f;
    if (format > 1) throw invalidField(2);
    dataIn(cmd, cmd.cdb.readUInt16BE(7));
  },
  exec(cmd, dev) {
    const msf = (cmd.cdb[1]! & 0x02) !== 0;
    const format = cmd.cdb[2]! & 0x0f;
    const track = cmd.cdb[6]!;
    if (format === 1) {
      // Session information: one complete session starting at track 1.
      const b = Buffer.alloc(12);
      b.writeUInt16BE(10, 0);
      b[2] = 1;
      b[3] = 1;
      b[5] = 0x14;
      b[6] = 1;
      tocAddress(b, 8, 0, msf);
      return replyData(cmd, b);
    }
    if (track > 1 && track !== 0xaa) throw invalidField(6);
    const entries: Array<[number, number]> = [];
    if (track <= 1) entries.push([1, 0]);
    entries.push([0xaa, dev!.nblocks]);
    const b = Buffer.alloc(4 + entries.length * 8);
    b.writeUInt16BE(b.length - 2, 0);
    b[2] = 1;
    b[3] = 1;
    entries.forEach(([t, lba], i) => {
      const o = 4 + i * 8;
      b[o + 1] = 0x14; // ADR 1, CONTROL 4: data track
      b[o + 2] = t;
      tocAddress(b, o + 4, lba, msf);
    });
    replyData(cmd, b);
  },
};

function feature(code: number, version: number, current: boolean, data: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(code, 0);
  h[2] = (version << 2) | 0x02 /* persistent */ | (current ? 1 : 0);
  h[3] = data.length;
  return Buffer.concat([h, data]);
}

function configuration(dev: Device): Buffer {
  const present = dev.mediumPresent;
  const profiles = Buffer.alloc(4);
  profiles.writeUInt16BE(PROFILE_CDROM, 0);
  profiles[2] = present ? 1 : 0;
  const core = Buffer.alloc(8);
  core.writeUInt32BE(1, 0); // physical interface: SCSI family
  const removable = Buffer.alloc(4);
  removable[0] = 0x29; // tray loading, eject, lock supported
  const randomRead = Buffer.alloc(8);
  randomRead.writeUInt32BE(dev.blockSize, 0);
  randomRead.writeUInt16BE(1, 4);
  const feats = [
    feature(0x0000, 0, true, profiles),
    feature(0x0001, 1, true, core),
    feature(0x0003, 0, true, removable),
    feature(0x0010, 0, present, randomRead),
    feature(0x001e, 0, present, Buffer.alloc(0)),
  ];
  const h = Buffer.alloc(8);
  const body = Buffer.concat(feats);
  h.writeUInt32BE(4 + body.length, 0);
  h.writeUInt16BE(present ? PROFILE_CDROM : 0, 6);
  return Buffer.concat([h, body]);
}

const getConfiguration: OpDesc = {
  name: 'GET CONFIGURATION',
  flags: 0,
  res: 'allowed',
  usage: [Op.GET_CONFIGURATION, 0x03, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x07],
  parse(cmd) {
    if ((cmd.cdb[1]! & 0x03) === 3) throw invalidField(1);
    dataIn(cmd, cmd.cdb.readUInt16BE(7));
  },
  exec(cmd, dev) {
    const rt = cmd.cdb[1]! & 0x03;
    const start = cmd.cdb.readUInt16BE(2);
    const all = configuration(dev!);
    if (rt === 0 && start === 0) return replyData(cmd, all);
    // Filter to features >= start (rt 1: current only; rt 2: exactly one).
    const out: Buffer[] = [];
    let off = 8;
    while (off < all.length) {
      const code = all.readUInt16BE(off);
      const len = 4 + all[off + 3]!;
      const cur = (all[off + 2]! & 1) === 1;
      if ((rt === 2 && code === start) || (rt !== 2 && code >= start && (rt === 0 || cur))) out.push(all.subarray(off, off + len));
      off += len;
    }
    const body = Buffer.concat(out);
    const h = Buffer.from(all.subarray(0, 8));
    h.writeUInt32BE(4 + body.length, 0);
    replyData(cmd, Buffer.concat([h, body]));
  },
};

/** Last media generation each nexus has been told about (GET EVENT STATUS NOTIFICATION). */
const seenGeneration = new WeakMap<object, number>();

const getEventStatus: OpDesc = {
  name: 'GET EVENT STATUS NOTIFICATION',
  flags: 0,
  res: 'allowed',
  usage: [Op.GET_EVENT_STATUS_NOTIFICATION, 0x01, 0, 0, 0xff, 0, 0, 0xff, 0xff, 0x07],
  parse(cmd) {
    if (!(cmd.cdb[1]! & 0x01)) throw invalidField(1, 0); // only polled operation
    dataIn(cmd, cmd.cdb.readUInt16BE(7));
  },
  exec(cmd, dev) {
    const wanted = cmd.cdb[4]!;
    if (!(wanted & 0x10)) {
      const h = Buffer.alloc(4);
      h.writeUInt16BE(2, 0);
      h[2] = 0x80; // NEA: no event class requested is supported
      h[3] = 0x10;
      return replyData(cmd, h);
    }
    const d = dev!;
    const key = cmd.tgtDev ?? cmd.session;
    const seen = seenGeneration.get(key);
    let event = 0;
    if (seen !== undefined && seen !== d.mediaGeneration) event = d.mediumPresent ? 2 /* new media */ : 3 /* removal */;
    seenGeneration.set(key, d.mediaGeneration);
    const b = Buffer.alloc(8);
    b.writeUInt16BE(6, 0);
    b[2] = 0x04; // media class
    b[3] = 0x10;
    b[4] = event;
    b[5] = d.mediumPresent ? 0x02 : 0x00;
    replyData(cmd, b);
  },
};

const readDiscInformation: OpDesc = {
  name: 'READ DISC INFORMATION',
  flags: F_MEDIUM,
  res: 'read',
  usage: [Op.READ_DISC_INFORMATION, 0x07, 0, 0, 0, 0, 0, 0xff, 0xff, 0x07],
  parse(cmd) {
    if (cmd.cdb[1]! & 0x07) throw invalidField(1);
    dataIn(cmd, cmd.cdb.readUInt16BE(7));
  },
  exec(cmd) {
    const b = Buffer.alloc(34);
    b.writeUInt16BE(32, 0);
    b[2] = 0x0e; // complete disc, last session complete
    b[3] = 1;
    b[4] = 1;
    b[5] = 1;
    b[6] = 1;
    replyData(cmd, b);
  },
};

const mechanismStatus: OpDesc = {
  name: 'MECHANISM STATUS',
  flags: 0,
  res: 'allowed',
  usage: [Op.MECHANISM_STATUS, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    dataIn(cmd, cmd.cdb.readUInt16BE(8));
  },
  exec(cmd, dev) {
    const b = Buffer.alloc(8);
    if (!dev!.mediumPresent) b[1] = 0x10; // door open
    replyData(cmd, b);
  },
};

export function mmcOps(): OpTable {
  return new Map<number, OpDesc>([
    [Op.READ_TOC, readToc],
    [Op.GET_CONFIGURATION, getConfiguration],
    [Op.GET_EVENT_STATUS_NOTIFICATION, getEventStatus],
    [Op.READ_DISC_INFORMATION, readDiscInformation],
    [Op.MECHANISM_STATUS, mechanismStatus],
  ]);
}

export type { ScsiCmd };

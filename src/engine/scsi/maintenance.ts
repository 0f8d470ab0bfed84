import { DataDir } from '../cmd.js';
import type { Device } from '../device.js';
import { ALUA_STATE_CODE, aluaOfDevice, deviceGroupOf, encodeRtpg, reportTargetPortGroups as aluaGroups, type AluaChange, type AluaState } from '../alua.js';
import { MgmtError } from '../errors.js';
import { MI_REPORT_SUPPORTED_OPCODES, MI_REPORT_SUPPORTED_TMFS, MI_REPORT_TARGET_PORT_GROUPS, MO_SET_TARGET_PORT_GROUPS, Op, Sense, Status } from './constants.js';
import { usageOf, type OpDesc, type OpTable } from './op.js';
import { buildSense, ScsiError } from './sense.js';
import { dataIn, good, invalidField, paramData, replyData, serviceActionGroup } from './util.js';

// MAINTENANCE IN service actions that let an initiator discover what this logical unit can do:
// REPORT SUPPORTED OPERATION CODES, REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS, and REPORT
// TARGET PORT GROUPS (the ALUA configuration of the device's device group, or, for a device in
// none, one active/optimized group of the ports that map it).

/** Nominal and recommended command timeouts in seconds (timeouts descriptor). */
const NOMINAL_TIMEOUT_S = 30;
const RECOMMENDED_TIMEOUT_S = 60;
/** Commands that walk the whole medium get longer ones. */
const LONG_TIMEOUT_S = 3600;
const LONG_OPS = new Set<number>([Op.SANITIZE, Op.EXTENDED_COPY, Op.FORMAT_UNIT, Op.WRITE_SAME_10, Op.WRITE_SAME_16]);

let tableFor: (dev: Device) => OpTable = () => new Map();

/** Installed by ops.ts once the per-type tables exist (they include this module's ops). */
export function setOpTableLookup(f: (dev: Device) => OpTable): void {
  tableFor = f;
}

interface Entry {
  opcode: number;
  sa: number | null;
  op: OpDesc;
  usage: number[];
}

/** Every operation code and service action this device serves, in opcode order. */
function entries(dev: Device): Entry[] {
  const out: Entry[] = [];
  const table = tableFor(dev);
  for (const opcode of [...table.keys()].sort((a, b) => a - b)) {
    const op = table.get(opcode)!;
    if (op.serviceActions) {
      for (const sa of [...op.serviceActions.keys()].sort((a, b) => a - b)) {
        const m = op.serviceActions.get(sa)!;
        const u = usageOf(m, dev);
        if (!u) continue;
        const usage = [...u];
        // The service action itself appears in the usage data where the CDB carries it.
        usage[1] = (usage[1]! & ~0x1f) | sa;
        out.push({ opcode, sa, op: m, usage });
      }
    } else {
      const u = usageOf(op, dev);
      if (u) out.push({ opcode, sa: null, op, usage: [...u] });
    }
  }
  return out;
}

function timeoutsDescriptor(opcode: number): Buffer {
  const t = Buffer.alloc(12);
  t.writeUInt16BE(0x0a, 0);
  const long = LONG_OPS.has(opcode);
  t.writeUInt32BE(long ? LONG_TIMEOUT_S : NOMINAL_TIMEOUT_S, 4);
  t.writeUInt32BE(long ? LONG_TIMEOUT_S : RECOMMENDED_TIMEOUT_S, 8);
  return t;
}

function allCommands(dev: Device, rctd: boolean): Buffer {
  const parts = entries(dev).map((e) => {
    const d = Buffer.alloc(8);
    d[0] = e.opcode;
    d.writeUInt16BE(e.sa ?? 0, 2);
    d[5] = (rctd ? 0x02 : 0) | (e.sa !== null ? 0x01 : 0);
    d.writeUInt16BE(e.usage.length, 6);
    return rctd ? Buffer.concat([d, timeoutsDescriptor(e.opcode)]) : d;
  });
  const body = Buffer.concat(parts);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length, 0);
  return Buffer.concat([h, body]);
}

function oneCommand(dev: Device, opcode: number, sa: number | null, rctd: boolean): Buffer {
  const e = entries(dev).find((x) => x.opcode === opcode && x.sa === sa);
  const h = Buffer.alloc(4);
  if (!e) {
    h[1] = 0x01; // SUPPORT 001b: not supported
    return h;
  }
  h[1] = (rctd ? 0x80 : 0) | 0x03; // SUPPORT 011b: supported as the standard says
  h.writeUInt16BE(e.usage.length, 2);
  const parts: Buffer[] = [h, Buffer.from(e.usage)];
  if (rctd) parts.push(timeoutsDescriptor(opcode));
  return Buffer.concat(parts);
}

const reportSupportedOpcodes: OpDesc = {
  name: 'REPORT SUPPORTED OPERATION CODES',
  flags: 0,
  sa: MI_REPORT_SUPPORTED_OPCODES,
  res: 'allowed',
  usage: [Op.MAINTENANCE_IN, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    const options = cmd.cdb[2]! & 0x07;
    if (options > 3) throw invalidField(2, 2);
    dataIn(cmd, cmd.cdb.readUInt32BE(6));
  },
  exec(cmd, dev) {
    const d = dev!;
    const rctd = (cmd.cdb[2]! & 0x80) !== 0;
    const options = cmd.cdb[2]! & 0x07;
    const opcode = cmd.cdb[3]!;
    const sa = cmd.cdb.readUInt16BE(4);
    if (options === 0) return replyData(cmd, allCommands(d, rctd));
    const op = tableFor(d).get(opcode);
    const hasSa = !!op?.serviceActions;
    // Asking for one opcode without its service action (or with one it has none of) is an error.
    if (options === 1 && hasSa) throw invalidField(3);
    if (options === 2 && op && !hasSa) throw invalidField(3);
    const useSa = options === 2 || (options === 3 && hasSa);
    replyData(cmd, oneCommand(d, opcode, useSa ? sa : null, rctd));
  },
};

const reportSupportedTmfs: OpDesc = {
  name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
  flags: 0,
  sa: MI_REPORT_SUPPORTED_TMFS,
  res: 'allowed',
  usage: [Op.MAINTENANCE_IN, 0x1f, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    const alloc = cmd.cdb.readUInt32BE(6);
    if (alloc > 0 && alloc < 4) throw invalidField(6);
    dataIn(cmd, alloc);
  },
  exec(cmd) {
    const extended = (cmd.cdb[2]! & 0x80) !== 0;
    const b = Buffer.alloc(extended ? 16 : 4);
    // ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET RESET (iSCSI warm).
    b[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x02;
    if (extended) b[3] = 0x0c; // additional data length
    replyData(cmd, b);
  },
};

/** Target port group reported for devices outside any ALUA device group. */
export const TARGET_PORT_GROUP = 1;

const reportTargetPortGroups: OpDesc = {
  name: 'REPORT TARGET PORT GROUPS',
  flags: 0,
  sa: MI_REPORT_TARGET_PORT_GROUPS,
  res: 'allowed',
  usage: [Op.MAINTENANCE_IN, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07],
  parse(cmd) {
    const format = cmd.cdb[1]! >> 5;
    if (format > 1) throw invalidField(1, 7);
    const alloc = cmd.cdb.readUInt32BE(6);
    if (alloc > 0 && alloc < 4) throw invalidField(6);
    dataIn(cmd, alloc);
  },
  exec(cmd, dev) {
    const extended = cmd.cdb[1]! >> 5 === 1;
    const alua = aluaGroups(dev!, cmd.session.target.relTgtId || 1);
    if (alua) return replyData(cmd, encodeRtpg(alua, extended));
    // Every target port through which this device is mapped, by relative target port id.
    const ports = new Set<number>();
    for (const td of dev!.tgtDevs) ports.add(td.session.target.relTgtId || 1);
    ports.add(cmd.session.target.relTgtId || 1);
    const ids = [...ports].sort((a, b) => a - b);
    const g = Buffer.alloc(8 + ids.length * 4);
    g[0] = 0x80; // PREF, asymmetric access state 0: active/optimized
    g[1] = 0x01; // AO_SUP
    g.writeUInt16BE(TARGET_PORT_GROUP, 2);
    g[7] = ids.length;
    ids.forEach((id, i) => g.writeUInt16BE(id, 8 + i * 4 + 2));
    const hlen = extended ? 8 : 4;
    const h = Buffer.alloc(hlen);
    h.writeUInt32BE(g.length + hlen - 4, 0);
    if (extended) h[4] = 0x10; // format type 001b
    replyData(cmd, Buffer.concat([h, g]));
  },
};

export const maintenanceIn: OpDesc = serviceActionGroup('MAINTENANCE IN', 0, [reportTargetPortGroups, reportSupportedOpcodes, reportSupportedTmfs]);

// ---- SET TARGET PORT GROUPS (SPC-4 6.40; explicit ALUA) -----------------------------------------

/** The states an initiator may ask for (SCST refuses transitioning, LBA dependent and the rest). */
const SETTABLE = new Map<number, AluaState>((['active', 'nonoptimized', 'standby', 'unavailable', 'offline'] as const).map((s) => [ALUA_STATE_CODE[s], s]));
/** SCST's limit on descriptors in one command. */
const MAX_STPG_DESCRIPTORS = 64;
/** Not committed in the cluster: retryable, as while the node's view is uncertain. */
const NOT_COMMITTED = Sense.ALUA_TRANSITIONING;

const USAGE_STPG = [Op.MAINTENANCE_OUT, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07] as const;

function stpgFailed(): ScsiError {
  return new ScsiError(Sense.SET_TARGET_PGS_FAILED);
}

/**
 * The descriptors of a SET TARGET PORT GROUPS parameter list as changes of the device's device
 * group, validated as SCST does: every descriptor names a target port group of the group, with a
 * state an initiator may set, and none of them is transitioning; else nothing changes.
 */
function stpgChanges(dev: Device, d: Buffer): AluaChange[] {
  const g = deviceGroupOf(dev);
  if (!g) throw stpgFailed();
  const alua = aluaOfDevice(dev)!;
  const out: AluaChange[] = [];
  for (let i = 4; i + 4 <= d.length; i += 4) {
    const state = SETTABLE.get(d[i]! & 0x0f);
    if (!state || (d[i]! & 0x10) !== 0) throw stpgFailed();
    const id = d.readUInt16BE(i + 2);
    const tg = id === 0 ? undefined : g.targetGroups.find((t) => t.groupId === id);
    if (!tg) throw stpgFailed();
    if (alua.reportedState(g, tg) === 'transitioning') throw new ScsiError(Sense.ALUA_TRANSITIONING);
    out.push({ deviceGroup: g.name, targetGroup: tg.name, state });
  }
  return out;
}

const setTargetPortGroups: OpDesc = {
  name: 'SET TARGET PORT GROUPS',
  flags: 0,
  sa: MO_SET_TARGET_PORT_GROUPS,
  // SPC-4 Table 63: conflicts under every persistent reservation type held by another nexus.
  res: 'write',
  // Listed by REPORT SUPPORTED OPERATION CODES only with expl_alua (as SCST's vdisk).
  usage: (dev) => (dev.explAlua ? USAGE_STPG : null),
  parse(cmd, dev) {
    if (dev && !dev.explAlua) {
      // SCST: "not explicit ALUA mode": the service action field is invalid.
      throw invalidField(1, 0);
    }
    const len = cmd.cdb.readUInt32BE(6);
    if (len > 4 + 4 * MAX_STPG_DESCRIPTORS) throw invalidField(6);
    cmd.dir = len > 0 ? DataDir.WRITE : DataDir.NONE;
    cmd.dataLength = len;
  },
  exec(cmd, dev) {
    const d = paramData(cmd);
    // SPC-4: a parameter list length of zero changes nothing.
    if (d.length === 0) return good(cmd);
    const changes = stpgChanges(dev!, d);
    if (changes.length === 0) return good(cmd);
    const alua = aluaOfDevice(dev!)!;
    cmd.get();
    cmd.owner = 'alua';
    alua.setStatesSerialised(changes, { sessionId: cmd.session.id }).then(
      () => {
        cmd.complete(Status.GOOD);
        cmd.put();
      },
      (e: unknown) => {
        const why = (e as Error).message;
        cmd.session.core.log.error({ device: dev!.name, cmd: cmd.describe(), err: why }, `${dev!.name}: SET TARGET PORT GROUPS not done: ${why}`);
        // Not committed in the cluster (fenced, etcd out of reach, too many concurrent changes):
        // the initiator retries. EINVAL: a group went away meanwhile, the command failed.
        const retry = e instanceof MgmtError && e.errno !== 'EINVAL';
        cmd.complete(Status.CHECK_CONDITION, buildSense(retry ? NOT_COMMITTED : Sense.SET_TARGET_PGS_FAILED));
        cmd.put();
      },
    );
  },
};

export const maintenanceOut: OpDesc = serviceActionGroup('MAINTENANCE OUT', 0, [setTargetPortGroups]);

export function maintenanceOps(): OpTable {
  return new Map([
    [Op.MAINTENANCE_IN, maintenanceIn],
    [Op.MAINTENANCE_OUT, maintenanceOut],
  ]);
}


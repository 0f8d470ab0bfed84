// Applying a parsed scst.conf to the engine at scstd start (the daemon side of the config room).
import { ConfigError } from './config-error.js';
import type { Attrs, DriverConf, ScstConfig, TargetConf } from './model.js';
import { CM_DRIVER, CM_TARGET } from '../engine/copy_manager/copy-manager.js';
import { isHandler, parseUnsigned, changeMedium, CREATE_PARAMS } from '../engine/handlers.js';
import { passThroughHandler, passThroughMgmt } from '../engine/passthrough/pass-through.js';
import { MgmtError } from '../engine/errors.js';
import { declareUserDevice } from '../engine/user/server.js';
import type { Scst } from '../engine/scst.js';
import type { IscsiDriver } from '../engine/iscsi/portal.js';
import type { AddrMethod, IniGroup, LunSet, Target } from '../engine/target.js';
import { iscsiTarget, type ChapUser } from '../engine/iscsi/target.js';
import { shownName } from '../engine/names.js';
import { aluaOf, coreAttrs, deviceAttrs, targetAttrs } from '../engine/mgmt.js';
import { iscsiDriverExtras } from '../engine/iscsi/driver-attrs.js';
import { isAluaState } from '../engine/alua.js';
import { SCST_LOCAL, type LocalDriver } from '../engine/scst_local/driver.js';

// Applies a parsed scst.conf to an empty core at start-up. Everything is validated and any
// problem is reported as file:line: what was wrong; the daemon then refuses to start.

const DEVICE_POST_ATTRS = new Set(['filename', 't10_vend_id', 'prod_id', 'prod_rev_lvl', 'vend_specific_id', 'usn', 'naa_id', 'eui64_id', 'opt_trans_len', 'read_zero', 'expl_alua', 'scsi_device_name', 'inq_vend_specific', 'threads_num', 'threads_pool_type', 'max_tgt_dev_commands', 'numa_node_id', 'size', 'size_mb']);

interface NumRange {
  min: number;
  max: number;
}

const ISCSI_NUMERIC: Record<string, NumRange> = {
  MaxRecvDataSegmentLength: { min: 512, max: 16777215 },
  MaxXmitDataSegmentLength: { min: 512, max: 16777215 },
  MaxBurstLength: { min: 512, max: 16777215 },
  FirstBurstLength: { min: 512, max: 16777215 },
  MaxOutstandingR2T: { min: 1, max: 65535 },
  QueuedCommands: { min: 1, max: 2048 },
  RspTimeout: { min: 2, max: 65535 },
  NopInInterval: { min: 0, max: 65535 },
  NopInTimeout: { min: 2, max: 65535 },
  MaxSessions: { min: 0, max: 65535 },
};

function err(file: string, line: number, msg: string): never {
  throw new ConfigError(file, line, msg);
}

function yesNo(file: string, a: { name: string; value: string; line: number }): boolean {
  if (/^yes$/i.test(a.value)) return true;
  if (/^no$/i.test(a.value)) return false;
  return err(file, a.line, `${a.name}: expected Yes or No, got '${a.value}'`);
}

function chapUser(file: string, a: { name: string; value: string; line: number }): ChapUser {
  const parts = a.value.trim().split(/\s+/);
  if (parts.length !== 2) err(file, a.line, `${a.name}: expected "<user> <secret>"`);
  if (parts[1]!.length < 12) err(file, a.line, `${a.name}: the secret of ${parts[0]} is shorter than 12 characters`);
  return { user: parts[0]!, secret: parts[1]! };
}

function digestList(file: string, a: { name: string; value: string; line: number }): Array<'None' | 'CRC32C'> {
  const out: Array<'None' | 'CRC32C'> = [];
  for (const v of a.value.split(',').map((s) => s.trim())) {
    if (/^none$/i.test(v)) out.push('None');
    else if (/^crc32c$/i.test(v)) out.push('CRC32C');
    else err(file, a.line, `${a.name}: unknown digest '${v}' (None, CRC32C)`);
  }
  return out;
}

function addrMethod(file: string, a: { value: string; line: number }): AddrMethod {
  for (const m of ['FLAT', 'PERIPHERAL', 'LUN'] as const) if (a.value.length > 0 && m.startsWith(a.value.trim().toUpperCase())) return m;
  return err(file, a.line, `addr_method: unknown method '${a.value}'`);
}

function applyTargetAttrs(file: string, t: Target, attrs: Attrs): number | null {
  let enabledLine: number | null = null;
  const it = iscsiTarget(t);
  const params = it.params;
  for (const a of attrs) {
    const range = Object.hasOwn(ISCSI_NUMERIC, a.name) ? ISCSI_NUMERIC[a.name] : undefined;
    if (range) {
      let n: number;
      try {
        n = parseUnsigned(a.name, a.value);
      } catch {
        err(file, a.line, `${a.name}: '${a.value}' is not a number`);
      }
      if (n < range.min || n > range.max) err(file, a.line, `${a.name}: ${n} is outside ${range.min}..${range.max}`);
      switch (a.name) {
        case 'QueuedCommands':
          it.queuedCommands = n;
          break;
        case 'RspTimeout':
          it.rspTimeout = n;
          break;
        case 'NopInInterval':
          it.nopInInterval = n;
          break;
        case 'NopInTimeout':
          it.nopInTimeout = n;
          break;
        case 'MaxSessions':
          it.maxSessions = n;
          break;
        default:
          (params as unknown as Record<string, number>)[a.name] = n;
      }
      t.explicit.add(a.name);
      continue;
    }
    switch (a.name) {
      case 'InitialR2T':
      case 'ImmediateData':
        params[a.name] = yesNo(file, a);
        break;
      case 'HeaderDigest':
      case 'DataDigest':
        params[a.name] = digestList(file, a);
        break;
      case 'IncomingUser': {
        const u = chapUser(file, a);
        if (it.incomingUsers.some((x) => x.user === u.user)) err(file, a.line, `IncomingUser ${u.user} given twice`);
        it.incomingUsers.push(u);
        break;
      }
      case 'OutgoingUser':
        it.outgoingUser = chapUser(file, a);
        break;
      case 'enabled':
        if (a.value !== '0' && a.value !== '1') err(file, a.line, `enabled: expected 0 or 1`);
        t.enabled = a.value === '1';
        enabledLine = a.line;
        break;
      case 'rel_tgt_id': {
        const n = Number(a.value);
        if (!Number.isInteger(n) || n < 0 || n > 65535) err(file, a.line, `rel_tgt_id: expected 0..65535`);
        t.relTgtId = n;
        break;
      }
      case 'addr_method':
        t.addrMethod = addrMethod(file, a);
        break;
      case 'alias':
        it.alias = a.value;
        break;
      case 'per_portal_acl':
        // iscsi-scstd takes exactly 0 or 1.
        if (a.value !== '0' && a.value !== '1') err(file, a.line, `per_portal_acl: expected 0 or 1, not '${a.value}'`);
        it.perPortalAcl = a.value === '1';
        break;
      case 'allowed_portal': {
        // One pattern per line, shown as allowed_portal, allowed_portal1, ... as add_target_attribute names them.
        const portals = it.allowedPortals;
        if (a.value === '' || /[\s=]/.test(a.value)) err(file, a.line, `allowed_portal: one pattern expected, not '${a.value}'`);
        if (![...portals.values()].includes(a.value)) portals.set(portals.size === 0 ? 'allowed_portal' : `allowed_portal${portals.size}`, a.value);
        break;
      }
      case 'io_grouping_type':
      case 'cpu_mask':
      case 'comment':
        break; // accepted, no effect in user mode
      default:
        err(file, a.line, `target ${t.name}: unknown attribute '${a.name}'`);
    }
    t.explicit.add(a.name);
  }
  if (params.FirstBurstLength > params.MaxBurstLength) err(file, attrs.find((a) => a.name === 'FirstBurstLength')?.line ?? 0, `FirstBurstLength ${params.FirstBurstLength} exceeds MaxBurstLength ${params.MaxBurstLength}`);
  return enabledLine;
}

function applyLuns(file: string, scst: Scst, set: LunSet, luns: TargetConf['luns']): void {
  for (const l of luns) {
    const dev = scst.devices.get(l.device);
    if (!dev) err(file, l.line, `LUN ${l.lun}: device '${l.device}' is not defined`);
    let ro = false;
    for (const a of l.attributes) {
      if (a.name === 'read_only') ro = a.value !== '0';
      else err(file, a.line, `LUN ${l.lun}: unknown attribute '${a.name}'`);
    }
    if (set.luns.has(l.lun)) err(file, l.line, `LUN ${l.lun} defined twice`);
    set.add(dev, l.lun, ro);
  }
}

/** Target attributes of the core (sysfs.md §7.2) a config may give copy_manager_tgt. */
const CM_TARGET_ATTRS = new Set(['rel_tgt_id', 'addr_method', 'io_grouping_type', 'cpu_mask', 'comment', 'black_hole', 'forward_src', 'forward_dst', 'forwarding', 'aen_disabled']);

/**
 * TARGET_DRIVER copy_manager (as appliances write it): its devices already have LUNs, given as
 * they were registered; a LUN number the target already has is accepted as it is, as
 * scstadmin -config does, and a free one maps the device there too.
 */
function applyCopyManager(file: string, scst: Scst, drv: DriverConf): void {
  const cm = scst.copyManager;
  for (const a of drv.attributes) {
    if (a.name === 'allow_not_connected_copy') {
      let v: number;
      try {
        v = parseUnsigned(a.name, a.value);
      } catch {
        err(file, a.line, `${a.name}: '${a.value}' is not a number`);
      }
      cm.allowNotConnectedCopy = v !== 0;
    } else if (a.name !== 'trace_level') err(file, a.line, `copy_manager driver: unknown attribute '${a.name}'`);
  }
  for (const tc of drv.targets) {
    if (tc.name !== CM_TARGET) err(file, tc.line, `copy_manager has one target, ${CM_TARGET}; '${tc.name}' cannot be created`);
    const t = cm.target;
    for (const a of tc.attributes) {
      if (a.name === 'rel_tgt_id') {
        const n = Number(a.value);
        if (!Number.isInteger(n) || n < 0 || n > 65535) err(file, a.line, `rel_tgt_id: expected 0..65535`);
        t.relTgtId = n;
      } else if (a.name === 'addr_method') t.addrMethod = addrMethod(file, a);
      else if (!CM_TARGET_ATTRS.has(a.name)) err(file, a.line, `target ${CM_TARGET}: unknown attribute '${a.name}'`);
    }
    if (tc.groups.length) err(file, tc.groups[0]!.line, 'Copy Manager does not support security groups');
    const fresh = tc.luns.filter((l) => !t.defaultLuns.luns.has(l.lun));
    for (const l of fresh) {
      try {
        applyLuns(file, scst, t.defaultLuns, [l]);
      } catch (e) {
        if (e instanceof MgmtError) err(file, l.line, `LUN ${l.lun}: ${e.message}`);
        throw e;
      }
    }
  }
}

/** DEVICE_GROUP sections (ALUA, sysfs.md §8): device groups, their devices and target groups. */
function applyDeviceGroups(file: string, scst: Scst, cfg: ScstConfig): void {
  const alua = aluaOf(scst);
  const num = (a: { name: string; value: string; line: number }): number => {
    try {
      return parseUnsigned(a.name, a.value);
    } catch {
      return err(file, a.line, `${a.name}: '${a.value}' is not a number`);
    }
  };
  const at = <T>(line: number, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof MgmtError) err(file, line, e.message);
      throw e;
    }
  };
  for (const a of cfg.alua) err(file, a.line, `ALUA: unknown attribute '${a.name}'`);
  for (const dgc of cfg.deviceGroups) {
    const g = at(dgc.line, () => alua.createDeviceGroup(dgc.name));
    for (const a of dgc.attributes) err(file, a.line, `device group ${dgc.name}: unknown attribute '${a.name}'`);
    for (const name of dgc.devices) {
      const dev = scst.devices.get(name);
      if (!dev) err(file, dgc.line, `device group ${dgc.name}: device '${name}' is not defined`);
      at(dgc.line, () => alua.addDevice(g, dev));
    }
    for (const tgc of dgc.targetGroups) {
      const tg = at(tgc.line, () => alua.createTargetGroup(g, tgc.name));
      for (const a of tgc.attributes) {
        if (a.name === 'group_id') at(a.line, () => alua.setGroupId(tg, num(a)));
        else if (a.name === 'preferred') tg.preferred = num(a) !== 0;
        else if (a.name === 'state') {
          if (!isAluaState(a.value)) err(file, a.line, `state: '${a.value}' is not an ALUA state`);
          tg.state = a.value;
        } else err(file, a.line, `target group ${tgc.name}: unknown attribute '${a.name}'`);
      }
      for (const mc of tgc.targets) {
        const m = at(mc.line, () => alua.addTarget(g, tg, mc.name));
        for (const a of mc.attributes) {
          if (a.name !== 'rel_tgt_id') err(file, a.line, `target ${mc.name}: unknown attribute '${a.name}'`);
          const local = scst.targets.get(mc.name);
          // A local target's port id is the target's own (scstadmin writes it through the link).
          if (local) local.relTgtId = num(a);
          else at(a.line, () => alua.setRemoteRelTgtId(m, num(a)));
        }
      }
    }
  }
}

/** A target's LUN set and its security groups (any driver). */
function applyLunsAndGroups(file: string, scst: Scst, t: Target, tc: TargetConf): void {
  applyLuns(file, scst, t.defaultLuns, tc.luns);
  for (const gc of tc.groups) {
    if (t.group(gc.name)) err(file, gc.line, `group ${gc.name} defined twice`);
    let g: IniGroup;
    try {
      g = scst.addGroup(t, gc.name);
    } catch (e) {
      if (e instanceof MgmtError) err(file, gc.line, e.message);
      throw e;
    }
    applyLuns(file, scst, g.luns, gc.luns);
    for (const i of gc.initiators) {
      for (const other of t.groups) if (other.initiators.includes(i.name)) err(file, i.line, `initiator ${i.name} is already in group ${other.name}`);
      g.initiators.push(i.name);
    }
    for (const a of gc.attributes) {
      if (a.name === 'addr_method') g.addrMethod = addrMethod(file, a);
      else if (['io_grouping_type', 'cpu_mask', 'black_hole', 'per_sess_dedicated_tgt_threads'].includes(a.name)) continue;
      else err(file, a.line, `group ${gc.name}: unknown attribute '${a.name}'`);
    }
  }
}

/**
 * TARGET_DRIVER scst_local: each TARGET with its attributes, LUNs and groups, then its sessions
 * (`session_name`, one per line), so that a session starts with its LUNs in place.
 */
function applyLocalDriver(file: string, scst: Scst, local: LocalDriver, drv: DriverConf): void {
  for (const a of drv.attributes) if (a.name !== 'trace_level') err(file, a.line, `scst_local driver: unknown attribute '${a.name}'`);
  for (const tc of drv.targets) {
    let t: Target;
    try {
      t = local.addTarget(tc.name);
    } catch (e) {
      if (e instanceof MgmtError) err(file, tc.line, e.message);
      throw e;
    }
    const st = local.stateOf(t);
    const sessions: Attrs = [];
    for (const a of tc.attributes) {
      switch (a.name) {
        case 'session_name':
          if (a.value === '') err(file, a.line, 'session_name: a name is required');
          sessions.push(a);
          break;
        case 'rel_tgt_id': {
          const n = Number(a.value);
          if (!Number.isInteger(n) || n < 1 || n > 65535) err(file, a.line, `rel_tgt_id: expected 1..65535`);
          for (const o of scst.allTargets()) if (o !== t && o.enabled && o.relTgtId === n) err(file, a.line, `rel_tgt_id ${n} is already used by target ${o.name}`);
          t.relTgtId = n;
          break;
        }
        case 'addr_method':
          t.addrMethod = addrMethod(file, a);
          break;
        case 'scsi_transport_version':
        case 'phys_transport_version': {
          let n: number;
          try {
            n = parseUnsigned(a.name, a.value);
          } catch {
            err(file, a.line, `${a.name}: '${a.value}' is not a number`);
          }
          if (a.name === 'scsi_transport_version') st.scsiTransportVersion = n & 0xffff;
          else st.physTransportVersion = n & 0xffff;
          break;
        }
        case 'io_grouping_type':
        case 'cpu_mask':
        case 'comment':
        case 'black_hole':
        case 'forwarding':
        case 'aen_disabled':
          break; // accepted, no effect in user mode
        default:
          err(file, a.line, `target ${t.name}: unknown attribute '${a.name}'`);
      }
      t.explicit.add(a.name);
    }
    applyLunsAndGroups(file, scst, t, tc);
    for (const a of sessions) local.addSession(t.name, a.value);
  }
}

export async function applyConfig(cfg: ScstConfig, file: string, scst: Scst, iscsi: IscsiDriver, local: LocalDriver | null = null, modules: { passThrough?: boolean; rbd?: boolean } = {}): Promise<void> {
  for (const a of cfg.attributes) {
    switch (a.name) {
      case 'setup_id':
        try {
          scst.setupId = BigInt(parseUnsigned('setup_id', a.value));
        } catch {
          err(file, a.line, `setup_id: '${a.value}' is not a number`);
        }
        break;
      case 'threads':
        scst.threads = Number(a.value) || 1;
        break;
      case 'cluster_name':
        // As the sysfs attribute takes it; with --cluster it also names the cluster's etcd keys.
        if (a.value.length >= 64) err(file, a.line, `cluster_name is too long (${a.value.length} characters, max 63)`);
        coreAttrs(scst).clusterName = a.value;
        break;
      case 'suspend':
      case 'trace_level':
      case 'max_tasklet_cmd':
        break;
      default:
        err(file, a.line, `unknown SCST attribute '${a.name}'`);
    }
  }
  for (const h of cfg.handlers) {
    if (h.name === 'scst_user') {
      // Devices a user-space handler will serve: exported now, NOT READY until it registers.
      for (const d of h.devices) {
        for (const a of d.attributes) if (a.name !== 'blocksize') err(file, a.line, `device ${d.name}: handler scst_user has no attribute '${a.name}'`);
        try {
          const bs = d.attributes.find((a) => a.name === 'blocksize');
          declareUserDevice(scst, d.name, bs ? parseUnsigned('blocksize', bs.value) : 512);
        } catch (e) {
          if (e instanceof MgmtError) err(file, d.line, e.message);
          throw e;
        }
      }
      continue;
    }
    const pt = passThroughHandler(h.name);
    if (pt && modules.passThrough === false) err(file, h.line, `handler ${h.name} is not available (scstd runs with --no-pass-through)`);
    if (pt) {
      // SCSI pass-through: a DEVICE names a host SCSI device H:C:I:L, which has no attributes.
      if (h.attributes.length) err(file, h.attributes[0]!.line, `handler ${h.name} has no attribute '${h.attributes[0]!.name}'`);
      for (const d of h.devices) {
        if (d.attributes.length) err(file, d.attributes[0]!.line, `device ${shownName(d.name)}: handler ${h.name} has no attribute '${d.attributes[0]!.name}'`);
        try {
          await passThroughMgmt(pt, 'add_device', d.name, '', `add_device ${d.name}`);
        } catch (e) {
          if (e instanceof MgmtError) err(file, d.line, `device ${shownName(d.name)}: ${e.message}`);
          throw e;
        }
      }
      continue;
    }
    if (h.name === 'vdisk_rbd' && modules.rbd === false) err(file, h.line, 'handler vdisk_rbd is not available (scstd runs with --no-rbd)');
    if (!isHandler(h.name)) err(file, h.line, `unknown handler '${h.name}' (vdisk_fileio, vdisk_blockio, vdisk_nullio, vdisk_rbd, vcdrom, dev_disk, dev_cdrom)`);
    if (h.attributes.length) err(file, h.attributes[0]!.line, `handler ${h.name} has no attribute '${h.attributes[0]!.name}'`);
    for (const d of h.devices) {
      const createNames = new Set<string>([...CREATE_PARAMS[h.name], ...(h.name === 'vdisk_fileio' ? ['size', 'size_mb', 'dummy', 'lb_per_pb_exp'] : [])]);
      const create: Array<[string, string]> = [];
      const post: Attrs = [];
      for (const a of d.attributes) {
        if (h.name === 'vcdrom' && a.name === 'filename') post.push(a);
        // blockio has lb_per_pb_exp as an attribute only (not a creation parameter): scstadmin writes it after add_device.
        else if (h.name === 'vdisk_blockio' && a.name === 'lb_per_pb_exp') post.push(a);
        else if (createNames.has(a.name)) create.push([a.name, a.value]);
        else if (DEVICE_POST_ATTRS.has(a.name)) post.push(a);
        else err(file, a.line, `device ${d.name}: handler ${h.name} has no attribute '${a.name}'`);
      }
      try {
        // cluster_mode is the device's own (Device.clusterMode, set by createDevice).
        const dev = await scst.addDevice(h.name, d.name, create);
        for (const a of post) {
          switch (a.name) {
            case 'filename':
              await changeMedium(dev, a.value);
              break;
            case 'usn':
              if (a.value.length > 20) err(file, a.line, 'usn longer than 20 characters');
              dev.usn = a.value;
              break;
            case 't10_vend_id':
              if (a.value.length > 8) err(file, a.line, 't10_vend_id longer than 8 characters');
              dev.t10VendId = a.value;
              break;
            case 'prod_id':
              if (a.value.length > 16) err(file, a.line, 'prod_id longer than 16 characters');
              dev.prodId = a.value;
              break;
            case 'prod_rev_lvl':
              if (a.value.length > 4) err(file, a.line, 'prod_rev_lvl longer than 4 characters');
              dev.prodRevLvl = a.value;
              break;
            case 'vend_specific_id':
              if (a.value.length > 128) err(file, a.line, 'vend_specific_id longer than 128 characters');
              dev.vendSpecificId = a.value;
              break;
            case 'scsi_device_name':
              if (a.value.length > 256) err(file, a.line, 'scsi_device_name longer than 256 characters');
              dev.scsiDeviceName = a.value;
              break;
            case 'lb_per_pb_exp': {
              // vdev_lb_per_pb_exp_store: a number that is 0 or 1.
              const n = parseUnsigned('lb_per_pb_exp', a.value);
              if (n > 1) err(file, a.line, `lb_per_pb_exp: expected 0 or 1, not '${a.value}'`);
              dev.lbPerPbExp = n === 1;
              break;
            }
            case 'naa_id':
              if (!/^(0x)?([235][0-9a-f]{15}|6[0-9a-f]{31})$/i.test(a.value)) err(file, a.line, `naa_id: invalid '${a.value}'`);
              dev.naaId = a.value.replace(/^0x/i, '').toLowerCase();
              break;
            case 'threads_num':
              deviceAttrs(dev).threadsNum = parseUnsigned(a.name, a.value);
              break;
            case 'expl_alua':
              // vdisk_sysfs_expl_alua_store: kstrtoul, non-zero is 1.
              dev.explAlua = parseUnsigned(a.name, a.value) !== 0;
              break;
            case 'eui64_id':
              if (!/^(0x)?([0-9a-f]{16}|[0-9a-f]{24}|[0-9a-f]{32})$/i.test(a.value)) err(file, a.line, `eui64_id: invalid '${a.value}'`);
              dev.eui64Id = a.value.replace(/^0x/i, '').toLowerCase();
              break;
            default:
              break; // accepted for compatibility, no effect in user mode
          }
          dev.explicit.add(a.name);
        }
      } catch (e) {
        if (e instanceof MgmtError) err(file, d.line, `device ${shownName(d.name)}: ${e.message}`);
        throw e;
      }
    }
  }
  for (const drv of cfg.drivers) {
    if (drv.name === SCST_LOCAL && local) {
      applyLocalDriver(file, scst, local, drv);
      continue;
    }
    if (drv.name === CM_DRIVER) {
      applyCopyManager(file, scst, drv);
      continue;
    }
    if (drv.name !== 'iscsi') err(file, drv.line, `unknown target driver '${drv.name}' (this daemon provides iscsi, copy_manager${local ? ', scst_local' : ''})`);
    let driverEnabled = true;
    for (const a of drv.attributes) {
      if (a.name === 'enabled') driverEnabled = a.value === '1';
      else if (a.name === 'IncomingUser') iscsi.incomingUsers.push(chapUser(file, a));
      else if (a.name === 'OutgoingUser') iscsi.outgoingUser = chapUser(file, a);
      else if (a.name === 'link_local') iscsiDriverExtras(iscsi).linkLocal = a.value !== '0';
      else if (['iSNSServer', 'isns_entity_name', 'internal_portal', 'trace_level'].includes(a.name)) continue;
      else err(file, a.line, `iscsi driver: unknown attribute '${a.name}'`);
    }
    for (const tc of drv.targets) {
      let t: Target;
      try {
        t = scst.addTarget(tc.name);
      } catch (e) {
        if (e instanceof MgmtError) err(file, tc.line, e.message);
        throw e;
      }
      applyTargetAttrs(file, t, tc.attributes);
      applyLunsAndGroups(file, scst, t, tc);
    }
    iscsi.enabled = driverEnabled;
  }
  applyDeviceGroups(file, scst, cfg);
  const used = new Set<number>();
  for (const t of scst.allTargets()) used.add(t.relTgtId);
  let rel = 1;
  for (const t of scst.targets.values()) {
    if (t.relTgtId === 0) {
      while (used.has(rel)) rel++;
      t.relTgtId = rel;
      used.add(rel);
    }
  }
}

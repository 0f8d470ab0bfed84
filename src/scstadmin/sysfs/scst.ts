// Everything scstadmin changes in an SCST sysfs tree (scstadmin.md §3.2): one write(2) per
// command, the EAGAIN / last_sysfs_mgmt_res protocol, the diagnosis of a failure into the
// original's result codes, and -debug's "DBG" lines instead of writes. Unlike the original,
// every successful change is read back, so a tree that accepts a command but does not carry it
// out is reported as a failure instead of being taken on trust.

import { errnoName, failedAtOpen } from '../tree/tree-fs.js';
import { perlNum, strerror } from './attrs.js';
import { RC } from './codes.js';
import { ScstReader } from './reader.js';

/** Creation parameters as they go into an add_device/add_target/add command. */
export type Params = ReadonlyArray<readonly [string, string]>;

interface WriteResult {
  ok: boolean;
  /** errno name of the failure ('ENOENT' when the file could not be opened, as the original). */
  errno?: string;
}

/** `k1=v1;k2=v2;` — every pair followed by `;` (§3.2). */
export function paramString(params: Params): string {
  return params.map(([k, v]) => `${k}=${v};`).join('');
}

/** Loose equality of a value read back with the value written (the tree may normalise it). */
function sameValue(read: string, written: string): boolean {
  const a = read.trim();
  const b = written.trim();
  if (a === b || a.toLowerCase() === b.toLowerCase()) return true;
  const na = /^(0x[0-9a-f]+|\d+)$/i.test(a) ? Number(a) : NaN;
  const nb = /^(0x[0-9a-f]+|\d+)$/i.test(b) ? Number(b) : NaN;
  return !Number.isNaN(na) && na === nb;
}

export class ScstTree extends ScstReader {
  /** Changes carried out so far (successful writes), for reporting how far a run got. */
  changes = 0;

  private dbg(line: string): void {
    this.out.out(`DBG(${process.pid}): ${line}\n`);
  }

  /**
   * One command. On EAGAIN the result is taken from last_sysfs_mgmt_res, polled on one open
   * descriptor at the poll interval until it stops answering EAGAIN, bounded by the timeout.
   */
  protected async writeCommand(path: string, data: string): Promise<WriteResult> {
    try {
      const n = await this.fs.write(path, data);
      return n > 0 ? { ok: true } : { ok: false, errno: 'EIO' };
    } catch (e) {
      const code = errnoName(e);
      if (failedAtOpen(e)) return { ok: false, errno: 'ENOENT' };
      if (code !== 'EAGAIN') return { ok: false, errno: code };
    }
    let reader;
    try {
      reader = await this.fs.openReader(this.path('last_sysfs_mgmt_res'));
    } catch (e) {
      this.out.err(`FATAL: Failed opening ${this.path('last_sysfs_mgmt_res')}: ${strerror(e)}\n`);
      return { ok: false, errno: 'ENOENT' };
    }
    try {
      const deadline = Date.now() + this.timeoutMs;
      for (;;) {
        try {
          const text = await reader.read(8);
          return perlNum(text) === 0 && /^\s*-?\d/.test(text) ? { ok: true } : { ok: false, errno: 'EAGAIN' };
        } catch (e) {
          if (errnoName(e) !== 'EAGAIN' || Date.now() >= deadline) break;
          await this.sleep(this.pollMs);
        }
      }
      this.out.err(`Timeout while waiting for command '${data.replace(/\n$/, '')}' to complete\n`);
      return { ok: false, errno: 'EAGAIN' };
    } finally {
      await reader.close().catch(() => undefined);
    }
  }

  /** A management command: write it (or print it under -debug), then confirm its effect. */
  /**
   * A mgmt command; `confirm` (when given) re-reads the tree after an accepted write. Without it
   * the accepted write alone is success, as SCST.pm has it (§3.2): the dynamic attributes, whose
   * values the driver keeps in its own words (`IncomingUser= U P` is stored as `U P`), so a
   * re-read cannot find the value as written.
   */
  private async mgmt(path: string, cmd: string, confirm: (() => Promise<boolean>) | null, dbgText = `${path} -> ${cmd}`): Promise<boolean> {
    if (this.debug) {
      this.dbg(dbgText);
      return true;
    }
    const r = await this.writeCommand(path, cmd);
    if (r.ok) this.changes++;
    return r.ok && (confirm === null || (await confirm()));
  }

  private async firstLine(path: string): Promise<string | undefined> {
    try {
      return (await this.fs.read(path)).split('\n')[0] ?? '';
    } catch {
      return undefined;
    }
  }

  /**
   * An attribute write. Returns 0 on success; otherwise prints `(ERRNO) ` on stderr and returns
   * the code for "no such attribute", "static" or "set failed" (§3.2). A write the tree accepted
   * without changing a readable value is also "set failed".
   */
  private async writeAttr(
    path: string,
    value: string,
    newline: boolean,
    dbgText: string,
    codes: { noAttr: number; isStatic: number; failed: number },
    exists?: () => Promise<number>,
  ): Promise<number> {
    if (this.debug) {
      this.dbg(dbgText);
      return RC.OK;
    }
    const before = await this.firstLine(path);
    const r = await this.writeCommand(path, newline ? `${value}\n` : value);
    if (r.ok) {
      this.changes++;
      const after = await this.firstLine(path);
      if (after === undefined || before === undefined || after !== before || sameValue(after, value)) return RC.OK;
      return codes.failed;
    }
    if (exists) {
      const rc = await exists();
      if (rc) return rc;
    }
    this.out.err(`(${r.errno ?? 'EIO'}) `);
    let st;
    try {
      st = await this.fs.stat(path);
    } catch {
      return codes.noAttr;
    }
    if (!st.isFile) return codes.noAttr;
    if (!(st.mode & 0o200)) return codes.isStatic;
    return codes.failed;
  }

  // ---- SCST core, handlers, devices --------------------------------------------------------

  setScstAttribute(attribute: string, value: string): Promise<number> {
    const path = this.path(attribute);
    return this.writeAttr(path, value, true, `${path} -> ${attribute} = ${value}`, {
      noAttr: RC.SCST_BAD_ATTR,
      isStatic: RC.SCST_ATTR_STATIC,
      failed: RC.SCST_SETATTR_FAIL,
    });
  }

  setHandlerAttribute(handler: string, attribute: string, value: string): Promise<number> {
    const path = this.path('handlers', handler, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.HND_BAD_ATTR, isStatic: RC.HND_ATTR_STATIC, failed: RC.HND_SETATTR_FAIL },
      async () => ((await this.handlerExists(handler)) ? 0 : RC.HND_NO_HANDLER),
    );
  }

  setDeviceAttribute(device: string, attribute: string, value: string): Promise<number> {
    const path = this.path('devices', device, attribute);
    return this.writeAttr(
      path,
      value,
      false,
      `${value} > ${path}`,
      { noAttr: RC.DEV_BAD_ATTR, isStatic: RC.DEV_ATTR_STATIC, failed: RC.DEV_SETATTR_FAIL },
      async () => ((await this.deviceOpen(device)) ? 0 : RC.DEV_NO_DEVICE),
    );
  }

  /** add_device with every parameter followed by `;`, cluster_mode last (§3.2). */
  async openDevice(handler: string, device: string, params: Params): Promise<number> {
    if (handler === '' || device === '') return RC.DEV_OPEN_FAIL;
    const ordered = [...params.filter(([k]) => k !== 'cluster_mode'), ...params.filter(([k]) => k === 'cluster_mode')];
    const cmd = `add_device ${device} ${paramString(ordered)}`;
    const path = this.path('handlers', handler, 'mgmt');
    if (this.debug) {
      this.dbg(cmd);
      return RC.OK;
    }
    const r = await this.writeCommand(path, cmd);
    if (r.ok) {
      this.changes++;
      if ((await this.deviceOpen(device)) && (await this.deviceHandler(device)) === handler) return RC.OK;
      return RC.DEV_OPEN_FAIL;
    }
    if (!(await this.handlerExists(handler))) return RC.HND_NO_HANDLER;
    const [available] = await this.deviceCreateAttributes(handler);
    if (!available) return RC.FATAL;
    if (params.some(([k]) => !available.has(k))) return RC.DEV_BAD_ATTR;
    if (await this.handlerDeviceExists(handler, device)) return RC.DEV_EXISTS;
    return r.errno === 'EINVAL' ? RC.DEV_OPEN_FAIL : RC.FATAL;
  }

  async closeDevice(handler: string, device: string): Promise<number> {
    if (handler === '' || device === '') return RC.DEV_CLOSE_FAIL;
    const cmd = `del_device ${device}`;
    const ok = await this.mgmt(this.path('handlers', handler, 'mgmt'), cmd, async () => !(await this.deviceOpen(device)), cmd);
    if (ok) return RC.OK;
    if (!(await this.handlerExists(handler))) return RC.HND_NO_HANDLER;
    if (!(await this.handlerDeviceExists(handler, device))) return RC.DEV_NO_DEVICE;
    return RC.FATAL;
  }

  // ---- drivers and targets -----------------------------------------------------------------

  setDriverAttribute(driver: string, attribute: string, value: string): Promise<number> {
    const path = this.path('targets', driver, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.DRV_BAD_ATTR, isStatic: RC.DRV_ATTR_STATIC, failed: RC.DRV_SETATTR_FAIL },
      async () => ((await this.driverExists(driver)) ? 0 : RC.DRV_NO_DRIVER),
    );
  }

  /** Why a dynamic-attribute command failed (driver, target, capability, attribute name). */
  private async dynamicFailure(driver: string, dynamic: () => Promise<boolean>, fail: number, target?: string): Promise<number> {
    if (!(await this.driverExists(driver))) return RC.DRV_NO_DRIVER;
    if (target !== undefined && !(await this.targetExists(driver, target))) return RC.TGT_NO_TARGET;
    if (!(await this.driverIsVirtualCapable(driver))) return RC.DRV_NOTVIRT;
    if (!(await dynamic())) return target !== undefined ? RC.TGT_BAD_ATTR : RC.DRV_BAD_ATTR;
    return fail;
  }

  async addDriverDynamicAttribute(driver: string, attribute: string, value: string): Promise<number> {
    if (driver === '' || attribute === '') return RC.DRV_ADDATTR_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `add_attribute ${attribute} ${value}`, null);
    if (ok) return RC.OK;
    return this.dynamicFailure(driver, () => this.isDriverDynamic(driver, attribute), RC.DRV_ADDATTR_FAIL);
  }

  async removeDriverDynamicAttribute(driver: string, attribute: string, value: string): Promise<number> {
    if (driver === '' || attribute === '') return RC.DRV_REMATTR_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `del_attribute ${attribute} ${value}`, null);
    if (ok) return RC.OK;
    return this.dynamicFailure(driver, () => this.isDriverDynamic(driver, attribute), RC.DRV_REMATTR_FAIL);
  }

  async addVirtualTarget(driver: string, target: string, params: Params): Promise<number> {
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `add_target ${target} ${paramString(params)}`, () =>
      this.targetExists(driver, target),
    );
    if (ok) return RC.OK;
    if (!(await this.driverExists(driver))) return RC.DRV_NO_DRIVER;
    if (await this.targetExists(driver, target)) return RC.TGT_EXISTS;
    if (!(await this.driverIsVirtualCapable(driver))) return RC.DRV_NOTVIRT;
    const [available] = await this.targetCreateAttributes(driver);
    if (!available) return RC.FATAL;
    if (params.some(([k]) => !available.has(k))) return RC.TGT_BAD_ATTR;
    return RC.TGT_ADD_FAIL;
  }

  setTargetAttribute(driver: string, target: string, attribute: string, value: string): Promise<number> {
    if (driver === '' || target === '' || attribute === '') return Promise.resolve(RC.FAIL);
    const path = this.path('targets', driver, target, attribute);
    return this.writeAttr(
      path,
      value,
      false,
      `${value} > ${path}`,
      { noAttr: RC.TGT_BAD_ATTR, isStatic: RC.TGT_ATTR_STATIC, failed: RC.TGT_SETATTR_FAIL },
      async () => {
        if (!(await this.driverExists(driver))) return RC.DRV_NO_DRIVER;
        if (!(await this.targetExists(driver, target))) return RC.TGT_NO_TARGET;
        return 0;
      },
    );
  }

  async addTargetDynamicAttribute(driver: string, target: string, attribute: string, value: string): Promise<number> {
    if (driver === '' || target === '' || attribute === '') return RC.TGT_ADDATTR_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `add_target_attribute ${target} ${attribute} ${value}`, null);
    if (ok) return RC.OK;
    return this.dynamicFailure(driver, () => this.isTargetDynamic(driver, attribute), RC.TGT_ADDATTR_FAIL, target);
  }

  async removeTargetDynamicAttribute(driver: string, target: string, attribute: string, value: string): Promise<number> {
    if (driver === '' || target === '' || attribute === '') return RC.TGT_REMATTR_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `del_target_attribute ${target} ${attribute} ${value}`, null);
    if (ok) return RC.OK;
    return this.dynamicFailure(driver, () => this.isTargetDynamic(driver, attribute), RC.TGT_REMATTR_FAIL, target);
  }

  async closeSession(driver: string, target: string, session: string): Promise<number> {
    const [sessions] = await this.sessions(driver, target);
    const s = sessions?.get(session);
    if (!s) return RC.NO_SESSION;
    if (!s.attrs.has('force_close')) return RC.OK;
    if (this.debug) {
      this.dbg('1');
      return RC.OK;
    }
    const r = await this.writeCommand(this.path('targets', driver, target, 'sessions', session, 'force_close'), '1');
    return r.ok ? RC.OK : RC.SESSION_CLOSE_FAIL;
  }

  /** Disable, close closable sessions and wait (bounded) until they are gone, then del_target. */
  async removeVirtualTarget(driver: string, target: string): Promise<number> {
    // Targets without `enabled` (scst_local) fail this write; the original ignores that too.
    await this.setTargetAttribute(driver, target, 'enabled', '0');
    const [sessions] = await this.sessions(driver, target);
    const closing = new Set<string>();
    for (const [name, s] of sessions ?? []) {
      if (!s.attrs.has('force_close')) continue;
      closing.add(name);
      const rc = await this.closeSession(driver, target, name);
      if (rc) return rc;
    }
    if (closing.size > 0 && !this.debug) {
      const deadline = Date.now() + this.timeoutMs;
      while (closing.size > 0 && Date.now() < deadline) {
        const [now] = await this.sessions(driver, target);
        for (const name of [...closing]) if (!now?.has(name)) closing.delete(name);
        if (closing.size > 0) await this.sleep(this.pollMs);
      }
      if (closing.size > 0) return RC.TGT_BUSY;
    }
    const ok = await this.mgmt(this.path('targets', driver, 'mgmt'), `del_target ${target}`, async () => !(await this.targetExists(driver, target)));
    if (ok) return RC.OK;
    if (!(await this.driverExists(driver))) return RC.DRV_NO_DRIVER;
    if (!(await this.targetExists(driver, target))) return RC.TGT_NO_TARGET;
    if (!(await this.driverIsVirtualCapable(driver))) return RC.DRV_NOTVIRT;
    return RC.TGT_REM_FAIL;
  }

  enableTarget(driver: string, target: string, enable: boolean): Promise<number> {
    return this.setTargetAttribute(driver, target, 'enabled', enable ? '1' : '0');
  }

  // ---- groups and initiators ---------------------------------------------------------------

  private async targetFailure(driver: string, target: string, group?: string): Promise<number> {
    if (!(await this.driverExists(driver))) return RC.DRV_NO_DRIVER;
    if (!(await this.targetExists(driver, target))) return RC.TGT_NO_TARGET;
    if (group !== undefined && !(await this.groupExists(driver, target, group))) return RC.GRP_NO_GROUP;
    return 0;
  }

  async addGroup(driver: string, target: string, group: string): Promise<number> {
    if (driver === '' || target === '' || group === '') return RC.GRP_ADD_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, target, 'ini_groups', 'mgmt'), `create ${group}`, () =>
      this.groupExists(driver, target, group),
    );
    if (ok) return RC.OK;
    const rc = await this.targetFailure(driver, target);
    if (rc) return rc;
    return (await this.groupExists(driver, target, group)) ? RC.GRP_EXISTS : RC.GRP_ADD_FAIL;
  }

  async removeGroup(driver: string, target: string, group: string): Promise<number> {
    if (driver === '' || target === '' || group === '') return RC.GRP_REM_FAIL;
    const ok = await this.mgmt(this.path('targets', driver, target, 'ini_groups', 'mgmt'), `del ${group}`, async () =>
      !(await this.groupExists(driver, target, group)),
    );
    if (ok) return RC.OK;
    return (await this.targetFailure(driver, target, group)) || RC.GRP_REM_FAIL;
  }

  setGroupAttribute(driver: string, target: string, group: string, attribute: string, value: string): Promise<number> {
    const path = this.path('targets', driver, target, 'ini_groups', group, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${value} > ${path}`,
      { noAttr: RC.GRP_BAD_ATTR, isStatic: RC.GRP_ATTR_STATIC, failed: RC.GRP_SETATTR_FAIL },
      () => this.targetFailure(driver, target, group),
    );
  }

  private initMgmt(driver: string, target: string, group: string): string {
    return this.path('targets', driver, target, 'ini_groups', group, 'initiators', 'mgmt');
  }

  async addInitiator(driver: string, target: string, group: string, initiator: string): Promise<number> {
    if (driver === '' || target === '' || group === '' || initiator === '') return RC.GRP_ADD_INI_FAIL;
    const ok = await this.mgmt(this.initMgmt(driver, target, group), `add ${initiator}`, () =>
      this.initiatorExists(driver, target, group, initiator),
    );
    if (ok) return RC.OK;
    const rc = await this.targetFailure(driver, target, group);
    if (rc) return rc;
    return (await this.initiatorExists(driver, target, group, initiator)) ? RC.GRP_INI_EXISTS : RC.GRP_ADD_INI_FAIL;
  }

  async removeInitiator(driver: string, target: string, group: string, initiator: string): Promise<number> {
    if (driver === '' || target === '' || group === '' || initiator === '') return RC.GRP_REM_INI_FAIL;
    const ok = await this.mgmt(this.initMgmt(driver, target, group), `del ${initiator}`, async () =>
      !(await this.initiatorExists(driver, target, group, initiator)),
    );
    if (ok) return RC.OK;
    const rc = await this.targetFailure(driver, target, group);
    if (rc) return rc;
    return (await this.initiatorExists(driver, target, group, initiator)) ? RC.GRP_REM_INI_FAIL : RC.GRP_NO_INI;
  }

  async moveInitiator(driver: string, target: string, from: string, to: string, initiator: string): Promise<number> {
    const ok = await this.mgmt(
      this.initMgmt(driver, target, from),
      `move ${initiator} ${to}`,
      async () => (await this.initiatorExists(driver, target, to, initiator)) && !(await this.initiatorExists(driver, target, from, initiator)),
    );
    if (ok) return RC.OK;
    const rc = await this.targetFailure(driver, target, from);
    if (rc) return rc;
    if (!(await this.groupExists(driver, target, to))) return RC.GRP_NO_GROUP;
    if (!(await this.initiatorExists(driver, target, from, initiator))) return RC.GRP_NO_INI;
    if (await this.initiatorExists(driver, target, to, initiator)) return RC.GRP_INI_EXISTS;
    return RC.GRP_MOV_INI_FAIL;
  }

  async clearInitiators(driver: string, target: string, group: string): Promise<number> {
    const ok = await this.mgmt(this.initMgmt(driver, target, group), 'clear', async () => {
      const [list] = await this.initiators(driver, target, group);
      return list !== undefined && list.length === 0;
    });
    if (ok) return RC.OK;
    return (await this.targetFailure(driver, target, group)) || RC.GRP_CLR_INI_FAIL;
  }

  // ---- LUNs --------------------------------------------------------------------------------

  private async lunIs(driver: string, target: string, lun: string, group: string | undefined, device: string | null): Promise<boolean> {
    const [luns] = await this.luns(driver, target, group);
    if (!luns) return false;
    const key = String(Number(lun));
    const hit = luns.has(lun) ? luns.get(lun) : luns.get(key);
    return device === null ? hit === undefined : hit === device;
  }

  async addLun(driver: string, target: string, device: string, lun: string, params: Params, group?: string): Promise<number> {
    const err = group ? RC.GRP_ADD_LUN_FAIL : RC.TGT_ADD_LUN_FAIL;
    if (driver === '' || target === '' || device === '' || lun === '') return err;
    const ok = await this.mgmt(`${this.lunDir(driver, target, group)}/mgmt`, `add ${device} ${lun} ${paramString(params)}`, () =>
      this.lunIs(driver, target, lun, group, device),
    );
    if (ok) return RC.OK;
    if (group && !(await this.groupExists(driver, target, group))) return RC.GRP_NO_GROUP;
    if (await this.lunExists(driver, target, lun, group)) return group ? RC.GRP_LUN_EXISTS : RC.TGT_LUN_EXISTS;
    const rc = await this.targetFailure(driver, target);
    if (rc) return rc;
    if (!(await this.deviceOpen(device))) return RC.DEV_NO_DEVICE;
    const [available] = await this.lunCreateAttributes(driver, target, group);
    if (!available) return RC.FATAL;
    if (params.some(([k]) => !available.has(k))) return RC.LUN_BAD_ATTR;
    return err;
  }

  async removeLun(driver: string, target: string, lun: string, group?: string): Promise<number> {
    // The original's code for a failed target-level `del` is the add-LUN one.
    const err = group ? RC.GRP_REM_LUN_FAIL : RC.TGT_ADD_LUN_FAIL;
    if (driver === '' || target === '' || lun === '') return err;
    const ok = await this.mgmt(`${this.lunDir(driver, target, group)}/mgmt`, `del ${lun}`, () => this.lunIs(driver, target, lun, group, null));
    if (ok) return RC.OK;
    const rc = await this.targetFailure(driver, target, group);
    if (rc) return rc;
    if (!(await this.lunExists(driver, target, lun, group))) return group ? RC.GRP_NO_LUN : RC.TGT_NO_LUN;
    return err;
  }

  async replaceLun(driver: string, target: string, lun: string, device: string, params: Params, group?: string): Promise<number> {
    if (lun === '') return RC.FAIL;
    const rc = await this.targetFailure(driver, target, group);
    if (rc) return rc;
    if (!(await this.lunExists(driver, target, lun, group))) return group ? RC.GRP_NO_LUN : RC.TGT_NO_LUN;
    if (!(await this.deviceOpen(device))) return RC.DEV_NO_DEVICE;
    const [available] = await this.lunCreateAttributes(driver, target, group);
    if (!available) return RC.FATAL;
    if (params.some(([k]) => !available.has(k))) return RC.LUN_BAD_ATTR;
    const [luns] = await this.luns(driver, target, group);
    if (luns?.get(lun) === device) return RC.LUN_DEV_EXISTS;
    const ok = await this.mgmt(`${this.lunDir(driver, target, group)}/mgmt`, `replace ${device} ${lun} ${paramString(params)}`, () =>
      this.lunIs(driver, target, lun, group, device),
    );
    return ok ? RC.OK : RC.LUN_RPL_DEV_FAIL;
  }

  async clearLuns(driver: string, target: string, group?: string): Promise<number> {
    const err = group ? RC.GRP_CLR_LUN_FAIL : RC.TGT_CLR_LUN_FAIL;
    if (driver === '' || target === '') return err;
    const ok = await this.mgmt(`${this.lunDir(driver, target, group)}/mgmt`, 'clear', async () => {
      const [luns] = await this.luns(driver, target, group);
      return luns !== undefined && luns.size === 0;
    });
    if (ok) return RC.OK;
    return (await this.targetFailure(driver, target, group)) || err;
  }

  async setLunAttribute(driver: string, target: string, lun: string, attribute: string, value: string, group?: string): Promise<number> {
    if (driver === '' || target === '' || lun === '' || attribute === '') return RC.LUN_SETATTR_FAIL;
    const path = `${this.lunDir(driver, target, group)}/${lun}/${attribute}`;
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.LUN_BAD_ATTR, isStatic: RC.LUN_ATTR_STATIC, failed: RC.LUN_SETATTR_FAIL },
      async () => {
        const rc = await this.targetFailure(driver, target, group);
        if (rc) return rc;
        if (!(await this.lunExists(driver, target, lun, group))) return group ? RC.GRP_NO_LUN : RC.TGT_NO_LUN;
        return 0;
      },
    );
  }

  /** The original writes initiator attributes below `luns/` (sic), so this never works (§3.2). */
  setInitiatorAttribute(driver: string, target: string, group: string, initiator: string, attribute: string, value: string): Promise<number> {
    const path = this.path('targets', driver, target, 'ini_groups', group, 'luns', initiator, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.INI_SETATTR_FAIL, isStatic: RC.INI_SETATTR_FAIL, failed: RC.INI_SETATTR_FAIL },
      async () => {
        const rc = await this.targetFailure(driver, target, group);
        if (rc) return rc;
        if (!(await this.initiatorExists(driver, target, group, initiator))) return RC.GRP_NO_INI;
        return 0;
      },
    );
  }

  // ---- ALUA --------------------------------------------------------------------------------

  setAluaAttribute(attribute: string, value: string): Promise<number> {
    const path = this.path('device_groups', attribute);
    return this.writeAttr(path, value, true, `${value} > ${path}`, {
      noAttr: RC.ALUA_BAD_ATTR,
      isStatic: RC.ALUA_ATTR_STATIC,
      failed: RC.ALUA_SETATTR_FAIL,
    });
  }

  async addDeviceGroup(group: string): Promise<number> {
    if (group === '') return RC.DEV_GRP_ADD_FAIL;
    const ok = await this.mgmt(this.path('device_groups', 'mgmt'), `create ${group}`, () => this.deviceGroupExists(group));
    if (ok) return RC.OK;
    return (await this.deviceGroupExists(group)) ? RC.DEV_GRP_EXISTS : RC.DEV_GRP_ADD_FAIL;
  }

  async removeDeviceGroup(group: string): Promise<number> {
    if (group === '') return RC.DEV_GRP_REM_FAIL;
    const ok = await this.mgmt(this.path('device_groups', 'mgmt'), `del ${group}`, async () => !(await this.deviceGroupExists(group)));
    if (ok) return RC.OK;
    return (await this.deviceGroupExists(group)) ? RC.DEV_GRP_REM_FAIL : RC.DEV_GRP_NO_GROUP;
  }

  setDeviceGroupAttribute(group: string, attribute: string, value: string): Promise<number> {
    const path = this.path('device_groups', group, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.DGRP_BAD_ATTR, isStatic: RC.DGRP_ATTR_STATIC, failed: RC.DGRP_SETATTR_FAIL },
      async () => ((await this.deviceGroupExists(group)) ? 0 : RC.DEV_GRP_NO_GROUP),
    );
  }

  async addDeviceGroupDevice(group: string, device: string): Promise<number> {
    if (group === '' || device === '') return RC.DGRP_ADD_DEV_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'devices', 'mgmt'), `add ${device}`, () =>
      this.deviceGroupDeviceExists(group, device),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    if (!(await this.deviceExists(device))) return RC.DEV_NO_DEVICE;
    if (await this.deviceGroupDeviceExists(group, device)) return RC.DGRP_DEVICE_EXISTS;
    const [groups] = await this.deviceGroups();
    for (const g of groups ?? []) if (await this.deviceGroupDeviceExists(g, device)) return RC.DGRP_DEVICE_OTHER;
    return RC.DGRP_ADD_DEV_FAIL;
  }

  async removeDeviceGroupDevice(group: string, device: string): Promise<number> {
    if (group === '' || device === '') return RC.DGRP_REM_DEV_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'devices', 'mgmt'), `del ${device}`, async () =>
      !(await this.deviceGroupDeviceExists(group, device)),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    if (!(await this.deviceExists(device))) return RC.DEV_NO_DEVICE;
    if (!(await this.deviceGroupDeviceExists(group, device))) return RC.DGRP_NO_DEVICE;
    return RC.DGRP_REM_DEV_FAIL;
  }

  async addTargetGroup(group: string, tgroup: string): Promise<number> {
    if (group === '' || tgroup === '') return RC.DGRP_ADD_GRP_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'target_groups', 'mgmt'), `add ${tgroup}`, () =>
      this.targetGroupExists(group, tgroup),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    return (await this.targetGroupExists(group, tgroup)) ? RC.DGRP_GROUP_EXISTS : RC.DGRP_ADD_GRP_FAIL;
  }

  async removeTargetGroup(group: string, tgroup: string): Promise<number> {
    if (group === '' || tgroup === '') return RC.DGRP_REM_GRP_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'target_groups', 'mgmt'), `del ${tgroup}`, async () =>
      !(await this.targetGroupExists(group, tgroup)),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    return (await this.targetGroupExists(group, tgroup)) ? RC.DGRP_REM_GRP_FAIL : RC.DGRP_NO_GROUP;
  }

  setTargetGroupAttribute(group: string, tgroup: string, attribute: string, value: string): Promise<number> {
    if (group === '' || tgroup === '' || attribute === '') return Promise.resolve(RC.FAIL);
    const path = this.path('device_groups', group, 'target_groups', tgroup, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.TGRP_BAD_ATTR, isStatic: RC.TGRP_ATTR_STATIC, failed: RC.TGRP_SETATTR_FAIL },
      async () => {
        if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
        if (!(await this.targetGroupExists(group, tgroup))) return RC.DGRP_NO_GROUP;
        return 0;
      },
    );
  }

  async addTargetGroupTarget(group: string, tgroup: string, target: string): Promise<number> {
    if (group === '' || tgroup === '' || target === '') return RC.TGRP_ADD_TGT_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'target_groups', tgroup, 'mgmt'), `add ${target}`, () =>
      this.targetGroupTargetExists(group, tgroup, target),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    if (!(await this.targetGroupExists(group, tgroup))) return RC.DGRP_NO_GROUP;
    return (await this.targetGroupTargetExists(group, tgroup, target)) ? RC.TGRP_TGT_EXISTS : RC.TGRP_ADD_TGT_FAIL;
  }

  async removeTargetGroupTarget(group: string, tgroup: string, target: string): Promise<number> {
    if (group === '' || tgroup === '' || target === '') return RC.TGRP_REM_TGT_FAIL;
    const ok = await this.mgmt(this.path('device_groups', group, 'target_groups', tgroup, 'mgmt'), `del ${target}`, async () =>
      !(await this.targetGroupTargetExists(group, tgroup, target)),
    );
    if (ok) return RC.OK;
    if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
    if (!(await this.targetGroupExists(group, tgroup))) return RC.DGRP_NO_GROUP;
    return (await this.targetGroupTargetExists(group, tgroup, target)) ? RC.TGRP_REM_TGT_FAIL : RC.TGRP_NO_TGT;
  }

  setTargetGroupTargetAttribute(group: string, tgroup: string, target: string, attribute: string, value: string): Promise<number> {
    if (group === '' || tgroup === '' || target === '' || attribute === '') return Promise.resolve(RC.FAIL);
    const path = this.path('device_groups', group, 'target_groups', tgroup, target, attribute);
    return this.writeAttr(
      path,
      value,
      true,
      `${path} -> ${attribute} = ${value}`,
      { noAttr: RC.TGRP_TGT_BAD_ATTR, isStatic: RC.TGRP_TGT_ATTR_STATIC, failed: RC.TGRP_TGT_SETATTR_FAIL },
      async () => {
        if (!(await this.deviceGroupExists(group))) return RC.DEV_GRP_NO_GROUP;
        if (!(await this.targetGroupExists(group, tgroup))) return RC.DGRP_NO_GROUP;
        if (!(await this.targetGroupTargetExists(group, tgroup, target))) return RC.TGRP_NO_TGT;
        return 0;
      },
    );
  }
}

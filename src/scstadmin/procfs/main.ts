// The procfs-era scstadmin (SCST Configurator v1.0.11, procfs.md §7), for old scripts on a tree
// that has /proc/scsi_tgt only: its options, messages and the exact bytes it writes; its
// scst.conf dialect for -config / -checkConfig / -WriteConfig. Success is judged by reading the
// tree back after every write, as the old tool did.

import { readFile, unlink, stat } from 'node:fs/promises';
import type { RunOptions } from '../cli/main.js';
import { getopt } from '../cli/getopt.js';
import { writeFileAtomic } from '../admin/config-write.js';
import { strerror } from '../sysfs/attrs.js';
import type { TreeFs } from '../tree/tree-fs.js';
import { PROCFS_OPTIONS } from './options.js';
import { HANDLER_DIRS, ProcfsTree, SHORT_NAME, VIRTUAL_HANDLERS } from './tree.js';

export const PROCFS_VERSION = 'SCST Configurator v1.0.11';
const DEFAULT_CONFIG = '/etc/scst.conf';
const MAX_LUNS = 255;
const DEFAULT_GROUP = 'Default';
const OPEN_OPTIONS: Readonly<Record<string, string>> = {
  WRITE_THROUGH: 'WRITE_THROUGH',
  WT: 'WRITE_THROUGH',
  O_DIRECT: 'O_DIRECT',
  DR: 'O_DIRECT',
  READ_ONLY: 'READ_ONLY',
  RO: 'READ_ONLY',
  NULLIO: 'NULLIO',
  NIO: 'NULLIO',
  NV_CACHE: 'NV_CACHE',
  NV: 'NV_CACHE',
  BLOCKIO: 'BLOCKIO',
  BIO: 'BLOCKIO',
  REMOVABLE: 'REMOVABLE',
  RM: 'REMOVABLE',
};
const ASSIGN_OPTIONS: Readonly<Record<string, string>> = { READ_ONLY: 'READ_ONLY', RO: 'READ_ONLY' };

const USAGE = `${PROCFS_VERSION} (scst-usermode, procfs-era options)

Usage:
General Operations
     -config <config>     : Configure SCST given the specified configuration file.
     -ClearConfig         : Clear all SCST configuration.
     -WriteConfig <file>  : Writes the current configuration out to the specified file.
     -checkConfig <file>  : Checks the saved configuration in the specified file.
     -sessions            : List current initiator sessions.

Target Driver Operations
     -enable <wwn|host>   : Enable target mode for driver at specified WWN or host.
     -disable <wwn|host>  : Disable target mode for driver at specified WWN or host.
     -issuelip            : Issue LIP on all target-enabled FC fabrics.

Device Operations
     -adddev <device>     : Adds a device to a handler (-handler, -path, -options, -blocksize).
     -resyncdev <device>  : Resync the size of a device with the initiator(s) (-handler).
     -RemoveDev <device>  : Remove a device from a handler (-handler).
     -SetT10DeviceId <id> : Sets the T10 Device ID of a device (-device, -handler).

User Operations
     -adduser <user>      : Adds a user to a security group (-group).
     -MoveUser <user>     : Moves a user from one security group to another (-group, -to).
     -RemoveUser <user>   : Delete a user from a security group (-group).
     -ClearUsers          : Clear all users from a given security group (-group).

Group Operations
     -addgroup <group>    : Add a given group to available security groups.
     -renamegroup <group> : Renames a given group to a new name (-to).
     -RemoveGroup <group> : Remove a given group from available security groups.

Assignment Operations
     -assigndev <device>  : Assign a given device to a security group (-group, -lun, -options).
     -ReplaceDev <new dev>: Replaces a device assigned to a given LUN and group (-group, -lun, -options).
     -ReleaseDev <device> : Remove a given device from a security group (-group).
     -ClearDevs           : Clear all device assignments for a security group (-group).

Options
     -ForceConfig         : Force all configuration changes, even deletions (DANGER!).
     -noprompt            : Do not prompt or pause. Use with caution!
     -debug               : Debug mode - don't do anything destructive.

Available Options for create and open:
      WRITE_THROUGH, READ_ONLY, O_DIRECT, NULLIO, NV_CACHE, BLOCK_IO, REMOVABLE

Available Options for assign and replace:
      READ_ONLY
`;

class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

type Old = Map<string, Map<string, Map<string, string[]>>>;

/** The old format (procfs.md §7.4): section → argument → key → values. */
function readOld(text: string): Old {
  const cfg: Old = new Map();
  let section: string | undefined;
  let arg: string | undefined;
  for (const raw of text.split('\n')) {
    const hash = raw.indexOf('#');
    const line = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    const h = /^\[(.*)\]$/.exec(line);
    if (h) {
      const m = /^(\S*)\s*(.*)$/.exec(h[1]!.trim())!;
      section = m[1];
      arg = section === 'OPTIONS' ? 'default' : m[2] === '' ? undefined : m[2];
      continue;
    }
    if (!section || !arg || line === '') continue;
    const [, key, value] = /^(\S+)\s*(.*)$/.exec(line)!;
    const byArg = cfg.get(section) ?? new Map<string, Map<string, string[]>>();
    cfg.set(section, byArg);
    const keys = byArg.get(arg) ?? new Map<string, string[]>();
    byArg.set(arg, keys);
    keys.set(key!, [...(keys.get(key!) ?? []), value!]);
  }
  return cfg;
}

function bool(v: string | undefined): boolean {
  return v !== undefined && /^(1|TRUE|YES)$/i.test(v.trim());
}

/** Normalises an option list; undefined when some item is not allowed. */
function checkOptions(options: string | undefined, allowed: Readonly<Record<string, string>>): string[] | undefined {
  if (!options) return [];
  const out: string[] = [];
  for (const item of options.split(/[\s+|,]+/).filter((x) => x !== '')) {
    const long = allowed[item.toUpperCase()];
    if (!long) return undefined;
    if (!out.includes(long)) out.push(long);
  }
  return out;
}

class OldTool {
  handlers = new Set<string>();
  devices = new Map<string, string | undefined>();
  groups = new Set<string>();
  users = new Map<string, Set<string>>();
  assignments = new Map<string, Map<string, string>>();

  constructor(
    readonly t: ProcfsTree,
    readonly out: (s: string) => void,
  ) {}

  async readWorkingConfig(): Promise<void> {
    this.out('Collecting current configuration: ');
    this.handlers = await this.t.handlers();
    this.devices = await this.t.devices();
    this.groups = new Set(await this.t.groups());
    this.users = new Map();
    this.assignments = new Map();
    for (const g of this.groups) {
      this.assignments.set(g, await this.t.groupDevices(g));
      this.users.set(g, new Set(await this.t.users(g)));
    }
    this.out('done.\n\n');
  }

  private failed(what: string): string {
    return `An error occurred while ${what}. See dmesg/kernel log for more information.`;
  }

  async addDevice(handler: string, device: string, path: string, options: string | undefined, blocksize: string | undefined): Promise<boolean> {
    const dir = HANDLER_DIRS[handler]!;
    if (!VIRTUAL_HANDLERS.has(dir)) {
      this.out(`WARNING: Handler ${handler} of type physical is incapable of opening/closing devices. Valid handlers are:\n\tvdisk\n\tvcdrom\n\n`);
      return true;
    }
    if (this.devices.has(device)) {
      this.out(`WARNING: Device '${device}' already defined.\n`);
      return true;
    }
    const opts = checkOptions(options, OPEN_OPTIONS);
    if (!opts) {
      this.out(`WARNING: Failed to open virtual device '${device}' at path '${path}': Invalid option(s) '${options}'.\n`);
      return true;
    }
    this.out(`\t-> Opening virtual device '${device}' at path '${path}' using handler '${handler}'..\n`);
    const cmd = `open ${device} ${path} ${blocksize ?? ''} ${opts.join(' ')}`.trim();
    const ok = (await this.t.write([dir, dir], `${cmd}\0`)) && (this.t.debug || (await this.t.devices()).has(device));
    if (!ok) {
      this.out(`WARNING: Failed to open virtual device '${device}' at path '${path}': ${this.failed(`opening device '${device}'`)}\n`);
      return true;
    }
    this.devices.set(device, dir);
    return false;
  }

  async resyncDevice(handler: string, device: string): Promise<boolean> {
    if (!this.devices.has(device)) {
      this.out(`WARNING: Device '${device}' not defined.\n`);
      return true;
    }
    this.out(`\t-> Resync'ing virtual device '${device}'..\n`);
    const dir = HANDLER_DIRS[handler]!;
    if (!(await this.t.write([dir, dir], `resync_size ${device}\n\0`))) {
      this.out(`WARNING: Failed to resync virtual device '${device}': ${this.failed(`resyncing device '${device}'`)}\n`);
      return true;
    }
    return false;
  }

  async removeDevice(handler: string, device: string): Promise<boolean> {
    const dir = HANDLER_DIRS[handler]!;
    if (!VIRTUAL_HANDLERS.has(dir)) {
      this.out(`WARNING: Handler ${handler} of type physical is incapable of opening/closing devices. Valid handlers are:\n\tvdisk\n\tvcdrom\n\n`);
      return true;
    }
    if (!this.devices.get(device)) {
      this.out(`WARNING: Device '${device}' not defined.\n`);
      return true;
    }
    this.out(`\t-> Closing virtual device '${device}'..\n`);
    const ok = (await this.t.write([dir, dir], `close ${device} \n\0`)) && (this.t.debug || !(await this.t.devices()).has(device));
    if (!ok) {
      this.out(`WARNING: Failed to close virtual device '${device}': ${this.failed(`closing device '${device}'`)}\n`);
      return true;
    }
    this.devices.set(device, undefined);
    return false;
  }

  async setT10DeviceId(handler: string, device: string, id: string): Promise<boolean> {
    if (!this.devices.has(device)) {
      this.out(`WARNING: Device '${device}' not defined.\n`);
      return true;
    }
    this.out(`\t-> Changing T10 Device ID of virtual device '${device}' to '${id}'..\n`);
    const dir = HANDLER_DIRS[handler]!;
    const ok = (await this.t.write([dir, dir], `set_t10_dev_id ${device} ${id}\n\0`)) && (this.t.debug || (await this.t.handlerDevices(dir)).get(device)?.t10 === id);
    if (!ok) {
      this.out(`WARNING: Failed to changing T10 Device ID of virtual device '${device}': ${this.failed(`setting the T10 device id of '${device}'`)}\n`);
      return true;
    }
    return false;
  }

  async addGroup(group: string): Promise<boolean> {
    if (this.groups.has(group)) {
      this.out(`WARNING: Group '${group}' already exists.\n`);
      return true;
    }
    this.out(`\t-> Creating security group '${group}'..\n`);
    const ok = (await this.t.write(['scsi_tgt'], `add_group ${group}\n`)) && (this.t.debug || (await this.t.groups()).includes(group));
    if (!ok) {
      this.out(`WARNING: Failed to create security group '${group}': ${this.failed(`creating group '${group}'`)}\n`);
      return true;
    }
    this.groups.add(group);
    return false;
  }

  async renameGroup(group: string, to: string): Promise<boolean> {
    if (this.groups.has(to)) {
      this.out(`WARNING: Group '${to}' already exists.\n`);
      return true;
    }
    this.out(`\t-> Renaming security group '${group}' to '${to}'..\n`);
    const ok = (await this.t.write(['scsi_tgt'], `rename_group ${group} ${to}\n`)) && (this.t.debug || (await this.t.groups()).includes(to));
    if (!ok) {
      this.out(`WARNING: Failed to rename security group '${group}' to '${to}': ${this.failed(`renaming group '${group}'`)}\n`);
      return true;
    }
    this.groups.delete(group);
    this.groups.add(to);
    return false;
  }

  async removeGroup(group: string): Promise<boolean> {
    if (group === DEFAULT_GROUP) return false;
    if (!this.groups.has(group)) {
      this.out(`WARNING: Group '${group}' does not exist.\n`);
      return true;
    }
    this.out(`\t-> Removing security group '${group}'..\n`);
    const ok = (await this.t.write(['scsi_tgt'], `del_group ${group}\n`)) && (this.t.debug || !(await this.t.groups()).includes(group));
    if (!ok) {
      this.out(`WARNING: Failed to remove security group '${group}': ${this.failed(`removing group '${group}'`)}\n`);
      return true;
    }
    this.groups.delete(group);
    return false;
  }

  private namesHave = async (group: string, user: string) => (await this.t.users(group)).includes(user);

  async addUser(group: string, user: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to add user '${user}' to group '${group}', group does not exist.\n`);
      return true;
    }
    if (this.users.get(group)?.has(user)) {
      this.out(`WARNING: User '${user}' already exists in security group '${group}'.\n`);
      return true;
    }
    this.out(`\t-> Adding user '${user}' to security group '${group}'..\n`);
    const ok = (await this.t.write(['groups', group, 'names'], `add ${user}\n\0`)) && (this.t.debug || (await this.namesHave(group, user)));
    if (!ok) {
      this.out(`WARNING: Failed to add user '${user}' to security group '${group}': ${this.failed(`adding user '${user}'`)}\n`);
      return true;
    }
    this.users.set(group, (this.users.get(group) ?? new Set()).add(user));
    return false;
  }

  async moveUser(group: string, user: string, to: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to move user '${user}' from group '${group}', group does not exist.\n`);
      return true;
    }
    if (this.users.get(to)?.has(user)) {
      this.out(`WARNING: User '${user}' already exists in security group '${to}'.\n`);
      return true;
    }
    this.out(`\t-> Moving user '${user}' from security group '${group}' to security group '${to}'..\n`);
    const ok = (await this.t.write(['groups', group, 'names'], `move ${user} ${to}\n\0`)) && (this.t.debug || (await this.namesHave(to, user)));
    if (!ok) {
      this.out(`WARNING: Failed to move user '${user}' from security group '${group}' to security group '${to}': ${this.failed(`moving user '${user}'`)}\n`);
      return true;
    }
    this.users.get(group)?.delete(user);
    this.users.set(to, (this.users.get(to) ?? new Set()).add(user));
    return false;
  }

  async removeUser(group: string, user: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to remove user '${user}' from group '${group}', group does not exist.\n`);
      return true;
    }
    if (!this.users.get(group)?.has(user)) {
      this.out(`WARNING: User '${user}' doesn't exist in security group '${group}'.\n`);
      return true;
    }
    this.out(`\t-> Removing user '${user}' from security group '${group}'..\n`);
    const ok = (await this.t.write(['groups', group, 'names'], `del ${user}\n\0`)) && (this.t.debug || !(await this.namesHave(group, user)));
    if (!ok) {
      this.out(`WARNING: Failed to remove user '${user}' to security group '${group}': ${this.failed(`removing user '${user}'`)}\n`);
      return true;
    }
    this.users.get(group)?.delete(user);
    return false;
  }

  async clearUsers(group: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to clear users from group '${group}', group does not exist.\n`);
      return true;
    }
    this.out(`\t-> Clearing users from security group '${group}'..\n`);
    const ok = (await this.t.write(['groups', group, 'names'], 'clear\n\0')) && (this.t.debug || (await this.t.users(group)).length === 0);
    if (!ok) {
      this.out(`WARNING: Failed to clear users from security group '${group}': ${this.failed(`clearing group '${group}'`)}\n`);
      return true;
    }
    this.users.set(group, new Set());
    return false;
  }

  /** LUN → device of a group, from the snapshot. */
  private lunMap(group: string): Map<number, string> {
    const m = new Map<number, string>();
    for (const [d, l] of this.assignments.get(group) ?? []) m.set(Number(l), d);
    return m;
  }

  async assignDevice(group: string, device: string, lunArg: string | undefined, options: string | undefined): Promise<boolean> {
    const luns = this.lunMap(group);
    let lun = lunArg;
    if (lun === undefined || !/\d/.test(lun)) {
      const next = luns.size === 0 ? 0 : Math.max(...luns.keys()) + 1;
      if (next > MAX_LUNS) {
        this.out(`ERROR: Unable to use next available LUN of ${next}, lun out of range.\n`);
        return true;
      }
      this.out(`\t-> Device '${device}': Using next available LUN of ${next} for group '${group}'.\n`);
      lun = String(next);
    }
    const n = Number.parseInt(lun, 10);
    if (!(n >= 0 && n <= MAX_LUNS)) {
      this.out(`ERROR: Unable to assign device '${device}', lun '${lun}' is out of range.\n`);
      return true;
    }
    if (!this.devices.has(device)) {
      this.out(`WARNING: Unable to assign non-existent device '${device}' to group '${group}'.\n`);
      return true;
    }
    if (luns.has(n)) {
      this.out(`ERROR: Device '${device}': Lun '${lun}' is already assigned to device '${luns.get(n)}'.\n`);
      return true;
    }
    const opts = checkOptions(options, ASSIGN_OPTIONS);
    if (!opts) {
      this.out(`WARNING: Failed to assign device '${device}' to group '${group}': Invalid option(s) '${options}'.\n`);
      return true;
    }
    this.out(`\t-> Assign virtual device '${device}' to group '${group}' at LUN '${lun}'..\n`);
    const ok =
      (await this.t.write(['groups', group, 'devices'], `add ${device} ${lun} ${opts.join(' ')}\n\0`)) &&
      (this.t.debug || (await this.t.groupDevices(group)).get(device) === String(n));
    if (!ok) {
      this.out(`WARNING: Failed to assign device '${device}' to group '${group}': ${this.failed(`assigning device '${device}'`)}\n`);
      return true;
    }
    this.assignments.set(group, (this.assignments.get(group) ?? new Map()).set(device, String(n)));
    return false;
  }

  async replaceDevice(group: string, device: string, lun: string, options: string | undefined): Promise<boolean> {
    const luns = this.lunMap(group);
    if (!this.devices.has(device)) {
      this.out(`WARNING: Unable to assign non-existent device '${device}' to group '${group}'.\n`);
      return true;
    }
    if (luns.get(Number(lun)) === device) {
      this.out(`ERROR: Device '${device}': Lun '${lun}' is already assigned to device '${device}'.\n`);
      return true;
    }
    const opts = checkOptions(options, ASSIGN_OPTIONS);
    if (!opts) {
      this.out(`WARNING: Failed to replace LUN '${lun}' in group '${group}' with new device '${device}': Invalid option(s) '${options}'.\n`);
      return true;
    }
    this.out(`\t-> Replace device at LUN '${lun}' in group '${group}' with new device '${device}'..\n`);
    const ok =
      (await this.t.write(['groups', group, 'devices'], `replace ${device} ${lun} ${opts.join(' ')}\n\0`)) &&
      (this.t.debug || (await this.t.groupDevices(group)).get(device) === String(Number(lun)));
    if (!ok) {
      this.out(`WARNING: Failed to replace LUN '${lun}' in group '${group}' with new device '${device}': ${this.failed(`replacing LUN ${lun}`)}\n`);
      return true;
    }
    const a = this.assignments.get(group) ?? new Map<string, string>();
    const old = luns.get(Number(lun));
    if (old) a.delete(old);
    a.set(device, String(Number(lun)));
    this.assignments.set(group, a);
    return false;
  }

  async releaseDevice(group: string, device: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to release device '${device}' from group '${group}', group does not exist.\n`);
      return true;
    }
    if (!this.devices.has(device)) {
      this.out(`WARNING: Failed to release device '${device}', device not defined.\n`);
      return true;
    }
    this.out(`\t-> Release virtual device '${device}' from group '${group}'..\n`);
    const ok = (await this.t.write(['groups', group, 'devices'], `del ${device}\n\0`)) && (this.t.debug || !(await this.t.groupDevices(group)).has(device));
    if (!ok) {
      this.out(`WARNING: Failed to release device '${device}' from group '${group}': ${this.failed(`releasing device '${device}'`)}\n`);
      return true;
    }
    this.assignments.get(group)?.delete(device);
    return false;
  }

  async clearDevices(group: string): Promise<boolean> {
    if (!this.groups.has(group)) {
      this.out(`WARNING: Failed to clear devices from group '${group}', group does not exist.\n`);
      return true;
    }
    this.out(`\t-> Clear virtual devices from group '${group}'..\n`);
    const ok = (await this.t.write(['groups', group, 'devices'], 'clear\n\0')) && (this.t.debug || (await this.t.groupDevices(group)).size === 0);
    if (!ok) {
      this.out(`WARNING: Failed to clear devices from group '${group}': ${this.failed(`clearing group '${group}'`)}\n`);
      return true;
    }
    this.assignments.set(group, new Map());
    return false;
  }

  async showSessions(): Promise<number> {
    this.out('\n\tTarget Name\tInitiator Name\t\t\tGroup Name\t\tCommand Count\n');
    for (const s of await this.t.sessions()) this.out(`\t${s.target}\t${s.initiator}\t\t${s.group}\t\t${s.commands}\n`);
    this.out('\n');
    return 0;
  }

  async writeConfiguration(file: string): Promise<number> {
    let config: Old | undefined;
    try {
      config = readOld(await readFile(file, 'utf8'));
    } catch {
      config = undefined;
    }
    if (config) {
      try {
        await stat(file);
        await unlink(file);
      } catch {
        this.out('Failed to save current configuration, specified file exists and cannot be deleted.\n');
        return 1;
      }
    }
    const keep = config ? bool(config.get('OPTIONS')?.get('default')?.get('KEEP_CONFIG')?.[0]) : false;
    let text = `# Automatically generated by ${PROCFS_VERSION}.\n\n# NOTE: Options are pipe (|) seperated.\n\n[OPTIONS]\n`;
    text += '#OPTION <1|0|YES|NO|TRUE|FALSE|VALUE>\n# Copy configuration options during a -writeconfig\nKEEP_CONFIG ';
    text += !config ? 'TRUE\n' : keep ? 'TRUE\n' : 'FALSE\n';
    text += '# For FC targets, issue a LIP after every assignment change\nISSUE_LIP ';
    text += keep && bool(config?.get('OPTIONS')?.get('default')?.get('ISSUE_LIP')?.[0]) ? 'TRUE\n' : 'FALSE\n';
    text += '\n';
    for (const h of ['vdisk', 'vcdrom']) {
      if (!this.handlers.has(h)) continue;
      text += `[HANDLER ${h}]\n#DEVICE <vdisk name>,<device path>${h === 'vdisk' ? ',<options>,<block size>,<t10 device id>' : ''}\n`;
      const rows = await this.t.handlerDevices(h);
      for (const dev of [...rows.keys()].sort()) {
        const r = rows.get(dev)!;
        text += `DEVICE ${dev},${r.path},${r.options.join('|')},${r.blocksize},${r.t10}\n`;
      }
      text += '\n';
    }
    for (const g of [...this.users.keys()].sort()) {
      text += `[GROUP ${g}]\n#USER <user wwn>\n`;
      for (const u of this.users.get(g)!) text += `USER ${u}\n`;
      text += '\n';
    }
    for (const g of [...this.assignments.keys()].sort()) {
      text += `[ASSIGNMENT ${g}]\n#DEVICE <device name>,<lun>,<options>\n`;
      const a = this.assignments.get(g)!;
      for (const d of [...a.keys()].sort()) text += `DEVICE ${d},${a.get(d)}\n`;
      text += '\n';
    }
    for (const type of ['enable', 'disable']) text += `[TARGETS ${type}]\n#HOST <wwn identifier>\n\n`;
    this.out(`Writing current configuration to file '${file}'.. `);
    const err = await writeFileAtomic(file, text);
    if (err) {
      this.out(`\nFailed to save configuration to file '${file}': ${err}\n`);
      return 1;
    }
    this.out('done\n');
    return 0;
  }

  async clearConfiguration(noPrompt: boolean, sleep: (ms: number) => Promise<void>): Promise<number> {
    let errs = 0;
    if (!noPrompt) {
      this.out('WARNING: This removes ALL applied SCST configuration and may result in data loss!\n');
      this.out('If this is not what you intend, press ctrl-c now. Waiting 10 seconds.\n\n');
      await sleep(10_000);
    }
    this.out('\nRemoving all users and groups:\n\n');
    for (const g of [...this.groups]) if (g !== DEFAULT_GROUP && (await this.removeGroup(g))) errs++;
    this.out('\nRemoving all handler devices:\n\n');
    for (const [d, h] of [...this.devices]) {
      if (!h || !VIRTUAL_HANDLERS.has(h)) continue;
      if (await this.removeDevice(SHORT_NAME[h]!, d)) errs++;
    }
    if (errs) this.out(`\nEncountered ${errs} error(s) while processing.\n`);
    this.out('\nConfiguration cleared.\n');
    return errs ? 1 : 0;
  }

  /** -config / -checkConfig (procfs.md §7.6); `check` only reports. */
  async applyConfiguration(file: string, force: boolean, check: boolean): Promise<number> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      this.out(`FATAL: Unable to open specified configuration file '${file}': ${strerror(e)}\n`);
      throw new Exit(1);
    }
    const config = readOld(text);
    let errs = 0;
    let changes = 0;
    const usedDevs = new Map<string, string>();
    for (const [handler, keys] of config.get('HANDLER') ?? []) {
      for (const d of keys.get('DEVICE') ?? []) usedDevs.set(d.split(',')[0]!.trim(), handler);
    }
    const usedUsers = new Map<string, Set<string>>();
    const seen = new Set<string>();
    for (const [group, keys] of config.get('GROUP') ?? []) {
      const set = new Set<string>();
      for (const u of keys.get('USER') ?? []) {
        if (seen.has(u)) {
          this.out(`\t-> FATAL: Configuration invalid. User '${u}' is in more than one group!\n`);
          throw new Exit(1);
        }
        set.add(u);
        seen.add(u);
      }
      usedUsers.set(group, set);
    }
    const usedAssign = new Map<string, Map<string, string>>();
    for (const [group, keys] of config.get('ASSIGNMENT') ?? []) {
      const luns = new Set<string>();
      const m = new Map<string, string>();
      for (const d of keys.get('DEVICE') ?? []) {
        const [vname = '', ...rest] = d.split(',');
        const arg = rest.join(',');
        const lun = rest[0] ?? '';
        if (luns.has(lun)) {
          this.out(`\t-> FATAL: Configuration invalid. Group '${group}' has multiple devices assigned to LUN ${lun}.\n`);
          throw new Exit(1);
        }
        m.set(vname.trim(), arg);
        luns.add(lun);
      }
      usedAssign.set(group, m);
    }
    const lunOf = (arg: string) => arg.split(',')[0] ?? '';

    if (force || check) {
      for (const g of [...this.assignments.keys()].sort()) {
        const live = this.assignments.get(g)!;
        const want = usedAssign.get(g);
        if (!want && live.size > 0) {
          this.out(`\t-> WARNING: Group '${g}' has no associations in saved configuration`);
          if (!check) {
            this.out(', clearing all associations.\n');
            if (await this.clearDevices(g)) errs++;
            else changes++;
          } else {
            this.out('.\n');
            changes++;
          }
          continue;
        }
        for (const dev of [...live.keys()].sort()) {
          const w = want?.get(dev);
          if (w !== undefined && Number(lunOf(w)) === Number(live.get(dev))) continue;
          if (w !== undefined) {
            this.out(`\t-> WARNING: Device '${dev}' assigned to group '${g}' is at LUN ${lunOf(w)} whereas working configuration reflects LUN ${live.get(dev)}`);
          } else {
            this.out(`\t-> WARNING: Device '${dev}' is not associated with group '${g}' in saved configuration`);
          }
          if (check) {
            this.out('.\n');
            changes++;
            continue;
          }
          const lun = live.get(dev)!;
          const replacement = [...(want ?? new Map<string, string>())].find(([, a]) => Number(lunOf(a)) === Number(lun))?.[0];
          if (replacement !== undefined && replacement !== dev) {
            this.out(`, replacing with device '${replacement}'.\n`);
            if (await this.replaceDevice(g, replacement, lun, undefined)) errs++;
            else changes++;
          } else {
            this.out(', releasing.\n');
            if (await this.releaseDevice(g, dev)) errs++;
            else changes++;
          }
        }
      }
      for (const g of [...this.users.keys()].sort()) {
        if (g === DEFAULT_GROUP) continue;
        const want = usedUsers.get(g);
        if (!want) {
          this.out(`\t-> WARNING: Group '${g}' does not exist in saved configuration`);
          if (!check) {
            this.out(', removing.\n');
            if (await this.clearUsers(g)) errs++;
            else changes++;
            if (await this.removeGroup(g)) errs++;
            else changes++;
          } else {
            this.out('.\n');
            changes++;
          }
          continue;
        }
        for (const u of [...this.users.get(g)!].sort()) {
          if (want.has(u)) continue;
          this.out(`\t-> WARNING: User '${u}' is not defined as part of group '${g}' in saved configuration`);
          if (check) {
            this.out('.\n');
            changes++;
            continue;
          }
          const other = [...usedUsers].find(([, s]) => s.has(u))?.[0];
          if (other && other !== g) {
            this.out(`, moving to group '${other}'.\n`);
            if (await this.moveUser(g, u, other)) errs++;
            else changes++;
          } else {
            this.out(', removing.\n');
            if (await this.removeUser(g, u)) errs++;
            else changes++;
          }
        }
      }
      for (const dev of [...this.devices.keys()].sort()) {
        const h = this.devices.get(dev);
        if (!h || usedDevs.has(dev)) continue;
        let assigned = false;
        for (const g of [...usedAssign.keys()].sort()) {
          if (!usedAssign.get(g)!.has(dev)) continue;
          this.out(`\t-> WARNING: Device '${dev}' is not defined in saved configuration, however, it is still assigned to group '${g}'! Ignoring removal.\n`);
          assigned = true;
        }
        if (assigned || !VIRTUAL_HANDLERS.has(h)) continue;
        this.out(`\t-> WARNING: Device '${dev}' is not defined in saved configuration`);
        if (check) {
          this.out('.\n');
          changes++;
        } else {
          this.out(', removing.\n');
          if (await this.removeDevice(SHORT_NAME[h]!, dev)) errs++;
          else changes++;
        }
      }
    }

    if (!check) this.out('\nApplying configuration additions..\n');
    this.out('\n');
    if (force) await this.readWorkingConfig();

    for (const handler of [...(config.get('HANDLER')?.keys() ?? [])].sort()) {
      const dir = HANDLER_DIRS[handler];
      if (!dir || !this.handlers.has(dir)) {
        this.out(`\t-> WARNING: Handler '${handler}' does not exist.\n`);
        errs++;
        continue;
      }
      for (const line of config.get('HANDLER')!.get(handler)!.get('DEVICE') ?? []) {
        const [vname = '', path = '', options = '', blocksize = '', t10 = ''] = line.split(',');
        const opts = options.replace(/\s+/g, '');
        if (this.devices.has(vname) && this.devices.get(vname) === dir) continue;
        if (this.devices.has(vname)) {
          if (!force && !check) {
            this.out(`\t-> WARNING: Device '${vname}' changes handler from '${SHORT_NAME[this.devices.get(vname) ?? ''] ?? ''}' to '${handler}'.\n\t   Use -ForceConfig to change device handler.\n`);
          }
          continue;
        }
        if (check) {
          this.out(`\t-> New device '${handler}:${vname}' at path '${path.trim()}', options '${opts}', blocksize ${blocksize}.\n`);
          this.devices.set(vname, dir);
          changes++;
          continue;
        }
        if (await this.addDevice(handler, vname, path.trim(), opts, blocksize || undefined)) errs++;
        else changes++;
        if (t10 !== '') {
          if (await this.setT10DeviceId(handler, vname, t10)) errs++;
          else changes++;
        }
      }
    }

    const renames = new Map<string, string>();
    for (const [group0, users] of usedUsers) {
      let group = group0;
      if (!this.users.has(group)) {
        if (group.startsWith('Default_')) {
          let tmp: string | undefined;
          for (let i = 0; i < 10000 && tmp === undefined; i++) {
            const cand = `TMP_GRP${Math.floor(Math.random() * 10000)}`;
            if (!this.groups.has(cand)) tmp = cand;
          }
          if (tmp === undefined) {
            this.out(`\t-> WARNING: Unable to find a free temporary group for '${group}', using the original group name instead.\n`);
          } else {
            this.out(`\t-> Using temporary group '${tmp}' for group '${group}'.\n`);
            renames.set(tmp, group);
            group = tmp;
          }
        }
        if (check) {
          this.out(`\t-> New group definition '${group}.'\n`);
          this.groups.add(group);
          changes++;
        } else if (await this.addGroup(group)) errs++;
        else changes++;
      }
      for (const u of users) {
        if (this.users.get(group)?.has(u)) continue;
        const other = [...this.users].find(([, s]) => s.has(u))?.[0];
        if (other) {
          if (!force) this.out(`\t-> WARNING: Use -ForceConfig to move user '${u}' from group '${other}' to group '${group}'.\n`);
          continue;
        }
        if (check) {
          this.out(`\t-> New user definition '${u}' for group '${group}'.\n`);
          this.users.set(group, (this.users.get(group) ?? new Set()).add(u));
          changes++;
        } else if (await this.addUser(group, u)) errs++;
        else changes++;
      }
    }

    for (const [group, devices] of usedAssign) {
      if (!this.groups.has(group)) {
        this.out(`\t-> WARNING: Auto-creating an empty group '${group}' since none was configured.\n`);
        if (check) this.groups.add(group);
        else if (await this.addGroup(group)) errs++;
        else changes++;
      }
      if (!this.groups.has(group)) {
        this.out(`\t-> WARNING: Unable to assign to non-existent group '${group}'.\n`);
        errs++;
        continue;
      }
      for (const [vname, arg] of devices) {
        const [lun, options] = arg.split(',');
        const live = this.assignments.get(group) ?? new Map<string, string>();
        if (live.has(vname) && lun !== undefined && Number(live.get(vname)) === Number(lun)) continue;
        if (live.has(vname)) {
          if (!force && !check) {
            this.out(`\t-> Device '${vname}' assigned to group '${group}' is at LUN ${live.get(vname)}, whereas the working configuration reflects LUN ${lun}.\n\t   Use -ForceConfig to force this LUN change.\n`);
          }
          continue;
        }
        const holder = [...live].find(([, l]) => lun !== undefined && lun !== '' && Number(l) === Number(lun))?.[0];
        if (holder !== undefined && holder !== vname) {
          if (!force) this.out(`\t-> WARNING: Use -ForceConfig to replace device '${holder}' with device '${vname}' for group '${group}'.\n`);
          continue;
        }
        if (check) {
          this.out(`\t-> New device assignment for '${vname}' to group '${group}' at LUN ${lun === undefined || lun === '' ? 'auto' : lun}.\n`);
          changes++;
        } else if (await this.assignDevice(group, vname, lun === '' ? undefined : lun, options)) errs++;
        else changes++;
      }
    }

    for (const [tmp, group] of renames) {
      this.out(`\t-> Processing temporary group '${tmp}'.\n`);
      await this.renameGroup(tmp, group);
      changes++;
    }

    for (const [type, keys] of config.get('TARGETS') ?? []) {
      if (type !== 'enable' && type !== 'disable') {
        this.out(`\t-> WARNING: Ignoring invalid TARGETS specifier '${type}'. Should be one of enable, disable.\n`);
        continue;
      }
      // No fibre channel targets exist in this tree; every HOST line names an unknown one.
      for (const host of keys.get('HOST') ?? []) {
        this.out(`\t-> WARNING: Target '${host}' not found on system.\n`);
        errs++;
      }
    }

    if (errs) this.out(`\n\nEncountered ${errs} error(s) while processing.\n`);
    if (check) this.out(`\nConfiguration checked, ${changes} difference(s) found with working configuration.\n`);
    else this.out(`\nConfiguration applied, ${this.t.debug ? 0 : changes} changes made.\n`);
    return errs ? 1 : 0;
  }
}

/** The validation of the old tool's getArgs, in its order; the message, or undefined. */
function validate(v: ReadonlyMap<string, string | true>): string | undefined {
  const d = (n: string) => v.has(n);
  const s = (n: string) => (typeof v.get(n) === 'string' ? (v.get(n) as string) : v.has(n) ? '1' : '');
  const truthy = (n: string) => s(n) !== '' && s(n) !== '0';
  if ((d('enable') && !truthy('enable')) || (d('disable') && !truthy('disable'))) return 'Argument -enable/-disable requires a WWN or host.\n\n';
  if (d('issuelip') && (truthy('enable') || truthy('disable'))) return 'Argument -issuelip cannot be used with -enable or -disable.\n\n';
  if (truthy('adddev') && !(truthy('handler') && truthy('path'))) return 'Please specify -handler and -path with -adddev.\n\n';
  if (d('blocksize') && !truthy('blocksize')) return 'Please specify bytes with -blocksize.\n\n';
  if (truthy('blocksize') && !truthy('adddev')) return 'Please specify -adddev with -blocksize.\n';
  if (d('ForceConfig') && !d('config')) return 'Please specify -config with -ForceConfig.\n\n';
  if (truthy('resyncdev') && !truthy('handler')) return 'Please specify -handler with -resyncdev.\n\n';
  if (truthy('RemoveDev') && !truthy('handler')) return 'Please specify -handler with -RemoveDev.\n\n';
  if (truthy('adduser') && !d('group')) return 'Please specify -group with -adduser.\n\n';
  if (truthy('MoveUser') && (!d('group') || !d('to'))) return 'Please specify -group and -to with -MoveUser.\n\n';
  if (truthy('RemoveUser') && !d('group')) return 'Please specify -group with -RemoveUser.\n\n';
  if (d('ClearUsers') && !d('group')) return 'Please specify -group with -ClearUsers.\n\n';
  if (truthy('renamegroup') && !d('to')) return 'Please specify -to with -renamegroup.\n\n';
  if (truthy('assigndev') && !d('group')) return 'Please specify -group with -assigndev.\n\n';
  if (truthy('ReplaceDev') && (!d('group') || !d('lun'))) return 'Please specify -group and -lun with -ReplaceDev.\n\n';
  if (truthy('ReleaseDev') && !d('group')) return 'Please specify -group with -ReleaseDev.\n\n';
  if (truthy('SetT10DeviceId') && (!truthy('device') || !truthy('handler'))) return 'Please specify -device and -handler with -SetT10DeviceId.\n\n';
  if (d('ClearDevs') && !d('group')) return 'Please specify -group with -ClearDevs.\n\n';
  if (d('WriteConfig') && !truthy('WriteConfig')) return 'Please specify a file name to write configuration to..\n\n';
  const ops = ['sessions', 'adddev', 'resyncdev', 'RemoveDev', 'adduser', 'enable', 'disable', 'RemoveUser', 'ClearUsers', 'assigndev', 'ReleaseDev', 'ClearDevs', 'config', 'ClearConfig', 'WriteConfig', 'checkConfig', 'SetT10DeviceId'];
  if (ops.filter(d).length > 1) return 'Please specify only one operation at a time.\n';
  return undefined;
}

export async function runProcfsEra(o: RunOptions & { fs: TreeFs; procfs: string }): Promise<number> {
  const out = (t: string) => o.out.out(t);
  const parsed = getopt(o.argv, PROCFS_OPTIONS);
  const usage = () => {
    o.out.err(USAGE);
    return 1;
  };
  if (parsed.errors.length > 0) {
    for (const e of parsed.errors) o.out.err(e);
    return usage();
  }
  const v = parsed.values;
  if (v.has('h') || v.has('help')) return usage();
  const s = (n: string) => (typeof v.get(n) === 'string' ? (v.get(n) as string) : undefined);
  const handler = s('handler');
  if (handler && !HANDLER_DIRS[handler]) {
    out(`Invalid handler '${handler}' specified. Available handlers are:\n\n${Object.keys(HANDLER_DIRS).map((h) => `\t${h}\n`).join('')}\n`);
    return 1;
  }
  const invalid = validate(v);
  if (invalid) {
    out(invalid);
    return usage();
  }
  const options = s('options')?.toUpperCase();
  const tree = new ProcfsTree(o.fs, o.procfs, v.has('debug'), out);
  const version = await tree.version();
  if (version === undefined) {
    o.out.err('Failed to obtain SCST version information. Is the scst module loaded?\n');
    return 1;
  }
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m || Number(m[1]) < 2) {
    o.out.err(`This module requires at least SCST version 2.0.0 and version ${m ? m[0] : version} was found\n`);
    return 1;
  }
  const tool = new OldTool(tree, out);
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  try {
    await tool.readWorkingConfig();
    const truthy = (n: string) => (s(n) ?? '') !== '' && s(n) !== '0';
    const group = s('group') ?? '';
    let rc = 0;
    const b = (x: boolean) => (x ? 1 : 0);
    if (v.has('config')) {
      const file = s('config') || DEFAULT_CONFIG;
      if (v.has('ForceConfig')) {
        if (await tool.applyConfiguration(file, true, true)) {
          o.out.err('Configuration errors found, aborting.\n');
          return 1;
        }
        if (!v.has('noprompt')) {
          out('\nConfiguration will apply in 10 seconds, type ctrl-c to abort..\n');
          await sleep(10_000);
        }
      }
      await tool.readWorkingConfig();
      rc = await tool.applyConfiguration(file, v.has('ForceConfig'), false);
    } else if (v.has('checkConfig')) rc = await tool.applyConfiguration(s('checkConfig') || DEFAULT_CONFIG, false, true);
    else if (truthy('WriteConfig')) rc = await tool.writeConfiguration(s('WriteConfig')!);
    else if (v.has('sessions')) rc = await tool.showSessions();
    else if (v.has('ClearConfig')) rc = await tool.clearConfiguration(v.has('noprompt'), sleep);
    else if (truthy('adddev')) rc = b(await tool.addDevice(handler!, s('adddev')!, s('path')!, options, s('blocksize')));
    else if (truthy('resyncdev')) rc = b(await tool.resyncDevice(handler!, s('resyncdev')!));
    else if (truthy('RemoveDev')) rc = b(await tool.removeDevice(handler!, s('RemoveDev')!));
    else if (truthy('SetT10DeviceId')) rc = b(await tool.setT10DeviceId(handler!, s('device')!, s('SetT10DeviceId')!));
    else if (truthy('adduser')) rc = b(await tool.addUser(group, s('adduser')!));
    else if (truthy('MoveUser')) rc = b(await tool.moveUser(group, s('MoveUser')!, s('to')!));
    else if (truthy('RemoveUser')) rc = b(await tool.removeUser(group, s('RemoveUser')!));
    else if (v.has('ClearUsers')) rc = b(await tool.clearUsers(group));
    else if (truthy('addgroup')) rc = b(await tool.addGroup(s('addgroup')!));
    else if (truthy('renamegroup')) rc = b(await tool.renameGroup(s('renamegroup')!, s('to')!));
    else if (truthy('RemoveGroup')) rc = b(await tool.removeGroup(s('RemoveGroup')!));
    else if (truthy('assigndev')) rc = b(await tool.assignDevice(group, s('assigndev')!, s('lun'), options));
    else if (truthy('ReplaceDev')) rc = b(await tool.replaceDevice(group, s('ReplaceDev')!, s('lun')!, options));
    else if (truthy('ReleaseDev')) rc = b(await tool.releaseDevice(group, s('ReleaseDev')!));
    else if (v.has('ClearDevs')) rc = b(await tool.clearDevices(group));
    else if (truthy('enable') || truthy('disable') || v.has('issuelip')) {
      // Fibre channel target mode: this tree has no FC hosts, so there is nothing to switch.
      rc = 0;
    } else {
      out('No valid operations specified.\n');
      usage();
      return 1;
    }
    out('\nAll done.\n');
    return rc;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
}

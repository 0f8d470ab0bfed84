// Conversion of the obsolete procfs-era scst.conf (scstadmin.md §6.6) into the modern model.
// The old format names no target driver, so where LUNs and groups end up depends on which
// drivers and targets exist; that knowledge is passed in. The result is built as the same
// statement tree the modern reader produces, so it goes through the same checks.

import { ConfigError } from './config-error.js';
import { isBlank, lexLines, trimBlanks } from './lexer.js';
import type { ScstConfig } from './model.js';
import { interpretTree } from './parse.js';
import { emptyTree, vivifyPath, type TreeNode } from './tree.js';

export interface ProcfsLiveDriver {
  name: string;
  /** Targets that exist now (hardware ports, or virtual targets already created). */
  targets: string[];
  /** The driver can create targets (`add_target` in its mgmt file). */
  virtualCapable: boolean;
  /** The driver directory has an `enabled` attribute. */
  hasEnabledAttribute: boolean;
}

export interface ProcfsLiveState {
  drivers: ProcfsLiveDriver[];
}

/** What scstd offers: the iSCSI driver, which creates targets on demand and has `enabled`. */
export const SCSTD_LIVE_STATE: ProcfsLiveState = {
  drivers: [{ name: 'iscsi', targets: [], virtualCapable: true, hasEnabledAttribute: true }],
};

/** 1-based line of the first procfs section header that makes a file "procfs format", if any. */
export function procfsFormatLine(text: string): number | undefined {
  return lexLines(text).procfsLine;
}

interface OldValue {
  value: string;
  line: number;
}

/** section → argument → key → values, in file order. */
type OldConfig = Map<string, Map<string, Map<string, OldValue[]>>>;

/** Perl truthiness of a string: everything but '' and '0'. */
function truthy(s: string | undefined): s is string {
  return s !== undefined && s !== '' && s !== '0';
}

/** Splits at the first run of blanks, like Perl `split(/\s+/, $s, 2)`. */
function splitFirstBlank(s: string): [string, string | undefined] {
  let i = 0;
  while (i < s.length && !isBlank(s[i]!)) i++;
  if (i >= s.length) return [s, undefined];
  let j = i;
  while (j < s.length && isBlank(s[j]!)) j++;
  return [s.slice(0, i), s.slice(j)];
}

function readOld(text: string): OldConfig {
  const cfg: OldConfig = new Map();
  let section: string | undefined;
  let arg: string | undefined;
  const lines = (text.startsWith('\uFEFF') ? text.slice(1) : text).split('\n');
  lines.forEach((raw, idx) => {
    const hash = raw.indexOf('#');
    const line = trimBlanks(hash >= 0 ? raw.slice(0, hash) : raw);
    const header = /^\[(.*)\]$/s.exec(line);
    if (header) {
      const [s, a] = splitFirstBlank(header[1]!);
      section = s;
      arg = s === 'OPTIONS' ? 'default' : a === undefined ? undefined : trimBlanks(a);
    } else if (truthy(section) && truthy(arg) && line !== '') {
      const [key, value] = splitFirstBlank(line);
      let args = cfg.get(section);
      if (!args) cfg.set(section, (args = new Map()));
      let keys = args.get(arg);
      if (!keys) args.set(arg, (keys = new Map()));
      let values = keys.get(key);
      if (!values) keys.set(key, (values = []));
      values.push({ value: value ?? '', line: idx + 1 });
    }
  });
  return cfg;
}

const OPTION_ATTRIBUTES: Readonly<Record<string, string>> = {
  WRITE_THROUGH: 'write_through',
  WT: 'write_through',
  READ_ONLY: 'read_only',
  RO: 'read_only',
  NV_CACHE: 'nv_cache',
  NV: 'nv_cache',
  REMOVABLE: 'removable',
  RM: 'removable',
};

/** `0x50060b0000397178` → `50:06:0b:00:00:39:71:78`; names are compared in lower case. */
function formatWwn(wwn: string): string {
  let t = wwn;
  if (t.startsWith('0x')) {
    const hex = t.slice(2);
    const octets: string[] = [];
    for (let k = 0; k < 8; k++) octets.push(hex.slice(2 * k, 2 * k + 2));
    t = octets.join(':');
  }
  return t.toLowerCase();
}

/**
 * Converts a procfs-format scst.conf into the modern model, following the original's
 * conversion (§6.6). `live` describes the drivers and targets the conversion may use; by default
 * scstd's own (iscsi only, no existing targets). Throws ConfigError.
 */
export function convertProcfsConf(text: string, file: string, live: ProcfsLiveState = SCSTD_LIVE_STATE): ScstConfig {
  const old = readOld(text);
  const tree = emptyTree();
  const root: TreeNode = tree.root;
  const note = (line: number, message: string): void => {
    tree.notes.push({ line, message });
  };
  note(procfsFormatLine(text) ?? 1, 'NOTE: Using a deprecated configuration file. I will attempt to convert it for you.');

  for (const [handler, keys] of old.get('HANDLER') ?? []) {
    for (const { value, line } of keys.get('DEVICE') ?? []) {
      const [device = '', path, options = '', blocksize, t10] = value.split(',');
      if (device === '') {
        throw new ConfigError(file, line, "DEVICE needs a name: expected 'DEVICE name,path,options,blocksize,t10id'.");
      }
      const opts = options.split('|');
      // The first I/O-mode option decides the handler of a `vdisk` device.
      let h = handler;
      for (const o of opts) {
        if (h !== 'vdisk') break;
        if (o === 'NULLIO' || o === 'NIO') h = 'vdisk_nullio';
        else if (o === 'BLOCKIO' || o === 'BIO') h = 'vdisk_blockio';
      }
      if (h === 'vdisk') h = 'vdisk_fileio';
      const dev = ['HANDLER', h, 'DEVICE', device];
      vivifyPath(root, dev, line);
      for (const o of opts) {
        const attr = OPTION_ATTRIBUTES[o];
        if (attr) vivifyPath(root, [...dev, attr, '1'], line);
      }
      if (truthy(t10)) vivifyPath(root, [...dev, 't10_dev_id', t10], line);
      if (truthy(path)) vivifyPath(root, [...dev, 'filename', path], line);
      if (truthy(blocksize)) vivifyPath(root, [...dev, 'blocksize', blocksize], line);
    }
  }

  // The copy manager came after this format and takes no groups (SCST refuses them with EINVAL):
  // the original, run against an SCST that has it, stops half-way; its target is left out here.
  const liveDrivers = live.drivers.filter((d) => d.name !== 'copy_manager');
  const assignments = old.get('ASSIGNMENT') ?? new Map<string, Map<string, OldValue[]>>();
  const targetPath = (driver: string, target: string): string[] => ['TARGET_DRIVER', driver, 'TARGET', target];
  const assignLuns = (path: readonly string[], devices: readonly OldValue[]): void => {
    for (const { value, line } of devices) {
      const [device = '', lun = ''] = value.split(',');
      vivifyPath(root, [...path, 'LUN', lun, device], line);
    }
  };

  const added: Array<{ driver: string; target: string }> = [];
  for (const [group, keys] of assignments) {
    if (!group.startsWith('Default')) continue;
    const devices = keys.get('DEVICE') ?? [];
    if (group === 'Default') {
      for (const d of liveDrivers) for (const t of d.targets) assignLuns(targetPath(d.name, t), devices);
      continue;
    }
    const wanted = group.replace(/^Default_/, '');
    let found = false;
    for (const d of liveDrivers) {
      for (const t of d.targets) {
        if (t !== wanted) continue;
        assignLuns(targetPath(d.name, t), devices);
        found = true;
      }
    }
    if (!found) {
      note(devices[0]?.line ?? 1, `NOTE: Unable to find target ${group}. I will add this target to all drivers capable of creating targets.`);
      for (const d of liveDrivers) {
        if (!d.virtualCapable || devices.length === 0) continue;
        assignLuns(targetPath(d.name, wanted), devices);
        added.push({ driver: d.name, target: wanted });
      }
    }
  }

  // Every converted target gets every group that has members, and every non-default assignment.
  const addAllGroups = (driver: string, target: string): void => {
    const base = [...targetPath(driver, target), 'GROUP'];
    for (const [group, keys] of old.get('GROUP') ?? []) {
      const users = keys.get('USER') ?? [];
      if (users.length === 0) continue;
      vivifyPath(root, [...base, group], users[0]!.line);
      for (const u of users) vivifyPath(root, [...base, group, 'INITIATOR', u.value], u.line);
    }
    for (const [group, keys] of assignments) {
      if (group.startsWith('Default')) continue;
      assignLuns([...base, group], keys.get('DEVICE') ?? []);
    }
  };

  let enabledAny = false;
  for (const { value, line } of old.get('TARGETS')?.get('enable')?.get('HOST') ?? []) {
    const wwn = formatWwn(value);
    // Use the live spelling: the original used the lower-cased form, which names no target when
    // the driver spells its WWNs in upper case.
    let driver: ProcfsLiveDriver | undefined;
    let target: string | undefined;
    for (const d of liveDrivers) {
      target = d.targets.find((t) => t.toLowerCase() === wwn);
      if (target !== undefined) {
        driver = d;
        break;
      }
    }
    if (!driver || target === undefined) {
      throw new ConfigError(
        file,
        line,
        `Unable to determine target driver information for target '${value}'. Please ensure this target driver is loaded.`,
      );
    }
    vivifyPath(root, [...targetPath(driver.name, target), 'enabled', '1'], line);
    addAllGroups(driver.name, target);
    enabledAny = true;
  }

  if (!enabledAny) {
    note(
      1,
      "NOTE: No targets set to 'enable' within your configuration file. Please be sure to save write your configuration with -write_config and review it carefully.",
    );
    for (const d of liveDrivers) for (const t of d.targets) addAllGroups(d.name, t);
    for (const a of added) addAllGroups(a.driver, a.target);
  }

  const drivers = root.entries.get('TARGET_DRIVER');
  for (const [name, d] of drivers?.child.entries ?? []) {
    // The original leaves FC (qla*) targets alone unless the file enabled them explicitly.
    if (name.startsWith('qla')) continue;
    if (liveDrivers.some((l) => l.name === name && l.hasEnabledAttribute)) {
      vivifyPath(d.child, ['enabled', '1'], d.line);
    }
    for (const [, t] of d.child.entries.get('TARGET')?.child.entries ?? []) {
      vivifyPath(t.child, ['enabled', '1'], t.line);
    }
  }

  return interpretTree(tree, file);
}

// Reads scst.conf (scstadmin.md §6) into the data model: lexing and tree building reproduce the
// original reader; this file gives the tree its meaning per section (§6.2) and rejects what the
// original would only have tripped over later, while applying (§6.2, §7.1). Handler and
// attribute names are deliberately not checked here: the daemon validates them against its
// engine.

import { ConfigError } from './config-error.js';
import { lexLines } from './lexer.js';
import type {
  Attrs,
  DeviceConf,
  DeviceGroupConf,
  DriverConf,
  GroupConf,
  HandlerConf,
  LunConf,
  ScstConfig,
  TargetConf,
  TargetGroupConf,
} from './model.js';
import { MAX_LUN } from './model.js';
import { buildTree, type Tree, type TreeEntry, type TreeNode } from './tree.js';

const NONE: ReadonlySet<string> = new Set();
const TOP_KEYWORDS: ReadonlySet<string> = new Set(['HANDLER', 'TARGET_DRIVER', 'ALUA', 'DEVICE_GROUP']);
const HANDLER_KEYWORDS: ReadonlySet<string> = new Set(['DEVICE']);
const DRIVER_KEYWORDS: ReadonlySet<string> = new Set(['TARGET']);
const TARGET_KEYWORDS: ReadonlySet<string> = new Set(['HW_TARGET', 'LUN', 'GROUP']);
const GROUP_KEYWORDS: ReadonlySet<string> = new Set(['LUN', 'INITIATOR']);
const DEVICE_GROUP_KEYWORDS: ReadonlySet<string> = new Set(['DEVICE', 'TARGET_GROUP']);
const TARGET_GROUP_KEYWORDS: ReadonlySet<string> = new Set(['TARGET']);

/** What a nameless use of each section keyword should have looked like. */
const KEYWORD_SYNTAX: Readonly<Record<string, string>> = {
  HANDLER: 'HANDLER <handler> {',
  TARGET_DRIVER: 'TARGET_DRIVER <driver> {',
  DEVICE_GROUP: 'DEVICE_GROUP <device group> {',
  DEVICE: 'DEVICE <device>',
  TARGET: 'TARGET <target>',
  GROUP: 'GROUP <group>',
  INITIATOR: 'INITIATOR <initiator name or pattern>',
  TARGET_GROUP: 'TARGET_GROUP <target group> {',
  LUN: 'LUN <number> <device>',
};

const DEV_PREFIX = '/dev/';

/** Entries of a node in order of appearance (a replaced entry counts where it was redefined). */
function ordered(node: TreeNode): Array<[string, TreeEntry]> {
  return [...node.entries].sort((a, b) => a[1].line - b[1].line);
}

class Interpreter {
  readonly warnings: string[] = [];

  constructor(private readonly file: string) {}

  fail(line: number, message: string): never {
    throw new ConfigError(this.file, line, message);
  }

  warn(line: number, message: string): void {
    this.warnings.push(`${this.file}:${line}: ${message}`);
  }

  /** The named children of a section keyword; a keyword used without a name is an error. */
  named(parent: TreeNode, keyword: string): Array<[string, TreeEntry]> {
    const e = parent.entries.get(keyword);
    if (!e) return [];
    if (e.bare) {
      this.fail(e.line, `${keyword} needs a name: expected '${KEYWORD_SYNTAX[keyword] ?? keyword}'.`);
    }
    const items = ordered(e.child);
    for (const [name, item] of items) {
      if (name === '') this.fail(item.line, `${keyword} needs a name: expected '${KEYWORD_SYNTAX[keyword] ?? keyword}'.`);
    }
    return items;
  }

  /**
   * `NAME VALUE` items of a section, minus its keywords. A bare name has the empty value; a
   * value followed by a third word or a block cannot be applied (the original dies with this
   * message when it gets there).
   */
  attrs(node: TreeNode, keywords: ReadonlySet<string>): Attrs {
    const out: Attrs = [];
    for (const [name, e] of node.entries) {
      if (keywords.has(name)) continue;
      if (name === '') this.fail(e.line, 'An attribute needs a name: expected \'<name> <value>\'.');
      if (e.child.entries.size === 0) {
        out.push({ name, value: '', line: e.line });
        continue;
      }
      for (const [value, v] of e.child.entries) {
        if (v.child.entries.size > 0) {
          const first = v.child.entries.values().next().value as TreeEntry;
          this.fail(v.block ? v.line : first.line, `Attribute '${name}' has an invalid value.`);
        }
        out.push({ name, value, line: v.line });
      }
    }
    return out.sort((a, b) => a.line - b.line);
  }

  /** One LUN set (a target's default set or a group's), §6.2 `lun`. */
  luns(node: TreeNode, driver: string, target: string, group: string): LunConf[] {
    const out: LunConf[] = [];
    for (const [num, n] of this.named(node, 'LUN')) {
      if (!/^(0|[1-9][0-9]{0,4})$/.test(num) || Number(num) > MAX_LUN) {
        this.fail(n.line, `Invalid LUN number '${num}': expected a decimal integer from 0 to ${MAX_LUN}.`);
      }
      const devices = ordered(n.child);
      if (devices.length === 0) this.fail(n.line, `LUN ${num} has no device: expected 'LUN ${num} <device>'.`);
      if (devices.length > 1) {
        this.fail(devices[1]![1].line, `Driver/target/group/lun ${driver}/${target}/${group}/${num} has multiple devices assigned.`);
      }
      const [device, d] = devices[0]!;
      if (device === '') this.fail(d.line, `LUN ${num} has no device: expected 'LUN ${num} <device>'.`);
      out.push({ lun: Number(num), device, line: d.line, attributes: this.attrs(d.child, NONE) });
    }
    return out.sort((a, b) => a.line - b.line);
  }

  handler(name: string, e: TreeEntry): HandlerConf {
    const devices = new Map<string, DeviceConf>();
    const renamed = new Set<string>();
    for (const [raw, d] of this.named(e.child, 'DEVICE')) {
      const strip = raw.startsWith(DEV_PREFIX);
      const dev = strip ? raw.slice(DEV_PREFIX.length) : raw;
      if (strip) {
        this.warn(d.line, `Device '${raw}' configured for handler '${name}' may not contain the full /dev path, please change to '${dev}'.`);
      }
      if (dev.includes('/')) {
        this.fail(d.line, `Device '${raw}' configured for handler '${name}' may not contain character '/'.`);
      }
      if (dev === '') this.fail(d.line, `Device '${raw}' configured for handler '${name}' has no name after '${DEV_PREFIX}'.`);
      // As in the original, `/dev/x` renamed to `x` replaces a device `x` given as such.
      if (!strip && renamed.has(dev)) continue;
      if (strip) renamed.add(dev);
      devices.set(dev, { name: dev, line: d.line, attributes: this.attrs(d.child, NONE) });
    }
    return {
      name,
      line: e.line,
      attributes: this.attrs(e.child, HANDLER_KEYWORDS),
      devices: [...devices.values()].sort((a, b) => a.line - b.line),
    };
  }

  group(driver: string, target: string, name: string, e: TreeEntry): GroupConf {
    return {
      name,
      line: e.line,
      attributes: this.attrs(e.child, GROUP_KEYWORDS),
      luns: this.luns(e.child, driver, target, name),
      // Initiator blocks are accepted and ignored, as in the original.
      initiators: this.named(e.child, 'INITIATOR').map(([ini, i]) => ({ name: ini, line: i.line })),
    };
  }

  target(driver: string, name: string, e: TreeEntry): TargetConf {
    return {
      name,
      line: e.line,
      hwTarget: e.child.entries.has('HW_TARGET'),
      attributes: this.attrs(e.child, TARGET_KEYWORDS),
      luns: this.luns(e.child, driver, name, ''),
      groups: this.named(e.child, 'GROUP').map(([g, ge]) => this.group(driver, name, g, ge)),
    };
  }

  driver(name: string, e: TreeEntry): DriverConf {
    return {
      name,
      line: e.line,
      attributes: this.attrs(e.child, DRIVER_KEYWORDS),
      targets: this.named(e.child, 'TARGET').map(([t, te]) => this.target(name, t, te)),
    };
  }

  targetGroup(name: string, e: TreeEntry): TargetGroupConf {
    return {
      name,
      line: e.line,
      attributes: this.attrs(e.child, TARGET_GROUP_KEYWORDS),
      targets: this.named(e.child, 'TARGET').map(([t, te]) => ({
        name: t,
        line: te.line,
        attributes: this.attrs(te.child, NONE),
      })),
    };
  }

  deviceGroup(name: string, e: TreeEntry): DeviceGroupConf {
    return {
      name,
      line: e.line,
      attributes: this.attrs(e.child, DEVICE_GROUP_KEYWORDS),
      // Attribute blocks of member devices mean nothing to the original either.
      devices: this.named(e.child, 'DEVICE').map(([d]) => d),
      targetGroups: this.named(e.child, 'TARGET_GROUP').map(([tg, te]) => this.targetGroup(tg, te)),
    };
  }

  config(root: TreeNode): ScstConfig {
    const alua = root.entries.get('ALUA');
    const cfg: ScstConfig = {
      attributes: this.attrs(root, TOP_KEYWORDS),
      handlers: this.named(root, 'HANDLER').map(([h, e]) => this.handler(h, e)),
      drivers: this.named(root, 'TARGET_DRIVER').map(([d, e]) => this.driver(d, e)),
      alua: alua ? this.attrs(alua.child, NONE) : [],
      deviceGroups: this.named(root, 'DEVICE_GROUP').map(([dg, e]) => this.deviceGroup(dg, e)),
    };
    return cfg;
  }
}

/** The message used when a file in the obsolete procfs format (§6.6) is given. */
export const PROCFS_FORMAT_MESSAGE =
  'This is the deprecated procfs configuration format ([HANDLER ...], [GROUP ...], [ASSIGNMENT ...] sections); ' +
  'it must be converted to the sysfs format (HANDLER <h> { ... }, TARGET_DRIVER <d> { ... }).';

/**
 * Parses scst.conf text. `file` is only used in errors and warnings. Throws ConfigError (with
 * file, 1-based line and a message saying what was expected) and never anything else.
 */
export function parseScstConf(text: string, file: string): ScstConfig {
  const lexed = lexLines(text);
  if (lexed.procfsLine !== undefined) throw new ConfigError(file, lexed.procfsLine, PROCFS_FORMAT_MESSAGE);
  return interpretTree(buildTree(lexed.stream, file), file);
}

/** Gives a statement tree its §6.2 meaning (shared with the procfs-format converter). */
export function interpretTree(tree: Tree, file: string): ScstConfig {
  const interp = new Interpreter(file);
  for (const note of tree.notes) interp.warn(note.line, note.message);
  const cfg = interp.config(tree.root);
  if (interp.warnings.length > 0) cfg.warnings = interp.warnings;
  return cfg;
}

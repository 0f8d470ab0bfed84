// What the procfs-era scstadmin reads from and writes to /proc/scsi_tgt (procfs.md §7.2-§7.3):
// handlers, devices, groups with their names and LUNs, vdisk rows, sessions — and the exact
// bytes of every command (one write each, most ending in "\n\0"), each followed by a read-back,
// since the old tool judged success by what it read afterwards.

import type { TreeFs } from '../tree/tree-fs.js';

/** Handler names of the old tool and the procfs directory that serves each (procfs.md §7.1). */
export const HANDLER_DIRS: Readonly<Record<string, string>> = {
  cdrom: 'dev_cdrom',
  changer: 'dev_changer',
  disk: 'dev_disk',
  vdisk: 'vdisk',
  vcdrom: 'vcdrom',
  disk_perf: 'dev_disk_perf',
  modisk: 'dev_modisk',
  modisk_perf: 'dev_modisk_perf',
  tape: 'dev_tape',
  tape_perf: 'dev_tape_perf',
  processor: 'dev_processor',
  dev_cdrom: 'dev_cdrom',
  dev_changer: 'dev_changer',
  dev_disk: 'dev_disk',
  dev_disk_perf: 'dev_disk_perf',
  dev_modisk: 'dev_modisk',
  dev_modisk_perf: 'dev_modisk_perf',
  dev_tape: 'dev_tape',
  dev_tape_perf: 'dev_tape_perf',
  dev_processor: 'dev_processor',
};

/** The short name of a handler directory, as the old tool writes it into scst.conf. */
export const SHORT_NAME: Readonly<Record<string, string>> = {
  dev_cdrom: 'cdrom',
  dev_changer: 'changer',
  dev_disk: 'disk',
  vdisk: 'vdisk',
  vcdrom: 'vcdrom',
  dev_disk_perf: 'disk_perf',
  dev_modisk: 'modisk',
  dev_modisk_perf: 'modisk_perf',
  dev_tape: 'tape',
  dev_tape_perf: 'tape_perf',
  dev_processor: 'processor',
};

export const VIRTUAL_HANDLERS: ReadonlySet<string> = new Set(['vdisk', 'vcdrom']);

/** scsi_tgt handler names the old module treats as `vdisk`. */
const VDISK_ALIASES = new Set(['vdisk_fileio', 'vdisk_blockio', 'vdisk_nullio', 'vdisk_blk', 'vdisk']);

const SHORT_FLAGS: Readonly<Record<string, string>> = {
  WT: 'WRITE_THROUGH',
  DR: 'O_DIRECT',
  RO: 'READ_ONLY',
  NIO: 'NULLIO',
  NV: 'NV_CACHE',
  BIO: 'BLOCKIO',
  RM: 'REMOVABLE',
};

export interface VdiskRow {
  size: string;
  blocksize: string;
  /** Long option names. */
  options: string[];
  path: string;
  t10: string;
}

export class ProcfsTree {
  /** Printed instead of written under -debug. */
  constructor(
    readonly fs: TreeFs,
    readonly root: string,
    readonly debug: boolean,
    private readonly print: (text: string) => void,
  ) {}

  private p(...parts: string[]): string {
    return [this.root, ...parts].join('/');
  }

  private async lines(...parts: string[]): Promise<string[] | undefined> {
    try {
      return (await this.fs.read(this.p(...parts))).split('\n').filter((l) => l !== '');
    } catch {
      return undefined;
    }
  }

  async version(): Promise<string | undefined> {
    return (await this.lines('version'))?.[0];
  }

  /** Handler directories present (those with a regular `type` file). */
  async handlers(): Promise<Set<string>> {
    const out = new Set<string>();
    let names: string[] = [];
    try {
      names = await this.fs.readdir(this.root);
    } catch {
      return out;
    }
    for (const n of names) {
      if (!SHORT_NAME[n]) continue;
      try {
        if ((await this.fs.stat(this.p(n, 'type'))).isFile) out.add(n);
      } catch {
        // not a handler directory
      }
    }
    return out;
  }

  /** device → handler directory (undefined for a device without a known handler). */
  async devices(): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    for (const row of (await this.lines('scsi_tgt'))?.slice(1) ?? []) {
      const [dev, handler] = row.trim().split(/\s+/);
      if (!dev) continue;
      const h = handler === undefined ? undefined : VDISK_ALIASES.has(handler) ? 'vdisk' : SHORT_NAME[handler] ? handler : HANDLER_DIRS[handler];
      out.set(dev, h);
    }
    return out;
  }

  async groups(): Promise<string[]> {
    try {
      return await this.fs.readdir(this.p('groups'));
    } catch {
      return [];
    }
  }

  /** device → LUN of a group (options such as RO are not kept, as the original). */
  async groupDevices(group: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const row of (await this.lines('groups', group, 'devices'))?.slice(1) ?? []) {
      const [dev, lun] = row.trim().split(/\s+/);
      if (dev && lun !== undefined) out.set(dev, lun);
    }
    return out;
  }

  async users(group: string): Promise<string[]> {
    return ((await this.lines('groups', group, 'names')) ?? []).map((l) => l.trim()).filter((l) => l !== '');
  }

  /** Rows of vdisk/vdisk (or vcdrom/vcdrom, whose rows never match: procfs.md §7.2). */
  async handlerDevices(handler: string): Promise<Map<string, VdiskRow>> {
    const out = new Map<string, VdiskRow>();
    for (const row of (await this.lines(handler, handler))?.slice(1) ?? []) {
      const m = /(\S+)\s+(\S+)\s+(\S+)\s+(.*?)\s+(\/\S+)\s+(.*)$/.exec(row);
      if (!m) continue;
      const options = m[4]!
        .split(/\s+/)
        .filter((o) => o !== '')
        .map((o) => SHORT_FLAGS[o] ?? o);
      out.set(m[1]!, { size: m[2]!, blocksize: m[3]!, options, path: m[5]!, t10: m[6]!.trim() });
    }
    return out;
  }

  /** Sessions as target → group → initiator → "active/all". */
  async sessions(): Promise<Array<{ target: string; initiator: string; group: string; commands: string }>> {
    const out: Array<{ target: string; initiator: string; group: string; commands: string }> = [];
    for (const row of (await this.lines('sessions'))?.slice(1) ?? []) {
      const [target, initiator, group, commands] = row.trim().split(/\s+/);
      if (target && initiator && group && commands) out.push({ target, initiator, group, commands });
    }
    return out;
  }

  /** One command; true when the write went through (the caller then reads back). */
  async write(parts: string[], data: string): Promise<boolean> {
    const path = this.p(...parts);
    if (this.debug) {
      this.print(`DBG(${process.pid}): '${path}' -> '${data.replace(/\0$/, '').replace(/\n$/, '')}'\n`);
      return true;
    }
    try {
      return (await this.fs.write(path, data)) > 0;
    } catch {
      return false;
    }
  }
}

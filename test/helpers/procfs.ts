// In-process procfs trees over a real engine core, for the unit tests of src/pde-fuse.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import pino from 'pino';
import { Scst } from '../../src/engine/scst.js';
import { ScstMgmt } from '../../src/engine/mgmt.js';
import { Device, type HandlerName } from '../../src/engine/device.js';
import { NullBackstore } from '../../src/engine/backstore/null.js';
import type { IscsiDriver } from '../../src/engine/iscsi/portal.js';
import type { SessionTransport } from '../../src/engine/session.js';
import { PdeFs } from '../../src/pde-fuse/pdefs.js';
import { makeContext, type ProcfsBuild, type ProcfsContext } from '../../src/pde-fuse/procfs/context.js';
import { procRoot } from '../../src/pde-fuse/procfs/tree.js';

export interface LogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface TestTree {
  scst: Scst;
  mgmt: ScstMgmt;
  ctx: ProcfsContext;
  fs: PdeFs;
  logs: LogRecord[];
  /** Write like `echo -n DATA > /proc/PATH`: resolves with the byte count or a negated errno. */
  write(path: string, data: string | Buffer): Promise<number>;
  read(path: string): string;
}

export function makeTree(o: { build?: Partial<ProcfsBuild>; iscsi?: IscsiDriver | null } = {}): TestTree {
  const logs: LogRecord[] = [];
  const log = pino({ level: 'trace' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogRecord) });
  const scst = new Scst(log);
  const mgmt = new ScstMgmt(scst, log);
  const ctx = makeContext(scst, mgmt, o.iscsi ?? null, log, o.build ?? {});
  const fs = new PdeFs(procRoot(ctx), log);
  return {
    scst,
    mgmt,
    ctx,
    fs,
    logs,
    write: (path, data) => fs.writePath(path, data),
    read: (path) => {
      const r = now(fs.readPath(path));
      if (typeof r === 'number') throw new Error(`read ${path}: errno ${-r}`);
      return r;
    },
  };
}

/** A device with a given size and no real backing file (for listings of big or absent files). */
export function fakeDevice(scst: Scst, o: { name: string; handler: HandlerName; size: number; blockSize?: number; filename?: string | null; nvCache?: boolean; t10DevId?: string }): Device {
  const dev = new Device({
    name: o.name,
    handler: o.handler,
    blockSize: o.blockSize ?? 512,
    readOnly: false,
    writeThrough: false,
    nvCache: o.nvCache ?? false,
    removable: false,
    rotational: true,
    thinProvisioned: false,
    dummy: false,
    tst: 1,
    filename: o.filename ?? null,
    t10DevId: o.t10DevId,
    setupId: 0n,
    explicit: new Set(),
  });
  dev.backstore = new NullBackstore(o.size);
  scst.devices.set(o.name, dev);
  return dev;
}

export const nullTransport: SessionTransport = {
  forceClose: () => undefined,
  abortCommand: async () => undefined, abortDeviceTasks: async () => undefined,
};

/** Every file of the tree below `dir` (a PdeFs path), path -> content. */
export function snapshotTree(fs: PdeFs, dir = '/scsi_tgt'): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    const names = fs.readdir(p);
    if (typeof names === 'number') {
      const t = now(fs.readPath(p));
      out.set(p, typeof t === 'number' ? `<errno ${-t}>` : t);
      return;
    }
    for (const n of names) walk(`${p}/${n}`);
  };
  walk(dir);
  return out;
}

/** Golden files below `root`, relative path (with leading '/') -> content. */
export function readGolden(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string) => {
    for (const n of readdirSync(p)) {
      const full = join(p, n);
      if (statSync(full).isDirectory()) walk(full);
      else out.set(`/${relative(root, full)}`, readFileSync(full, 'utf8'));
    }
  };
  walk(root);
  return out;
}

/**
 * A read of a test tree, which is small: a listing renders in one piece there (a long one comes as
 * a promise, rendered a slice per event-loop turn).
 */
export function now<T>(v: T | Promise<T>): T {
  if (v instanceof Promise) throw new Error('a listing of a small tree rendered asynchronously');
  return v;
}

import fsp from 'node:fs/promises';
import { Device, type HandlerName } from './device.js';
import { backstoreKind, type FileStoreOptions, type RbdStoreOptions } from './backing-store.js';
import type { Errno } from './errors.js';
import { einval, MgmtError } from './errors.js';
import { checkDeviceName } from './names.js';
import { restorePr } from './scsi/pr.js';
import type { ReservationStore } from './reservations.js';

// The vdisk device handlers: parameter validation for add_device (sysfs.md §11.1), and opening
// the backing store. The same rules serve scst.conf at start-up and the management trees.

export const HANDLERS: readonly HandlerName[] = ['vdisk_fileio', 'vdisk_blockio', 'vdisk_nullio', 'vdisk_rbd', 'vcdrom'];

const FILEIO_ADVERTISED = ['active', 'async', 'bind_alua_state', 'blocksize', 'cluster_mode', 'dif_filename', 'dif_mode', 'dif_static_app_tag', 'dif_type', 'filename', 'numa_node_id', 'nv_cache', 'o_direct', 'read_only', 'removable', 'rotational', 'thin_provisioned', 'tst', 't10_dev_id', 'write_through'];
const ALL_PARSER_NAMES = [...FILEIO_ADVERTISED, 'size', 'size_mb', 'dummy', 'lb_per_pb_exp'];

/** Creation parameters each handler advertises (handlers/<h>/mgmt help), in order. */
export const CREATE_PARAMS: Record<HandlerName, readonly string[]> = {
  vdisk_fileio: FILEIO_ADVERTISED,
  vdisk_blockio: ['active', 'bind_alua_state', 'blocksize', 'cluster_mode', 'dif_filename', 'dif_mode', 'dif_static_app_tag', 'dif_type', 'filename', 'numa_node_id', 'nv_cache', 'read_only', 'removable', 'rotational', 'thin_provisioned', 'tst', 't10_dev_id', 'write_through'],
  vdisk_nullio: ['blocksize', 'cluster_mode', 'dif_mode', 'dif_static_app_tag', 'dif_type', 'dummy', 'numa_node_id', 'read_only', 'removable', 'rotational', 'size', 'size_mb', 'tst', 't10_dev_id'],
  vdisk_rbd: ['blocksize', 'cluster_mode', 'conf', 'id', 'image', 'keyring', 'nv_cache', 'pool', 'read_only', 'rotational', 'thin_provisioned', 'tst', 't10_dev_id', 'write_through'],
  vcdrom: ['tst'],
  // Devices of user-space handlers are created by the handler process (src/engine/user).
  scst_user: [],
};

/** Names each handler accepts at creation: fileio accepts every name the parser knows. */
function accepted(h: HandlerName): readonly string[] {
  return h === 'vdisk_fileio' ? ALL_PARSER_NAMES : CREATE_PARAMS[h];
}

export const NULLIO_DEFAULT_SIZE = 2748779069440; // 2.5 TiB, as vdisk_nullio

export function isHandler(name: string): name is HandlerName {
  return (HANDLERS as readonly string[]).includes(name);
}

/** kstrtoull-style unsigned parse (base 0: 0x.. hex, 0.. octal, else decimal). */
export function parseUnsigned(name: string, v: string): number {
  const s = v.trim();
  let n: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) n = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) n = parseInt(s, 8);
  else if (/^[0-9]+$/.test(s)) n = parseInt(s, 10);
  else throw einval(`${name}: '${v}' is not an unsigned number`);
  if (!Number.isSafeInteger(n)) throw einval(`${name}: '${v}' is too large`);
  return n;
}

function parseBool01(name: string, v: string): boolean {
  const n = parseUnsigned(name, v);
  return n !== 0;
}

/**
 * Parse `k=v; k=v` parameters as the vdisk mgmt file does (names case-insensitive, blanks
 * around separators ignored). Returns lower-cased names in order; duplicates are kept so the
 * caller can refuse a second `filename`.
 */
export function parseParamString(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of s.split(';')) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw einval(`parameter '${p}' has no value`);
    out.push([p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim()]);
  }
  return out;
}

export interface CreateContext {
  setupId: bigint;
  usnInUse(usn: string): boolean;
  /**
   * The daemon's state directory: persistent reservations with APTPL are kept (and restored
   * from) <stateDir>/pr/<device>.json. Without one, APTPL is not offered.
   */
  stateDir?: string;
  /** Where the device's reservation state lives (default: this process alone). */
  reservations?: ReservationStore;
  /** The store of cluster_mode 1 devices; absent or null: not a cluster node (cluster_mode 1 refused). */
  clusterReservations?: ReservationStore | null;
}

/**
 * Why `cluster_mode 1` cannot be had, or null when it can: it needs a cluster
 * to share the reservations through, and a t10_dev_id given explicitly, since that is what names
 * the logical unit on every node (SCST's DLM lockspace is scst-<t10_dev_id> too; a generated one
 * would differ between nodes).
 */
export function clusterModeRefusal(store: ReservationStore | null | undefined, t10Explicit: boolean): string | null {
  if (!store) return 'cluster_mode 1 needs a cluster (start scstd with --cluster ENDPOINTS --node NAME)';
  if (!t10Explicit) return 'cluster_mode 1 needs t10_dev_id set explicitly (the same on every node of the cluster)';
  return null;
}

/** Validate add_device parameters and open the device's backing store. */
export async function createDevice(handler: HandlerName, name: string, params: Array<[string, string]>, ctx: CreateContext): Promise<Device> {
  checkDeviceName(name, handler);
  const ok = accepted(handler);
  const p = new Map<string, string>();
  for (const [k, v] of params) {
    if (!ok.includes(k)) throw einval(`${handler}: unknown parameter '${k}'`);
    if (k === 'filename' && p.has('filename')) throw einval('filename given twice');
    p.set(k, v);
  }
  const num = (k: string, dflt: number) => (p.has(k) ? parseUnsigned(k, p.get(k)!) : dflt);
  const flag = (k: string, dflt: boolean) => (p.has(k) ? parseBool01(k, p.get(k)!) : dflt);

  const isCd = handler === 'vcdrom';
  let blockSize = num('blocksize', isCd ? 2048 : 512);
  if (blockSize < 512) throw einval(`blocksize ${blockSize} is smaller than 512`);
  blockSize = 2 ** Math.floor(Math.log2(blockSize)); // vdisk rounds down to a power of two
  if (blockSize > 65536) throw einval(`blocksize ${blockSize} is too large`);
  const readOnly = flag('read_only', isCd);
  const writeThrough = flag('write_through', false);
  const nvCache = flag('nv_cache', false);
  const tst = num('tst', 1);
  if (tst > 1) throw einval('tst must be 0 or 1');
  const dummy = p.has('dummy') ? num('dummy', 0) : 0;
  if (dummy > 1) throw einval('dummy must be 0 or 1');
  if (handler === 'vdisk_fileio' && readOnly && (writeThrough || nvCache)) throw einval('read_only cannot be combined with write_through or nv_cache');
  if (flag('o_direct', false) && !flag('async', false)) throw einval('o_direct requires async=1');
  const t10 = p.get('t10_dev_id');
  if (t10 !== undefined && t10.length > 25) throw einval('t10_dev_id longer than 25 characters');
  const clusterMode = flag('cluster_mode', false);
  if (clusterMode) {
    const why = clusterModeRefusal(ctx.clusterReservations, t10 !== undefined && t10 !== '');
    if (why) throw einval(why);
  }
  let filename: string | null = p.get('filename') ?? null;
  if (filename !== null && !filename.startsWith('/')) throw einval(`filename '${filename}' is not an absolute path`);
  let size: number | undefined;
  if (p.has('size_mb')) size = num('size_mb', 0) * 1024 * 1024;
  if (p.has('size')) size = num('size', 0);
  if (size !== undefined && size % blockSize !== 0) throw einval(`size ${size} is not a multiple of the block size ${blockSize}`);
  // SCST takes 0 and then serves a disk of no blocks, which READ CAPACITY cannot describe.
  const rbd = handler === 'vdisk_rbd' ? rbdParams(p, readOnly) : undefined;
  if (size === 0 && handler === 'vdisk_nullio') throw einval(`${p.has('size') ? 'size' : 'size_mb'}=0: a vdisk_nullio device needs at least one block`);
  const lbPerPbExp = p.has('lb_per_pb_exp') ? num('lb_per_pb_exp', 1) : 1;
  if (lbPerPbExp > 1) throw einval('lb_per_pb_exp must be 0 or 1');

  const explicit = new Set(p.keys());
  const dev = new Device({
    name,
    handler,
    blockSize,
    readOnly,
    writeThrough,
    nvCache,
    removable: flag('removable', isCd),
    rotational: flag('rotational', true),
    // An RBD image is thin by nature: UNMAP and GET LBA STATUS are offered unless turned off.
    thinProvisioned: flag('thin_provisioned', handler === 'vdisk_rbd'),
    dummy: dummy === 1,
    tst,
    filename: isCd ? null : filename,
    t10DevId: t10,
    setupId: ctx.setupId,
    explicit,
    lbPerPbExp: lbPerPbExp === 1,
    rbd,
  });
  dev.clusterMode = clusterMode;
  if (ctx.usnInUse(dev.usn)) throw new MgmtError('EEXIST', `device ${name}: usn ${dev.usn} already in use`);

  switch (handler) {
    case 'vdisk_nullio':
      dev.backstore = backstoreKind('null')(size ?? NULLIO_DEFAULT_SIZE, !dev.dummy);
      break;
    case 'vcdrom':
      break; // starts without a medium
    case 'vdisk_fileio':
    case 'vdisk_blockio': {
      if (!filename) throw einval('File name required');
      if (!flag('active', true)) break;
      dev.backstore = await openBackstore(filename, { readOnly, writeThrough, createSize: handler === 'vdisk_fileio' ? size : undefined }, handler);
      break;
    }
    case 'vdisk_rbd':
      dev.backstore = await openRbd(name, rbd!);
      break;
  }
  // Until the daemon passes its state directory here, the one it exports for its children is used.
  const stateDir = ctx.stateDir ?? process.env.SCSTD_STATE_DIR;
  if (clusterMode) dev.reservations = ctx.clusterReservations!;
  else if (ctx.reservations) dev.reservations = ctx.reservations;
  try {
    // The store takes the device in: its APTPL state restored (a shared store: the cluster's state).
    await restorePr(dev, stateDir);
  } catch (e) {
    await dev.backstore?.close();
    dev.backstore = null;
    throw new MgmtError('EIO', `device ${name}: cannot restore persistent reservations: ${(e as Error).message} (move the file away to start without them)`);
  }
  return dev;
}

async function openBackstore(filename: string, opts: FileStoreOptions, handler: HandlerName) {
  const open = backstoreKind('file');
  try {
    const bs = await open(filename, opts);
    return bs;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const code = (err.code ?? 'EIO') as 'ENOENT';
    throw new MgmtError(code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' ? code : 'EINVAL', `${handler}: cannot open ${filename}: ${err.message}`);
  }
}

/** An RBD pool or image name: no '/' or '@' (they separate pool, image and snapshot), no blanks. */
const RBD_NAME = /^[^/@\s;=]+$/;
/** A client id as in client.<id>. */
const RBD_ID = /^[A-Za-z0-9_.-]+$/;

/** vdisk_rbd's own parameters: where the image is and how to reach the cluster. */
function rbdParams(p: Map<string, string>, readOnly: boolean): RbdStoreOptions {
  const pool = p.get('pool');
  const image = p.get('image');
  if (!pool) throw einval('vdisk_rbd: pool required');
  if (!image) throw einval('vdisk_rbd: image required');
  if (!RBD_NAME.test(pool)) throw einval(`vdisk_rbd: pool '${pool}' is not a pool name`);
  if (!RBD_NAME.test(image)) throw einval(`vdisk_rbd: image '${image}' is not an image name`);
  const o: RbdStoreOptions = { pool, image, readOnly };
  for (const k of ['conf', 'keyring'] as const) {
    const v = p.get(k);
    if (v === undefined) continue;
    if (!v.startsWith('/')) throw einval(`vdisk_rbd: ${k} '${v}' is not an absolute path`);
    o[k] = v;
  }
  const id = p.get('id');
  if (id !== undefined) {
    if (!RBD_ID.test(id)) throw einval(`vdisk_rbd: id '${id}' is not a client id (letters, digits, '_', '.', '-')`);
    o.id = id;
  }
  return o;
}

/** The errnos an RBD open failure is reported with (the rest become EIO). */
const RBD_OPEN_ERRNOS: ReadonlySet<string> = new Set<Errno>(['ENOENT', 'EACCES', 'EPERM', 'ETIMEDOUT', 'ENOSYS', 'EINVAL', 'EBUSY']);

async function openRbd(name: string, o: RbdStoreOptions) {
  try {
    return await backstoreKind('rbd')(o);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stage?: string };
    const code = err.code && RBD_OPEN_ERRNOS.has(err.code) ? (err.code as Errno) : 'EIO';
    throw new MgmtError(code, `vdisk_rbd: device ${name}: cannot open image ${o.pool}/${o.image}: ${rbdCause(err)}`);
  }
}

/** What an administrator should look at, from the stage the open failed in. */
function rbdCause(err: NodeJS.ErrnoException & { stage?: string }): string {
  const why = err.message;
  switch (err.stage) {
    case 'config':
      return `${why}: the ceph.conf or keyring cannot be read`;
    case 'connect':
      if (err.code === 'ETIMEDOUT') return `${why}: no monitor answered (cluster unreachable)`;
      if (err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'ENOENT') return `${why}: the cluster refused the credentials (client id, keyring)`;
      return `${why}: cannot connect to the cluster`;
    case 'pool':
      return err.code === 'ENOENT' ? `${why}: no such pool` : why;
    case 'image':
      return err.code === 'ENOENT' ? `${why}: no such image` : why;
    default:
      return why;
  }
}

/** vcdrom: insert (absolute path) or eject (empty / "none") the medium. */
export async function changeMedium(dev: Device, filename: string): Promise<void> {
  const f = filename.trim();
  if (dev.preventers.size > 0) throw new MgmtError('EBUSY', `${dev.name}: medium removal prevented`);
  if (f !== '' && f !== 'none' && !f.startsWith('/')) throw einval(`filename '${f}' is not an absolute path`);
  let next = null;
  if (f !== '' && f !== 'none') {
    await fsp.access(f).catch((e: NodeJS.ErrnoException) => {
      throw new MgmtError('ENOENT', `${dev.name}: cannot open ${f}: ${e.message}`);
    });
    next = await openBackstore(f, { readOnly: true, writeThrough: false }, 'vcdrom');
  }
  const old = dev.backstore;
  dev.backstore = next;
  dev.trayOpen = false;
  dev.filename = next ? f : null;
  dev.mediaGeneration++;
  if (old) await old.close();
}

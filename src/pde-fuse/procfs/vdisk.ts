import { MgmtError, einval } from '../../engine/errors.js';
import { MAX_VDISK_NAME, isCdrom, isDisk, sizeMb, type VdiskFlags, type VdiskOpen } from '../../engine/mgmt.js';
import { file, staticDir, type PdeDir } from '../node.js';
import { filtered, renderRows } from '../rows.js';
import { Cursor, commandText, isSpace, pad, startsWithKeyword, toNumber, unknownAction } from './cmdline.js';
import type { ProcfsContext } from './context.js';

// The vdisk module's directories (procfs.md §4): vdisk/ (handler vdisk_fileio, but listing and
// creating all three disk flavours) and vcdrom/. Keywords and flags are case-sensitive here.

const TYPE_DISK = '0 - Direct-access device (e.g., magnetic disk)\n';
const TYPE_CDROM = '5 - CD-ROM device\n';

export const VDISK_HELP =
  'echo "open|close|resync_size NAME [FILE_NAME [BLOCK_SIZE] [WRITE_THROUGH READ_ONLY O_DIRECT NULLIO NV_CACHE BLOCKIO]]" >/proc/scsi_tgt/vdisk/vdisk\n' +
  'echo "set_t10_dev_id NAME t10_dev_id" >/proc/scsi_tgt/vdisk/vdisk\n';
export const VCDROM_HELP = 'echo "open|change|close NAME [FILE_NAME]" >/proc/scsi_tgt/vcdrom/vcdrom\n';

export function renderVdisk(ctx: ProcfsContext): string | Promise<string> {
  const head = `${pad('Name', 17)} ${pad('Size(MB)', 11)} ${pad('Block size', 11)} ${pad('Options', 15)} ${pad('File name', 45)} ${pad('T10 device id', 16)}\n`;
  return renderRows(head, filtered(ctx.scst.devices.values(), isDisk), (d) => {
    let opts = '';
    if (d.writeThrough) opts += 'WT ';
    if (d.nvCache) opts += 'NV ';
    if (d.readOnly) opts += 'RO ';
    if (d.handler === 'vdisk_nullio') opts += 'NIO ';
    if (d.handler === 'vdisk_blockio') opts += 'BIO ';
    if (d.removable) opts += 'RM ';
    return `${pad(d.name, 17)} ${pad(sizeMb(d.size), 11)} ${pad(d.blockSize, 12)}${pad(opts, 16)}${pad(d.filename ?? 'none', 45)} ${pad(d.t10DevId, 16)}\n`;
  });
}

export function renderVcdrom(ctx: ProcfsContext): string | Promise<string> {
  const head = `${pad('Name', 17)} ${pad('Size(MB)', 9)} File name\n`;
  return renderRows(head, filtered(ctx.scst.devices.values(), isCdrom), (d) => `${pad(d.name, 17)} ${pad(sizeMb(d.size), 9)} ${d.filename ?? 'none'}\n`);
}

/** The command text, refusing an empty one (SCST returned a 0-byte "success", procfs.md §9.17). */
function vdiskLine(data: Buffer): string {
  const line = commandText(data);
  if (line === '') throw einval('Empty command');
  return line;
}

/** NAME after the keyword: required, at most 64 bytes. */
function deviceName(c: Cursor): string {
  const name = c.token();
  if (name === '') throw einval('Name required');
  if (Buffer.byteLength(name) > MAX_VDISK_NAME) throw einval(`Name is too long (max ${MAX_VDISK_NAME} characters)`);
  return name;
}

const FLAGS: ReadonlyArray<readonly [string, keyof VdiskFlags]> = [
  ['WRITE_THROUGH', 'writeThrough'],
  ['NV_CACHE', 'nvCache'],
  ['READ_ONLY', 'readOnly'],
  ['O_DIRECT', 'oDirect'],
  ['NULLIO', 'nullio'],
  ['BLOCKIO', 'blockio'],
  ['REMOVABLE', 'removable'],
];

/** open NAME FILE [BLOCK_SIZE] [FLAG ...]: flags are case-sensitive prefixes of the remaining text. */
export function parseVdiskOpen(ctx: ProcfsContext, c: Cursor): VdiskOpen {
  const name = deviceName(c);
  if (ctx.scst.devices.has(name)) throw new MgmtError('EEXIST', `Device ${name} already exists`);
  const filename = c.token();
  if (filename === '') throw einval('File name required');
  c.skipSpace();
  let blockSize = 512;
  const ch = c.peek();
  if (ch !== undefined && ch >= '0' && ch <= '9') {
    blockSize = toNumber(c.number().value);
    if (!c.atEnd && !isSpace(c.peek())) throw einval(`Parse error: "${c.rest()}"`);
  }
  const flags: VdiskFlags = { writeThrough: false, nvCache: false, readOnly: false, oDirect: false, nullio: false, blockio: false, removable: false };
  let handler: VdiskOpen['handler'] = 'vdisk_fileio';
  for (let guard = 0; guard <= c.s.length; guard++) {
    c.skipSpace();
    if (c.atEnd) break;
    const rest = c.rest();
    const hit = FLAGS.find(([kw]) => rest.startsWith(kw));
    if (!hit) throw einval(`Unknown flag "${rest}"`);
    flags[hit[1]] = true;
    if (hit[1] === 'nullio') handler = 'vdisk_nullio';
    if (hit[1] === 'blockio') handler = 'vdisk_blockio';
    c.pos += hit[0].length;
  }
  return { name, filename, blockSize, flags, handler };
}

/** open | close | resync_size | set_t10_dev_id */
export async function writeVdisk(ctx: ProcfsContext, data: Buffer): Promise<void> {
  const line = vdiskLine(data);
  const kw = (k: string) => startsWithKeyword(line, k, false);
  const cmd = ['open ', 'close ', 'resync_size ', 'set_t10_dev_id '].find(kw);
  if (!cmd) throw unknownAction(line);
  const c = new Cursor(line);
  c.pos = cmd.length;
  switch (cmd) {
    case 'open ':
      await ctx.mgmt.openVdisk(parseVdiskOpen(ctx, c));
      return;
    case 'close ':
      return ctx.mgmt.closeDevice(deviceName(c), 'disk');
    case 'resync_size ':
      return ctx.mgmt.resyncSize(deviceName(c));
    default: {
      const name = deviceName(c);
      // The id is the whole rest of the line after the spaces that follow NAME, spaces included.
      c.skipSpace();
      return ctx.mgmt.setT10DevId(name, c.rest());
    }
  }
}

/** open NAME [FILE] | change NAME [FILE] | close NAME */
export async function writeVcdrom(ctx: ProcfsContext, data: Buffer): Promise<void> {
  const line = vdiskLine(data);
  const kw = (k: string) => startsWithKeyword(line, k, false);
  const cmd = ['open ', 'change ', 'close '].find(kw);
  if (!cmd) throw unknownAction(line);
  const c = new Cursor(line);
  c.pos = cmd.length;
  const name = deviceName(c);
  switch (cmd) {
    case 'open ': {
      if (ctx.scst.devices.has(name)) throw new MgmtError('EEXIST', `Device ${name} already exists`);
      const f = c.token();
      await ctx.mgmt.openVcdrom(name, f === '' ? null : f);
      return;
    }
    case 'change ':
      // FILE is the rest of the line without surrounding spaces (inner spaces allowed).
      return ctx.mgmt.changeVcdrom(name, trimC(c.rest()));
    default:
      return ctx.mgmt.closeDevice(name, 'cdrom');
  }
}

function trimC(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a])) a++;
  while (b > a && isSpace(s[b - 1])) b--;
  return s.slice(a, b);
}

export function vdiskDir(ctx: ProcfsContext): PdeDir {
  const entries = [
    ['type', file(() => TYPE_DISK)],
    ['vdisk', file(() => renderVdisk(ctx), (d) => writeVdisk(ctx, d))],
    ...(ctx.build.tracing ? ([['trace_level', file(() => ctx.trace.vdisk.render(), (d) => ctx.trace.vdisk.write(d, ctx.log, (n) => ctx.scst.devices.has(n), 'vdisk'))]] as const) : []),
    ['help', file(() => VDISK_HELP)],
  ] as const;
  return staticDir(entries);
}

export function vcdromDir(ctx: ProcfsContext): PdeDir {
  const entries = [
    ['type', file(() => TYPE_CDROM)],
    ['vcdrom', file(() => renderVcdrom(ctx), (d) => writeVcdrom(ctx, d))],
    ...(ctx.build.tracing ? ([['trace_level', file(() => ctx.trace.vdisk.render(), (d) => ctx.trace.vdisk.write(d, ctx.log, (n) => ctx.scst.devices.has(n), 'vcdrom'))]] as const) : []),
    ['help', file(() => VCDROM_HELP)],
  ] as const;
  return staticDir(entries);
}

import type { HandlerName } from '../../engine/device.js';
import { einval } from '../../engine/errors.js';
import { CREATE_PARAMS, HANDLERS } from '../../engine/handlers.js';
import { link, type PdeNode } from '../node.js';
import { membersDir, ro, rw, sdir } from './attr.js';
import type { SysfsContext } from './context.js';
import { typeText } from './devices.js';
import { Lexer, paramTokens, unknownAction } from './lexer.js';
import { TRACE_HELP, traceFile } from './root.js';
import { PASS_THROUGH_HANDLERS, passThroughMgmt, type PassThroughHandler } from '../../engine/passthrough/pass-through.js';
import { TraceLevel, VDISK_DEFAULT } from '../procfs/trace.js';

// R/handlers/<h>/ (sysfs.md §5, §10.1, §11.1): type, mgmt, trace_level and one link per device.
// The vdisk handlers create devices through mgmt; scst_user devices are registered by their
// handler process, so that handler has no mgmt file (as SCST's scst_user).

export function handlerMgmtHelp(h: HandlerName): string {
  const params = CREATE_PARAMS[h];
  return (
    'Usage: echo "add_device device_name [parameters]" >mgmt\n' +
    '       echo "del_device device_name" >mgmt\n' +
    '\n' +
    "where parameters are one or more param_name=value pairs separated by ';'\n\n" +
    (params.length ? `The following parameters available: ${params.join(', ')}\n` : '') +
    '\n'
  );
}

/** add_device NAME [k=v;...] | del_device NAME (lexems; command words case-insensitive). */
export async function writeHandlerMgmt(ctx: SysfsContext, h: HandlerName, text: string): Promise<void> {
  const lx = new Lexer(text);
  const cmd = lx.lexem();
  switch (cmd.toLowerCase()) {
    case 'add_device': {
      const name = lx.lexem();
      if (name === '') throw einval('Device name required');
      const params = paramTokens(lx, `device ${name}`);
      await ctx.mgmt.addDevice(h, name, params);
      return;
    }
    case 'del_device': {
      const name = lx.lexem();
      if (name === '') throw einval('Device name required');
      const extra = lx.lexem();
      if (extra !== '') throw einval(`Syntax error on "${extra}"`);
      await ctx.mgmt.delDevice(h, name);
      return;
    }
    default:
      throw unknownAction(cmd);
  }
}

function handlerDir(ctx: SysfsContext, h: HandlerName): PdeNode {
  const type = h === 'vcdrom' ? 5 : 0;
  const fixed: Array<readonly [string, PdeNode]> = [['type', ro(() => typeText(type))]];
  if (h !== 'scst_user') {
    fixed.push(['mgmt', rw(() => handlerMgmtHelp(h), (text) => ctx.works.run(`handlers/${h}/mgmt`, () => writeHandlerMgmt(ctx, h, text)))]);
    if (ctx.build.tracing) fixed.push(['trace_level', traceFile(ctx, ctx.trace.vdisk, h, TRACE_HELP.vdisk)]);
  }
  const devices = ctx.scst.devices;
  return membersDir(() => fixed, {
    *list() {
      for (const d of devices.values()) if (d.handler === h) yield d;
    },
    get: (name) => {
      const d = devices.get(name);
      return d?.handler === h ? d : undefined;
    },
    count: () => 0,
    version: () => devices.version,
    name: (d) => d.name,
    make: (d) => link(() => `../../devices/${d.name}`),
    dirs: false,
  });
}

/** The pass-through handlers' mgmt help (scst_devt_pass_through_mgmt_show). */
export const PASS_THROUGH_MGMT_HELP = 'Usage: echo "add_device H:C:I:L" >mgmt\n       echo "del_device H:C:I:L" >mgmt\n';

/** add_device H:C:I:L | del_device H:C:I:L: the action is judged after the device, as SCST does. */
async function writePassThroughMgmt(h: PassThroughHandler, text: string): Promise<void> {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const devstr = lx.lexem();
  await passThroughMgmt(h, action, devstr, lx.lexem(), text);
}

/** handlers/dev_disk, dev_cdrom: type, mgmt, trace_level; no device is ever assigned here. */
function passThroughDir(ctx: SysfsContext, h: PassThroughHandler): PdeNode {
  const entries: Array<readonly [string, PdeNode]> = [
    ['type', ro(() => typeText(h.type))],
    ['mgmt', rw(() => PASS_THROUGH_MGMT_HELP, (text) => ctx.works.run(`handlers/${h.name}/mgmt`, () => writePassThroughMgmt(h, text)))],
  ];
  if (ctx.build.tracing) entries.push(['trace_level', traceFile(ctx, new TraceLevel(h.name, [], VDISK_DEFAULT), h.name, '')]);
  return sdir(() => entries);
}

export function handlersDir(ctx: SysfsContext): PdeNode {
  const vdisk = ctx.build.rbd ? HANDLERS : HANDLERS.filter((h) => h !== 'vdisk_rbd');
  const all: HandlerName[] = ctx.build.userHandler ? [...vdisk, 'scst_user'] : [...vdisk];
  const entries: Array<readonly [string, PdeNode]> = all.map((h) => [h, handlerDir(ctx, h)] as const);
  if (ctx.build.passThrough) for (const h of PASS_THROUGH_HANDLERS) entries.push([h.name, passThroughDir(ctx, h)]);
  return sdir(() => entries);
}

import { einval } from '../../engine/errors.js';
import type { IniGroup } from '../../engine/target.js';
import { dir, file, type PdeDir } from '../node.js';
import { Cursor, commandText, pad, startsWithKeyword, toNumber, tooManyArguments, unknownAction } from './cmdline.js';
import type { ProcfsContext } from './context.js';
import { renderRows } from '../rows.js';

// groups/<G>/{addr_method,devices,names} (procfs.md §3.8). Keywords are case-insensitive and
// `clear` is a bare 5-character prefix.

export function renderAddrMethod(g: IniGroup): string {
  return `${g.addrMethod}\n`;
}

export function renderDevices(g: IniGroup): string | Promise<string> {
  return renderRows(`${pad('Device (host:ch:id:lun or name)', 60)}${pad('LUN', 13)}Options\n`, g.luns.luns.values(), (e) => `${pad(e.device.name, 60)}${pad(e.lun, 13)}${e.readOnly ? 'RO' : ''}\n`);
}

export function renderNames(g: IniGroup): string {
  return g.initiators.map((n) => `${n}\n`).join('');
}

/** add D LUN [READ_ONLY] | replace D LUN [READ_ONLY] | del D | clear */
export function writeDevices(ctx: ProcfsContext, g: IniGroup, data: Buffer): void {
  const line = commandText(data);
  const kw = (k: string) => startsWithKeyword(line, k, true);
  if (kw('clear')) return ctx.mgmt.clearLuns(g.luns);
  const cmd = kw('add ') ? 'add' : kw('del ') ? 'del' : kw('replace ') ? 'replace' : null;
  if (!cmd) throw unknownAction(line);
  const c = new Cursor(line);
  c.pos = cmd.length + 1;
  const devName = c.token();
  ctx.mgmt.device(devName); // "Device D not found" comes before any argument error
  if (cmd === 'del') return ctx.mgmt.delLunOfDevice(g.luns, devName);
  c.skipSpace();
  const n = c.number();
  // SCST read past the string for a missing LUN (procfs.md §9.11); refused here instead.
  if (n.digits === 0) throw einval(`LUN required: "${c.rest()}"`);
  c.skipSpace();
  let readOnly = false;
  if (!c.atEnd) {
    if (!startsWithKeyword(c.rest(), 'READ_ONLY', true)) throw einval(`Unknown option "${c.rest()}"`);
    readOnly = true;
  }
  const lun = toNumber(n.value);
  if (cmd === 'add') ctx.mgmt.addLun(g.luns, devName, lun, readOnly);
  else ctx.mgmt.replaceLun(g.luns, devName, lun, readOnly);
}

/** add NAME | del NAME | move NAME NEWGROUP | clear */
export function writeNames(ctx: ProcfsContext, g: IniGroup, data: Buffer): void {
  const line = commandText(data);
  const kw = (k: string) => startsWithKeyword(line, k, true);
  if (kw('clear')) return ctx.mgmt.clearInitiators(g);
  const cmd = kw('add ') ? 'add' : kw('del ') ? 'del' : kw('move ') ? 'move' : null;
  if (!cmd) throw unknownAction(line);
  const c = new Cursor(line);
  c.pos = cmd.length + 1;
  const name = c.token();
  if (cmd === 'move') {
    const to = c.token();
    if (c.token() !== '') throw tooManyArguments();
    return ctx.mgmt.moveInitiator(g, name, to);
  }
  if (c.token() !== '') throw tooManyArguments();
  if (cmd === 'add') ctx.mgmt.addInitiator(g, name);
  else ctx.mgmt.delInitiator(g, name);
}

export function groupDir(ctx: ProcfsContext, g: IniGroup): PdeDir {
  const entries = [
    ['addr_method', file(() => renderAddrMethod(g))],
    ['devices', file(() => renderDevices(g), (d) => writeDevices(ctx, g, d))],
    ['names', file(() => renderNames(g), (d) => writeNames(ctx, g, d))],
  ] as const;
  return dir(() => entries);
}

/** groups/: one directory per group, Default first, then creation order. */
export function groupsDir(ctx: ProcfsContext): PdeDir {
  // Keep one node per group object so a renamed group keeps its files.
  const nodes = new WeakMap<IniGroup, PdeDir>();
  return dir(() =>
    ctx.scst.globalGroups.list.map((g) => {
      let d = nodes.get(g);
      if (!d) nodes.set(g, (d = groupDir(ctx, g)));
      return [g.name, d] as const;
    }),
  );
}

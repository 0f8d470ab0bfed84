import { einval } from '../../engine/errors.js';
import type { AddrMethod } from '../../engine/target.js';
import type { ScstSession } from '../../engine/session.js';
import { DEFAULT_GROUP } from '../../engine/mgmt.js';
import { Cursor, commandText, pad, startsWithKeyword, toInt32, tooManyArguments, unknownAction } from './cmdline.js';
import type { ProcfsContext } from './context.js';
import { renderRows } from '../rows.js';

// The core files of /proc/scsi_tgt (procfs.md §3): scsi_tgt, version, help, sessions, threads.

export const HELP_TEXT =
  '   echo "assign H:C:I:L HANDLER_NAME" >/proc/scsi_tgt/scsi_tgt\n\n' +
  '   echo "add_group GROUP_NAME [FLAT]" >/proc/scsi_tgt/scsi_tgt\n' +
  '   echo "add_group GROUP_NAME [LUN]" >/proc/scsi_tgt/scsi_tgt\n' +
  '   echo "del_group GROUP_NAME" >/proc/scsi_tgt/scsi_tgt\n' +
  '   echo "rename_group OLD_NAME NEW_NAME" >/proc/scsi_tgt/scsi_tgt\n\n' +
  '   echo "add|del H:C:I:L lun [READ_ONLY]" >/proc/scsi_tgt/groups/GROUP_NAME/devices\n' +
  '   echo "replace H:C:I:L lun [READ_ONLY]" >/proc/scsi_tgt/groups/GROUP_NAME/devices\n' +
  '   echo "add|del V_NAME lun [READ_ONLY]" >/proc/scsi_tgt/groups/GROUP_NAME/devices\n' +
  '   echo "replace V_NAME lun [READ_ONLY]" >/proc/scsi_tgt/groups/GROUP_NAME/devices\n' +
  '   echo "clear" >/proc/scsi_tgt/groups/GROUP_NAME/devices\n\n' +
  '   echo "add|del NAME" >/proc/scsi_tgt/groups/GROUP_NAME/names\n' +
  '   echo "move NAME NEW_GROUP_NAME" >/proc/scsi_tgt/groups/OLD_GROUP_NAME/names\n' +
  '   echo "clear" >/proc/scsi_tgt/groups/GROUP_NAME/names\n\n' +
  '   echo "DEC|0xHEX|0OCT" >/proc/scsi_tgt/threads\n\n';

/** What a tracing build adds to help. */
export const HELP_TRACE_TEXT =
  '   echo "all|none|default" >/proc/scsi_tgt/[DEV_HANDLER_NAME/]trace_level\n' +
  '   echo "value DEC|0xHEX|0OCT" >/proc/scsi_tgt/[DEV_HANDLER_NAME/]trace_level\n' +
  '   echo "set|add|del TOKEN" >/proc/scsi_tgt/[DEV_HANDLER_NAME/]trace_level\n' +
  '     where TOKEN is one of [debug, function, line, pid, entryexit,\n' +
  '                            buff, mem, sg, out_of_mem, special, scsi,\n' +
  '                            mgmt, minor, mgmt_dbg]\n' +
  '     Additionally for /proc/scsi_tgt/trace_level there are these TOKENs\n' +
  '       [scsi_serializing, retry, recv_bot, send_bot, recv_top, send_top, pr, block]\n' +
  '   echo "dump_prs dev_name" >/proc/scsi_tgt/trace_level\n\n';

export function renderHelp(ctx: ProcfsContext): string {
  return ctx.build.tracing ? HELP_TEXT + HELP_TRACE_TEXT : HELP_TEXT;
}

export function renderVersion(ctx: ProcfsContext): string {
  return [ctx.build.version, ...ctx.build.options].map((l) => `${l}\n`).join('');
}

// ---- scsi_tgt ---------------------------------------------------------------------------------

export function renderScsiTgt(ctx: ProcfsContext): string | Promise<string> {
  return renderRows(`${pad('Device (host:ch:id:lun or name)', 60)}Device handler\n`, ctx.scst.devices.values(), (d) => `${pad(d.name, 60)}${d.handler}\n`);
}

/** add_group | del_group | rename_group | assign (keywords case-insensitive, with their space). */
export function writeScsiTgt(ctx: ProcfsContext, data: Buffer): void {
  const line = commandText(data);
  const kw = (k: string) => startsWithKeyword(line, k, true);
  if (kw('add_group ')) {
    const c = new Cursor(line);
    c.pos = 'add_group '.length;
    const name = c.token();
    const method = c.token();
    let addr: AddrMethod = 'PERIPHERAL';
    if (method !== '') {
      if (method.toUpperCase() === 'FLAT') addr = 'FLAT';
      else if (method.toUpperCase() === 'LUN') addr = 'LUN';
      else throw einval(`Unexpected argument ${method}`);
    }
    if (c.token() !== '') throw tooManyArguments();
    ctx.mgmt.addGroup(null, name, addr);
  } else if (kw('del_group ')) {
    const c = new Cursor(line);
    c.pos = 'del_group '.length;
    const name = c.token();
    if (c.token() !== '') throw tooManyArguments();
    ctx.mgmt.delGroup(null, name);
  } else if (kw('rename_group ')) {
    const c = new Cursor(line);
    c.pos = 'rename_group '.length;
    const oldName = c.token();
    const newName = c.token();
    if (c.token() !== '') throw tooManyArguments();
    ctx.mgmt.renameGroup(oldName, newName);
  } else if (kw('assign ')) {
    assign(line.slice('assign '.length));
  } else throw unknownAction(line);
}

/** assign H:C:I:L HANDLER: only SCSI pass-through devices qualify, and this target has none. */
function assign(args: string): never {
  const c = new Cursor(args);
  c.skipSpace();
  const fields: string[] = [];
  for (let i = 0; i < 4; i++) {
    const n = c.number();
    fields.push(n.value.toString());
    if (i < 3) {
      if (c.peek() !== ':') throw einval(`Syntax error on ${c.rest()}`);
      c.pos++;
    }
  }
  const handler = c.token();
  if (handler === '') throw einval(`Syntax error on ${c.rest()}`);
  throw einval(`Device ${fields.join(':')} not found`);
}

// ---- sessions ---------------------------------------------------------------------------------

/** Sessions by group in group-list order (global groups, then per-target ones), each by binding order. */
export function renderSessions(ctx: ProcfsContext): string {
  let out = `${pad('Target name', 20)} ${pad('Initiator name', 45)} ${pad('Group name', 35)} ${pad('Active/All Commands Count', 15)}\n`;
  const byGroup = new Map<string | object, ScstSession[]>();
  const order: Array<string | object> = [];
  const bucket = (key: string | object) => {
    let l = byGroup.get(key);
    if (!l) {
      byGroup.set(key, (l = []));
      order.push(key);
    }
    return l;
  };
  for (const g of ctx.scst.globalGroups.list) bucket(g);
  for (const t of ctx.scst.targets.values()) for (const g of t.groups) bucket(g);
  // A session on a target's own default LUN set is listed with Default.
  const dflt = ctx.scst.globalGroups.defaultGroup;
  for (const s of ctx.scst.sessions) if (!s.closed) bucket(s.group ?? dflt).push(s);
  for (const key of order) {
    const list = byGroup.get(key)!.sort((a, b) => a.boundSeq - b.boundSeq);
    for (const s of list) {
      const groupName = s.group?.name ?? DEFAULT_GROUP;
      // active: commands not yet completed; all: commands the session still holds.
      out += `${pad('iscsi', 20)} ${pad(s.initiatorName, 45)} ${pad(groupName, 35)} ${s.activeCount}/${s.cmds.size}\n`;
    }
  }
  return out;
}

// ---- threads ----------------------------------------------------------------------------------

export function renderThreads(ctx: ProcfsContext): string {
  return `${ctx.scst.threads}\n`;
}

/** One number, base 0, read from byte 0 (leading space reads as 0); trailing text is ignored. */
export function writeThreads(ctx: ProcfsContext, data: Buffer): void {
  const c = new Cursor(commandText(data, false));
  ctx.mgmt.setThreads(toInt32(c.number().value));
}

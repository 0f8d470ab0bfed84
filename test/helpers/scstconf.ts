// Builds scst.conf text (modern grammar, scstadmin.md §6) for the integration tests: `{` on the
// header line, `}` on its own line, one statement per line, values with blanks quoted.

export type Handler = 'vdisk_fileio' | 'vdisk_blockio' | 'vdisk_nullio' | 'vcdrom' | 'vdisk_rbd';
export type AttrValue = string | number | boolean;
/** A repeated attribute (IncomingUser) is given as an array of values. */
export type Attrs = Record<string, AttrValue | AttrValue[] | undefined>;

export interface ConfDevice {
  handler: Handler;
  name: string;
  attrs?: Attrs;
}

export interface ConfGroup {
  name: string;
  luns?: Array<[number, string]>;
  initiators?: string[];
  attrs?: Attrs;
}

export interface ConfTarget {
  name: string;
  /** Target attributes (InitialR2T, HeaderDigest, IncomingUser, ...). `enabled 1` is added. */
  attrs?: Attrs;
  /** The default LUN set, seen by initiators that match no group. */
  luns?: Array<[number, string]>;
  groups?: ConfGroup[];
  enabled?: boolean;
}

export interface ConfSpec {
  devices: ConfDevice[];
  targets: ConfTarget[];
  /** iSCSI driver attributes (e.g. discovery IncomingUser). */
  driverAttrs?: Attrs;
}

function fmtValue(v: AttrValue): string {
  const s = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
  if (/[{}"#]/.test(s)) throw new Error(`scst.conf cannot carry this value: ${s}`);
  return /\s/.test(s) || s === '' ? `"${s}"` : s;
}

function attrLines(attrs: Attrs | undefined, indent: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(`${indent}${k} ${fmtValue(one)}`);
  }
  return out;
}

export function scstConf(spec: ConfSpec): string {
  const lines: string[] = [];
  const handlers = new Map<Handler, ConfDevice[]>();
  for (const d of spec.devices) {
    const list = handlers.get(d.handler) ?? [];
    list.push(d);
    handlers.set(d.handler, list);
  }
  for (const [h, devs] of handlers) {
    lines.push(`HANDLER ${h} {`);
    for (const d of devs) {
      lines.push(`\tDEVICE ${d.name} {`, ...attrLines(d.attrs, '\t\t'), '\t}');
    }
    lines.push('}', '');
  }
  lines.push('TARGET_DRIVER iscsi {', '\tenabled 1', ...attrLines(spec.driverAttrs, '\t'));
  for (const t of spec.targets) {
    lines.push('', `\tTARGET ${t.name} {`, `\t\tenabled ${t.enabled === false ? 0 : 1}`);
    lines.push(...attrLines(t.attrs, '\t\t'));
    for (const [lun, dev] of t.luns ?? []) lines.push(`\t\tLUN ${lun} ${dev}`);
    for (const g of t.groups ?? []) {
      lines.push(`\t\tGROUP ${g.name} {`);
      for (const [lun, dev] of g.luns ?? []) lines.push(`\t\t\tLUN ${lun} ${dev}`);
      for (const ini of g.initiators ?? []) lines.push(`\t\t\tINITIATOR ${ini}`);
      lines.push(...attrLines(g.attrs, '\t\t\t'), '\t\t}');
    }
    lines.push('\t}');
  }
  lines.push('}', '');
  return lines.join('\n');
}

// The configuration file as -config works on it: maps keyed by object name, as the original's
// nested hashes, each attribute name with its values (several for IncomingUser and the like)
// and the line it came from, so the checks can point at the file.

import type { Attrs, ScstConfig } from '../../conf/model.js';

/** name → values, plus where each name was given. */
export class CAttrs extends Map<string, string[]> {
  readonly lines = new Map<string, number>();

  static from(attrs: Attrs, skip: ReadonlySet<string> = new Set()): CAttrs {
    const out = new CAttrs();
    for (const a of attrs) {
      if (skip.has(a.name)) continue;
      const list = out.get(a.name) ?? [];
      if (!list.includes(a.value)) list.push(a.value);
      out.set(a.name, list);
      if (!out.lines.has(a.name)) out.lines.set(a.name, a.line);
    }
    return out;
  }

  /** A copy without the given names (or with only them, when `keep`). */
  filter(names: ReadonlySet<string>, keep: boolean): CAttrs {
    const out = new CAttrs();
    for (const [k, v] of this) {
      if (names.has(k) !== keep) continue;
      out.set(k, v);
      const line = this.lines.get(k);
      if (line !== undefined) out.lines.set(k, line);
    }
    return out;
  }

  /** Single-valued pairs for a creation command (a repeated name gives repeated pairs). */
  pairs(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [k, vs] of this) for (const v of vs) out.push([k, v]);
    return out;
  }
}

export interface CLun {
  device: string;
  attrs: CAttrs;
  line: number;
}

export interface CGroup {
  attrs: CAttrs;
  luns: Map<string, CLun>;
  initiators: Map<string, number>;
  line: number;
}

export interface CTarget {
  hwTarget: boolean;
  /** Target attributes, `enabled` included. */
  attrs: CAttrs;
  luns: Map<string, CLun>;
  groups: Map<string, CGroup>;
  line: number;
}

export interface CDriver {
  /** Driver attributes, `enabled` included. */
  attrs: CAttrs;
  targets: Map<string, CTarget>;
  line: number;
}

export interface CDevice {
  attrs: CAttrs;
  line: number;
}

export interface CHandler {
  attrs: CAttrs;
  devices: Map<string, CDevice>;
  line: number;
}

export interface CTargetGroup {
  attrs: CAttrs;
  targets: Map<string, CAttrs>;
  line: number;
}

export interface CDeviceGroup {
  attrs: CAttrs;
  devices: string[];
  tgroups: Map<string, CTargetGroup>;
  line: number;
}

export interface CConf {
  file: string;
  attrs: CAttrs;
  handlers: Map<string, CHandler>;
  drivers: Map<string, CDriver>;
  alua: CAttrs;
  dgroups: Map<string, CDeviceGroup>;
  /** Non-fatal findings of the reader, `file:line: text`. */
  warnings: string[];
}

function luns(list: ScstConfig['drivers'][number]['targets'][number]['luns']): Map<string, CLun> {
  const m = new Map<string, CLun>();
  for (const l of list) m.set(String(l.lun), { device: l.device, attrs: CAttrs.from(l.attributes), line: l.line });
  return m;
}

export function toCConf(cfg: ScstConfig, file: string): CConf {
  const conf: CConf = {
    file,
    attrs: CAttrs.from(cfg.attributes),
    handlers: new Map(),
    drivers: new Map(),
    alua: CAttrs.from(cfg.alua),
    dgroups: new Map(),
    warnings: [...(cfg.warnings ?? [])],
  };
  for (const h of cfg.handlers) {
    const devices = new Map<string, CDevice>();
    for (const d of h.devices) devices.set(d.name, { attrs: CAttrs.from(d.attributes), line: d.line });
    conf.handlers.set(h.name, { attrs: CAttrs.from(h.attributes), devices, line: h.line });
  }
  for (const d of cfg.drivers) {
    const targets = new Map<string, CTarget>();
    for (const t of d.targets) {
      const groups = new Map<string, CGroup>();
      for (const g of t.groups) {
        const initiators = new Map<string, number>();
        for (const i of g.initiators) initiators.set(i.name, i.line);
        groups.set(g.name, { attrs: CAttrs.from(g.attributes), luns: luns(g.luns), initiators, line: g.line });
      }
      targets.set(t.name, { hwTarget: t.hwTarget, attrs: CAttrs.from(t.attributes), luns: luns(t.luns), groups, line: t.line });
    }
    conf.drivers.set(d.name, { attrs: CAttrs.from(d.attributes), targets, line: d.line });
  }
  for (const dg of cfg.deviceGroups) {
    const tgroups = new Map<string, CTargetGroup>();
    for (const tg of dg.targetGroups) {
      const targets = new Map<string, CAttrs>();
      for (const t of tg.targets) targets.set(t.name, CAttrs.from(t.attributes));
      tgroups.set(tg.name, { attrs: CAttrs.from(tg.attributes), targets, line: tg.line });
    }
    conf.dgroups.set(dg.name, { attrs: CAttrs.from(dg.attributes), devices: [...new Set(dg.devices)], tgroups, line: dg.line });
  }
  return conf;
}

/** Nothing at all in the file (the original's "empty or unreadable"). */
export function isEmptyConf(c: CConf): boolean {
  return c.attrs.size === 0 && c.handlers.size === 0 && c.drivers.size === 0 && c.alua.size === 0 && c.dgroups.size === 0;
}

// scst.conf's configuration model as YAML (schema: etc/scst-yaml-schema.md). The reader builds
// the same statement tree the scst.conf reader builds and hands it to the same interpreter, so
// both formats get identical checks and identical models; the writer emits the model in the
// -write_config order. Every scalar is taken as the text written (no YAML type resolution), so
// `0x1234`, `Yes` or `010` mean exactly what they mean in scst.conf.

import { dump, EVENT_ID, getScalarValue, parseEvents, type Event, type ScalarEvent } from 'js-yaml';
import { ConfigError } from './config-error.js';
import type { Attrs, LunConf, ScstConfig } from './model.js';
import { interpretTree } from './parse.js';
import { emptyTree, vivifyPath, type TreeNode } from './tree.js';
import { compareBytes } from './write.js';

type YNode =
  | { kind: 'scalar'; value: string; line: number }
  | { kind: 'map'; entries: Array<[{ value: string; line: number }, YNode]>; line: number }
  | { kind: 'seq'; items: YNode[]; line: number };

/** Deepest nesting the schema needs is 9 levels; anything far deeper is refused early. */
const MAX_DEPTH = 32;

class Lines {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }

  /** 1-based line of an offset (by binary search). */
  at(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

/** Events → nodes, keeping the line of every scalar and collection. */
function buildNodes(text: string, file: string): YNode | null {
  let events: Event[];
  try {
    events = parseEvents(text, { filename: file, maxDepth: MAX_DEPTH });
  } catch (e) {
    const mark = (e as { mark?: { line?: number } }).mark;
    const reason = (e as { reason?: string }).reason ?? (e instanceof Error ? e.message : String(e));
    throw new ConfigError(file, (mark?.line ?? 0) + 1, `YAML syntax error: ${reason}.`);
  }
  const lines = new Lines(text);
  let i = 0;
  let lastLine = 1;
  const docs: Array<YNode | null> = [];
  const node = (): YNode => {
    const e = events[i++];
    if (!e) throw new ConfigError(file, lastLine, 'Unexpected end of the YAML document.');
    if (e.type === EVENT_ID.SCALAR) {
      const s = e as ScalarEvent;
      if (s.valueStart >= 0) lastLine = lines.at(s.valueStart);
      return { kind: 'scalar', value: getScalarValue(text, s), line: lastLine };
    }
    if (e.type === EVENT_ID.ALIAS) throw new ConfigError(file, lastLine, 'YAML aliases (*name) are not supported in a configuration.');
    if (e.type === EVENT_ID.SEQUENCE) {
      const line = (lastLine = lines.at(e.start));
      const items: YNode[] = [];
      while (events[i] && events[i]!.type !== EVENT_ID.POP) items.push(node());
      i++;
      return { kind: 'seq', items, line };
    }
    if (e.type === EVENT_ID.MAPPING) {
      const line = (lastLine = lines.at(e.start));
      const entries: Array<[{ value: string; line: number }, YNode]> = [];
      while (events[i] && events[i]!.type !== EVENT_ID.POP) {
        const k = node();
        if (k.kind !== 'scalar') throw new ConfigError(file, k.line, 'A mapping key must be a plain name.');
        if (entries.some(([x]) => x.value === k.value)) throw new ConfigError(file, k.line, `Duplicate key '${k.value}'.`);
        entries.push([{ value: k.value, line: k.line }, node()]);
      }
      i++;
      return { kind: 'map', entries, line };
    }
    throw new ConfigError(file, lastLine, 'Unexpected YAML structure.');
  };
  while (i < events.length) {
    const e = events[i++]!;
    if (e.type !== EVENT_ID.DOCUMENT) continue;
    if (events[i]?.type === EVENT_ID.POP) {
      i++;
      docs.push(null);
      continue;
    }
    docs.push(node());
    i++;
  }
  if (docs.length > 1) throw new ConfigError(file, lastLine, 'A configuration is one YAML document; found several.');
  return docs[0] ?? null;
}

const TOP_KEYS = new Set(['scst', 'handlers', 'drivers', 'alua', 'device_groups']);

class YamlReader {
  readonly tree = emptyTree();

  constructor(private readonly file: string) {}

  fail(line: number, msg: string): never {
    throw new ConfigError(this.file, line, msg);
  }

  map(n: YNode | undefined, what: string): Array<[{ value: string; line: number }, YNode]> {
    if (!n) return [];
    if (n.kind === 'scalar' && n.value === '') return [];
    if (n.kind !== 'map') this.fail(n.line, `${what}: expected a mapping (name: ...).`);
    return n.entries;
  }

  scalar(n: YNode, what: string): string {
    if (n.kind !== 'scalar') this.fail(n.line, `${what}: expected a single value.`);
    return n.value;
  }

  /** `name: value` or `name: [value, value]` pairs into `node` (reserved names refused). */
  attrs(node: TreeNode, n: YNode | undefined, what: string, reserved: ReadonlySet<string>): void {
    for (const [k, v] of this.map(n, what)) {
      if (k.value === '') this.fail(k.line, `${what}: an attribute needs a name.`);
      if (reserved.has(k.value)) this.fail(k.line, `${what}: '${k.value}' is a section keyword, not an attribute name.`);
      const values = v.kind === 'seq' ? v.items : [v];
      if (values.length === 0) continue;
      for (const item of values) {
        const value = this.scalar(item, `${what}: attribute '${k.value}'`);
        if (value === '' && values.length === 1) vivifyPath(node, [k.value], item.line);
        else vivifyPath(node, [k.value, value], item.line);
      }
    }
  }

  /** A section mapping with only the given keys. */
  fields(n: YNode, what: string, allowed: readonly string[]): Map<string, { line: number; node: YNode }> {
    const out = new Map<string, { line: number; node: YNode }>();
    for (const [k, v] of this.map(n, what)) {
      if (!allowed.includes(k.value)) this.fail(k.line, `${what}: unknown key '${k.value}' (expected ${allowed.map((a) => `'${a}'`).join(', ')}).`);
      out.set(k.value, { line: k.line, node: v });
    }
    return out;
  }

  luns(parent: TreeNode, n: YNode | undefined, what: string): void {
    for (const [k, v] of this.map(n, `${what} luns`)) {
      if (v.kind === 'scalar') {
        vivifyPath(parent, ['LUN', k.value, v.value], k.line);
        continue;
      }
      const f = this.fields(v, `${what} LUN ${k.value}`, ['device', 'attributes']);
      const dev = f.get('device');
      if (!dev) this.fail(v.line, `${what} LUN ${k.value}: 'device' expected.`);
      const entry = vivifyPath(parent, ['LUN', k.value, this.scalar(dev!.node, `${what} LUN ${k.value} device`)], dev!.line);
      this.attrs(entry.child, f.get('attributes')?.node, `${what} LUN ${k.value}`, new Set());
    }
  }

  read(doc: YNode | null): void {
    const root = this.tree.root;
    if (doc === null) return;
    const top = new Map<string, { line: number; node: YNode }>();
    for (const [k, v] of this.map(doc, 'configuration')) {
      if (!TOP_KEYS.has(k.value)) this.fail(k.line, `unknown section '${k.value}' (expected scst, handlers, drivers, alua or device_groups).`);
      top.set(k.value, { line: k.line, node: v });
    }
    this.attrs(root, top.get('scst')?.node, 'scst', new Set(['HANDLER', 'TARGET_DRIVER', 'ALUA', 'DEVICE_GROUP']));
    for (const [h, hn] of this.map(top.get('handlers')?.node, 'handlers')) {
      const hEntry = vivifyPath(root, ['HANDLER', h.value], h.line);
      const f = this.fields(hn, `handler ${h.value}`, ['attributes', 'devices']);
      this.attrs(hEntry.child, f.get('attributes')?.node, `handler ${h.value}`, new Set(['DEVICE']));
      for (const [d, dn] of this.map(f.get('devices')?.node, `handler ${h.value} devices`)) {
        const dEntry = vivifyPath(hEntry.child, ['DEVICE', d.value], d.line);
        this.attrs(dEntry.child, dn, `device ${d.value}`, new Set());
      }
    }
    for (const [d, dn] of this.map(top.get('drivers')?.node, 'drivers')) {
      const dEntry = vivifyPath(root, ['TARGET_DRIVER', d.value], d.line);
      const f = this.fields(dn, `driver ${d.value}`, ['attributes', 'targets']);
      this.attrs(dEntry.child, f.get('attributes')?.node, `driver ${d.value}`, new Set(['TARGET']));
      for (const [t, tn] of this.map(f.get('targets')?.node, `driver ${d.value} targets`)) {
        const tEntry = vivifyPath(dEntry.child, ['TARGET', t.value], t.line);
        const tf = this.fields(tn, `target ${t.value}`, ['hw_target', 'attributes', 'luns', 'groups']);
        const hw = tf.get('hw_target');
        if (hw && /^(true|yes|1)$/i.test(this.scalar(hw.node, `target ${t.value} hw_target`))) vivifyPath(tEntry.child, ['HW_TARGET'], hw.line);
        this.attrs(tEntry.child, tf.get('attributes')?.node, `target ${t.value}`, new Set(['HW_TARGET', 'LUN', 'GROUP']));
        this.luns(tEntry.child, tf.get('luns')?.node, `target ${t.value}`);
        for (const [g, gn] of this.map(tf.get('groups')?.node, `target ${t.value} groups`)) {
          const gEntry = vivifyPath(tEntry.child, ['GROUP', g.value], g.line);
          const gf = this.fields(gn, `group ${g.value}`, ['attributes', 'luns', 'initiators']);
          this.attrs(gEntry.child, gf.get('attributes')?.node, `group ${g.value}`, new Set(['LUN', 'INITIATOR']));
          this.luns(gEntry.child, gf.get('luns')?.node, `group ${g.value}`);
          const inits = gf.get('initiators')?.node;
          if (inits && !(inits.kind === 'scalar' && inits.value === '')) {
            if (inits.kind !== 'seq') this.fail(inits.line, `group ${g.value} initiators: expected a list.`);
            for (const i of inits.items) vivifyPath(gEntry.child, ['INITIATOR', this.scalar(i, `group ${g.value} initiator`)], i.line);
          }
        }
      }
    }
    const alua = top.get('alua');
    if (alua) this.attrs(vivifyPath(root, ['ALUA'], alua.line).child, alua.node, 'alua', new Set());
    for (const [g, gn] of this.map(top.get('device_groups')?.node, 'device_groups')) {
      const gEntry = vivifyPath(root, ['DEVICE_GROUP', g.value], g.line);
      const f = this.fields(gn, `device group ${g.value}`, ['attributes', 'devices', 'target_groups']);
      this.attrs(gEntry.child, f.get('attributes')?.node, `device group ${g.value}`, new Set(['DEVICE', 'TARGET_GROUP']));
      const devs = f.get('devices')?.node;
      if (devs && !(devs.kind === 'scalar' && devs.value === '')) {
        if (devs.kind !== 'seq') this.fail(devs.line, `device group ${g.value} devices: expected a list.`);
        for (const d of devs.items) vivifyPath(gEntry.child, ['DEVICE', this.scalar(d, `device group ${g.value} device`)], d.line);
      }
      for (const [tg, tgn] of this.map(f.get('target_groups')?.node, `device group ${g.value} target_groups`)) {
        const tgEntry = vivifyPath(gEntry.child, ['TARGET_GROUP', tg.value], tg.line);
        const tf = this.fields(tgn, `target group ${tg.value}`, ['attributes', 'targets']);
        this.attrs(tgEntry.child, tf.get('attributes')?.node, `target group ${tg.value}`, new Set(['TARGET']));
        for (const [t, tn] of this.map(tf.get('targets')?.node, `target group ${tg.value} targets`)) {
          const tEntry = vivifyPath(tgEntry.child, ['TARGET', t.value], t.line);
          this.attrs(tEntry.child, tn, `target group target ${t.value}`, new Set());
        }
      }
    }
  }
}

/** Parses the YAML form of a configuration; throws ConfigError (file, line, what was expected). */
export function parseScstYaml(text: string, file: string): ScstConfig {
  const reader = new YamlReader(file);
  reader.read(buildNodes(text.startsWith('\uFEFF') ? text.slice(1) : text, file));
  return interpretTree(reader.tree, file);
}

// ---- writing -------------------------------------------------------------------------------

type YObj = Record<string, unknown>;

const obj = (): YObj => Object.create(null) as YObj;
const byName = <T extends { name: string }>(xs: readonly T[]): T[] => [...xs].sort((a, b) => compareBytes(a.name, b.name));

/** Attributes as a mapping: one value → a string, several → a list (sorted, as scst.conf). */
function attrsObj(attrs: Attrs): YObj | undefined {
  if (attrs.length === 0) return undefined;
  const grouped = new Map<string, string[]>();
  for (const a of attrs) {
    const vs = grouped.get(a.name) ?? [];
    if (!vs.includes(a.value)) vs.push(a.value);
    grouped.set(a.name, vs);
  }
  const o = obj();
  for (const name of [...grouped.keys()].sort(compareBytes)) {
    const vs = grouped.get(name)!.sort(compareBytes);
    o[name] = vs.length === 1 ? vs[0] : vs;
  }
  return o;
}

function lunsObj(luns: readonly LunConf[]): YObj | undefined {
  if (luns.length === 0) return undefined;
  const o = obj();
  for (const l of [...luns].sort((a, b) => a.lun - b.lun)) {
    const a = attrsObj(l.attributes);
    o[String(l.lun)] = a ? { device: l.device, attributes: a } : l.device;
  }
  return o;
}

function put(o: YObj, key: string, value: unknown): void {
  if (value !== undefined) o[key] = value;
}

/** The YAML form of a configuration, in the -write_config order. */
export function writeScstYaml(cfg: ScstConfig, header = '# Automatically generated by SCST Configurator v3.11.0-pre.'): string {
  const doc = obj();
  put(doc, 'scst', attrsObj(cfg.attributes));
  if (cfg.handlers.length > 0) {
    const hs = obj();
    for (const h of byName(cfg.handlers)) {
      const ho = obj();
      put(ho, 'attributes', attrsObj(h.attributes));
      if (h.devices.length > 0) {
        const ds = obj();
        for (const d of byName(h.devices)) ds[d.name] = attrsObj(d.attributes) ?? obj();
        ho.devices = ds;
      }
      hs[h.name] = ho;
    }
    doc.handlers = hs;
  }
  if (cfg.drivers.length > 0) {
    const drs = obj();
    for (const d of byName(cfg.drivers)) {
      const dobj = obj();
      put(dobj, 'attributes', attrsObj(d.attributes));
      if (d.targets.length > 0) {
        const ts = obj();
        for (const t of byName(d.targets)) {
          const to = obj();
          if (t.hwTarget) to.hw_target = true;
          put(to, 'attributes', attrsObj(t.attributes));
          put(to, 'luns', lunsObj(t.luns));
          if (t.groups.length > 0) {
            const gs = obj();
            for (const g of byName(t.groups)) {
              const go = obj();
              put(go, 'attributes', attrsObj(g.attributes));
              put(go, 'luns', lunsObj(g.luns));
              if (g.initiators.length > 0) go.initiators = g.initiators.map((i) => i.name).sort(compareBytes);
              gs[g.name] = go;
            }
            to.groups = gs;
          }
          ts[t.name] = to;
        }
        dobj.targets = ts;
      }
      drs[d.name] = dobj;
    }
    doc.drivers = drs;
  }
  put(doc, 'alua', attrsObj(cfg.alua));
  if (cfg.deviceGroups.length > 0) {
    const dgs = obj();
    for (const dg of byName(cfg.deviceGroups)) {
      const dgo = obj();
      put(dgo, 'attributes', attrsObj(dg.attributes));
      if (dg.devices.length > 0) dgo.devices = [...dg.devices];
      if (dg.targetGroups.length > 0) {
        const tgs = obj();
        for (const tg of byName(dg.targetGroups)) {
          const tgo = obj();
          put(tgo, 'attributes', attrsObj(tg.attributes));
          if (tg.targets.length > 0) {
            const ts = obj();
            for (const t of byName(tg.targets)) ts[t.name] = attrsObj(t.attributes) ?? obj();
            tgo.targets = ts;
          }
          tgs[tg.name] = tgo;
        }
        dgo.target_groups = tgs;
      }
      dgs[dg.name] = dgo;
    }
    doc.device_groups = dgs;
  }
  const body = Object.keys(doc).length === 0 ? '' : dump(doc, { lineWidth: -1, noRefs: true, quoteStyle: 'single' });
  return `${header ? `${header}\n\n` : ''}${body}`;
}

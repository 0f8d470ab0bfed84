// -write_config -nonkey (scstadmin.md §8.1-§8.2): the same layout with an extra
// `# Non-key attributes` block in every section, quirks included (first line of multi-line
// values, `name ` for empty values, the handler's device links as `\t<dev> ` lines). Without
// -nonkey the shared writer (conf/write.ts) is used instead.

import { compareBytes, DEFAULT_HEADER } from '../../conf/write.js';
import type { AttrMap } from '../sysfs/attrs.js';
import type { Ctx } from './current.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

/** The original's escapeMeta: `\` and `#` escaped, quotes only around values with a space. */
function escapeMeta(value: string): string {
  const v = value.replace(/[\\#]/g, (c) => `\\${c}`);
  return v.includes(' ') ? `"${v}"` : v;
}

function keyLines(prefix: string, attrs: AttrMap | undefined, filter?: ReadonlySet<string>): string {
  let out = '';
  for (const name of sorted((attrs ?? new Map()).keys())) {
    const a = attrs!.get(name)!;
    if (a.set) continue;
    if (a.static && !filter?.has(name)) continue;
    if (a.keys) {
      for (const v of sorted([...a.keys.values()])) out += `${prefix}${name} ${escapeMeta(v)}\n`;
    } else if (name === 'enabled' || name === 'hw_target') {
      out += `${prefix}${name} ${a.value ?? ''}\n`;
    }
  }
  return out;
}

function nonKeyLines(prefix: string, attrs: AttrMap | undefined, filter?: ReadonlySet<string>): string {
  let out = '';
  for (const name of sorted((attrs ?? new Map()).keys())) {
    const a = attrs!.get(name)!;
    if (a.set || a.keys || (a.static && !filter?.has(name))) continue;
    if (name === 'dif_checks_failed' || name === 'enabled' || name === 'hw_target') continue;
    if (a.value === undefined) continue;
    out += `${prefix}${name} ${escapeMeta(a.value)}\n`;
  }
  return out;
}

export async function writeNonKeyConf(ctx: Ctx): Promise<string> {
  const s = ctx.scst;
  let io = `${DEFAULT_HEADER}\n\n`;
  const [scstAttrs] = await s.scstAttributes();
  io += keyLines('', scstAttrs);
  const nk = nonKeyLines('', scstAttrs);
  if (nk) io += `# Non-key attributes\n${nk}`;
  io += '\n';

  for (const h of sorted(ctx.current.handlers.keys())) {
    const [create] = await s.deviceCreateAttributes(h);
    const [hattrs] = await s.handlerAttributes(h);
    let buff = keyLines('\t', hattrs);
    const buffNk = nonKeyLines('\t', hattrs);
    let devices = '';
    for (const d of sorted(ctx.current.handlers.get(h)!)) {
      devices += `\tDEVICE ${d}`;
      const [dattrs] = await s.deviceAttributes(d);
      let a = keyLines('\t\t', dattrs, create);
      let ank = nonKeyLines('\t\t', dattrs, create);
      if (a) a += '\n';
      if (ank) ank += '\n';
      if (ank) a += `\t\t# Non-key attributes\n${ank}`;
      a = a.replace(/\n+$/, '\n');
      devices += a ? ` {\n${a}\t}\n\n` : '\n';
    }
    buff += devices.replace(/\n+$/, '\n');
    if (buffNk) buff += `\t# Non-key attributes\n${buffNk}`;
    if (buff) io += `HANDLER ${h} {\n${buff}}\n\n`;
  }

  for (const d of sorted(ctx.current.assign.keys())) {
    const [dattrs] = await s.driverAttributes(d);
    let drv = keyLines('\t', dattrs);
    let drvNk = nonKeyLines('\t', dattrs);
    if (drv) drv += '\n';
    if (drvNk) drvNk += '\n';
    const [tcreate] = await s.targetCreateAttributes(d);
    let targets = '';
    const live = ctx.current.assign.get(d)!;
    for (const t of sorted(live.keys())) {
      targets += `\tTARGET ${t}`;
      const [tattrs] = await s.targetAttributes(d, t);
      let a = tattrs?.get('hw_target') && Number(tattrs.get('hw_target')!.value) === 1 ? '\t\tHW_TARGET\n\n' : '';
      a += keyLines('\t\t', tattrs, tcreate);
      let ank = nonKeyLines('\t\t', tattrs, tcreate);
      if (a) a += '\n';
      if (ank) ank += '\n';
      const [lcreate] = await s.lunCreateAttributes(d, t);
      let tluns = '';
      const luns = live.get(t)!.luns ?? new Map<string, string>();
      for (const lun of [...luns.keys()].sort((x, y) => Number(x) - Number(y))) {
        tluns += `\t\tLUN ${lun} ${luns.get(lun)}`;
        const [lattrs] = await s.lunAttributes(d, t, lun);
        let la = keyLines('\t\t\t', lattrs, lcreate);
        const lnk = nonKeyLines('\t\t\t', lattrs, lcreate);
        if (lnk) la += `\t\t\t# Non-key attributes\n${lnk}`;
        tluns += la ? ` {\n${la}\t\t}\n\n` : '\n';
      }
      if (tluns) tluns += '\n';
      tluns = tluns.replace(/\n+$/, '\n\n');
      let groups = '';
      const gmap = live.get(t)!.groups;
      for (const g of sorted(gmap.keys())) {
        const [gcreate] = await s.lunCreateAttributes(d, t, g);
        groups += `\t\tGROUP ${g}`;
        let lunBuff = '';
        const gl = gmap.get(g)!.luns;
        for (const lun of [...gl.keys()].sort((x, y) => Number(x) - Number(y))) {
          lunBuff += `\t\t\tLUN ${lun} ${gl.get(lun)}`;
          const [lattrs] = await s.lunAttributes(d, t, lun, g);
          let la = keyLines('\t\t\t\t', lattrs, gcreate);
          const lnk = nonKeyLines('\t\t\t\t', lattrs, gcreate);
          if (lnk) la += `\t\t\t\t# Non-key attributes\n${lnk}`;
          lunBuff += la ? ` {\n${la}\t\t\t}\n` : '\n';
        }
        let initBuff = '';
        for (const i of sorted(gmap.get(g)!.initiators)) initBuff += `\n\t\t\tINITIATOR ${escapeMeta(i)}\n`;
        const [gattrs] = await s.groupAttributes(d, t, g);
        let ga = keyLines('\t\t\t', gattrs);
        const gnk = nonKeyLines('\t\t\t', gattrs);
        const any = lunBuff || initBuff || ga || gnk;
        if (any) groups += ` {\n${lunBuff}${initBuff}`;
        if (gnk) {
          if (ga) ga += '\n';
          ga += `\t\t\t# Non-key attributes\n${gnk}`;
        }
        if (ga) groups += `\n${ga}`;
        if (groups && any) {
          groups += '\t\t}\n\n';
          groups = groups.replace(/\n+$/, '\n');
        }
        if (groups) groups += '\n';
      }
      if (ank) a += `\t\t# Non-key attributes\n${ank}`;
      if (a || tluns || groups) {
        let tb = ` {\n${a}${tluns}${groups}`;
        tb = targets.concat(tb).replace(/\n\n$/, '\n');
        targets = `${tb}\t}\n\n`;
      } else {
        targets += '\n';
      }
    }
    if (drvNk) drv += `\t# Non-key attributes\n${drvNk}`;
    const body = `${drv}${targets}`.replace(/\n\n$/, '\n');
    if (body) io += `TARGET_DRIVER ${d} {\n${body}}\n\n`;
  }

  const [alua] = await s.aluaAttributes();
  let ab = keyLines('\t', alua);
  const anb = nonKeyLines('\t', alua);
  if (anb) ab += `\t# Non-key attributes\n${anb}`;
  if (ab) io += `ALUA {\n${ab}}\n\n`;

  for (const dg of sorted(ctx.current.dgroups.keys())) {
    const live = ctx.current.dgroups.get(dg)!;
    const [gattrs] = await s.deviceGroupAttributes(dg);
    let ga = keyLines('\t', gattrs);
    let gnk = nonKeyLines('\t', gattrs);
    if (ga) ga += '\n';
    if (gnk) gnk += '\n';
    let devs = live.devices.map((x) => `\tDEVICE ${x}\n`).join('');
    if (devs) devs += '\n';
    let tgs = '';
    for (const tg of sorted(live.tgroups.keys())) {
      tgs += `\tTARGET_GROUP ${tg}`;
      const [tattrs] = await s.targetGroupAttributes(dg, tg);
      let a = keyLines('\t\t', tattrs);
      let ank = nonKeyLines('\t\t', tattrs);
      if (a) a += '\n';
      if (ank) ank += '\n';
      let tb = '';
      for (const t of live.tgroups.get(tg)!) {
        tb += `\t\tTARGET ${t}`;
        const [ttattrs] = await s.targetGroupTargetAttributes(dg, tg, t);
        let ta = keyLines('\t\t\t', ttattrs);
        const tnk = nonKeyLines('\t\t\t', ttattrs);
        if (tnk) ta += `\t\t\t# Non-key attributes\n${tnk}`;
        tb += ta ? ` {\n${ta}\t\t}\n` : '\n';
      }
      if (ank) a += `\t\t# Non-key attributes\n${ank}`;
      if (a || tb) tgs = `${tgs} {\n${a}${tb}`.replace(/\n\n$/, '\n') + '\t}\n\n';
      else tgs += '\n';
    }
    if (gnk) ga += `\t# Non-key attributes\n${gnk}`;
    const body = `${ga}${devs}${tgs}`.replace(/\n\n$/, '\n');
    if (body) io += `DEVICE_GROUP ${dg} {\n${body}}\n\n`;
  }
  return io;
}

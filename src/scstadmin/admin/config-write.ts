// -write_config (scstadmin.md §8): the live tree as a configuration model, by the original's
// selection rules (key attributes, creation parameters even when read-only, `enabled` and
// `hw_target`), written with the shared scst.conf writer or as YAML by the file's extension —
// atomically: a temporary file in the same directory, fsync, rename, fsync of the directory.

import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Attrs, DeviceGroupConf, DriverConf, GroupConf, HandlerConf, LunConf, ScstConfig, TargetConf } from '../../conf/model.js';
import { compareBytes, DEFAULT_HEADER, writeScstConf } from '../../conf/write.js';
import { writeScstYaml } from '../../conf/yaml.js';
import { perlNum, strerror, type AttrMap } from '../sysfs/attrs.js';
import { formatOf } from './config-file.js';
import type { Ctx } from './current.js';
import { writeNonKeyConf } from './config-write-nonkey.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort(compareBytes);

/** The lines -write_config keeps of one object's attributes (§8.1 "key" filter). */
export function keyAttrs(attrs: AttrMap | undefined, creation?: ReadonlySet<string>): Attrs {
  const out: Attrs = [];
  for (const name of sorted((attrs ?? new Map()).keys())) {
    const a = attrs!.get(name)!;
    if (a.set) continue;
    if (a.static && !creation?.has(name)) continue;
    if (a.keys) {
      for (const v of sorted([...a.keys.values()])) out.push({ name, value: v, line: 0 });
    } else if ((name === 'enabled' || name === 'hw_target') && a.value !== undefined) {
      out.push({ name, value: a.value, line: 0 });
    }
  }
  return out;
}

/** The live configuration as a model (key attributes only). */
export async function liveConfig(ctx: Ctx): Promise<ScstConfig> {
  const s = ctx.scst;
  const cfg: ScstConfig = { attributes: keyAttrs((await s.scstAttributes())[0]), handlers: [], drivers: [], alua: [], deviceGroups: [] };
  for (const h of sorted(ctx.current.handlers.keys())) {
    const [create] = await s.deviceCreateAttributes(h);
    const handler: HandlerConf = { name: h, line: 0, attributes: keyAttrs((await s.handlerAttributes(h))[0]), devices: [] };
    for (const d of sorted(ctx.current.handlers.get(h)!)) {
      handler.devices.push({ name: d, line: 0, attributes: keyAttrs((await s.deviceAttributes(d))[0], create) });
    }
    cfg.handlers.push(handler);
  }
  for (const d of sorted(ctx.current.assign.keys())) {
    const [tcreate] = await s.targetCreateAttributes(d);
    const driver: DriverConf = { name: d, line: 0, attributes: keyAttrs((await s.driverAttributes(d))[0]), targets: [] };
    const targets = ctx.current.assign.get(d)!;
    for (const t of sorted(targets.keys())) {
      const [tattrs] = await s.targetAttributes(d, t);
      const live = targets.get(t)!;
      const [lcreate] = await s.lunCreateAttributes(d, t);
      const lunsOf = async (luns: Map<string, string> | undefined, group: string | undefined, create: ReadonlySet<string> | undefined) => {
        const out: LunConf[] = [];
        for (const [lun, device] of luns ?? []) {
          out.push({ lun: Number(lun), device, line: 0, attributes: keyAttrs((await s.lunAttributes(d, t, lun, group))[0], create) });
        }
        return out;
      };
      const target: TargetConf = {
        name: t,
        line: 0,
        hwTarget: perlNum(tattrs?.get('hw_target')?.value) === 1,
        attributes: keyAttrs(tattrs, tcreate),
        luns: await lunsOf(live.luns, undefined, lcreate),
        groups: [],
      };
      for (const g of sorted(live.groups.keys())) {
        const cg = live.groups.get(g)!;
        const [gcreate] = await s.lunCreateAttributes(d, t, g);
        const group: GroupConf = {
          name: g,
          line: 0,
          attributes: keyAttrs((await s.groupAttributes(d, t, g))[0]),
          luns: await lunsOf(cg.luns, g, gcreate),
          initiators: cg.initiators.map((name) => ({ name, line: 0 })),
        };
        target.groups.push(group);
      }
      driver.targets.push(target);
    }
    cfg.drivers.push(driver);
  }
  cfg.alua = keyAttrs((await s.aluaAttributes())[0]);
  for (const dg of sorted(ctx.current.dgroups.keys())) {
    const live = ctx.current.dgroups.get(dg)!;
    const group: DeviceGroupConf = { name: dg, line: 0, attributes: keyAttrs((await s.deviceGroupAttributes(dg))[0]), devices: [...live.devices], targetGroups: [] };
    for (const tg of sorted(live.tgroups.keys())) {
      group.targetGroups.push({
        name: tg,
        line: 0,
        attributes: keyAttrs((await s.targetGroupAttributes(dg, tg))[0]),
        targets: await Promise.all(
          sorted(live.tgroups.get(tg)!).map(async (t) => ({ name: t, line: 0, attributes: keyAttrs((await s.targetGroupTargetAttributes(dg, tg, t))[0]) })),
        ),
      });
    }
    cfg.deviceGroups.push(group);
  }
  return cfg;
}

/** Replaces `file` with `text` atomically; the error is the errno text of the first failure. */
export async function writeFileAtomic(file: string, text: string): Promise<string | undefined> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o666);
  } catch (e) {
    return strerror(e);
  }
  try {
    await fh.writeFile(text, 'utf8');
    // Keep the mode of the file being replaced, as truncating it in place would.
    const old = await fs.stat(file).catch(() => null);
    if (old) await fh.chmod(old.mode & 0o7777);
    await fh.sync();
    await fh.close();
    await fs.rename(tmp, file);
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fs.unlink(tmp).catch(() => undefined);
    return strerror(e);
  }
  const d = await fs.open(dir, constants.O_RDONLY).catch(() => null);
  if (d) {
    await d.sync().catch(() => undefined);
    await d.close();
  }
  return undefined;
}

export async function writeConfiguration(ctx: Ctx, file: string): Promise<number> {
  // The original creates the file before saying anything; probing the directory keeps that order.
  const probe = await fs.access(path.dirname(file), constants.W_OK).then(
    () => undefined,
    (e: unknown) => strerror(e),
  );
  if (probe) {
    ctx.con.out(`Failed to save configuration to file '${file}': ${probe}\n`);
    return 1;
  }
  ctx.con.out(`Writing current configuration to file '${file}'.. `);
  let text: string;
  if (formatOf(file) === 'yaml') text = writeScstYaml(await liveConfig(ctx), DEFAULT_HEADER);
  else if (ctx.nonkey) text = await writeNonKeyConf(ctx);
  else text = writeScstConf(await liveConfig(ctx));
  const err = await writeFileAtomic(file, text);
  if (err) {
    ctx.con.out(`\nFailed to save configuration to file '${file}': ${err}\n`);
    return 1;
  }
  return 0;
}

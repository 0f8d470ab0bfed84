// Setting attributes (scstadmin.md §4.3, §4.4): the generic "set what differs" routine used by
// the -set_*_attr commands and by -config, and the driver/target reconciliation that also adds
// and removes dynamic attributes (IncomingUser and friends).

import { errorString } from '../sysfs/codes.js';
import type { AttrMap } from '../sysfs/attrs.js';
import type { Ctx } from './current.js';

/** Attributes to set: name → values (several for multi-valued attributes). */
export type AttrInput = ReadonlyMap<string, readonly string[]>;

export function attrInput(pairs: Iterable<readonly [string, string]>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of pairs) {
    const list = m.get(k) ?? [];
    if (!list.includes(v)) list.push(v);
    m.set(k, list);
  }
  return m;
}

/** Current values of every writable attribute: name → value → "mentioned by the input". */
export function cacheAttributes(attrs: AttrMap): Map<string, Map<string, boolean>> {
  const cache = new Map<string, Map<string, boolean>>();
  for (const [name, a] of attrs) {
    if (a.static) continue;
    const values = new Map<string, boolean>();
    if (a.keys) for (const v of a.keys.values()) values.set(v, false);
    else values.set(a.value ?? '', false);
    cache.set(name, values);
  }
  return cache;
}

type Setter = (attribute: string, value: string) => Promise<number>;

/** Sets every (name, value) not already present; warns about attributes that cannot be set. */
async function setAttributes(ctx: Ctx, input: AttrInput, live: AttrMap, lacks: (a: string) => string, set: Setter, showSet: boolean): Promise<number> {
  const existing = cacheAttributes(live);
  let changes = 0;
  for (const [attribute, values] of input) {
    for (const value of values) {
      const now = existing.get(attribute);
      if (!now) {
        ctx.con.out(lacks(attribute));
        continue;
      }
      if (now.has(value)) {
        if (showSet) ctx.con.out(`\t-> Attribute '${attribute}' already set to value '${value}', ignoring.\n`);
        continue;
      }
      const rc = await set(attribute, value);
      if (rc) ctx.con.issueWarning(errorString(rc));
      else changes++;
    }
  }
  return changes;
}

/** Runs `step`, printing `text` before and `done.` after (also after a failure, as the original). */
async function step(ctx: Ctx, text: string, fn: () => Promise<number>): Promise<number> {
  ctx.con.out(text);
  const rc = await fn();
  ctx.con.out('done.\n');
  return rc;
}

export async function setScstAttributes(ctx: Ctx, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.scstAttributes();
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(ctx, input, live!, (a) => `\t-> WARNING: SCST lacks the settable attribute '${a}', ignoring.\n\n`, (a, v) =>
    step(ctx, `\t-> Setting SCST attribute '${a}' to value '${v}': `, () => ctx.scst.setScstAttribute(a, v)), showSet);
}

export async function setDeviceAttributes(ctx: Ctx, device: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.deviceAttributes(device);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Device '${device}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) => step(ctx, `\t-> Setting device attribute '${a}' to value '${v}' for device '${device}': `, () => ctx.scst.setDeviceAttribute(device, a, v)),
    showSet,
  );
}

export async function setHandlerAttributes(ctx: Ctx, handler: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.handlerAttributes(handler);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Handler '${handler}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) => step(ctx, `\t-> Setting handler attribute '${a}' to value '${v}' for handler '${handler}': `, () => ctx.scst.setHandlerAttribute(handler, a, v)),
    showSet,
  );
}

export async function setGroupAttributes(ctx: Ctx, driver: string, target: string, group: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.groupAttributes(driver, target, group);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Driver/target/group '${driver}/${target}/${group}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) =>
      step(ctx, `\t-> Setting group attribute '${a}' to value '${v}' for group '${group}': `, () => ctx.scst.setGroupAttribute(driver, target, group, a, v)),
    showSet,
  );
}

export async function setLunAttributes(
  ctx: Ctx,
  driver: string,
  target: string,
  lun: string,
  input: AttrInput,
  group: string | undefined,
  showSet = false,
): Promise<number> {
  const [live, err] = await ctx.scst.lunAttributes(driver, target, lun, group);
  if (ctx.con.issueWarning(err)) return 1;
  const where = group ? `driver/target/group/LUN '${driver}/${target}/${group}/${lun}'` : `driver/target/LUN '${driver}/${target}/${lun}'`;
  const who = group ? `Driver/target/group/LUN '${driver}/${target}/${group}/${lun}'` : `Driver/target/LUN '${driver}/${target}/${lun}'`;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: ${who} lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) => step(ctx, `\t-> Setting LUN attribute '${a}' to value '${v}' for ${where}: `, () => ctx.scst.setLunAttribute(driver, target, lun, a, v, group)),
    showSet,
  );
}

/** Initiators are files, so reading their attributes fails and this only warns (§4.3). */
export async function setInitiatorAttributes(ctx: Ctx, driver: string, target: string, group: string, initiator: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.initiatorAttributes(driver, target, group, initiator);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Driver/target/group/initiator '${driver}/${target}/${group}/${initiator}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) =>
      step(ctx, `\t-> Setting initiator attribute '${a}' to value '${v}' for driver/target/group/initiator '${driver}/${target}/${group}/initiator': `, () =>
        ctx.scst.setInitiatorAttribute(driver, target, group, initiator, a, v),
      ),
    showSet,
  );
}

export async function setAluaAttributes(ctx: Ctx, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.aluaAttributes();
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(ctx, input, live!, (a) => `\t-> WARNING: no settable ALUA attribute '${a}', ignoring.\n\n`, (a, v) =>
    step(ctx, `\t-> Setting ALUA attribute '${a}' to value '${v}': `, () => ctx.scst.setAluaAttribute(a, v)), showSet);
}

export async function setDeviceGroupAttributes(ctx: Ctx, group: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.deviceGroupAttributes(group);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Device Group '${group}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) => step(ctx, `\t-> Setting Device Group attribute '${a}' to value '${v}' for device group '${group}': `, () => ctx.scst.setDeviceGroupAttribute(group, a, v)),
    showSet,
  );
}

export async function setTargetGroupAttributes(ctx: Ctx, group: string, tgroup: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.targetGroupAttributes(group, tgroup);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Target Group '${group}/${tgroup}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) =>
      step(ctx, `\t-> Setting Target Group attribute '${a}' to value '${v}' for target group '${group}/${tgroup}': `, () =>
        ctx.scst.setTargetGroupAttribute(group, tgroup, a, v),
      ),
    showSet,
  );
}

export async function setTargetGroupTargetAttributes(ctx: Ctx, group: string, tgroup: string, target: string, input: AttrInput, showSet = false): Promise<number> {
  const [live, err] = await ctx.scst.targetGroupTargetAttributes(group, tgroup, target, true);
  if (ctx.con.issueWarning(err)) return 1;
  return setAttributes(
    ctx,
    input,
    live!,
    (a) => `\t-> WARNING: Target '${group}/${tgroup}/${target}' lacks the settable attribute '${a}', ignoring.\n\n`,
    (a, v) =>
      step(ctx, `\t-> Setting target attribute '${a}' to value '${v}' for target '${group}/${tgroup}/${target}': `, () =>
        ctx.scst.setTargetGroupTargetAttribute(group, tgroup, target, a, v),
      ),
    showSet,
  );
}

// ---- drivers and targets: plain and dynamic attributes -------------------------------------

export async function setDriverAttribute(ctx: Ctx, driver: string, attribute: string, value: string): Promise<number> {
  const text = attribute === 'enabled' ? `\t-> ${isOn(value) ? 'Enabling' : 'Disabling'} driver '${driver}': ` : `\t-> Setting driver attribute '${attribute}' to value '${value}' for driver '${driver}': `;
  return step(ctx, text, () => ctx.scst.setDriverAttribute(driver, attribute, value));
}

/** Perl truthiness of a value given on the command line or in a file. */
function isOn(v: string): boolean {
  return v !== '' && v !== '0';
}

export async function addDriverDynamicAttribute(ctx: Ctx, driver: string, attribute: string, value: string): Promise<number> {
  const rc = await step(ctx, `\t-> Adding driver attribute '${attribute}' with value '${value}' for driver '${driver}': `, () =>
    ctx.scst.addDriverDynamicAttribute(driver, attribute, value),
  );
  ctx.con.condExit(errorString(rc));
  return 0;
}

export async function removeDriverDynamicAttribute(ctx: Ctx, driver: string, attribute: string, value: string): Promise<number> {
  if (!(await ctx.scst.driverIsVirtualCapable(driver))) return 1;
  const rc = await step(ctx, `\t-> Removing dynamic attribute '${attribute}' with value '${value}' for driver '${driver}': `, () =>
    ctx.scst.removeDriverDynamicAttribute(driver, attribute, value),
  );
  ctx.con.condExit(errorString(rc));
  return 0;
}

export async function setTargetAttribute(ctx: Ctx, driver: string, target: string, attribute: string, value: string): Promise<number> {
  const text =
    attribute === 'enabled'
      ? `\t-> ${isOn(value) ? 'Enabling' : 'Disabling'} driver/target '${driver}/${target}': `
      : `\t-> Setting target attribute '${attribute}' to value '${value}' for driver/target '${driver}/${target}': `;
  const rc = await step(ctx, text, () => ctx.scst.setTargetAttribute(driver, target, attribute, value));
  ctx.con.condExit(errorString(rc));
  return 0;
}

export async function addTargetDynamicAttribute(ctx: Ctx, driver: string, target: string, attribute: string, value: string): Promise<number> {
  const rc = await step(ctx, `\t-> Adding target attribute '${attribute}' with value '${value}' for driver/target '${driver}/${target}': `, () =>
    ctx.scst.addTargetDynamicAttribute(driver, target, attribute, value),
  );
  ctx.con.condExit(errorString(rc));
  return 0;
}

export async function removeTargetDynamicAttribute(ctx: Ctx, driver: string, target: string, attribute: string, value: string): Promise<number> {
  if (!(await ctx.scst.driverIsVirtualCapable(driver))) return 1;
  const rc = await step(ctx, `\t-> Removing dynamic attribute '${attribute}' with value '${value}' for driver/target '${driver}/${target}': `, () =>
    ctx.scst.removeTargetDynamicAttribute(driver, target, attribute, value),
  );
  ctx.con.condExit(errorString(rc));
  return 0;
}

/**
 * Driver reconciliation (§7.4 step 3): plain attributes are written, dynamic ones added; live
 * dynamic values the input does not mention are removed with -force (`deletions`) or reported.
 * A plain write is not counted as a change (the original's quirk).
 */
export async function setDriverAttributes(ctx: Ctx, driver: string, input: AttrInput, deletions: boolean): Promise<number> {
  const virtual = await ctx.scst.driverIsVirtualCapable(driver);
  const [live, err] = await ctx.scst.driverAttributes(driver);
  if (ctx.con.issueWarning(err)) return 0;
  const [dynSet] = virtual ? await ctx.scst.driverDynamicAttributes(driver) : [undefined];
  const dynamic = (a: string) => virtual && (dynSet?.has(a) ?? false);
  const existing = cacheAttributes(live!);
  let changes = 0;
  for (const [attribute, values] of input) {
    for (const value of values) {
      const now = existing.get(attribute);
      if (!now && dynamic(attribute)) {
        await addDriverDynamicAttribute(ctx, driver, attribute, value);
        changes++;
        continue;
      }
      if (!now) {
        ctx.con.out(`\t-> WARNING: Driver '${driver}' lacks the settable attribute '${attribute}', ignoring.\n\n`);
        continue;
      }
      if (now.has(value)) {
        now.set(value, true);
        continue;
      }
      if (dynamic(attribute)) {
        await addDriverDynamicAttribute(ctx, driver, attribute, value);
        changes++;
      } else {
        const rc = await setDriverAttribute(ctx, driver, attribute, value);
        if (rc) ctx.con.issueWarning(errorString(rc));
      }
      now.set(value, true);
    }
  }
  for (const [attribute, values] of existing) {
    if (!dynamic(attribute)) continue;
    for (const [value, mentioned] of values) {
      if (mentioned) continue;
      if (deletions) {
        await removeDriverDynamicAttribute(ctx, driver, attribute, value);
        changes++;
      } else {
        ctx.con.out(`\t-> Driver dynamic attribute '${attribute}' with value '${value}' is not in configuration. Use -force to remove it.\n`);
      }
    }
  }
  return changes;
}

/** Target reconciliation, as for drivers; failed plain writes are conditionally fatal. */
export async function setTargetAttributes(ctx: Ctx, driver: string, target: string, input: AttrInput, deletions: boolean): Promise<number> {
  const virtual = await ctx.scst.driverIsVirtualCapable(driver);
  const [live, err] = await ctx.scst.targetAttributes(driver, target);
  if (ctx.con.issueWarning(err)) return 0;
  const [dynSet] = virtual ? await ctx.scst.targetDynamicAttributes(driver) : [undefined];
  const dynamic = (a: string) => virtual && (dynSet?.has(a) ?? false);
  const existing = cacheAttributes(live!);
  let changes = 0;
  for (const [attribute, values] of input) {
    for (const value of values) {
      if (attribute === 'HW_TARGET') continue;
      const now = existing.get(attribute);
      if (!now && dynamic(attribute)) {
        await addTargetDynamicAttribute(ctx, driver, target, attribute, value);
        changes++;
        continue;
      }
      if (!now) {
        ctx.con.out(`\t-> WARNING: Driver/target '${driver}/${target}' lacks the settable attribute '${attribute}', ignoring.\n\n`);
        continue;
      }
      if (now.has(value)) {
        now.set(value, true);
        continue;
      }
      if (dynamic(attribute)) {
        await addTargetDynamicAttribute(ctx, driver, target, attribute, value);
        changes++;
      } else {
        const rc = await setTargetAttribute(ctx, driver, target, attribute, value);
        if (rc) ctx.con.issueWarning(errorString(rc));
        else changes++;
      }
      now.set(value, true);
    }
  }
  for (const [attribute, values] of existing) {
    if (!dynamic(attribute)) continue;
    for (const [value, mentioned] of values) {
      if (mentioned) continue;
      if (deletions) {
        await removeTargetDynamicAttribute(ctx, driver, target, attribute, value);
        changes++;
      } else {
        ctx.con.out(`\t-> Target dynamic attribute '${attribute}' with value '${value}' is not in configuration. Use -force to remove it.\n`);
      }
    }
  }
  return changes;
}

export async function addDriverDynamicAttributes(ctx: Ctx, driver: string, input: AttrInput): Promise<number> {
  const [live, err] = await ctx.scst.driverAttributes(driver);
  if (ctx.con.issueWarning(err)) return 1;
  const existing = cacheAttributes(live!);
  for (const [attribute, values] of input) {
    for (const value of values) {
      if (existing.get(attribute)?.has(value)) {
        ctx.con.out(`\t-> Attribute/value '${attribute}/${value}' already exists for driver '${driver}'.\n`);
        continue;
      }
      await addDriverDynamicAttribute(ctx, driver, attribute, value);
    }
  }
  return 0;
}

export async function removeDriverDynamicAttributes(ctx: Ctx, driver: string, input: AttrInput): Promise<number> {
  const [live, err] = await ctx.scst.driverAttributes(driver);
  if (ctx.con.issueWarning(err)) return 1;
  const existing = cacheAttributes(live!);
  for (const [attribute, values] of input) {
    for (const value of values) {
      if (!existing.get(attribute)?.has(value)) {
        ctx.con.out(`\t-> Attribute/value '${attribute}/${value}' doesn't exist for driver '${driver}'.\n`);
        continue;
      }
      await removeDriverDynamicAttribute(ctx, driver, attribute, value);
    }
  }
  return 0;
}

export async function addTargetDynamicAttributes(ctx: Ctx, driver: string, target: string, input: AttrInput): Promise<number> {
  const [live, err] = await ctx.scst.targetAttributes(driver, target);
  if (ctx.con.issueWarning(err)) return 1;
  const existing = cacheAttributes(live!);
  for (const [attribute, values] of input) {
    for (const value of values) {
      if (existing.get(attribute)?.has(value)) {
        ctx.con.out(`\t-> Attribute/value '${attribute}/${value}' already exists for driver/target '${driver}/${target}'.\n`);
        continue;
      }
      await addTargetDynamicAttribute(ctx, driver, target, attribute, value);
    }
  }
  return 0;
}

export async function removeTargetDynamicAttributes(ctx: Ctx, driver: string, target: string, input: AttrInput): Promise<number> {
  const [live, err] = await ctx.scst.targetAttributes(driver, target);
  if (ctx.con.issueWarning(err)) return 1;
  const existing = cacheAttributes(live!);
  for (const [attribute, values] of input) {
    for (const value of values) {
      if (!existing.get(attribute)?.has(value)) {
        ctx.con.out(`\t-> Attribute/value '${attribute}/${value}' doesn't exist for driver/target '${driver}/${target}'.\n`);
        continue;
      }
      await removeTargetDynamicAttribute(ctx, driver, target, attribute, value);
    }
  }
  return 0;
}

import { isAluaState, type DeviceGroup, type TargetGroup, type TgMember } from '../../engine/alua.js';
import { einval } from '../../engine/errors.js';
import { link, type PdeNode } from '../node.js';
import { keyed, rw, sdir } from './attr.js';
import type { SysfsContext } from './context.js';
import { Lexer, firstLine, kstrtoul, unknownAction } from './lexer.js';

// R/device_groups/ (sysfs.md §8, §11.7-§11.10): ALUA device groups, their devices and target
// port groups. The state itself is in src/engine/alua.ts.

const CREATE_DEL_HELP = 'Usage: echo "create group_name" >mgmt\n       echo "del group_name" >mgmt\n';
const DEVICES_HELP = 'Usage: echo "add device" >mgmt\n       echo "del device" >mgmt\n';
const TG_HELP = 'Usage: echo "add target" >mgmt\n       echo "del target" >mgmt\n';

/** create|add NAME / del NAME; only the first line counts (device_groups/mgmt, synchronous). */
export function writeDeviceGroupsMgmt(ctx: SysfsContext, text: string): void {
  const lx = new Lexer(firstLine(text));
  const action = lx.lexem();
  const name = lx.lexem();
  switch (action.toLowerCase()) {
    case 'create':
    case 'add':
      if (name === '') throw einval('Device group name required');
      ctx.alua.createDeviceGroup(name);
      ctx.log.info({ deviceGroup: name }, `Device group ${name} created`);
      return;
    case 'del':
      if (name === '') throw einval('Device group name required');
      ctx.alua.delDeviceGroup(name);
      ctx.log.info({ deviceGroup: name }, `Device group ${name} deleted`);
      return;
    default:
      throw unknownAction(action);
  }
}

export function writeDgDevicesMgmt(ctx: SysfsContext, g: DeviceGroup, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const name = lx.lexem();
  switch (action.toLowerCase()) {
    case 'add': {
      if (name === '') throw einval('Device name required');
      const dev = ctx.scst.devices.get(name);
      if (!dev) throw einval(`Device ${name} not found`);
      ctx.alua.addDevice(g, dev);
      return;
    }
    case 'del':
      if (name === '') throw einval('Device name required');
      ctx.alua.delDevice(g, name);
      return;
    default:
      throw unknownAction(action);
  }
}

export function writeTargetGroupsMgmt(ctx: SysfsContext, g: DeviceGroup, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const name = lx.lexem();
  switch (action.toLowerCase()) {
    case 'create':
    case 'add':
      ctx.alua.createTargetGroup(g, name);
      return;
    case 'del':
      if (name === '') throw einval('Target group name required');
      ctx.alua.delTargetGroup(g, name);
      return;
    default:
      throw unknownAction(action);
  }
}

export function writeTgMgmt(ctx: SysfsContext, g: DeviceGroup, tg: TargetGroup, text: string): void {
  const lx = new Lexer(text);
  const action = lx.lexem();
  const name = lx.lexem();
  switch (action.toLowerCase()) {
    case 'add':
      ctx.alua.addTarget(g, tg, name);
      return;
    case 'del':
      if (name === '') throw einval('Target name required');
      ctx.alua.delTarget(tg, name);
      return;
    default:
      throw unknownAction(action);
  }
}

function memberNode(ctx: SysfsContext, m: TgMember): PdeNode {
  const local = ctx.scst.anyTarget(m.name);
  if (local) return link(() => `../../../../targets/${local.driverName}/${m.name}`);
  return sdir(() => [
    [
      'rel_tgt_id',
      rw(
        () => keyed(m.relTgtId, true),
        (text) => ctx.alua.setRemoteRelTgtId(m, kstrtoul(text, 'rel_tgt_id')),
      ),
    ],
  ]);
}

function targetGroupDir(ctx: SysfsContext, g: DeviceGroup, tg: TargetGroup): PdeNode {
  const what = `device_groups/${g.name}/target_groups/${tg.name}`;
  const fixed: Array<readonly [string, PdeNode]> = [
    ['mgmt', rw(() => TG_HELP, (text) => ctx.works.run(`${what}/mgmt`, () => writeTgMgmt(ctx, g, tg, text)))],
    [
      'group_id',
      rw(
        () => keyed(tg.groupId, true),
        (text) => {
          const v = kstrtoul(text.slice(0, 7), 'group_id');
          ctx.alua.setGroupId(tg, v);
        },
      ),
    ],
    [
      'preferred',
      rw(
        () => keyed(tg.preferred ? 1 : 0, tg.preferred),
        (text) => {
          const v = kstrtoul(text, 'preferred');
          if (v > 1) throw einval(`preferred ${v} is neither 0 nor 1`);
          return ctx.works.run(`${what}/preferred`, () => {
            tg.preferred = v === 1;
          });
        },
      ),
    ],
    [
      'state',
      rw(
        () => keyed(tg.state, true),
        (text) => {
          const v = firstLine(text);
          if (!isAluaState(v)) throw einval(`Invalid ALUA state '${v}'`);
          // In a cluster the state is committed there first (alua.setStates); the write completes
          // once it is in force on this node, and fails (nothing changed) when it cannot be committed.
          return ctx.works.run(`${what}/state`, async () => {
            try {
              await ctx.alua.setStates([{ deviceGroup: g.name, targetGroup: tg.name, state: v }]);
            } catch (e) {
              ctx.log.error({ deviceGroup: g.name, targetGroup: tg.name, state: v, err: (e as Error).message }, `${what}/state: ${v} not set: ${(e as Error).message}`);
              throw e;
            }
          });
        },
      ),
    ],
  ];
  return sdir(() => [...fixed, ...tg.members.map((m) => [m.name, memberNode(ctx, m)] as const)]);
}

function deviceGroupDir(ctx: SysfsContext, g: DeviceGroup): PdeNode {
  const devMgmt = rw(() => DEVICES_HELP, (text) => ctx.works.run(`device_groups/${g.name}/devices/mgmt`, () => writeDgDevicesMgmt(ctx, g, text)));
  const tgMgmt = rw(() => CREATE_DEL_HELP, (text) => ctx.works.run(`device_groups/${g.name}/target_groups/mgmt`, () => writeTargetGroupsMgmt(ctx, g, text)));
  const tgNodes = new WeakMap<TargetGroup, PdeNode>();
  const entries = [
    ['devices', sdir(() => [['mgmt', devMgmt] as const, ...g.devices.map((d) => [d.name, link(() => `../../../devices/${d.name}`)] as const)])],
    [
      'target_groups',
      sdir(() => [
        ['mgmt', tgMgmt] as const,
        ...g.targetGroups.map((tg) => {
          let n = tgNodes.get(tg);
          if (!n) tgNodes.set(tg, (n = targetGroupDir(ctx, g, tg)));
          return [tg.name, n] as const;
        }),
      ]),
    ],
  ] as const;
  return sdir(() => entries);
}

export function deviceGroupsDir(ctx: SysfsContext): PdeNode {
  const mgmt = rw(() => CREATE_DEL_HELP, (text) => writeDeviceGroupsMgmt(ctx, text));
  const nodes = new WeakMap<DeviceGroup, PdeNode>();
  return sdir(() => [
    ['mgmt', mgmt] as const,
    ...ctx.alua.groups.map((g) => {
      let n = nodes.get(g);
      if (!n) nodes.set(g, (n = deviceGroupDir(ctx, g)));
      return [g.name, n] as const;
    }),
  ]);
}


// ALUA state (src/engine/alua.ts) driven through device_groups/: what REPORT TARGET PORT GROUPS
// will report for a device through a given port, its encoding, and the unit attention a state
// change raises.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { aluaStateFor, encodeRtpg, reportTargetPortGroups } from '../src/engine/alua.js';
import { createTrees } from '../src/pde-fuse/index.js';

const R = '/sys/kernel/scst_tgt';

async function setup() {
  const log = pino({ level: 'silent' });
  const scst = new Scst(log);
  const fs = createTrees(scst, new IscsiDriver(scst, log), log);
  const w = async (p: string, d: string) => {
    const r = await fs.writePath(`${R}/${p}`, `${d}\n`);
    if (r < 0) throw new Error(`${p}: ${d}: ${r}`);
  };
  await w('handlers/vdisk_nullio/mgmt', 'add_device n1');
  await w('handlers/vdisk_nullio/mgmt', 'add_device n2');
  await w('targets/iscsi/mgmt', 'add_target iqn.x:a');
  await w('targets/iscsi/iqn.x:a/rel_tgt_id', '3');
  await w('device_groups/mgmt', 'create dg');
  await w('device_groups/dg/devices/mgmt', 'add n1');
  await w('device_groups/dg/target_groups/mgmt', 'create local');
  await w('device_groups/dg/target_groups/local/group_id', '1');
  await w('device_groups/dg/target_groups/local/mgmt', 'add iqn.x:a');
  await w('device_groups/dg/target_groups/local/preferred', '1');
  await w('device_groups/dg/target_groups/mgmt', 'create peer');
  await w('device_groups/dg/target_groups/peer/group_id', '2');
  await w('device_groups/dg/target_groups/peer/mgmt', 'add iqn.y:b');
  await w('device_groups/dg/target_groups/peer/iqn.y:b/rel_tgt_id', '9');
  await w('device_groups/dg/target_groups/peer/state', 'standby');
  return { scst, fs, w };
}

describe('REPORT TARGET PORT GROUPS data', () => {
  it('lists the device group target groups with states and relative port ids', async () => {
    const { scst } = await setup();
    const n1 = scst.devices.get('n1')!;
    const d = reportTargetPortGroups(n1, 3)!;
    expect(d.descriptors.map((x) => [x.targetPortGroup, x.stateName, x.state, x.preferred, x.relativeTargetPorts])).toEqual([
      [1, 'active', 0, true, [3]],
      [2, 'standby', 2, false, [9]],
    ]);
    expect(d.ownGroup?.targetPortGroup).toBe(1);
    expect(aluaStateFor(n1, 9)).toBe('standby');
    expect(reportTargetPortGroups(scst.devices.get('n2')!, 3)).toBeNull();
    expect(aluaStateFor(scst.devices.get('n2')!, 3)).toBe('active');
  });
  it('encodes SPC-4 length and extended formats', async () => {
    const { scst } = await setup();
    const d = reportTargetPortGroups(scst.devices.get('n1')!, 3)!;
    const b = encodeRtpg(d, false);
    expect(b.readUInt32BE(0)).toBe(b.length - 4);
    expect([...b.subarray(4, 16)]).toEqual([0x80, 0xcf, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3]);
    expect([...b.subarray(16, 28)]).toEqual([0x02, 0xcf, 0, 2, 0, 0, 0, 1, 0, 0, 0, 9]);
    const x = encodeRtpg(d, true);
    expect(x[4]).toBe(0x10);
    expect(x.readUInt32BE(0)).toBe(x.length - 4);
  });
  it('follows changes: a local target rel_tgt_id, state writes, deletions', async () => {
    const { scst, w } = await setup();
    const n1 = scst.devices.get('n1')!;
    await w('targets/iscsi/iqn.x:a/rel_tgt_id', '4');
    expect(reportTargetPortGroups(n1, 4)!.ownGroup?.targetPortGroup).toBe(1);
    await w('device_groups/dg/target_groups/local/state', 'transitioning');
    expect(aluaStateFor(n1, 4)).toBe('transitioning');
    await w('targets/iscsi/mgmt', 'del_target iqn.x:a');
    expect(reportTargetPortGroups(n1, 4)!.descriptors[0]!.relativeTargetPorts).toEqual([]);
    await w('handlers/vdisk_nullio/mgmt', 'del_device n1');
    expect(reportTargetPortGroups(n1, 4)).toBeNull();
  });
  it('a state change queues ASYMMETRIC ACCESS STATE CHANGED on the devices nexuses', async () => {
    const { scst, w } = await setup();
    await w('targets/iscsi/iqn.x:a/luns/mgmt', 'add n1 0');
    const s = scst.createSession(scst.targets.get('iqn.x:a')!, 'iqn.i:1', { forceClose: () => undefined, abortCommand: async () => undefined, abortDeviceTasks: async () => undefined });
    const td = s.tgtDevs.get(0)!;
    td.clearUA();
    await w('device_groups/dg/target_groups/local/state', 'nonoptimized');
    const ua = td.takeUA()!;
    expect([ua[2]! & 0xf, ua[12], ua[13]]).toEqual([6, 0x2a, 0x06]);
  });
});

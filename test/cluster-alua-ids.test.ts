// The identifier rule of ALUA across nodes (src/cluster/etcd-alua.ts idCollision): a node's own
// targets' rel_tgt_ids are not another node's, one target group of a shared device group has one
// group_id everywhere and two target groups never share one.
import { describe, expect, it } from 'vitest';
import { idCollision, type PortsRecord } from '../src/cluster/etcd-alua.js';

const a: PortsRecord = {
  node: 'gw-a',
  targets: [{ target: 'iqn.x:a', relTgtId: 1 }],
  groups: [
    { deviceGroup: 'dg1', targetGroup: 'gw-a', groupId: 1 },
    { deviceGroup: 'dg1', targetGroup: 'gw-b', groupId: 2 },
  ],
};

describe('ALUA identifiers across nodes', () => {
  it('accepts the two-node layout', () => {
    const b: PortsRecord = { ...a, node: 'gw-b', targets: [{ target: 'iqn.x:b', relTgtId: 2 }] };
    expect(idCollision(b, a)).toBeNull();
    expect(idCollision(a, b)).toBeNull();
  });
  it('names both nodes for a shared rel_tgt_id, a group_id of two groups, a group with two ids', () => {
    expect(idCollision({ node: 'gw-c', targets: [{ target: 'iqn.x:c', relTgtId: 1 }], groups: [] }, a)).toBe('rel_tgt_id 1 is used by target iqn.x:c on node gw-c and by target iqn.x:a on node gw-a');
    expect(idCollision({ node: 'gw-c', targets: [], groups: [{ deviceGroup: 'dg1', targetGroup: 'gw-c', groupId: 2 }] }, a)).toBe('group_id 2 of device group dg1 is target group gw-c on node gw-c and target group gw-b on node gw-a');
    expect(idCollision({ node: 'gw-c', targets: [], groups: [{ deviceGroup: 'dg1', targetGroup: 'gw-b', groupId: 3 }] }, a)).toBe('target group dg1/gw-b has group_id 3 on node gw-c but 2 on node gw-a');
    // Other device groups are other namespaces.
    expect(idCollision({ node: 'gw-c', targets: [], groups: [{ deviceGroup: 'dg2', targetGroup: 'x', groupId: 2 }] }, a)).toBeNull();
  });
});

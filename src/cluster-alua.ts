// The adapter the cluster's ALUA layer sees of this node (src/cluster/alua-local.ts): which device
// groups are shared, their target groups and ports, and how a committed state takes effect. A
// device group is shared when one of its devices has cluster_mode 1 (the administrator's
// statement that several nodes serve the LU); the others stay this node's own, as in SCST.
import type { ClusterAluaLocal } from './cluster/alua-local.js';
import { isAluaState, type DeviceGroup } from './engine/alua.js';
import { aluaOf } from './engine/mgmt.js';
import type { Scst } from './engine/scst.js';

export function clusterAluaLocal(scst: Scst): ClusterAluaLocal {
  const alua = aluaOf(scst);
  const shared = (g: DeviceGroup) => g.devices.some((d) => d.clusterMode);
  return {
    isShared(name) {
      const g = alua.group(name);
      return !!g && shared(g);
    },
    sharedGroups: () =>
      alua.groups.filter(shared).map((g) => ({
        name: g.name,
        targetGroups: g.targetGroups.map((tg) => ({
          name: tg.name,
          groupId: tg.groupId,
          state: tg.state,
          localPorts: tg.members.filter((m) => alua.isLocal(m)).map((m) => ({ target: m.name, relTgtId: alua.memberRelTgtId(m) })),
        })),
      })),
    localTargets: () => [...scst.allTargets()].filter((t) => t.relTgtId > 0).map((t) => ({ target: t.name, relTgtId: t.relTgtId })),
    applyCommitted(s, by) {
      const g = alua.group(s.deviceGroup);
      const tg = g?.targetGroup(s.targetGroup);
      if (!g || !tg || !shared(g)) return;
      if (!isAluaState(s.state)) {
        scst.log.warn({ deviceGroup: s.deviceGroup, targetGroup: s.targetGroup, state: s.state, by }, `cluster: ignoring unknown ALUA state '${s.state}' committed by node ${by}`);
        return;
      }
      alua.applyState(g, tg, s.state, null, by);
    },
    restored: () => alua.sharedStatesRestored(),
  };
}

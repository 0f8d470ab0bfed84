// What the cluster's ALUA layer (etcd-alua.ts) needs of this node's ALUA configuration, in plain
// data: the room knows nothing of the core, the daemon hands it an adapter (src/cluster-alua.ts).

/** One target port group of a shared device group, as this node configures it. */
export interface LocalTargetGroup {
  name: string;
  groupId: number;
  state: string;
  /** Its ports that are this node's targets, by name, with their relative target port ids. */
  localPorts: Array<{ target: string; relTgtId: number }>;
}

export interface LocalDeviceGroup {
  name: string;
  targetGroups: LocalTargetGroup[];
}

/** A state committed in the cluster, to take effect on this node. */
export interface CommittedState {
  deviceGroup: string;
  targetGroup: string;
  state: string;
}

export interface ClusterAluaLocal {
  /** Whether device group `name` exists here and its states are agreed in the cluster. */
  isShared(name: string): boolean;
  /** Every shared device group of this node. */
  sharedGroups(): LocalDeviceGroup[];
  /** Every target of this node with a relative target port id (they name its ports cluster-wide). */
  localTargets(): Array<{ target: string; relTgtId: number }>;
  /** Put a state committed by node `by` in force here (unit attentions on this node's nexuses). */
  applyCommitted(s: CommittedState, by: string): void;
  /** The node's view is current again after it was uncertain: tell the nexuses. */
  restored(): void;
}

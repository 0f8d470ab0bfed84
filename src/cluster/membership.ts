// What the rest of scstd sees of cluster membership (issue 16): the node's own state, the live
// view of the other nodes, and until when this node's lease is certainly valid. The etcd side is
// in etcd-membership.ts; the management tree and later slices (shared reservations, ALUA) use
// only this interface. The core (src/engine) knows none of it.
import type { Etcd3 } from 'etcd3';

/**
 * joining: first registration under way; member: holds a live lease, registered, resynchronised;
 * fenced: the lease is not certainly valid (expired, or no keepalive acknowledged in time) until
 * a new lease is held, registered and resynchronised; leaving: clean shutdown, lease revoked.
 */
export type ClusterState = 'joining' | 'member' | 'fenced' | 'leaving';

/** An iSCSI portal a node listens on. */
export interface ClusterPortal {
  host: string;
  port: number;
}

/** A node's registration record, `<prefix>members/<node>` (JSON), attached to its lease. */
export interface ClusterNodeRecord {
  node: string;
  /** etcd lease id, decimal. */
  lease: string;
  portals: ClusterPortal[];
  pid: number;
  /** Host name of the machine the node runs on. */
  host: string;
  /** Registration time, ISO 8601. */
  started: string;
}

export interface ClusterNodeView extends ClusterNodeRecord {
  /**
   * This node: its own state. Another node: `member` while its record is in etcd (its lease
   * alive), `unknown` while this node is not a member itself (its view may be stale).
   */
  state: ClusterState | 'unknown';
  self: boolean;
}

/** The read-only part the management tree renders. */
export interface ClusterView {
  readonly node: string;
  /** The effective cluster name (SCST's cluster_name, or the default). */
  readonly clusterName: string;
  /** Key prefix of this cluster, ending in '/'. */
  readonly prefix: string;
  readonly endpoints: readonly string[];
  readonly ttlSeconds: number;
  readonly state: ClusterState;
  /** The current lease id (decimal), null while none is held. */
  readonly leaseId: string | null;
  /** Until when (ms since epoch, local clock) the lease is certainly valid; 0 when not. */
  validUntil(): number;
  /** Every known node, this one included, sorted by name. */
  nodes(): ClusterNodeView[];
}

/** The interface for the layers built on membership. */
export interface ClusterMembership extends ClusterView {
  /** Called on every state change (after it happened). Returns an unsubscribe function. */
  onState(cb: (state: ClusterState, why: string) => void): () => void;
  /**
   * Registers work that must complete before a (re)joining node becomes `member`: a layer
   * re-reads its shared state here. A rejection or a run past the bound keeps the node fenced
   * and the whole resynchronisation is retried; on the first join, a rejection whose error has
   * `refuseJoin: true` (this node's configuration conflicts with the cluster's) ends the start at
   * once instead.
   */
  onResync(cb: (signal: AbortSignal) => Promise<void>): () => void;
  /** The etcd client (shared; its calls carry deadlines by default). */
  readonly client: Etcd3;
}

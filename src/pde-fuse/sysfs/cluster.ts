// /sys/kernel/scst_tgt/cluster: the cluster membership of this node (issue 16), read-only and
// rendered from the live view. SCST has no such directory (its cluster manager is outside the
// kernel); it exists only when scstd runs with --cluster.
import type { ClusterNodeView, ClusterView } from '../../cluster/membership.js';
import type { PdeDir, PdeNode } from '../node.js';
import { ro, sdir } from './attr.js';

function nodeDir(view: ClusterView, name: string): PdeDir {
  const get = (): ClusterNodeView | undefined => view.nodes().find((n) => n.node === name);
  const field = (f: (n: ClusterNodeView) => string) => ro(() => {
    const n = get();
    return n ? `${f(n)}\n` : '';
  });
  const entries: Array<readonly [string, PdeNode]> = [
    ['state', field((n) => n.state)],
    // One portal per line, ADDR:PORT ([ADDR]:PORT for IPv6) as --listen takes it.
    ['portals', ro(() => (get()?.portals ?? []).map((p) => `${p.host.includes(':') ? `[${p.host}]` : p.host}:${p.port}\n`).join(''))],
    ['host', field((n) => n.host)],
    ['pid', field((n) => String(n.pid))],
    ['lease', field((n) => n.lease)],
    ['started', field((n) => n.started)],
  ];
  return sdir(() => entries);
}

/** The nodes/ directory: one entry per node of the live view; per-node directories kept by name. */
function nodesDir(view: ClusterView): PdeDir {
  const dirs = new Map<string, PdeDir>();
  return sdir(() => {
    const names = view.nodes().map((n) => n.node);
    for (const k of dirs.keys()) if (!names.includes(k)) dirs.delete(k);
    return names.map((n) => {
      let d = dirs.get(n);
      if (!d) dirs.set(n, (d = nodeDir(view, n)));
      return [n, d] as const;
    });
  });
}

export function clusterDir(view: ClusterView): PdeDir {
  const entries: Array<readonly [string, PdeNode]> = [
    ['cluster_name', ro(() => `${view.clusterName}\n`)],
    ['this_node', ro(() => `${view.node}\n`)],
    ['state', ro(() => `${view.state}\n`)],
    ['endpoints', ro(() => `${view.endpoints.join(',')}\n`)],
    ['ttl', ro(() => `${view.ttlSeconds}\n`)],
    ['key_prefix', ro(() => `${view.prefix}\n`)],
    ['nodes', nodesDir(view)],
  ];
  return sdir(() => entries);
}

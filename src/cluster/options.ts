// The cluster options of scstd (--cluster, --node, --cluster-ttl, --cluster-prefix) checked
// before anything starts: a bad one is a clear error and the daemon does not start.
import { hostname } from 'node:os';

/** Used when --cluster is given and scst.conf sets no cluster_name. */
export const DEFAULT_CLUSTER_NAME = 'default';
export const DEFAULT_TTL_SECONDS = 5;
/** Keys of cluster NAME live under this prefix plus NAME plus '/'. */
export const KEY_ROOT = '/scst-usermode/';

export interface ClusterOptions {
  endpoints: string[];
  node: string;
  ttlSeconds: number;
  /** Explicit key prefix (ends in '/'), or null to derive it from the cluster name. */
  prefix: string | null;
}

/** A node name is a path component of etcd keys and a sysfs directory name. */
const NODE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkNodeName(name: string): string | null {
  return NODE_RE.test(name) ? null : `node name '${name}' is not valid (1 to 63 characters: letters, digits, '.', '_', '-', starting with a letter or digit)`;
}

/** The node name when --node is absent: the host name up to its first dot. */
export function defaultNodeName(): string {
  return hostname().split('.')[0] ?? 'node';
}

/** Parse the command-line values; returns the options or an error message. */
export function parseClusterOptions(o: { cluster: string; node?: string; ttl?: string; prefix?: string }): ClusterOptions | string {
  const endpoints = o.cluster.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints.length === 0) return '--cluster: no endpoint given (expected http://HOST:PORT[,http://HOST:PORT...])';
  for (const e of endpoints) {
    let u: URL | null = null;
    try {
      u = new URL(e);
    } catch {
      // reported below
    }
    if (u?.protocol === 'https:') return `--cluster: '${e}': TLS is not supported yet (give http://HOST:PORT)`;
    if (!u || u.protocol !== 'http:' || u.port === '' || (u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.username !== '') return `--cluster: '${e}' is not of the form http://HOST:PORT`;
  }
  const node = o.node ?? defaultNodeName();
  const bad = checkNodeName(node);
  if (bad) return `--node: ${bad}`;
  let ttlSeconds = DEFAULT_TTL_SECONDS;
  if (o.ttl !== undefined) {
    if (!/^\d{1,4}$/.test(o.ttl) || Number(o.ttl) < 2 || Number(o.ttl) > 3600) return `--cluster-ttl: '${o.ttl}' is not a whole number of seconds from 2 to 3600`;
    ttlSeconds = Number(o.ttl);
  }
  let prefix: string | null = null;
  if (o.prefix !== undefined) {
    if (!/^\/[\x21-\x7e]*$/.test(o.prefix)) return `--cluster-prefix: '${o.prefix}' must start with '/' and hold printable characters only`;
    prefix = o.prefix.endsWith('/') ? o.prefix : `${o.prefix}/`;
  }
  return { endpoints, node, ttlSeconds, prefix };
}

/** The cluster name in effect and the key prefix, or an error for a name that cannot be a key component. */
export function clusterPrefix(clusterName: string, explicit: string | null): { name: string; prefix: string } | string {
  const name = clusterName === '' ? DEFAULT_CLUSTER_NAME : clusterName;
  if (!/^[\x21-\x7e]+$/.test(name) || name.includes('/')) return `cluster_name '${name}' cannot name a cluster (printable characters without '/' or spaces)`;
  return { name, prefix: explicit ?? `${KEY_ROOT}${name}/` };
}

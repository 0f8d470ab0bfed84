// A TCP proxy in the test process that stands between a node and the services it reaches (etcd
// members in the partition test): one listening port on 127.0.0.1 per upstream, bytes forwarded
// both ways with backpressure (a side that cannot take more pauses the other: at most one chunk
// per direction is held, never an unbounded queue). The test cuts it in one of two ways:
//   'reset'     every connection is reset and new ones are reset as soon as they are accepted
//               (what a rejecting firewall or a restarted peer looks like: the client knows at once);
//   'blackhole' connections stay open and new ones are accepted, but every byte is dropped in both
//               directions (a dead link: the client learns nothing, its keepalives go unanswered).
// heal() lets bytes through again. A connection that lost bytes in a blackhole cannot carry on
// (its stream has a hole that TCP would have retransmitted or given up on), so heal() resets it
// (or, on request, leaves it open and silent for good);
// a connection that lost nothing resumes; one accepted during the blackhole is only now connected
// upstream. If the upstream goes away (an etcd member killed), its client connection is reset.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

export type CutMode = 'reset' | 'blackhole';

/** Connections per listening port: a client that opens more is refused (bounded resources). */
const MAX_CONNECTIONS = 64;
const UPSTREAM_CONNECT_MS = 2_000;

interface Conn {
  client: Socket;
  upstream: Socket | null;
  /** Bytes were dropped on this connection while cut (it must be reset on heal). */
  lost: boolean;
  /** Left silent after a heal (heal({ lossy: 'dead' })): bytes keep being dropped. */
  dead: boolean;
  to: { host: string; port: number };
}

export interface ProxiedPort {
  /** The upstream this port forwards to. */
  readonly upstream: { host: string; port: number };
  /** The proxy's own port on 127.0.0.1. */
  readonly port: number;
  /** http://127.0.0.1:port */
  readonly endpoint: string;
}

export interface TcpProxy {
  readonly ports: readonly ProxiedPort[];
  /** Comma-separated endpoints of every port (scstd --cluster's form). */
  readonly endpoints: string;
  cut(mode: CutMode): void;
  /**
   * Lets bytes through again. A connection that lost bytes is reset (lossy 'reset', the default),
   * or left open and silent for good (lossy 'dead': a peer whose connection state a firewall or
   * NAT dropped; only the client's own liveness checks can notice it).
   */
  heal(o?: { lossy?: 'reset' | 'dead' }): void;
  /** 'open' or the cut mode in force. */
  state(): 'open' | CutMode;
  /** Counters for the test's messages. */
  stats(): { accepted: number; closed: number; droppedBytes: number; open: number };
  close(): Promise<void>;
}

/** Starts one listening port per upstream ("host:port" or a port on 127.0.0.1). */
export async function startTcpProxy(upstreams: ReadonlyArray<{ host?: string; port: number }>): Promise<TcpProxy> {
  let mode: 'open' | CutMode = 'open';
  const servers: Server[] = [];
  const conns = new Set<Conn>();
  const counters = { accepted: 0, closed: 0, droppedBytes: 0 };
  const ports: ProxiedPort[] = [];

  const kill = (c: Conn): void => {
    if (!conns.delete(c)) return;
    counters.closed++;
    c.client.resetAndDestroy();
    if (c.upstream) c.upstream.resetAndDestroy();
  };

  /** Forwards from `from` to `to` with backpressure; in a cut the bytes are dropped instead. */
  const forward = (c: Conn, from: Socket, to: () => Socket | null): void => {
    from.on('data', (chunk: Buffer) => {
      const dst = to();
      if (mode !== 'open' || c.dead || !dst) {
        c.lost = true;
        counters.droppedBytes += chunk.length;
        return;
      }
      if (!dst.write(chunk)) {
        from.pause();
        dst.once('drain', () => from.resume());
      }
    });
  };

  const connectUpstream = (c: Conn, host: string, port: number): void => {
    const up = connect({ host, port });
    c.upstream = up;
    up.setNoDelay(true);
    const timer = setTimeout(() => kill(c), UPSTREAM_CONNECT_MS);
    up.once('connect', () => {
      clearTimeout(timer);
      c.client.resume();
    });
    up.on('error', () => {
      clearTimeout(timer);
      kill(c);
    });
    up.on('close', () => {
      clearTimeout(timer);
      kill(c);
    });
    forward(c, up, () => c.client);
  };

  for (const u of upstreams) {
    const host = u.host ?? '127.0.0.1';
    const server = createServer({ pauseOnConnect: true }, (client) => {
      counters.accepted++;
      client.setNoDelay(true);
      const c: Conn = { client, upstream: null, lost: false, dead: false, to: { host, port: u.port } };
      conns.add(c);
      client.on('error', () => kill(c));
      client.on('close', () => kill(c));
      if (mode === 'reset' || conns.size > MAX_CONNECTIONS) {
        kill(c);
        return;
      }
      // Data from the client: forwarded once the upstream is connected (the client stays paused
      // until then), dropped in a blackhole.
      forward(c, client, () => c.upstream);
      client.pause(); // a 'data' listener would otherwise set it flowing
      if (mode === 'blackhole') {
        client.resume(); // accepted, read and dropped: the peer sees an open, silent connection
        return;
      }
      connectUpstream(c, host, u.port);
    });
    servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    if (!addr || typeof addr === 'string') throw new Error('tcp proxy: no port');
    ports.push({ upstream: { host, port: u.port }, port: addr.port, endpoint: `http://127.0.0.1:${addr.port}` });
  }

  const proxy: TcpProxy = {
    ports,
    endpoints: ports.map((p) => p.endpoint).join(','),
    cut(m) {
      mode = m;
      if (m === 'reset') for (const c of [...conns]) kill(c);
    },
    heal(o = {}) {
      mode = 'open';
      for (const c of [...conns]) {
        if (c.lost && o.lossy === 'dead') c.dead = true;
        else if (c.lost) kill(c);
        else if (!c.upstream) {
          // Accepted during a blackhole without a byte from either side: connect it now.
          c.client.pause();
          connectUpstream(c, c.to.host, c.to.port);
        }
      }
    },
    state: () => mode,
    stats: () => ({ ...counters, open: conns.size }),
    async close() {
      for (const c of [...conns]) kill(c);
      await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
    },
  };
  onCleanup(`tcp proxy ${proxy.endpoints}`, () => proxy.close());
  return proxy;
}

// Cluster membership over etcd (issue 16): a lease kept alive by this node, a registration
// `<prefix>members/<node>` attached to it (created only if absent), a watched view of every
// member, and fencing. The node knows until when its lease is certainly valid (the send time of
// the last acknowledged keepalive plus the TTL, minus a margin); past that, or as soon as etcd
// says the lease is gone, it is `fenced` at once and stays so until it holds a new lease, has
// registered again and every resync callback has completed. The lease is never trusted past the
// bound, so a node is fenced before any other node can see its registration expire.
import { hostname } from 'node:os';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry, type IBackoff, type IBackoffFactory } from 'cockatiel';
import { Etcd3, isRecoverableError, type IDuplexStream, type IKeyValue, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse, type Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterMembership, ClusterNodeRecord, ClusterNodeView, ClusterPortal, ClusterState } from './membership.js';

export interface EtcdMembershipOptions {
  endpoints: string[];
  node: string;
  clusterName: string;
  /** Ends in '/'. */
  prefix: string;
  ttlSeconds: number;
  /** This node's iSCSI portals, read at each registration. */
  portals: () => ClusterPortal[];
  log: Logger;
  /** Deadline of each unary etcd call (default 2000 ms). */
  callTimeoutMs?: number;
}

/** The holder of this node's name is another live process: the daemon must not start. */
export class DuplicateNodeError extends Error {
  constructor(
    readonly key: string,
    readonly holder: ClusterNodeRecord | null,
  ) {
    super(
      holder
        ? `node name '${holder.node}' is already registered in the cluster by pid ${holder.pid} on host ${holder.host} (portals ${fmtPortals(holder.portals)}, lease ${holder.lease}, since ${holder.started}); choose another --node or stop that node`
        : `node name is already registered in the cluster (${key} holds a record that is not a node's); choose another --node`,
    );
  }
}

function fmtPortals(p: ClusterPortal[]): string {
  return p.length ? p.map((x) => `${x.host}:${x.port}`).join(',') : 'none';
}

function parseRecord(v: Buffer | string): ClusterNodeRecord | null {
  try {
    const r = JSON.parse(v.toString()) as Partial<ClusterNodeRecord>;
    if (typeof r.node !== 'string' || typeof r.lease !== 'string' || !Array.isArray(r.portals)) return null;
    return { node: r.node, lease: r.lease, portals: r.portals, pid: Number(r.pid) || 0, host: String(r.host ?? ''), started: String(r.started ?? '') };
  } catch {
    return null;
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// The bounds and back-offs below are unref'd: they never are what keeps the daemon alive, and one
// still running when the daemon stops must not hold its exit.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
/** The HTTP/2 keepalive ping interval of the etcd connections (see newClient). */
const KEEPALIVE_PING_MS = 6000;

/** A promise bounded in time: rejects with `what` timed out after `ms`. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms).unref()))]).finally(() => clearTimeout(timer));
}

interface Lease {
  id: string;
}

interface KeepaliveStream {
  lease: string;
  stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;
  /** Send times of the keepalives not answered yet, oldest first (answers come in order). */
  sent: number[];
}

export class EtcdMembership implements ClusterMembership {
  readonly client: Etcd3;
  readonly node: string;
  readonly clusterName: string;
  readonly prefix: string;
  readonly endpoints: readonly string[];
  readonly ttlSeconds: number;
  private readonly log: Logger;
  private readonly callMs: number;
  /** Subtracted from the lease's bound: clock-rate differences and timer lateness. */
  private readonly marginMs: number;
  private readonly membersPrefix: string;
  private readonly key: string;
  private readonly startedAt = new Date().toISOString();

  private _state: ClusterState = 'joining';
  private lease: Lease | null = null;
  /** Leases this process was granted (a record under one of them is ours, not a duplicate). */
  private readonly ownLeases: string[] = [];
  private validUntilMs = 0;
  private fenceTimer: NodeJS.Timeout | undefined;
  private kaTimer: NodeJS.Timeout | undefined;
  private ka: KeepaliveStream | null = null;
  private kaOpening = false;
  /** A failed keepalive stream is reopened at once (another member, picked at random), a few times per interval. */
  private kaRetryTimer: NodeJS.Timeout | undefined;
  private kaAnswerTimer: NodeJS.Timeout | undefined;
  private kaQuickRetries = 0;
  /** One client per member for the keepalive stream (the main client picks members at random). */
  private readonly kaClients: Etcd3[];
  private kaIndex = 0;
  private watcher: Watcher | null = null;
  private readonly view = new Map<string, ClusterNodeRecord>();
  private self: ClusterNodeRecord | null = null;
  private recovering = false;
  private stopping = false;
  private readonly stateCbs = new Set<(s: ClusterState, why: string) => void>();
  private readonly resyncCbs = new Set<(signal: AbortSignal) => Promise<void>>();

  constructor(private readonly o: EtcdMembershipOptions) {
    this.node = o.node;
    this.clusterName = o.clusterName;
    this.prefix = o.prefix;
    this.endpoints = o.endpoints;
    this.ttlSeconds = o.ttlSeconds;
    this.log = o.log;
    this.callMs = o.callTimeoutMs ?? 2000;
    this.marginMs = Math.max(200, Math.round(o.ttlSeconds * 100));
    this.membersPrefix = `${o.prefix}members/`;
    this.key = `${this.membersPrefix}${o.node}`;
    this.client = this.newClient(o.endpoints);
    this.kaClients = o.endpoints.length > 1 ? o.endpoints.map((e) => this.newClient([e])) : [this.client];
  }

  private newClient(hosts: string[]): Etcd3 {
    return new Etcd3({
      hosts,
      dialTimeout: this.callMs,
      // Every unary call has a deadline; streams (keepalive, watch) are watched by this class.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.callMs }),
      faultHandling: {
        // One more try on another member; a member that failed 3 times in a row is skipped for
        // half a second only (the library's 5 s would outlast a short lease).
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
        // Capped at 1 s so that a watch is back soon after etcd is; 0 once stopping (see below).
        watchBackoff: stoppableBackoff(new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }), () => this.stopping),
      },
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // HTTP/2 pings on every connection that carries calls: a connection that went silent for
        // good (a partition that healed while a firewall or NAT forgot its state) is otherwise
        // used for ever, every call on it runs to its deadline and a fenced node never rejoins.
        // Not below etcd's --grpc-keepalive-min-time (5 s by default), which answers more frequent
        // pings with GOAWAY too_many_pings.
        'grpc.keepalive_time_ms': KEEPALIVE_PING_MS,
        'grpc.keepalive_timeout_ms': this.callMs,
      },
    });
  }

  private closeClients(): void {
    for (const c of new Set([this.client, ...this.kaClients])) c.close();
  }

  get state(): ClusterState {
    return this._state;
  }

  get leaseId(): string | null {
    return this.lease?.id ?? null;
  }

  validUntil(): number {
    return this._state === 'member' ? this.validUntilMs : 0;
  }

  nodes(): ClusterNodeView[] {
    const out: ClusterNodeView[] = [];
    const othersState = this._state === 'member' ? 'member' : 'unknown';
    for (const [name, rec] of this.view) if (name !== this.node) out.push({ ...rec, state: othersState, self: false });
    const self: ClusterNodeRecord = this.self ?? { node: this.node, lease: this.lease?.id ?? '', portals: this.o.portals(), pid: process.pid, host: hostname(), started: this.startedAt };
    out.push({ ...self, lease: this.lease?.id ?? '', state: this._state, self: true });
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  onState(cb: (s: ClusterState, why: string) => void): () => void {
    this.stateCbs.add(cb);
    return () => this.stateCbs.delete(cb);
  }

  onResync(cb: (signal: AbortSignal) => Promise<void>): () => void {
    this.resyncCbs.add(cb);
    return () => this.resyncCbs.delete(cb);
  }

  private setState(s: ClusterState, why: string): void {
    if (this._state === s) return;
    this._state = s;
    for (const cb of this.stateCbs) {
      try {
        cb(s, why);
      } catch (e) {
        this.log.error({ err: e }, `cluster: a state listener failed: ${errText(e)}`);
      }
    }
  }

  /**
   * The first join, bounded by `timeoutMs`: resolves once this node is a member. Rejects with
   * DuplicateNodeError when another live process holds the name, or an Error naming the
   * endpoints when etcd cannot be reached in time. A record left by a dead process of this host
   * (kill -9, then a restart within the TTL) is waited out until its lease expires.
   */
  async start(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    let waitedStale = false;
    for (;;) {
      try {
        await this.establish();
        return;
      } catch (e) {
        if (e instanceof DuplicateNodeError) {
          const h = e.holder;
          if (!h || h.host !== hostname() || h.pid === process.pid || processAlive(h.pid)) {
            await this.releaseLease();
            throw e;
          }
          if (!waitedStale) this.log.warn({ holder: h }, `cluster: node name '${this.node}' is held by pid ${h.pid} of this host, which is gone; waiting for its lease ${h.lease} to expire`);
          waitedStale = true;
          last = e.message;
        } else if ((e as { refuseJoin?: boolean }).refuseJoin) {
          // A conflict with the cluster's configuration (a layer's resync says so): waiting does not help.
          await this.releaseLease();
          throw e;
        } else {
          last = errText(e);
        }
      }
      if (this.stopping) throw new Error('cluster: stopped while joining');
      if (Date.now() + 250 >= deadline) break;
      await sleep(250);
    }
    await this.releaseLease();
    throw new Error(`cannot join cluster '${this.clusterName}' at ${this.endpoints.join(',')} within ${Math.round(timeoutMs / 1000)} s: ${last}`);
  }

  /** Clean shutdown, bounded by `ms`: `leaving`, the lease revoked (the others see this node leave at once). */
  async stop(ms = 1500): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.setState('leaving', 'shutdown');
    clearTimeout(this.fenceTimer);
    clearInterval(this.kaTimer);
    this.endKeepalive();
    const w = this.watcher;
    this.watcher = null;
    const held = this.lease;
    const revoke: Promise<unknown> = held ? this.client.leaseClient.leaseRevoke({ ID: held.id }, { deadline: Date.now() + ms }) : Promise.resolve();
    await Promise.allSettled([bounded(revoke, ms, 'lease revoke'), w ? bounded(w.cancel(), ms, 'watch cancel') : Promise.resolve(undefined)]).then((rs) => {
      const failed = rs.find((r) => r.status === 'rejected');
      if (failed) this.log.warn(`cluster: leaving: ${errText((failed as PromiseRejectedResult).reason)} (the lease expires by itself within ${this.ttlSeconds} s)`);
      else if (held) this.log.info({ lease: held.id }, `cluster: node ${this.node} left cluster '${this.clusterName}' (lease revoked)`);
    });
    this.lease = null;
    this.closeClients();
  }

  /** Names what would keep the process alive after stop() (for the exit check). */
  openHandles(): string[] {
    return this.stopping ? [] : [`etcd client of cluster '${this.clusterName}'`];
  }

  forceClose(): void {
    this.stopping = true;
    clearTimeout(this.fenceTimer);
    clearInterval(this.kaTimer);
    this.endKeepalive();
    this.closeClients();
  }

  // ---- lease and fencing ------------------------------------------------------------------------

  /** Enter `fenced` now (one log line naming why) and start getting a new lease. */
  private fence(reason: string): void {
    if (this.stopping) return;
    clearInterval(this.kaTimer);
    clearTimeout(this.fenceTimer);
    this.endKeepalive();
    this.validUntilMs = 0;
    if (this._state === 'member') {
      this.log.error({ node: this.node, lease: this.lease?.id, reason }, `cluster: node ${this.node} fenced: ${reason}`);
      this.setState('fenced', reason);
      void this.recover();
    }
    // joining or fenced already: establish() finds the bound gone and fails; its caller retries.
  }

  private armFence(): void {
    clearTimeout(this.fenceTimer);
    const ms = this.validUntilMs - Date.now();
    const lease = this.lease?.id;
    if (ms <= 0) {
      this.fence(`no keepalive of lease ${lease} acknowledged in time (certainly valid only until ${new Date(this.validUntilMs).toISOString()})`);
      return;
    }
    this.fenceTimer = setTimeout(() => this.armFence(), ms);
  }

  /** Extend the bound with an acknowledged keepalive sent at `sentAt`. */
  private extend(sentAt: number, ttlSeconds: number): void {
    const until = sentAt + ttlSeconds * 1000 - this.marginMs;
    if (until > this.validUntilMs) {
      this.validUntilMs = until;
      this.armFence();
    }
  }

  /**
   * Keepalives every TTL/5 on one stream to one member. A stream that fails, or leaves a
   * keepalive unanswered for half an interval, is dropped and the next member (in --cluster's
   * order) is tried at once: one dead member costs one failover, not a random walk that may pick
   * it again. The fence timer runs meanwhile, whatever happens here.
   */
  private startKeepalive(): void {
    clearInterval(this.kaTimer);
    this.kaTimer = setInterval(() => {
      this.kaQuickRetries = 0;
      this.keepaliveTick();
    }, this.kaEvery);
    this.keepaliveTick();
  }

  private get kaEvery(): number {
    // TTL/5 rather than etcd's customary TTL/3: an etcd leader election (a second or two) must fit
    // between the last acknowledged keepalive and the bound, with the margin taken off.
    return Math.max(250, Math.floor((this.ttlSeconds * 1000) / 5));
  }

  /** Drop the current keepalive stream and move to the next member, retrying soon (bounded per interval). */
  private failover(why: string): void {
    this.endKeepalive();
    this.kaIndex = (this.kaIndex + 1) % this.kaClients.length;
    this.log.debug({ why, next: this.endpoints[this.kaIndex] }, `cluster: keepalive: ${why}; trying ${this.endpoints[this.kaIndex]}`);
    if (this.kaQuickRetries >= 2 * this.kaClients.length + 2 || this.stopping || !this.lease) return;
    this.kaQuickRetries++;
    this.kaRetryTimer = setTimeout(() => {
      this.kaRetryTimer = undefined;
      this.keepaliveTick();
    }, 50);
  }

  private keepaliveTick(): void {
    const lease = this.lease;
    if (!lease || this.stopping) return;
    if (this.ka && this.ka.lease !== lease.id) this.endKeepalive();
    if (this.ka) {
      this.sendKeepalive(this.ka);
      return;
    }
    if (this.kaOpening) return;
    this.kaOpening = true;
    const client = this.kaClients[this.kaIndex]!;
    bounded(client.leaseClient.leaseKeepAlive(), this.callMs, 'keepalive stream')
      .then((stream) => {
        this.kaOpening = false;
        if (this.stopping || this.lease !== lease) {
          stream.end();
          return;
        }
        const s: KeepaliveStream = { lease: lease.id, stream, sent: [] };
        this.ka = s;
        stream.on('data', (res: ILeaseKeepAliveResponse) => this.onKeepaliveAnswer(s, res));
        stream.on('error', (e: Error) => {
          if (this.ka !== s) return;
          if (/requested lease not found|lease not found/i.test(e.message)) this.fence(`etcd reports lease ${lease.id} gone (${e.message})`);
          else this.failover(`stream failed: ${e.message}`);
        });
        stream.on('end', () => {
          if (this.ka === s) this.failover('stream ended');
        });
        this.sendKeepalive(s);
      })
      .catch((e: unknown) => {
        this.kaOpening = false;
        if (this.lease === lease) this.failover(`cannot open a stream: ${errText(e)}`);
      });
  }

  private sendKeepalive(s: KeepaliveStream): void {
    // Answers come in order, one per keepalive: the oldest send time is the one an answer proves.
    // A stream this far behind is not trusted with more.
    if (s.sent.length >= 4) {
      this.failover(`${s.sent.length} keepalives unanswered`);
      return;
    }
    const at = Date.now();
    s.sent.push(at);
    try {
      s.stream.write({ ID: s.lease });
    } catch (e) {
      this.failover(`write failed: ${errText(e)}`);
      return;
    }
    clearTimeout(this.kaAnswerTimer);
    const wait = Math.max(300, Math.floor(this.kaEvery / 2));
    this.kaAnswerTimer = setTimeout(() => {
      if (this.ka === s && s.sent.length > 0 && s.sent[0]! <= at) this.failover(`no answer within ${wait} ms`);
    }, wait);
  }

  private onKeepaliveAnswer(s: KeepaliveStream, res: ILeaseKeepAliveResponse): void {
    const sentAt = s.sent.shift();
    if (this.ka !== s || this.lease?.id !== s.lease || sentAt === undefined) return;
    if (s.sent.length === 0) clearTimeout(this.kaAnswerTimer);
    this.kaQuickRetries = 0;
    const ttl = Number(res.TTL);
    if (!(ttl > 0)) {
      this.fence(`etcd reports lease ${s.lease} expired or revoked`);
      return;
    }
    this.extend(sentAt, ttl);
  }

  private endKeepalive(): void {
    clearTimeout(this.kaRetryTimer);
    clearTimeout(this.kaAnswerTimer);
    this.kaRetryTimer = undefined;
    const ka = this.ka;
    this.ka = null;
    if (!ka) return;
    try {
      ka.stream.end();
    } catch {
      // already broken
    }
  }

  /** Revoke the current lease, best effort and bounded (it expires by itself otherwise). */
  private async releaseLease(): Promise<void> {
    const old = this.lease;
    this.lease = null;
    clearInterval(this.kaTimer);
    clearTimeout(this.fenceTimer);
    this.endKeepalive();
    this.validUntilMs = 0;
    if (!old) return;
    try {
      await bounded(this.client.leaseClient.leaseRevoke({ ID: old.id }), this.callMs + 100, 'lease revoke');
    } catch {
      // gone already, or etcd unreachable: it expires within the TTL
    }
  }

  /** Fenced: get a new lease, register, resync; retried with a bounded back-off until member or stopped. */
  private async recover(): Promise<void> {
    if (this.recovering) return;
    this.recovering = true;
    let delay = 100;
    let tries = 0;
    try {
      while (this._state === 'fenced' && !this.stopping) {
        try {
          await this.establish();
          return;
        } catch (e) {
          tries++;
          // One line at the first failure and then every 20th: a long outage must not flood the log.
          if (tries === 1 || tries % 20 === 0) this.log.warn({ tries, err: errText(e) }, `cluster: node ${this.node} fenced, cannot rejoin yet (attempt ${tries}): ${errText(e)}`);
          await sleep(delay);
          delay = Math.min(delay * 2, 1000);
        }
      }
    } finally {
      this.recovering = false;
    }
  }

  /** New lease, registration, member view and resync; `member` at the end if the lease is still certainly valid. */
  private async establish(): Promise<void> {
    await this.releaseLease();
    const sentAt = Date.now();
    const grant = await this.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds });
    if (this.stopping) throw new Error('stopping');
    const lease: Lease = { id: grant.ID };
    this.lease = lease;
    this.ownLeases.push(lease.id);
    if (this.ownLeases.length > 8) this.ownLeases.shift();
    this.validUntilMs = sentAt + Number(grant.TTL) * 1000 - this.marginMs;
    this.armFence();
    this.startKeepalive();

    await this.register(lease);
    await this.loadView();
    await this.resync();
    if (this.lease !== lease || Date.now() >= this.validUntilMs || this.stopping) throw new Error(`lease ${lease.id} not certainly valid any more after resynchronising`);
    const wasFenced = this._state === 'fenced';
    this.setState('member', wasFenced ? 'rejoined' : 'joined');
    this.log.info(
      { node: this.node, lease: lease.id, ttl: this.ttlSeconds, prefix: this.prefix, members: [...this.view.keys()] },
      `cluster: node ${this.node} is ${wasFenced ? 'again ' : ''}a member of cluster '${this.clusterName}' (lease ${lease.id}, members ${[...this.view.keys()].join(',')})`,
    );
  }

  /** Create `<prefix>members/<node>` under `lease` only if absent (or left under an older lease of this process). */
  private async register(lease: Lease): Promise<void> {
    const rec: ClusterNodeRecord = { node: this.node, lease: lease.id, portals: this.o.portals(), pid: process.pid, host: hostname(), started: this.startedAt };
    const value = JSON.stringify(rec);
    const r = await this.client.if(this.key, 'Create', '==', 0).then(this.client.put(this.key).value(value).lease(lease.id)).else(this.client.get(this.key)).commit();
    if (r.succeeded) {
      this.self = rec;
      return;
    }
    const kv = r.responses[0]?.response_range?.kvs[0];
    if (!kv) throw new Error(`registration of ${this.key} raced with its deletion; retrying`);
    const holder = parseRecord(kv.value);
    if (holder && holder.host === hostname() && holder.pid === process.pid && this.ownLeases.includes(holder.lease)) {
      // Our own record under a lease whose revoke did not reach etcd: replace it, if unchanged.
      const t = await this.client.if(this.key, 'Mod', '==', kv.mod_revision).then(this.client.put(this.key).value(value).lease(lease.id)).commit();
      if (!t.succeeded) throw new Error(`registration of ${this.key} changed under us; retrying`);
      this.self = rec;
      return;
    }
    throw new DuplicateNodeError(this.key, holder);
  }

  /** Read every member and watch the prefix from that revision on (the previous watch is dropped). */
  private async loadView(): Promise<void> {
    const old = this.watcher;
    this.watcher = null;
    if (old) void bounded(old.cancel(), this.callMs, 'watch cancel').catch(() => undefined);
    const res = await this.client.getAll().prefix(this.membersPrefix).exec();
    const seen = new Map<string, ClusterNodeRecord>();
    for (const kv of res.kvs) {
      const rec = parseRecord(kv.value);
      if (rec) seen.set(kv.key.toString().slice(this.membersPrefix.length), rec);
    }
    this.replaceView(seen);
    const w = this.client.watch().prefix(this.membersPrefix).startRevision(String(BigInt(res.header.revision) + 1n)).watcher();
    try {
      await bounded(
        new Promise<void>((resolve, reject) => {
          w.once('connected', () => resolve());
          w.once('error', reject);
        }),
        this.callMs,
        'member watch',
      );
    } catch (e) {
      void bounded(w.cancel(), this.callMs, 'watch cancel').catch(() => undefined);
      throw e;
    }
    w.on('put', (kv: IKeyValue) => this.onPut(kv));
    w.on('delete', (kv: IKeyValue) => this.onDelete(kv));
    w.on('error', (e: Error) => this.log.warn({ err: e.message }, `cluster: member watch failed: ${e.message}`));
    this.watcher = w;
  }

  private replaceView(next: Map<string, ClusterNodeRecord>): void {
    for (const name of this.view.keys()) if (!next.has(name) && name !== this.node) this.log.info({ node: name }, `cluster: node ${name} left`);
    for (const [name, rec] of next) if (!this.view.has(name) && name !== this.node) this.log.info({ node: name, portals: rec.portals }, `cluster: node ${name} is a member (portals ${fmtPortals(rec.portals)})`);
    this.view.clear();
    for (const [k, v] of next) this.view.set(k, v);
  }

  private onPut(kv: IKeyValue): void {
    const name = kv.key.toString().slice(this.membersPrefix.length);
    const rec = parseRecord(kv.value);
    if (!rec) return;
    const known = this.view.has(name);
    this.view.set(name, rec);
    if (name === this.node) {
      if (this.lease && rec.lease !== this.lease.id && this._state === 'member') this.fence(`registration ${this.key} taken by pid ${rec.pid} on ${rec.host} under lease ${rec.lease}`);
      return;
    }
    if (!known) this.log.info({ node: name, portals: rec.portals }, `cluster: node ${name} joined (portals ${fmtPortals(rec.portals)})`);
  }

  private onDelete(kv: IKeyValue): void {
    const name = kv.key.toString().slice(this.membersPrefix.length);
    const had = this.view.delete(name);
    if (name === this.node) {
      if (this._state === 'member') this.fence(`registration ${this.key} deleted in etcd (lease expired or key removed)`);
      return;
    }
    if (had) this.log.info({ node: name }, `cluster: node ${name} left`);
  }

  /** Every resync callback, in parallel, each bounded by the TTL; any failure fails the join. */
  private async resync(): Promise<void> {
    if (this.resyncCbs.size === 0) return;
    const ms = this.ttlSeconds * 1000;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`resync not done within ${ms} ms`)), ms);
    try {
      await Promise.all([...this.resyncCbs].map((cb) => bounded(cb(ac.signal), ms, 'resync')));
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The watch manager of etcd3 schedules a reconnect (a ref'd timer of the back-off's duration)
 * whenever its stream ends, also when the last watcher is cancelled at shutdown, which would hold
 * the process after its exit balance. Once `stopped()`, every duration is 0: the reconnect runs at
 * once, finds no watcher and does nothing.
 */
function stoppableBackoff(inner: IBackoffFactory<unknown>, stopped: () => boolean): IBackoff<unknown> {
  const wrap = (b: IBackoff<unknown> | undefined): IBackoff<unknown> => ({
    get duration() {
      return stopped() || !b ? 0 : b.duration;
    },
    next: (ctx: unknown) => wrap(b?.next(ctx) ?? b),
  });
  return { duration: 0, next: (ctx: unknown) => wrap(inner.next(ctx)) };
}

/** Whether a process of this host exists (signal 0 checks without sending). */
function processAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ALUA across cluster nodes (issue 16, docs/cluster.md "ALUA"): the access states of the target
// port groups of shared device groups live in etcd and every node applies them from a watch; the
// relative target port ids of each node's targets and the group ids of its shared target groups
// are published under its lease, and a node whose ids collide with another's does not join.
//
// Keys (under the cluster prefix):
//   alua/states/<device group>/<target group>  {state, node, commit, at}   no lease: states outlive nodes
//   alua/ports/<node>                          {node, targets, groups}     under the node's lease
import type { IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterAluaLocal, CommittedState } from './alua-local.js';
import type { ClusterMembership } from './membership.js';

/** A node's identifiers, `alua/ports/<node>`. */
export interface PortsRecord {
  node: string;
  targets: Array<{ target: string; relTgtId: number }>;
  groups: Array<{ deviceGroup: string; targetGroup: string; groupId: number }>;
}

interface StateRecord {
  state: string;
  node: string;
  /** Unique per commit: the committing node recognises its own change in the watch. */
  commit: string;
  at: string;
}

/** How long one state change may take to commit, retries included. */
export const ALUA_COMMIT_MS = 5000;
/** Compare-and-swap attempts when another node's change got in between. */
const CAS_TRIES = 4;

// EIO, not EAGAIN, for "not committed": EAGAIN from a sysfs write means "still running, see
// last_sysfs_mgmt_res" to scstadmin (SCST's convention), which this is not.
type Errno = 'EEXIST' | 'EINVAL' | 'ETIMEDOUT' | 'EIO';

/** An error with the errno a management write reports (the core maps it). */
export function errnoError(errno: Errno, message: string): Error & { errno: Errno } {
  return Object.assign(new Error(message), { errno });
}

function parseJson<T>(v: Buffer | string): T | null {
  try {
    const r = JSON.parse(v.toString()) as unknown;
    return r && typeof r === 'object' ? (r as T) : null;
  } catch {
    return null;
  }
}

function parsePorts(v: Buffer | string): PortsRecord | null {
  const r = parseJson<PortsRecord>(v);
  return r && typeof r.node === 'string' && Array.isArray(r.targets) && Array.isArray(r.groups) ? r : null;
}

function parseState(v: Buffer | string): StateRecord | null {
  const r = parseJson<StateRecord>(v);
  return r && typeof r.state === 'string' ? r : null;
}

function bounded<T>(p: Promise<T>, ms: number, what: string, errno: Errno = 'ETIMEDOUT'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(errnoError(errno, `${what}: no answer from etcd within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * What makes `mine` unacceptable next to another node's identifiers, or null: a relative target
 * port id both use for their own targets, a group id two different target groups of one device
 * group use, or one target group with two different group ids.
 */
export function idCollision(mine: PortsRecord, other: PortsRecord): string | null {
  for (const t of mine.targets) {
    const o = other.targets.find((x) => x.relTgtId === t.relTgtId);
    if (o) return `rel_tgt_id ${t.relTgtId} is used by target ${t.target} on node ${mine.node} and by target ${o.target} on node ${other.node}`;
  }
  for (const g of mine.groups) {
    for (const o of other.groups) {
      if (o.deviceGroup !== g.deviceGroup) continue;
      if (o.targetGroup === g.targetGroup && o.groupId !== g.groupId) return `target group ${g.deviceGroup}/${g.targetGroup} has group_id ${g.groupId} on node ${mine.node} but ${o.groupId} on node ${other.node}`;
      if (o.targetGroup !== g.targetGroup && o.groupId === g.groupId) return `group_id ${g.groupId} of device group ${g.deviceGroup} is target group ${g.targetGroup} on node ${mine.node} and target group ${o.targetGroup} on node ${other.node}`;
    }
  }
  return null;
}

/**
 * The cluster's side of shared ALUA states (the core's AluaSharing, structurally): commit,
 * watch-and-apply, resynchronise on (re)join, and the identifier checks.
 */
export class EtcdAluaSync {
  private readonly statesPrefix: string;
  private readonly portsPrefix: string;
  private readonly membersKey: string;
  /** Other nodes' identifiers, as last read or watched. */
  private readonly others = new Map<string, PortsRecord>();
  /** Per state key: the mod revision in force here (older events are not applied again). */
  private readonly seenRev = new Map<string, bigint>();
  /** Commit ids of this node's commits under way: the watch leaves them to their writer. */
  private readonly pending = new Set<string>();
  /** Watch events of those commits, kept until the writer knows whether it succeeded. */
  private readonly heldBack = new Map<string, IKeyValue[]>();
  private watcher: Watcher | null = null;
  private seq = 0;
  private uncertainSince: number | null = null;
  private republishTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly m: ClusterMembership,
    private readonly local: ClusterAluaLocal,
    private readonly log: Logger,
  ) {
    this.statesPrefix = `${m.prefix}alua/states/`;
    this.portsPrefix = `${m.prefix}alua/ports/`;
    this.membersKey = `${m.prefix}members/${m.node}`;
    m.onResync((signal) => this.resync(signal));
    m.onState((s) => {
      if (s === 'fenced') this.uncertainSince ??= Date.now();
      else if (s === 'member' && this.uncertainSince !== null) {
        this.uncertainSince = null;
        this.local.restored();
      } else if (s === 'leaving') this.stop();
    });
  }

  // ---- the core's AluaSharing -----------------------------------------------------------------

  shares(g: { name: string }): boolean {
    return this.local.isShared(g.name);
  }

  /** A member whose lease is certainly valid now (checked at the decision, not from the state alone). */
  certain(): boolean {
    return this.m.state === 'member' && this.m.validUntil() > Date.now();
  }

  /**
   * Commit `changes` in one transaction, bounded by ALUA_COMMIT_MS: only while this node's
   * registration holds its current lease, and only over the states it has in force (compare and
   * swap on each key's mod revision; a newer state is applied first and the commit tried again).
   * Resolves once committed; the caller applies the changes here. Another node applies them
   * from its watch; the writer does not wait for that (docs/cluster.md says why).
   */
  async commit<C extends CommittedState>(changes: readonly C[]): Promise<readonly C[]> {
    if (!this.certain()) throw errnoError('EIO', `node ${this.m.node} is not a certain member of cluster '${this.m.clusterName}' (${this.m.state}): ALUA state not committed`);
    const id = `${this.m.node}:${process.pid}:${++this.seq}`;
    this.pending.add(id);
    const run = { abandoned: false };
    let ok = false;
    try {
      const current = await bounded(this.commitTx(changes, id, run), ALUA_COMMIT_MS, `ALUA state commit ${id}`);
      ok = true;
      return current;
    } catch (e) {
      // An etcd client error (unreachable, deadline) is a commit that did not happen either.
      if ((e as { errno?: string }).errno) throw e;
      throw errnoError('EIO', `ALUA state not committed: ${(e as Error).message}`);
    } finally {
      run.abandoned = true;
      this.pending.delete(id);
      const held = this.heldBack.get(id);
      this.heldBack.delete(id);
      // Given up on, but etcd did commit it (the answer was late): it takes effect as another node's.
      if (!ok && held) for (const kv of held) this.onStatePut(kv, true);
    }
  }

  /** Refuses (EEXIST/EINVAL) an identifier another node uses; republishes this node's soon after. */
  checkIds(change: { relTgtId?: { target: string; id: number }; groupId?: { deviceGroup: string; targetGroup: string; id: number } }): void {
    const me = this.m.node;
    if (change.relTgtId) {
      const { target, id } = change.relTgtId;
      for (const o of this.others.values()) {
        const t = o.targets.find((x) => x.relTgtId === id);
        if (t) throw errnoError('EEXIST', `rel_tgt_id ${id} for target ${target} on node ${me}: used by target ${t.target} on node ${o.node}`);
      }
    }
    if (change.groupId) {
      const { deviceGroup, targetGroup, id } = change.groupId;
      const mine: PortsRecord = { node: me, targets: [], groups: [{ deviceGroup, targetGroup, groupId: id }] };
      for (const o of this.others.values()) {
        const why = idCollision(mine, o);
        if (why) throw errnoError('EEXIST', why);
      }
    }
    this.scheduleRepublish();
  }

  // ---- inside -----------------------------------------------------------------------------------

  private stateKey(deviceGroup: string, targetGroup: string): string {
    return `${this.statesPrefix}${deviceGroup}/${targetGroup}`;
  }

  private ownRecord(): PortsRecord {
    const groups: PortsRecord['groups'] = [];
    for (const g of this.local.sharedGroups()) for (const tg of g.targetGroups) if (tg.groupId > 0) groups.push({ deviceGroup: g.name, targetGroup: tg.name, groupId: tg.groupId });
    return { node: this.m.node, targets: this.local.localTargets(), groups };
  }

  /** `run.abandoned`: the caller gave up (bound); a late success is then left to the watch to apply. */
  private async commitTx<C extends CommittedState>(changes: readonly C[], id: string, run: { abandoned: boolean }): Promise<readonly C[]> {
    const c = this.m.client;
    const at = new Date().toISOString();
    for (let attempt = 1; ; attempt++) {
      const lease = this.m.leaseId;
      if (run.abandoned) return [];
      if (!lease || !this.certain()) throw errnoError('EIO', `node ${this.m.node} lost its membership: ALUA state not committed`);
      const keys = changes.map((ch) => this.stateKey(ch.deviceGroup, ch.targetGroup));
      let tx = c.if(this.membersKey, 'Lease', '==', lease);
      keys.forEach((k) => {
        const rev = this.seenRev.get(k);
        tx = rev === undefined ? tx.and(k, 'Create', '==', 0) : tx.and(k, 'Mod', '==', String(rev));
      });
      const puts = changes.map((ch, i) => c.put(keys[i]!).value(JSON.stringify({ state: ch.state, node: this.m.node, commit: id, at } satisfies StateRecord)));
      const r = await tx
        .then(...puts)
        .else(c.get(this.membersKey), ...keys.map((k) => c.get(k)))
        .commit();
      if (r.succeeded) {
        const rev = BigInt(r.header.revision);
        if (run.abandoned) {
          this.log.warn({ commit: id, revision: String(rev) }, `cluster: ALUA state commit ${id} took effect after its writer gave up; applied from the watch`);
          return [];
        }
        // A newer commit of another node may already be in force here (its watch event came
        // before this answer): that one stays, this one is not applied over it.
        const current = changes.filter((_, i) => {
          const seen = this.seenRev.get(keys[i]!);
          if (seen !== undefined && seen > rev) return false;
          this.seenRev.set(keys[i]!, rev);
          return true;
        });
        this.log.info({ commit: id, revision: String(rev), changes }, `cluster: ALUA state committed (${changes.map((ch) => `${ch.deviceGroup}/${ch.targetGroup} ${ch.state}`).join(', ')})`);
        return current;
      }
      const member = r.responses[0]?.response_range?.kvs[0];
      if (!member || String(member.lease) !== lease) throw errnoError('EIO', `node ${this.m.node} is no longer registered under lease ${lease}: ALUA state not committed`);
      // Another node changed one of these states since this node applied it: take that first.
      r.responses.slice(1).forEach((resp) => {
        const kv = resp.response_range?.kvs[0];
        if (kv) this.onStatePut(kv, true);
      });
      if (attempt >= CAS_TRIES) throw errnoError('EIO', `ALUA state not committed: changed by other nodes ${attempt} times meanwhile`);
    }
  }

  /** A state key changed (watch, resync or a lost compare): put it in force here unless it is not newer. */
  private onStatePut(kv: IKeyValue, force = false): void {
    const key = kv.key.toString();
    const rev = BigInt(kv.mod_revision);
    if ((this.seenRev.get(key) ?? -1n) >= rev) return;
    const rec = parseState(kv.value);
    if (!rec) {
      this.log.warn({ key }, `cluster: ignoring malformed ALUA state ${key}`);
      return;
    }
    // This node's own commit under way: its writer applies it, with the issuing nexus spared.
    if (!force && this.pending.has(rec.commit)) {
      const held = this.heldBack.get(rec.commit) ?? [];
      held.push(kv);
      this.heldBack.set(rec.commit, held);
      return;
    }
    this.seenRev.set(key, rev);
    const rest = key.slice(this.statesPrefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return;
    this.local.applyCommitted({ deviceGroup: rest.slice(0, slash), targetGroup: rest.slice(slash + 1), state: rec.state }, rec.node);
  }

  /**
   * On every (re)join, before the node is a member: publish this node's identifiers under the
   * new lease, refuse to join when they collide with another node's, seed the states etcd does
   * not hold yet with this node's (the first node's configuration wins), put etcd's in force
   * here, and watch from that revision on.
   */
  private async resync(signal: AbortSignal): Promise<void> {
    const c = this.m.client;
    const lease = this.m.leaseId;
    if (!lease) throw new Error('ALUA resync: no lease');
    const mine = this.ownRecord();
    const ownKey = this.portsPrefix + this.m.node;
    await c.put(ownKey).value(JSON.stringify(mine)).lease(lease).exec();
    const res = await c.getAll().prefix(`${this.m.prefix}alua/`).exec();
    signal.throwIfAborted();
    const others = new Map<string, PortsRecord>();
    const states: IKeyValue[] = [];
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (key.startsWith(this.portsPrefix)) {
        const rec = parsePorts(kv.value);
        if (rec && rec.node !== this.m.node) others.set(rec.node, rec);
      } else if (key.startsWith(this.statesPrefix)) states.push(kv);
    }
    for (const o of others.values()) {
      const why = idCollision(mine, o);
      if (why) {
        await c.delete().key(ownKey).exec().catch(() => undefined);
        this.log.error({ node: this.m.node, other: o.node }, `cluster: identifiers collide: ${why}`);
        // The first start fails at once (refuseJoin); a rejoin keeps trying, the other node may go.
        throw Object.assign(errnoError('EEXIST', `identifiers collide: ${why}`), { refuseJoin: true });
      }
    }
    this.others.clear();
    for (const [k, v] of others) this.others.set(k, v);
    const held = new Set(states.map((kv) => kv.key.toString()));
    for (const kv of states) this.onStatePut(kv, true);
    // Seed: a shared target group whose state etcd does not hold yet gets this node's.
    for (const g of this.local.sharedGroups()) {
      for (const tg of g.targetGroups) {
        const key = this.stateKey(g.name, tg.name);
        if (held.has(key)) continue;
        const value = JSON.stringify({ state: tg.state, node: this.m.node, commit: `${this.m.node}:${process.pid}:seed`, at: new Date().toISOString() } satisfies StateRecord);
        const r = await c.if(key, 'Create', '==', 0).then(c.put(key).value(value)).else(c.get(key)).commit();
        if (r.succeeded) this.seenRev.set(key, BigInt(r.header.revision));
        else {
          const kv = r.responses[0]?.response_range?.kvs[0];
          if (kv) this.onStatePut(kv, true);
        }
      }
    }
    signal.throwIfAborted();
    await this.watchFrom(BigInt(res.header.revision) + 1n);
  }

  private async watchFrom(rev: bigint): Promise<void> {
    const old = this.watcher;
    this.watcher = null;
    if (old) void bounded(old.cancel(), 2000, 'watch cancel').catch(() => undefined);
    const w = this.m.client.watch().prefix(`${this.m.prefix}alua/`).startRevision(String(rev)).watcher();
    try {
      await bounded(
        new Promise<void>((resolve, reject) => {
          w.once('connected', () => resolve());
          w.once('error', reject);
        }),
        2000,
        'ALUA watch',
      );
    } catch (e) {
      void bounded(w.cancel(), 2000, 'watch cancel').catch(() => undefined);
      throw e;
    }
    w.on('put', (kv: IKeyValue) => {
      const key = kv.key.toString();
      if (key.startsWith(this.statesPrefix)) this.onStatePut(kv);
      else if (key.startsWith(this.portsPrefix)) {
        const rec = parsePorts(kv.value);
        if (rec && rec.node !== this.m.node) this.others.set(rec.node, rec);
      }
    });
    w.on('delete', (kv: IKeyValue) => {
      const key = kv.key.toString();
      if (key.startsWith(this.portsPrefix)) this.others.delete(key.slice(this.portsPrefix.length));
    });
    w.on('error', (e: Error) => this.log.warn({ err: e.message }, `cluster: ALUA watch failed: ${e.message}`));
    if (this.stopped) void bounded(w.cancel(), 2000, 'watch cancel').catch(() => undefined);
    else this.watcher = w;
  }

  /** After a local identifier change: publish this node's record again (best effort, logged). */
  private scheduleRepublish(): void {
    clearTimeout(this.republishTimer);
    this.republishTimer = setTimeout(() => {
      const lease = this.m.leaseId;
      if (!lease || !this.certain() || this.stopped) return;
      this.m.client
        .put(this.portsPrefix + this.m.node)
        .value(JSON.stringify(this.ownRecord()))
        .lease(lease)
        .exec()
        .catch((e: unknown) => this.log.warn({ err: (e as Error).message }, `cluster: cannot publish this node's ALUA identifiers: ${(e as Error).message}`));
    }, 0);
    this.republishTimer.unref();
  }

  private stop(): void {
    this.stopped = true;
    clearTimeout(this.republishTimer);
    const w = this.watcher;
    this.watcher = null;
    if (w) void bounded(w.cancel(), 1000, 'watch cancel').catch(() => undefined);
  }
}

// The reservation store of cluster_mode 1 devices (issue 16, docs/cluster-reservations.md §4):
// the state of each logical unit lives in etcd under its t10_dev_id, every change is one
// transaction that compares the revision the writer decided on, every node watches and applies
// each revision in order (its own commits too) and acknowledges the revision it enforces under a
// key attached to its lease. A change completes once every live node acknowledged it; a node that
// does not in time has its lease revoked and the writer waits out that node's self-fencing bound.
// Commands are admitted on a cluster-mode LU only while this node is a certain member and
// enforces the shared state (Device.clusterGate): the data path reads fields, never etcd.
import type { IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { Device } from '../engine/device.js';
import { ABORT_WAIT_MS, EnforcingStore, type Committed } from '../engine/reservations.js';
import { Sense } from '../engine/scsi/constants.js';
import { decideNexusLoss, type Decision } from '../engine/scsi/resv-decide.js';
import { decodeState, EMPTY_STATE, encodeState, fromStored, persistentPart, type ItlNexus, type NexusMatcher, type ResvState, type UnitAttentionTo } from '../engine/scsi/resv-state.js';
import type { ClusterMembership } from './membership.js';

export interface EtcdReservationOptions {
  /** This node's name (the membership's): what SPC-2 holders made through it carry. */
  node: string;
  log: Logger;
  /** How long a writer waits for every live node's acknowledgement before fencing the laggards (default: half the TTL, at least 1 s). */
  ackWaitMs?: number;
}

type Effects = Pick<Decision, 'uas' | 'abort'>;

/** One logical unit (one t10_dev_id) as this node serves it. */
interface Lu {
  id: string;
  /** The id as a key component. */
  enc: string;
  devices: Set<Device>;
  /** The state this node enforces and its mod revision in etcd (0: the key does not exist). */
  state: ResvState;
  rev: number;
  /** Resynchronised since it was taken in: the state above is the cluster's. */
  ready: boolean;
  /** Watch events are applied one after another, in revision order. */
  chain: Promise<void>;
  applied: Array<{ rev: number; done: () => void }>;
  ackListeners: Set<(node: string, rev: number | null) => void>;
  ackWriting: boolean;
  ackAgain: boolean;
  gate: () => boolean;
}

/** Attempts of one change when other nodes keep winning the race (each decides again). */
const MAX_ATTEMPTS = 8;
/** Attempts to acknowledge a resynchronised state that keeps changing under us. */
const ACK_ATTEMPTS = 5;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms).unref()))]).finally(() => clearTimeout(timer));
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The value kept under `lu/<id>/state`: the state, the effects of the change that made it, and who wrote it. */
interface StoredValue {
  state: ResvState;
  effects: Effects;
  by: string;
  /** A LOGICAL UNIT RESET through node `by`: the other nodes end their tasks on the LU and queue BUS DEVICE RESET. */
  reset: boolean;
}

function encodeValue(state: ResvState, effects: Effects, by: string, reset = false): string {
  return JSON.stringify({ state: JSON.parse(encodeState(state)) as unknown, change: { uas: effects.uas, abort: effects.abort, ...(reset ? { reset: true } : {}) }, by });
}

/** The node name of a value's writer (`by` is node:lease:sequence). */
const writerOf = (by: string): string => by.slice(0, by.indexOf(':'));

const isStr = (x: unknown): x is string => typeof x === 'string';
const isMatcher = (m: unknown): m is NexusMatcher => {
  const o = m as Record<string, unknown> | null;
  return typeof o === 'object' && o !== null && isStr(o.initiator) && isStr(o.isid) && (o.relTgtId === null || Number.isInteger(o.relTgtId));
};

/** Parse a stored value; an error message for anything malformed (a node never enforces a value it cannot read). */
function decodeValue(raw: Buffer | string): StoredValue | { error: string } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(raw.toString()) as Record<string, unknown>;
  } catch (e) {
    return { error: `not JSON: ${errText(e)}` };
  }
  if (typeof o !== 'object' || o === null) return { error: 'not an object' };
  const state = decodeState(JSON.stringify(o.state));
  if ('error' in state) return state;
  const c = (o.change ?? { uas: [], abort: null }) as Record<string, unknown>;
  const uas = Array.isArray(c.uas) ? (c.uas as unknown[]) : null;
  if (!uas || !uas.every((u) => isMatcher((u as UnitAttentionTo).to) && typeof (u as UnitAttentionTo).asc === 'object')) return { error: 'bad unit attentions' };
  const a = c.abort as Effects['abort'];
  if (a !== null && !(typeof a === 'object' && Array.isArray(a.victims) && a.victims.every(isMatcher) && typeof a.except === 'object')) return { error: 'bad abort' };
  return { state, effects: { uas: uas as UnitAttentionTo[], abort: a }, by: isStr(o.by) ? o.by : '', reset: c.reset === true };
}

export class EtcdReservationStore extends EnforcingStore {
  private m: ClusterMembership | null = null;
  private readonly log: Logger;
  private readonly lus = new Map<string, Lu>();
  private watcher: Watcher | null = null;
  /** The watch failed (compacted, cancelled): nothing is admitted until a resynchronisation. */
  private stale = false;
  private refreshing = false;
  private resyncedOnce = false;
  private stopping = false;
  private seq = 0;

  constructor(private readonly o: EtcdReservationOptions) {
    super(o.node);
    this.log = o.log;
  }

  /** Start serving through `m` (built after the configuration that creates the devices). */
  bind(m: ClusterMembership): void {
    this.m = m;
    m.onResync((signal) => this.resync(signal));
    m.onState((s) => {
      if (s === 'leaving') this.stop();
      if (s === 'member') void this.sweepSpc2();
    });
  }

  private get luPrefix(): string {
    return `${this.m!.prefix}lu/`;
  }

  /** `<prefix>lu/<t10_dev_id>/state` (the prefix is known once bound to the membership). */
  private stateKey(lu: Lu): string {
    return `${this.luPrefix}${lu.enc}/state`;
  }

  /** `<prefix>lu/<t10_dev_id>/ack/`, one key per node under it. */
  private ackPrefix(lu: Lu): string {
    return `${this.luPrefix}${lu.enc}/ack/`;
  }

  private get ttlMs(): number {
    return (this.m?.ttlSeconds ?? 5) * 1000;
  }

  private get ackWaitMs(): number {
    return this.o.ackWaitMs ?? Math.max(1000, this.ttlMs / 2);
  }

  canPersist(): boolean {
    return true; // etcd is the persistent store of a cluster-mode logical unit
  }

  /** Whether this node may execute commands on `lu` now: a certain member enforcing its state. */
  private admits(lu: Lu): boolean {
    const m = this.m;
    return m !== null && lu.ready && !this.stale && m.state === 'member' && m.validUntil() > Date.now();
  }

  private luOf(dev: Device): Lu | undefined {
    return this.lus.get(dev.t10DevId);
  }

  async attach(dev: Device): Promise<void> {
    const id = dev.t10DevId;
    let lu = this.lus.get(id);
    if (!lu) {
      const l: Lu = {
        id,
        enc: encodeURIComponent(id),
        devices: new Set(),
        state: EMPTY_STATE,
        rev: 0,
        ready: false,
        chain: Promise.resolve(),
        applied: [],
        ackListeners: new Set(),
        ackWriting: false,
        ackAgain: false,
        gate: () => this.admits(l),
      };
      lu = l;
      this.lus.set(id, lu);
    }
    lu.devices.add(dev);
    dev.clusterGate = lu.gate;
    this.adopt(dev, lu.state);
    // Taken in while a member (add_device or cluster_mode at run time): read its state now. At
    // start the membership's first resynchronisation does it before the node serves anything.
    if (this.m?.state === 'member' && !lu.ready) {
      try {
        await bounded(this.resyncLu(lu, true), this.ttlMs, `${dev.name}: reading its reservation state from etcd`);
      } catch (e) {
        this.detach(dev);
        throw e;
      }
    }
  }

  detach(dev: Device): void {
    const lu = this.luOf(dev);
    dev.clusterGate = null;
    if (!lu || !lu.devices.delete(dev) || lu.devices.size > 0) return;
    this.lus.delete(lu.id);
    const m = this.m;
    if (m?.state === 'member') void bounded(m.client.delete().key(`${this.ackPrefix(lu)}${this.node}`).exec(), 2500, 'ack delete').catch(() => undefined);
  }

  async change(dev: Device, decide: (s: ResvState) => Decision): Promise<Committed> {
    const lu = this.luOf(dev);
    const m = this.m;
    if (!lu || !m) throw this.fail(dev, 'not attached to the cluster');
    if (!this.admits(lu)) throw this.fail(dev, `node ${this.node} is not a certain member of cluster '${m.clusterName}' (${m.state})`);
    let rev = lu.rev;
    let state = lu.state;
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const decision = decide(state);
      if (!decision.state) return { decision, persistFailed: false };
      // No reservation granted on a lease that is not certainly valid (the compare below keeps
      // the state current; this keeps the writer one the others still count).
      if (!this.admits(lu)) throw this.fail(dev, `node ${this.node} stopped being a certain member while deciding`);
      const by = `${this.node}:${m.leaseId}:${++this.seq}`;
      const value = encodeValue(decision.state, decision, by);
      let r;
      try {
        r = await m.client.if(this.stateKey(lu), 'Mod', '==', rev).then(m.client.put(this.stateKey(lu)).value(value)).else(m.client.get(this.stateKey(lu))).commit();
      } catch (e) {
        // The answer is lost, not necessarily the write: read back whether ours is there.
        const mine = await this.readBack(lu, by).catch(() => null);
        if (mine === null) throw this.fail(dev, `commit not confirmed (${errText(e)}); nothing was committed unless a later change already replaced it`);
        await this.inForce(dev, lu, mine);
        return { decision, persistFailed: false };
      }
      if (r.succeeded) {
        await this.inForce(dev, lu, Number(r.header.revision));
        return { decision, persistFailed: false };
      }
      // Another node won: decide again on the state that won.
      const kv = r.responses[0]?.response_range?.kvs[0];
      rev = kv ? Number(kv.mod_revision) : 0;
      if (!kv) {
        state = EMPTY_STATE;
        continue;
      }
      const v = decodeValue(kv.value);
      if ('error' in v) throw this.fail(dev, `the state in etcd is not readable: ${v.error}`);
      state = v.state;
    }
    throw this.fail(dev, `no commit after ${MAX_ATTEMPTS} attempts (other nodes kept changing the state)`);
  }

  /**
   * A LOGICAL UNIT RESET through this node: one revision (the state unchanged) that tells every
   * other node to reset the logical unit for its nexuses; resolves once all enforce it.
   */
  async logicalUnitReset(dev: Device): Promise<void> {
    const lu = this.luOf(dev);
    const m = this.m;
    if (!lu || !m || !this.admits(lu)) throw this.fail(dev, 'LOGICAL UNIT RESET not announced to the other nodes: this node is not a certain member');
    let rev = lu.rev;
    let state = lu.state;
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const by = `${this.node}:${m.leaseId}:${++this.seq}`;
      const r = await m.client.if(this.stateKey(lu), 'Mod', '==', rev).then(m.client.put(this.stateKey(lu)).value(encodeValue(state, { uas: [], abort: null }, by, true))).else(m.client.get(this.stateKey(lu))).commit();
      if (r.succeeded) return this.inForce(dev, lu, Number(r.header.revision));
      const kv = r.responses[0]?.response_range?.kvs[0];
      rev = kv ? Number(kv.mod_revision) : 0;
      const v = kv ? decodeValue(kv.value) : null;
      if (v && 'error' in v) throw this.fail(dev, `the state in etcd is not readable: ${v.error}`);
      state = v ? v.state : EMPTY_STATE;
    }
    throw this.fail(dev, `LOGICAL UNIT RESET not announced after ${MAX_ATTEMPTS} attempts`);
  }

  /** What a LOGICAL UNIT RESET through another node does here: this node's tasks on `dev` end, its nexuses hear of it. */
  private resetHere(dev: Device): Promise<void> {
    const sessions = new Set([...dev.tgtDevs].map((td) => td.session));
    const waits = [...sessions].map((s) => s.transport.abortDeviceTasks(dev));
    // What a reset sets back on the logical unit (as the core's resetLogicalUnit; the SPC-2
    // reservation went with the reset's own change).
    dev.preventers.clear();
    dev.wce = !dev.writeThrough;
    dev.swp = false;
    dev.queueUA(Sense.DEVICE_RESET);
    return Promise.race([Promise.allSettled(waits).then(() => undefined), sleep(ABORT_WAIT_MS)]);
  }

  private fail(dev: Device, why: string): Error {
    const msg = `${dev.name}: reservation change not committed: ${why}`;
    this.log.error({ device: dev.name, t10DevId: dev.t10DevId }, `cluster: ${msg}`);
    return new Error(msg);
  }

  /** The mod revision of `lu`'s state if its value is the one written as `by`, else null. */
  private async readBack(lu: Lu, by: string): Promise<number | null> {
    const r = await this.m!.client.get(this.stateKey(lu)).exec();
    const kv = r.kvs[0];
    if (!kv) return null;
    const v = decodeValue(kv.value);
    return !('error' in v) && v.by === by ? Number(kv.mod_revision) : null;
  }

  /**
   * Revision `rev` of `lu` was committed: resolve once this node applied it and every other live
   * node acknowledged it. A node that has not within the bound is fenced: its lease revoked, then
   * its self-fencing bound (its lease's TTL, counted from the revoke) waited out.
   */
  private async inForce(dev: Device, lu: Lu, rev: number): Promise<void> {
    const m = this.m!;
    const deadline = Date.now() + this.ackWaitMs;
    const pending = new Map<string, string>(); // node -> lease of its ack key
    /** Nodes whose ack (>= rev, or deletion) arrived while the read below was on its way. */
    const done = new Set<string>();
    let wake: () => void = () => undefined;
    const listener = (node: string, ackRev: number | null) => {
      if (ackRev === null || ackRev >= rev) {
        done.add(node);
        pending.delete(node);
        if (pending.size === 0) wake();
      }
    };
    // Subscribed before the read: an ack written after the read's revision is seen here, also
    // one whose event arrives before the read's answer (kept in `done`).
    lu.ackListeners.add(listener);
    try {
      const acks = await m.client.getAll().prefix(this.ackPrefix(lu)).exec();
      for (const kv of acks.kvs) {
        const node = kv.key.toString().slice(this.ackPrefix(lu).length);
        if (node !== this.node && !done.has(node) && Number(kv.value.toString()) < rev) pending.set(node, kv.lease);
      }
      const own = this.appliedHere(lu, rev);
      const others = pending.size === 0 ? Promise.resolve() : new Promise<void>((r) => (wake = r));
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), Math.max(0, deadline - Date.now())).unref()));
      const outcome = await Promise.race([Promise.all([own, others]).then(() => 'ok' as const), late]).finally(() => clearTimeout(timer));
      if (outcome === 'ok') return;
      if (pending.size > 0) await this.fenceLaggards(dev, lu, rev, new Map(pending));
      // This node's own watch is late too: give it its lease's length, then give up.
      const ownLate = await Promise.race([own.then(() => false), sleep(this.ttlMs).then(() => true)]);
      if (ownLate) throw this.fail(dev, `revision ${rev} committed but not applied on this node within ${this.ackWaitMs + this.ttlMs} ms (the command is retried; this node resynchronises)`);
    } finally {
      lu.ackListeners.delete(listener);
    }
  }

  private appliedHere(lu: Lu, rev: number): Promise<void> {
    if (lu.rev >= rev) return Promise.resolve();
    return new Promise((done) => lu.applied.push({ rev, done }));
  }

  private async fenceLaggards(dev: Device, lu: Lu, rev: number, laggards: Map<string, string>): Promise<void> {
    const m = this.m!;
    let waitMs = 0;
    for (const [node, lease] of laggards) {
      let ttl = this.ttlMs;
      try {
        const t = await m.client.leaseClient.leaseTimeToLive({ ID: lease, keys: false });
        if (Number(t.grantedTTL) > 0) ttl = Number(t.grantedTTL) * 1000;
        await m.client.leaseClient.leaseRevoke({ ID: lease });
      } catch (e) {
        // Gone already ("lease not found"): that node is fenced; anything else: we cannot fence it.
        if (!/not found/i.test(errText(e))) throw this.fail(dev, `node ${node} did not acknowledge revision ${rev} and could not be fenced: ${errText(e)}`);
      }
      this.log.error(
        { device: dev.name, t10DevId: lu.id, node, lease, rev, waitMs: this.ackWaitMs },
        `cluster: node ${node} did not acknowledge revision ${rev} of ${lu.id} within ${this.ackWaitMs} ms: fenced (lease ${lease} revoked); waiting ${ttl} ms for its self-fencing bound`,
      );
      waitMs = Math.max(waitMs, ttl);
    }
    // The laggard counted its lease valid until (send time of its last acknowledged keepalive) +
    // TTL - margin; that keepalive reached etcd before the revoke, so TTL after the revoke it
    // certainly no longer admits a command.
    await sleep(waitMs);
  }

  // ---- the watch: every revision applied in order, then acknowledged ------------------------

  private onPut(kv: IKeyValue): void {
    const key = kv.key.toString();
    const m = this.m!;
    if (key.startsWith(`${m.prefix}members/`)) return;
    if (!key.startsWith(this.luPrefix)) return;
    const rest = key.slice(this.luPrefix.length);
    const slash = rest.indexOf('/');
    const lu = this.lus.get(decodeURIComponent(rest.slice(0, slash)));
    if (!lu) return;
    const what = rest.slice(slash + 1);
    if (what === 'state') this.onStateRevision(lu, Number(kv.mod_revision), kv.value);
    else if (what.startsWith('ack/')) for (const l of lu.ackListeners) l(what.slice(4), Number(kv.value.toString()));
  }

  private onDelete(kv: IKeyValue): void {
    const key = kv.key.toString();
    const m = this.m!;
    if (key.startsWith(`${m.prefix}members/`)) {
      // A node left: its SPC-2 reservations go (its nexuses are lost); its registrations stay.
      // Named here: the membership's own watch may not have seen the deletion yet.
      void this.sweepSpc2(key.slice(`${m.prefix}members/`.length));
      return;
    }
    if (!key.startsWith(this.luPrefix)) return;
    const rest = key.slice(this.luPrefix.length);
    const slash = rest.indexOf('/');
    const lu = this.lus.get(decodeURIComponent(rest.slice(0, slash)));
    const what = rest.slice(slash + 1);
    // An ack key goes with its node's lease: that node is fenced, nobody waits for it.
    if (lu && what.startsWith('ack/')) for (const l of lu.ackListeners) l(what.slice(4), null);
  }

  private onStateRevision(lu: Lu, rev: number, raw: Buffer): void {
    const v = decodeValue(raw);
    if ('error' in v) {
      this.log.error({ t10DevId: lu.id, rev }, `cluster: revision ${rev} of ${lu.id}'s reservation state is not readable (${v.error}); not serving it until resynchronised`);
      this.markStale(`unreadable revision ${rev}`);
      return;
    }
    this.log.debug({ t10DevId: lu.id, rev, enforced: lu.rev }, `cluster: revision ${rev} of ${lu.id} seen`);
    lu.chain = lu.chain.then(async () => {
      if (rev <= lu.rev) return;
      lu.state = v.state;
      await Promise.all([...lu.devices].map((d) => this.apply(d, v.state, v.effects)));
      if (v.reset && writerOf(v.by) !== this.node) await Promise.all([...lu.devices].map((d) => this.resetHere(d)));
      lu.rev = rev;
      const still: Lu['applied'] = [];
      for (const w of lu.applied) (w.rev <= rev ? w.done() : still.push(w));
      lu.applied = still;
      void this.writeAck(lu);
    }).catch((e: unknown) => {
      // One failed step must not stop every later revision: serve nothing until resynchronised.
      this.log.error({ t10DevId: lu.id, rev }, `cluster: applying revision ${rev} of ${lu.id} failed: ${errText(e)}`);
      this.markStale(`revision ${rev} not applied`);
    });
  }

  /** Put `lu/<id>/ack/<node>` = the revision enforced, under the lease (coalesced: the newest wins). */
  private async writeAck(lu: Lu): Promise<void> {
    const m = this.m!;
    if (lu.ackWriting) {
      lu.ackAgain = true;
      return;
    }
    lu.ackWriting = true;
    // A failed put (the member it went to just died, an election) is retried soon, within the
    // time a writer waits: not acknowledging in time gets this node fenced.
    const giveUp = Date.now() + this.ackWaitMs;
    let delay = 50;
    try {
      do {
        lu.ackAgain = false;
        // Written whatever the membership's state: an ack under a lease etcd no longer holds
        // fails, and one under a live lease is true (the revision is applied) while the gate,
        // not the ack, decides whether anything is served.
        const lease = m.leaseId;
        if (!lease || !lu.ready || this.stopping || !this.lus.has(lu.id)) return;
        try {
          this.log.debug({ t10DevId: lu.id, rev: lu.rev }, `cluster: acknowledging revision ${lu.rev} of ${lu.id}`);
          await m.client.put(`${this.ackPrefix(lu)}${this.node}`).value(String(lu.rev)).lease(lease).exec();
        } catch (e) {
          if (Date.now() + delay >= giveUp || m.leaseId !== lease) {
            this.log.warn({ t10DevId: lu.id, rev: lu.rev }, `cluster: cannot acknowledge revision ${lu.rev} of ${lu.id}: ${errText(e)}`);
            return;
          }
          await sleep(delay);
          delay = Math.min(delay * 2, 500);
          lu.ackAgain = true;
        }
      } while (lu.ackAgain);
    } finally {
      lu.ackWriting = false;
    }
  }

  // ---- resynchronisation ------------------------------------------------------------------------

  /**
   * Run by the membership before this node becomes a member (first join, every rejoin): read
   * every served logical unit's state, watch from there, acknowledge. A node that may have missed
   * revisions (a rejoin after which the revision differs) ends its sessions on that logical unit:
   * the unit attentions of the changes it missed are lost, and an I_T nexus loss is what tells the
   * hosts to look again (they log in anew and read the reservations).
   */
  private async resync(signal: AbortSignal): Promise<void> {
    const m = this.m!;
    const first = !this.resyncedOnce;
    const old = this.watcher;
    this.watcher = null;
    if (old) void bounded(old.cancel(), 2500, 'watch cancel').catch(() => undefined);
    for (const lu of this.lus.values()) lu.ready = false;
    const res = await m.client.getAll().prefix(this.luPrefix).exec();
    if (signal.aborted) throw new Error('resync aborted');
    const kvs = new Map<string, IKeyValue>();
    for (const kv of res.kvs) kvs.set(kv.key.toString(), kv);
    // Alone at the first join: every node went down, which for a logical unit is a power loss.
    // What APTPL did not ask to keep goes, and SPC-2 reservations never survive one.
    const alone = first && m.nodes().every((n) => n.self);
    for (const lu of this.lus.values()) {
      const kv = kvs.get(this.stateKey(lu));
      let rev = kv ? Number(kv.mod_revision) : 0;
      let state = EMPTY_STATE;
      if (kv) {
        const v = decodeValue(kv.value);
        if ('error' in v) throw new Error(`${lu.id}: the reservation state in etcd is not readable: ${v.error}`);
        state = v.state;
      }
      if (alone && (state.spc2 || (!state.aptpl && state !== EMPTY_STATE && (state.registrations.length > 0 || state.generation !== 0)))) {
        const next = state.aptpl ? fromStored(persistentPart(state)) : EMPTY_STATE;
        const t = await m.client.if(this.stateKey(lu), 'Mod', '==', rev).then(m.client.put(this.stateKey(lu)).value(encodeValue(next, { uas: [], abort: null }, `${this.node}:power-on`))).commit();
        if (!t.succeeded) throw new Error(`${lu.id}: state changed during the power-on reset; retrying`);
        this.log.info({ t10DevId: lu.id, aptpl: state.aptpl }, `cluster: ${lu.id}: first node up: ${state.aptpl ? 'APTPL state kept, SPC-2 reservation released' : 'reservations without APTPL cleared'} (power on)`);
        rev = Number(t.header.revision);
        state = next;
      }
      this.enforceResynced(lu, rev, state, first);
    }
    await this.watch(String(BigInt(res.header.revision) + 1n));
    if (signal.aborted) throw new Error('resync aborted');
    for (const lu of this.lus.values()) await this.ackResynced(lu, first);
    this.stale = false;
    this.resyncedOnce = true;
  }

  /** The same for one logical unit taken in while this node is a member (the watch runs already). */
  private async resyncLu(lu: Lu, fresh: boolean): Promise<void> {
    const m = this.m!;
    const r = await m.client.get(this.stateKey(lu)).exec();
    const kv = r.kvs[0];
    let state = EMPTY_STATE;
    if (kv) {
      const v = decodeValue(kv.value);
      if ('error' in v) throw new Error(`${lu.id}: the reservation state in etcd is not readable: ${v.error}`);
      state = v.state;
    }
    this.enforceResynced(lu, kv ? Number(kv.mod_revision) : 0, state, fresh);
    await this.ackResynced(lu, fresh);
  }

  private enforceResynced(lu: Lu, rev: number, state: ResvState, fresh: boolean): void {
    if (!fresh && rev !== lu.rev) {
      for (const dev of lu.devices) {
        const sessions = new Set([...dev.tgtDevs].map((td) => td.session));
        for (const s of sessions) s.transport.forceClose(`cluster: ${dev.name}: reservation state changed while node ${this.node} was not a member`);
        if (sessions.size) this.log.warn({ device: dev.name, sessions: sessions.size, from: lu.rev, to: rev }, `cluster: ${dev.name}: revisions ${lu.rev}..${rev} may have been missed: ${sessions.size} sessions ended (I_T nexus loss) so that no unit attention is lost`);
      }
    }
    lu.state = state;
    lu.rev = rev;
    for (const dev of lu.devices) this.adopt(dev, state);
    for (const w of lu.applied.splice(0)) if (w.rev <= rev) w.done();
  }

  /**
   * Acknowledge the resynchronised revision, only if it is still the newest: a writer that
   * committed after our read either sees this ack (and waits for the next one, which the watch
   * brings) or made the compare fail (and we read again).
   */
  private async ackResynced(lu: Lu, fresh: boolean): Promise<void> {
    const m = this.m!;
    for (let i = 0; i < ACK_ATTEMPTS; i++) {
      const lease = m.leaseId;
      if (!lease) throw new Error('no lease');
      const t = await m.client
        .if(this.stateKey(lu), 'Mod', '==', lu.rev)
        .then(m.client.put(`${this.ackPrefix(lu)}${this.node}`).value(String(lu.rev)).lease(lease))
        .else(m.client.get(this.stateKey(lu)))
        .commit();
      if (t.succeeded) {
        lu.ready = true;
        return;
      }
      const kv = t.responses[0]?.response_range?.kvs[0];
      let state = EMPTY_STATE;
      if (kv) {
        const v = decodeValue(kv.value);
        if ('error' in v) throw new Error(`${lu.id}: the reservation state in etcd is not readable: ${v.error}`);
        state = v.state;
      }
      // A change landed between our read and our ack; the watch applies it too (and skips it).
      this.enforceResynced(lu, kv ? Number(kv.mod_revision) : 0, state, fresh);
    }
    throw new Error(`${lu.id}: the state kept changing while resynchronising`);
  }

  private async watch(from: string): Promise<void> {
    const m = this.m!;
    const w = m.client.watch().prefix(m.prefix).startRevision(from).watcher();
    try {
      await bounded(
        new Promise<void>((resolve, reject) => {
          w.once('connected', () => resolve());
          w.once('error', reject);
        }),
        2500,
        'reservation watch',
      );
    } catch (e) {
      void bounded(w.cancel(), 2500, 'watch cancel').catch(() => undefined);
      throw e;
    }
    w.on('put', (kv: IKeyValue) => this.onPut(kv));
    w.on('delete', (kv: IKeyValue) => this.onDelete(kv));
    w.on('error', (e: Error) => {
      if (this.watcher !== w || this.stopping) return;
      this.log.warn({ err: e.message }, `cluster: reservation watch failed: ${e.message}; resynchronising`);
      this.markStale(e.message);
    });
    this.watcher = w;
  }

  /** The watch cannot be trusted: admit nothing on cluster-mode LUs until a resynchronisation succeeds (bounded back-off, while a member). */
  private markStale(why: string): void {
    this.stale = true;
    if (this.refreshing) return;
    this.refreshing = true;
    void (async () => {
      let delay = 100;
      try {
        while (this.stale && !this.stopping) {
          if (this.m?.state === 'member') {
            const ac = new AbortController();
            try {
              await bounded(this.resync(ac.signal), this.ttlMs, 'resync');
              this.log.info(`cluster: reservation state resynchronised after: ${why}`);
              return;
            } catch (e) {
              ac.abort();
              this.log.warn(`cluster: reservation resync failed: ${errText(e)}`);
            }
          }
          // Not a member: the membership's own resynchronisation (rejoin) clears `stale`.
          await sleep(delay);
          delay = Math.min(delay * 2, 1000);
        }
      } finally {
        this.refreshing = false;
      }
    })();
  }

  /**
   * SPC-2 reservations whose nexus is gone: held through a node that left (its lease expired or
   * was revoked), or through this node by a session that no longer exists (an earlier process of
   * this node, or a session whose end could not be committed then). Every survivor tries; the
   * compare settles it, the others find nothing to release.
   */
  private async sweepSpc2(gone?: string): Promise<void> {
    const m = this.m;
    if (!m || m.state !== 'member') return;
    const live = new Set(m.nodes().map((n) => n.node));
    if (gone !== undefined) live.delete(gone);
    for (const lu of this.lus.values()) {
      const h = lu.state.spc2;
      const dev = lu.devices.values().next().value as Device | undefined;
      if (!h || !dev || !this.admits(lu)) continue;
      const gone = h.node === this.node ? !this.holdsHere(lu, h) : !live.has(h.node);
      if (!gone) continue;
      this.log.info({ t10DevId: lu.id, holder: h }, `cluster: ${lu.id}: SPC-2 reservation of ${h.initiator} through node ${h.node} released (its I_T nexus is gone)`);
      await this.change(dev, (s) => decideNexusLoss(s, h)).catch(() => undefined);
    }
  }

  private holdsHere(lu: Lu, h: ItlNexus): boolean {
    for (const dev of lu.devices) for (const td of dev.tgtDevs) if (td.session.id === h.session && td.lun === h.lun) return true;
    return false;
  }

  /** Drop the watch (shutdown); bounded, never waited for. */
  stop(): void {
    this.stopping = true;
    const w = this.watcher;
    this.watcher = null;
    if (w) void bounded(w.cancel(), 1000, 'watch cancel').catch(() => undefined);
  }
}

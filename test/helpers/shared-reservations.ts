// A test double of the cluster reservation store (docs/cluster-reservations.md): one in-memory
// "etcd" (a revisioned value per t10_dev_id, compare-and-swap, a watch delivered to every node
// asynchronously and in revision order) and one store per node. A node's change decides on the
// state it knows, CASes on that revision, decides again on the winner's state when it lost, and
// resolves once every node has acknowledged the new revision (applied its state and effects).
import type { Device } from '../../src/engine/device.js';
import { EnforcingStore, type Committed } from '../../src/engine/reservations.js';
import type { Decision } from '../../src/engine/scsi/resv-decide.js';
import { decodeState, EMPTY_STATE, encodeState, type ResvState } from '../../src/engine/scsi/resv-state.js';

type Effects = Pick<Decision, 'uas' | 'abort'>;

interface Entry {
  rev: number;
  /** Kept as its JSON form, as etcd would keep it: what a node gets is decoded, never shared. */
  json: string;
}

export class SharedBackend {
  private readonly entries = new Map<string, Entry>();
  readonly nodes: SharedNodeStore[] = [];
  /** CAS attempts and how many lost (a stale revision). */
  cas = { attempts: 0, lost: 0 };
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];

  /** `latencyMs` for a CAS; each node's watch lags by up to `watchLagMs` more. */
  constructor(private readonly o: { latencyMs: number; watchLagMs: number; ackTimeoutMs: number } = { latencyMs: 2, watchLagMs: 3, ackTimeoutMs: 5000 }) {}

  node(name: string): SharedNodeStore {
    const n = new SharedNodeStore(this, name);
    this.nodes.push(n);
    return n;
  }

  read(key: string): { rev: number; state: ResvState } {
    const e = this.entries.get(key);
    return e ? { rev: e.rev, state: decoded(e.json) } : { rev: 0, state: EMPTY_STATE };
  }

  /**
   * Replace `key`'s value if it is still at revision `rev`, after the network's latency. On
   * success every node is told (the watch); the promise of their acknowledgements is returned.
   */
  compareAndSwap(key: string, rev: number, state: ResvState, effects: Effects): Promise<{ ok: true; acked: Promise<void> } | { ok: false; rev: number; state: ResvState }> {
    this.inFlight++;
    return new Promise((resolve) => {
      setTimeout(() => {
        this.cas.attempts++;
        const cur = this.read(key);
        if (cur.rev !== rev) {
          this.cas.lost++;
          this.done();
          return resolve({ ok: false, rev: cur.rev, state: cur.state });
        }
        const next = { rev: rev + 1, json: encodeState(state) };
        this.entries.set(key, next);
        const acks = this.nodes.map((n) => n.watch(key, next.rev, decoded(next.json), effects, Math.random() * this.o.watchLagMs));
        let timer: NodeJS.Timeout | undefined;
        const bound = new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`revision ${next.rev} of ${key} not acknowledged by every node in ${this.o.ackTimeoutMs} ms`)), this.o.ackTimeoutMs);
        });
        const acked = Promise.race([Promise.all(acks).then(() => undefined), bound]).finally(() => {
          clearTimeout(timer);
          this.done();
        });
        resolve({ ok: true, acked });
      }, this.o.latencyMs);
    });
  }

  /** Resolves once no CAS or watch delivery is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private done(): void {
    if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }
}

function decoded(json: string): ResvState {
  const s = decodeState(json);
  if ('error' in s) throw new Error(`shared state corrupt: ${s.error}`);
  return s;
}

const MAX_ATTEMPTS = 32;

/** One node's view: the devices it serves per t10_dev_id, the revision it enforces. */
export class SharedNodeStore extends EnforcingStore {
  private readonly devices = new Map<string, Set<Device>>();
  private readonly enforced = new Map<string, number>();
  /** Watch events are applied one after another, in revision order. */
  private chain: Promise<void> = Promise.resolve();
  /** How many times this node's decisions ran (a lost race runs one again). */
  decisions = 0;

  constructor(
    private readonly backend: SharedBackend,
    name: string,
  ) {
    super(name);
  }

  canPersist(): boolean {
    return true; // the shared store is the persistent one
  }

  /** The revision of `dev`'s state this node enforces. */
  revision(dev: Device): number {
    return this.enforced.get(dev.t10DevId) ?? 0;
  }

  async attach(dev: Device): Promise<void> {
    const key = dev.t10DevId;
    let set = this.devices.get(key);
    if (!set) this.devices.set(key, (set = new Set()));
    set.add(dev);
    // Resynchronise: enforce what the cluster holds now.
    const { rev, state } = this.backend.read(key);
    this.adopt(dev, state);
    this.enforced.set(key, rev);
  }

  async change(dev: Device, decide: (s: ResvState) => Decision): Promise<Committed> {
    const key = dev.t10DevId;
    let rev = this.revision(dev);
    let state = this.current(dev);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      this.decisions++;
      const decision = decide(state);
      if (!decision.state) return { decision, persistFailed: false };
      const r = await this.backend.compareAndSwap(key, rev, decision.state, { uas: decision.uas, abort: decision.abort });
      if (r.ok) {
        await r.acked;
        return { decision, persistFailed: false };
      }
      // Lost the race: decide again on the state that won.
      rev = r.rev;
      state = r.state;
    }
    throw new Error(`${dev.name}: no commit after ${MAX_ATTEMPTS} attempts`);
  }

  /** The watch: revision `rev` of `key` reaches this node after `lagMs`; resolves once enforced. */
  watch(key: string, rev: number, state: ResvState, effects: Effects, lagMs: number): Promise<void> {
    const run = async () => {
      await new Promise((r) => setTimeout(r, lagMs));
      if ((this.enforced.get(key) ?? 0) >= rev) return;
      await Promise.all([...(this.devices.get(key) ?? [])].map((d) => this.apply(d, state, effects)));
      this.enforced.set(key, rev);
    };
    this.chain = this.chain.then(run);
    return this.chain;
  }
}

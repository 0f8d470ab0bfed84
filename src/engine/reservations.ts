import type { Device } from './device.js';
import { nexusOf } from './scsi/nexus.js';
import type { Decision } from './scsi/resv-decide.js';
import { matches, type ItlNexus, type ResvState, type UnitAttentionTo } from './scsi/resv-state.js';
import type { ScstSession } from './session.js';

// Where a logical unit's reservation state lives and how it changes (docs/cluster-reservations.md).
// The data path and the conflict checks read the state this node enforces, synchronously; every
// change is a pure decision (scsi/resv-decide.ts) handed to the store, which commits it and
// resolves once the new state is in force everywhere it must be: on this node for a single
// target (LocalReservationStore), on every live node of a cluster for a shared one.

/** What became of a change. */
export interface Committed {
  /** The decision that was committed (the last one, when the store had to decide again). */
  decision: Decision;
  /** The state is in force but could not be made persistent (APTPL state file): say so. */
  persistFailed: boolean;
}

export interface ReservationStore {
  /** This node's name in I_T_L identities ('local' for a single target). */
  readonly node: string;
  /** The state this node enforces now: cached, never waits. */
  current(dev: Device): ResvState;
  /** Whether APTPL can be honoured for `dev` (REPORT CAPABILITIES PTPL_C). */
  canPersist(dev: Device): boolean;
  /** Take `dev` in (its persisted state restored); throws, naming the source, on a corrupt one. */
  attach(dev: Device, stateDir: string | undefined): Promise<void>;
  /**
   * Apply `decide` to the newest state, commit what it returns (nothing when its state is null)
   * and resolve once that state and its effects are in force on every node that must enforce
   * it. `decide` is pure and may run more than once (a commit that lost a race decides again on
   * the state that won). Rejects only when nothing was committed (a cluster store that cannot
   * reach its quorum in time); the store logs why, as callers that wait for no command (resets,
   * nexus loss) have nobody to tell.
   */
  change(dev: Device, decide: (s: ResvState) => Decision): Promise<Committed>;
  /** Let `dev` go (deleted, or moved to another store): a shared store stops enforcing it here. */
  detach?(dev: Device): void;
  /**
   * A LOGICAL UNIT RESET was received through this node (which ended its own tasks on `dev` and
   * queued BUS DEVICE RESET FUNCTION OCCURRED on its own nexuses): a store shared by several
   * nodes has the others do the same for theirs, resolving once they did (bounded, like a change).
   */
  logicalUnitReset?(dev: Device): Promise<void>;
}

/** How long PREEMPT AND ABORT waits for the preempted nexuses' tasks to end. */
export const ABORT_WAIT_MS = 10_000;

/** The I_T_L identity of a session's nexus to `dev` at `lun`, as `node` names it. */
export function itlOf(session: ScstSession, lun: number, node: string): ItlNexus {
  return { ...nexusOf(session), lun, node, session: session.id };
}

/**
 * What every store does on the node that enforces a state: keep it for the synchronous reads,
 * queue the unit attentions on the local nexuses they match, end the tasks PREEMPT AND ABORT
 * preempted. The local store applies its own commits; a cluster store applies every commit it
 * sees (its own and, through its watch, everyone else's) the same way.
 */
export abstract class EnforcingStore implements ReservationStore {
  constructor(readonly node: string) {}

  current(dev: Device): ResvState {
    return dev.resvState;
  }

  abstract canPersist(dev: Device): boolean;
  abstract attach(dev: Device, stateDir: string | undefined): Promise<void>;
  abstract change(dev: Device, decide: (s: ResvState) => Decision): Promise<Committed>;

  /** Take a state as this node's without effects (restored at start, resynchronised). */
  protected adopt(dev: Device, state: ResvState): void {
    dev.resvState = state;
  }

  /**
   * Enforce `state` on this node from now on and carry out the effects of the change that made
   * it. Resolves once the tasks to abort are gone (or ABORT_WAIT_MS passed).
   */
  apply(dev: Device, state: ResvState, effects: Pick<Decision, 'uas' | 'abort'>): Promise<void> {
    dev.resvState = state;
    queueUAs(dev, effects.uas);
    const a = effects.abort;
    if (!a) return Promise.resolve();
    const sessions = new Set<ScstSession>();
    for (const td of dev.tgtDevs) {
      const s = td.session;
      if (a.except.node === this.node && a.except.session === s.id) continue;
      const n = nexusOf(s);
      if (a.victims.some((m) => matches(m, n))) sessions.add(s);
    }
    if (sessions.size === 0) return Promise.resolve();
    const waits = [...sessions].map((s) => s.transport.abortDeviceTasks(dev));
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((r) => {
      timer = setTimeout(r, ABORT_WAIT_MS);
      timer.unref();
    });
    return Promise.race([Promise.allSettled(waits), bound]).then(() => clearTimeout(timer));
  }
}

/** Queue each unit attention on this node's nexuses of `dev` that it is for. */
export function queueUAs(dev: Device, uas: readonly UnitAttentionTo[]): void {
  if (uas.length === 0) return;
  for (const td of dev.tgtDevs) {
    const n = nexusOf(td.session);
    for (const u of uas) if (matches(u.to, n)) td.queueUA(u.asc);
  }
}

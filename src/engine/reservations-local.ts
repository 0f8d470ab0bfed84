import type { Device } from './device.js';
import { EnforcingStore, type Committed } from './reservations.js';
import { loadPr, PrSaver } from './scsi/pr-store.js';
import type { Decision } from './scsi/resv-decide.js';
import { fromStored, persistentPart, type ResvState } from './scsi/resv-state.js';

/**
 * A single target's reservations: the state lives in this process, a change is in force as soon
 * as it is decided (before change() returns, so the next command already sees it), and APTPL
 * state goes to <state-dir>/pr/<device>.json, atomically, before the command may report GOOD.
 */
export class LocalReservationStore extends EnforcingStore {
  private readonly savers = new WeakMap<Device, PrSaver>();

  constructor() {
    super('local');
  }

  canPersist(dev: Device): boolean {
    return this.savers.has(dev);
  }

  async attach(dev: Device, stateDir: string | undefined): Promise<void> {
    if (!stateDir) return;
    this.savers.set(dev, new PrSaver(stateDir, dev.name));
    const saved = await loadPr(stateDir, dev.name);
    if (saved) this.adopt(dev, fromStored(saved));
  }

  change(dev: Device, decide: (s: ResvState) => Decision): Promise<Committed> {
    const old = this.current(dev);
    const decision = decide(old);
    const next = decision.state;
    if (!next) return Promise.resolve({ decision, persistFailed: false });
    const enforced = this.apply(dev, next, decision);
    const saver = this.savers.get(dev);
    // Persist while APTPL is active, and once more when it was just turned off (the file goes).
    if (!saver || (!next.aptpl && !old.aptpl)) return enforced.then(() => ({ decision, persistFailed: false }));
    return enforced
      .then(() => saver.save(() => (next.aptpl && this.current(dev).aptpl ? persistentPart(this.current(dev)) : null)))
      .then(
        () => ({ decision, persistFailed: false }),
        () => ({ decision, persistFailed: true }),
      );
  }
}

/** The store of every device not given another (a process is one node unless clustered). */
export const localReservations = new LocalReservationStore();

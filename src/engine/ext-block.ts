import type { ScsiCmd } from './cmd.js';
import type { Device } from './device.js';

// External blocking of a device (sysfs devices/<dev>/block; SCST's scst_ext_block_dev and
// scst_ext_unblock_dev): while the count is above zero, commands that reach execution wait here
// and run, in arrival order, once the last block is lifted. A synchronous block ("1") returns when
// the commands already executing have finished; an asynchronous one ("1 1 [data]") returns at once
// and is "pending" until then. Held commands are already counted by their sessions' queue
// bounds, so the list is bounded by them.

export class ExtBlock {
  count = 0;
  /** Asynchronous blocks still waiting for the commands in flight to finish. */
  pending = 0;
  private held: Array<() => void> = [];

  constructor(private readonly dev: Device) {}

  /** Called before a command executes: true when it was held (its continuation runs later). */
  hold(cmd: ScsiCmd, run: () => void): boolean {
    if (this.count === 0) return false;
    cmd.owner = 'blocked';
    this.held.push(run);
    return true;
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** One more block; resolves once the device has no command executing (bounded by `maxMs`). */
  async block(sync: boolean, maxMs: number): Promise<void> {
    this.count++;
    if (!sync) this.pending++;
    try {
      await this.dev.whenIdle(maxMs);
    } finally {
      if (!sync) this.pending--;
    }
  }

  /** One block less; at zero the held commands run. Unblocking an unblocked device does nothing. */
  unblock(): void {
    if (this.count === 0) return;
    if (--this.count > 0) return;
    const held = this.held;
    this.held = [];
    for (const run of held) run();
  }
}

const blocks = new WeakMap<Device, ExtBlock>();

export function extBlockOf(dev: Device): ExtBlock {
  let b = blocks.get(dev);
  if (!b) blocks.set(dev, (b = new ExtBlock(dev)));
  return b;
}

/** The block state without creating one (the command path asks for every command). */
export function extBlockIfAny(dev: Device): ExtBlock | undefined {
  return blocks.get(dev);
}

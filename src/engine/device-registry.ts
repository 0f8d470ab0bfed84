import type { Device } from './device.js';

/**
 * The devices of a core by name, with an index of their unit serial numbers: vdisk refuses a new
 * device whose USN another device already has, and that check must not visit every device (a
 * core may hold thousands). The index follows a USN changed later (sysfs `usn`, scst.conf).
 */
export class DeviceRegistry extends Map<string, Device> {
  /** Changes whenever a device comes or goes (listings keep their order until it does). */
  version = 0;
  /** USN -> how many registered devices have it. */
  private readonly usns = new Map<string, number>();
  private readonly watcher = (dev: Device, old: string): void => {
    if (this.get(dev.name) !== dev) return;
    this.unindex(old);
    this.index(dev.usn);
  };

  override set(name: string, dev: Device): this {
    // Map's constructor calls set before the fields exist; nothing is registered then.
    if (this.usns === undefined) return super.set(name, dev);
    const old = this.get(name);
    if (old) this.forget(old);
    super.set(name, dev);
    this.version++;
    dev.usnWatcher = this.watcher;
    this.index(dev.usn);
    return this;
  }

  override delete(name: string): boolean {
    const dev = this.get(name);
    if (dev) this.forget(dev);
    this.version++;
    return super.delete(name);
  }

  override clear(): void {
    for (const dev of this.values()) if (dev.usnWatcher === this.watcher) dev.usnWatcher = null;
    this.usns.clear();
    this.version++;
    super.clear();
  }

  /** Whether a registered device has this USN. */
  usnInUse(usn: string): boolean {
    return this.usns.has(usn);
  }

  private forget(dev: Device): void {
    if (dev.usnWatcher === this.watcher) dev.usnWatcher = null;
    this.unindex(dev.usn);
  }

  private index(usn: string): void {
    this.usns.set(usn, (this.usns.get(usn) ?? 0) + 1);
  }

  private unindex(usn: string): void {
    const n = this.usns.get(usn) ?? 0;
    if (n <= 1) this.usns.delete(usn);
    else this.usns.set(usn, n - 1);
  }
}

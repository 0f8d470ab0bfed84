import { buildSense } from './scsi/sense.js';
import type { Asc } from './scsi/constants.js';
import type { Device } from './device.js';
import type { ScstSession } from './session.js';

const MAX_PENDING_UA = 16;

/**
 * One session's view of one LUN (SCST's tgt_dev): the I_T_L nexus. Unit attentions are queued
 * here, per nexus, as SAM requires.
 */
export class TgtDev {
  private readonly ua: Buffer[] = [];
  /** Commands of this nexus currently inside the device (for LUN removal and resets). */
  active = 0;

  constructor(
    readonly session: ScstSession,
    readonly lun: number,
    readonly device: Device,
    readonly readOnly: boolean,
  ) {}

  queueUA(asc: Asc): void {
    // Don't stack the same condition twice; overflow drops the oldest, never grows unbounded.
    const s = buildSense(asc);
    if (this.ua.some((u) => u[12] === s[12] && u[13] === s[13])) return;
    if (this.ua.length >= MAX_PENDING_UA) this.ua.shift();
    this.ua.push(s);
  }

  takeUA(): Buffer | null {
    return this.ua.shift() ?? null;
  }

  get hasUA(): boolean {
    return this.ua.length > 0;
  }

  clearUA(): void {
    this.ua.length = 0;
  }

  get isReadOnly(): boolean {
    return this.readOnly || this.device.readOnly;
  }
}

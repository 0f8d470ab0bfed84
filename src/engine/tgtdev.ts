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
  /** The newest of the session's unit attentions (ScstSession.sessionUAs) this nexus has taken over. */
  private uaSeen: number;

  constructor(
    readonly session: ScstSession,
    readonly lun: number,
    readonly device: Device,
    readonly readOnly: boolean,
  ) {
    this.uaSeen = session.uaSeq;
  }

  /** Take over the session-wide unit attentions raised since this nexus last looked. */
  private catchUp(): void {
    const s = this.session;
    if (this.uaSeen === s.uaSeq) return;
    for (const u of s.sessionUAs) if (u.seq > this.uaSeen) this.push(u.asc);
    this.uaSeen = s.uaSeq;
  }

  private push(asc: Asc): void {
    // Don't stack the same condition twice; overflow drops the oldest, never grows unbounded.
    const s = buildSense(asc);
    if (this.ua.some((u) => u[12] === s[12] && u[13] === s[13])) return;
    if (this.ua.length >= MAX_PENDING_UA) this.ua.shift();
    this.ua.push(s);
  }

  queueUA(asc: Asc): void {
    this.catchUp();
    this.push(asc);
  }

  takeUA(): Buffer | null {
    this.catchUp();
    return this.ua.shift() ?? null;
  }

  get hasUA(): boolean {
    this.catchUp();
    return this.ua.length > 0;
  }

  clearUA(): void {
    this.uaSeen = this.session.uaSeq;
    this.ua.length = 0;
  }

  get isReadOnly(): boolean {
    return this.readOnly || this.device.readOnly;
  }
}

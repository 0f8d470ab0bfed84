// Adaptive polling of the event loop. After network activity the loop is kept from sleeping for
// a short window: a pending setImmediate makes libuv poll its sockets with a zero timeout instead
// of blocking in epoll_wait. A command that arrives within the window is then read at once,
// without the sleep/wake-up round trip, which on a virtual machine costs tens of microseconds and
// dominates a queue-depth-1 exchange (the same reason kernel targets offer busy polling). Nothing
// blocks: every turn of the spin is a full event-loop turn that serves every socket, timer and
// FUSE request. Once the window passes with no activity the loop sleeps as usual, so an idle
// daemon burns nothing.

import { performance } from 'node:perf_hooks';

export class BusyPoll {
  private until = 0;
  private spinning = false;

  /**
   * @param windowUs how long to keep polling after the last activity; 0 disables.
   * @param backOff while this says true the loop is let sleep (work out in other threads, such
   *   as file I/O in libuv's pool, will wake it, and spinning would take their CPU).
   */
  constructor(
    readonly windowUs: number,
    private readonly backOff: () => boolean = () => false,
  ) {}

  /** Network activity now: keep polling for the window from here. */
  touch(): void {
    if (this.windowUs <= 0) return;
    this.until = performance.now() + this.windowUs / 1000;
    if (!this.spinning) {
      this.spinning = true;
      setImmediate(this.spin);
    }
  }

  /** Stop spinning at once (shutdown). */
  stop(): void {
    this.until = 0;
  }

  get active(): boolean {
    return this.spinning;
  }

  private readonly spin = (): void => {
    if (performance.now() < this.until && !this.backOff()) setImmediate(this.spin);
    else this.spinning = false;
  };
}

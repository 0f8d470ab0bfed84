// What the benchmark needs from a target daemon under test, whichever one it is.

export type DaemonName = 'scstd' | 'tgtd';

/** The LUN roles every daemon exports, with the LUN number each one has on that daemon. */
export interface LunMap {
  /** A null backing store: reads return without touching any storage. */
  nullio: number;
  /** A pre-written image file, in the page cache. */
  fileio: number;
  /**
   * A second pre-written image of the same size: another tenant's LUN, the fair-service writer's.
   * Only when the run needs it.
   */
  fileio2?: number;
  /** An RBD image (the RBD rows' own daemons only). */
  rbd?: number;
}

export type LunRole = keyof LunMap;

export interface BenchDaemon {
  readonly name: DaemonName;
  readonly pid: number;
  readonly port: number;
  readonly targetName: string;
  readonly luns: LunMap;
  /** libiscsi URL of one LUN: iscsi://127.0.0.1:PORT/IQN/LUN. */
  url(role: LunRole): string;
  alive(): boolean;
  /** The tail of the daemon's own output, for error messages. */
  output(): string;
  /** Stops the daemon (bounded) and forgets it. Never rejects. */
  stop(): Promise<void>;
}

export function lunUrl(port: number, targetName: string, lun: number): string {
  return `iscsi://127.0.0.1:${port}/${targetName}/${lun}`;
}

/** The URL of the LUN that has `role`; throws when this daemon was started without one. */
export function roleUrl(port: number, targetName: string, luns: LunMap, role: LunRole): string {
  const lun = luns[role];
  if (lun === undefined || lun < 0) throw new Error(`this daemon has no ${role} LUN`);
  return lunUrl(port, targetName, lun);
}

/** A launched daemon process as the benchmark drives it. */
export interface LaunchedDaemon {
  pid: number;
  port: number;
  alive(): boolean;
  output(): string;
  stop(): Promise<unknown>;
}

/** The BenchDaemon of a launched process serving `luns` of `targetName`. */
export function benchDaemon(name: DaemonName, p: LaunchedDaemon, targetName: string, luns: LunMap): BenchDaemon {
  return {
    name,
    pid: p.pid,
    port: p.port,
    targetName,
    luns,
    url: (role: LunRole) => roleUrl(p.port, targetName, luns, role),
    alive: () => p.alive(),
    output: () => p.output(),
    stop: async () => {
      await p.stop();
    },
  };
}

/** Keeps the last `max` characters of a child's output. */
export class OutputTail {
  private text = '';
  constructor(private readonly max = 64 * 1024) {}
  push(s: string): void {
    this.text += s;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  get(): string {
    return this.text.slice(-this.max);
  }
}

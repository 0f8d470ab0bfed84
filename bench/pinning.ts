// Optional CPU placement (--pin): daemons on one CPU, clients on the others, through taskset
// (which execs the program, so the PID stays the program's). Without it the scheduler places
// everything, and on two CPUs client and daemon keep migrating between them.
import os from 'node:os';

export type Role = 'daemon' | 'client';

interface CpuPlan {
  daemon: string;
  client: string;
}

let plan: CpuPlan | null = null;

/** Daemons on the last CPU, clients on all the others; an error text when that is impossible. */
export function pinDaemonsToLastCpu(): string | null {
  const n = os.availableParallelism();
  if (n < 2) return `--pin needs at least 2 CPUs, this machine has ${n}`;
  plan = { daemon: String(n - 1), client: n === 2 ? '0' : `0-${n - 2}` };
  return null;
}

export function cpuPlanText(): string | null {
  return plan === null ? null : `daemons on CPU ${plan.daemon}, clients on CPU ${plan.client} (taskset)`;
}

/** The command line that runs `cmd args` on the CPUs of `role`. */
export function placed(role: Role, cmd: string, args: string[]): [string, string[]] {
  if (plan === null) return [cmd, args];
  return ['taskset', ['-c', plan[role], cmd, ...args]];
}

// Command-line option parsing shared by the benchmark and its client programs (commander).
import { InvalidArgumentError } from 'commander';

/** A commander option parser for an integer from `min` to `max`. */
export function intIn(min: number, max: number): (v: string) => number {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

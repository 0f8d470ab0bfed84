// One clock read per callback for the command timestamps (arrival, execution, completion, free).
// A clock read costs 40-50 ns on a small VM (clock_gettime through the hypervisor's clock source),
// and a command took four: 2% of the whole per-command budget at 100k IOPS on one core. The
// commands a callback handles (the PDUs of one socket read, the completions one native wake-up
// delivers) all get the time the callback read first, which is when their bytes or completions
// were in hand; the error is at most the length of that callback, well under the first latency
// bucket (25 µs) at the rates where the saving matters. The cached value is dropped at the end of
// the current microtask checkpoint, so the next callback (or promise continuation) reads again.

let cached = -1;

const forget = (): void => {
  cached = -1;
};

/** performance.now(), read at most once per callback. */
export function turnNow(): number {
  if (cached < 0) {
    cached = performance.now();
    queueMicrotask(forget);
  }
  return cached;
}

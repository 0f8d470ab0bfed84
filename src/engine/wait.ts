/**
 * Wait for a condition its owner announces (by calling and emptying `waiters`) rather than
 * polling for it: resolves true at once if `already`, true when announced, false after `ms`
 * (the waiter then leaves the list, so waits that time out leave nothing behind).
 */
export function settledWithin(already: boolean, waiters: Array<() => void>, ms: number): Promise<boolean> {
  if (already) return Promise.resolve(true);
  return new Promise((resolve) => {
    const waiter = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      const i = waiters.indexOf(waiter);
      if (i >= 0) waiters.splice(i, 1);
      resolve(false);
    }, ms);
    waiters.push(waiter);
  });
}

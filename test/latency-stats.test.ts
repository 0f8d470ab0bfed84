import { describe, expect, it } from 'vitest';
import { DataDir, type ScsiCmd } from '../src/engine/cmd.js';
import { LATENCY_DIRS, LATENCY_SIZES, SessionLatencyStats } from '../src/engine/latency-stats.js';

// SCST's sessions/<s>/latency/<d><size> text, from known times (performance.now() ms; SCST keeps
// 0.1 µs units and prints them with one decimal, average and deviation in integer arithmetic).
const cmd = (expectedLength: number, dir: 0 | 1 | 2): ScsiCmd => ({ expectedLength, dir }) as unknown as ScsiCmd;
const W = LATENCY_DIRS.indexOf('w');
const R = LATENCY_DIRS.indexOf('r');
const N = LATENCY_DIRS.indexOf('n');

describe('SCST latency statistics', () => {
  it('per state count, min, max, avg, stddev in µs with one decimal, and the total line', () => {
    const st = new SessionLatencyStats();
    // INIT 0.5 and 1.5 ms, EXEC_WAIT 1 and 3 ms, XMIT_RESP 0.25 ms each.
    st.record(cmd(4096, DataDir.WRITE), 0, 0.5, 1.5, 1.75);
    st.record(cmd(4096, DataDir.WRITE), 10, 11.5, 14.5, 14.75);
    const si = LATENCY_SIZES.indexOf(4096);
    // INIT: 5000 and 15000 units -> avg 10000, stddev sqrt((25e6+225e6 - 4e8/2)/2) = 5000.
    // EXEC_WAIT: 10000 and 30000 -> avg 20000, stddev 10000. XMIT_RESP: 2500 twice, stddev 0.
    // total: count 6 / 3 states = 2; avg = 3 * 65000 / 6 = 32500; stddev of all six x 3.
    const sum = 5000 + 15000 + 10000 + 30000 + 2500 + 2500;
    const sumsq = 5000 ** 2 + 15000 ** 2 + 10000 ** 2 + 30000 ** 2 + 2 * 2500 ** 2;
    const sd = Math.floor(Math.sqrt(Math.floor((sumsq - Math.floor((sum * sum) / 6)) / 6))) * 3;
    expect(st.render(W, si)).toBe(
      'state count min max avg stddev\n' +
        'XMIT_RESP 2 250.0 250.0 250.0 0.0 us\n' +
        'INIT 2 500.0 1500.0 1000.0 500.0 us\n' +
        'EXEC_WAIT 2 1000.0 3000.0 2000.0 1000.0 us\n' +
        `total 2 - - 3250.0 ${Math.floor(sd / 10)}.${sd % 10} us\n`,
    );
    expect(st.render(R, si)).toBe('state count min max avg stddev\n');
  });

  it('sizes round up to a power of two and clamp to the end buckets; a command never executed has INIT only', () => {
    const st = new SessionLatencyStats();
    st.record(cmd(0, DataDir.NONE), 0, 0, 0.1, 0.2); // refused at parse: INIT until completion
    st.record(cmd(3000, DataDir.READ), 0, 0.1, 0.2, 0.3); // -> 4096
    st.record(cmd(8 << 20, DataDir.READ), 0, 0.1, 0.2, 0.3); // -> 524288
    expect(st.render(N, 0)).toContain('INIT 1 100.0 100.0 100.0 0.0 us\n');
    expect(st.render(N, 0)).not.toContain('EXEC_WAIT');
    expect(st.render(R, LATENCY_SIZES.indexOf(4096))).toContain('total 1 - -');
    expect(st.render(R, LATENCY_SIZES.length - 1)).toContain('total 1 - -');
    st.reset();
    expect(st.render(R, LATENCY_SIZES.length - 1)).toBe('state count min max avg stddev\n');
  });

  it('sums past 2^53 stay exact: long and many latencies give the 64-bit integer figures', () => {
    const st = new SessionLatencyStats();
    // INIT deltas in 0.1 µs units: a 20 s one (its square alone passes 2^53) and 3,000 of about
    // 2 s (their squares add up past 2^53), whole milliseconds so that the times are exact
    // doubles, compared with the same sums in BigInt.
    const deltas = [200_000_000, ...Array.from({ length: 3000 }, (_, i) => 20_000_000 + 10_000 * i)];
    for (const d of deltas) st.record(cmd(512, DataDir.READ), 0, 0, d / 10_000, d / 10_000);
    const sum = deltas.reduce((a, d) => a + BigInt(d), 0n);
    const sumsq = deltas.reduce((a, d) => a + BigInt(d) * BigInt(d), 0n);
    expect(sumsq > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    const n = BigInt(deltas.length);
    const avg = sum / n;
    const variance = (sumsq - (sum * sum) / n) / n;
    let sd = BigInt(Math.floor(Math.sqrt(Number(variance))));
    while (sd * sd > variance) sd--;
    while ((sd + 1n) * (sd + 1n) <= variance) sd++;
    const us = (v: bigint) => `${v / 10n}.${v % 10n}`;
    expect(st.render(R, 0)).toContain(`INIT ${deltas.length} ${us(20_000_000n)} ${us(200_000_000n)} ${us(avg)} ${us(sd)} us\n`);
  });
});

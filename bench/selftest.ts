// Checks of the benchmark's pure parts (output parsers, statistics, targets, profile summary) on
// canned input: node dist/bench/selftest.js. No daemons, no clients, no timing.
import assert from 'node:assert/strict';
import { summarizeCpuProfile } from './cpuprofile.js';
import { latencyOf, writerCount, writerNote } from './fairness.js';
import { LineSplitter, parseAnswer } from './line-child.js';
import { judge, type CaseResult } from './model.js';
import { parseIscsiPerf, parseQemuBench } from './parse.js';
import { BHS_LENGTH, PduFramer, writeCommand } from './pdu.js';
import { nodeConfig } from './cluster.js';
import { meanOf } from './cases.js';
import { prefixEnd } from './etcd-sandbox.js';
import { parseNetstat } from './proc.js';
import { formatValue, pipeTable } from './report.js';
import { median, percentileOfSorted, ratio, spread, summarizeLatencies } from './stats.js';
import { openFilesLimit, perSessionKiB, stormOf } from './storm.js';

const checks: Array<[string, () => void]> = [];
const check = (name: string, fn: () => void): void => {
  checks.push([name, fn]);
};

// What iscsi-perf 0.1 (libiscsi 1.19) prints: progress redrawn with \r, then the final average.
const ISCSI_PERF_OUT =
  'iscsi-perf version 0.1 - (c) 2014-2015 by Peter Lieven <pl@ĸamp.de>\n\n' +
  'connected to iscsi://127.0.0.1:3260/iqn.x:t/1\n' +
  'capacity is 2147483648 blocks or 1099511627776 byte (1048576 MB)\n' +
  'performing RANDOM READ with 32 parallel requests\nFIXED transfer size of 1 blocks (512 byte)\nwill run for 3 seconds.\n\n' +
  '\r00:00:02 - lba 1253881621, iops current 128222 (62 MB/s), iops average 128222 (62 MB/s), in_flight 32, busy 0        ' +
  '\r00:00:01 - lba 1481345925, iops current 126916 (61 MB/s), iops average 127569 (62 MB/s), in_flight 32, busy 0        ' +
  '\riops average 128672 (62 MB/s)                                                        \n\nfinished.\n';

check('iscsi-perf: the final average wins over progress averages', () => {
  assert.equal(parseIscsiPerf(ISCSI_PERF_OUT), 128672);
});
check('iscsi-perf: an interrupted run gives its last progress average', () => {
  const cut = ISCSI_PERF_OUT.slice(0, ISCSI_PERF_OUT.indexOf('\riops average 128672'));
  assert.equal(parseIscsiPerf(cut), 127569);
});
check('iscsi-perf: no figure, no number', () => {
  assert.equal(parseIscsiPerf(''), null);
  assert.equal(parseIscsiPerf('Login Failed. iscsi_service failed\n'), null);
  assert.equal(parseIscsiPerf('\r\r\n\n'), null);
});

check('qemu-img bench: run time', () => {
  const out = 'Sending 20000 write requests, 4096 bytes each, 32 in parallel (starting at offset 0, step size 32436224)\nRun completed in 0.386 seconds.\n';
  assert.equal(parseQemuBench(out), 0.386);
  assert.equal(parseQemuBench('Run completed in 12 seconds.'), 12);
  assert.equal(parseQemuBench('Run completed in 0.000 seconds.'), null);
  assert.equal(parseQemuBench('qemu-img: Could not open iscsi://...'), null);
});

check('median: odd, even, failed runs left out', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([null, 5, null]), 5);
  assert.equal(median([null, null]), null);
  assert.equal(median([]), null);
  assert.equal(median([NaN, 1]), 1);
});
check('ratio and spread', () => {
  assert.equal(ratio(10, 4), 2.5);
  assert.equal(ratio(null, 4), null);
  assert.equal(ratio(1, 0), null);
  assert.equal(spread([90, 100, 110]), 0.2);
  assert.equal(spread([1]), null);
});

check('targets', () => {
  const t = { text: '>= 2x and >= 100000', minRatio: 2, minValue: 100_000 };
  assert.equal(judge(t, 250_000, 2.1), true);
  assert.equal(judge(t, 250_000, 1.9), false);
  assert.equal(judge(t, 90_000, 3), false);
  assert.equal(judge(t, 250_000, null), null, 'no tgtd: cannot judge a ratio');
  assert.equal(judge(t, 90_000, null), false, 'the absolute half already fails');
  assert.equal(judge({ text: '<= tgtd', maxRatio: 1 }, 30, 1.2), false);
  assert.equal(judge({ text: '< 200 MB', maxValue: 200 }, 199.9, null), true);
  assert.equal(judge({ text: '< 200 MB', maxValue: 200 }, 200, null), false);
  assert.equal(judge(null, 1, 1), null);
});

check('targets of issue 14: at most a value, strictly below a ratio', () => {
  const t = { text: '<= 1 ms and < tgtd', atMostValue: 1000, belowRatio: 1 };
  assert.equal(judge(t, 1000, 0.99), true, 'exactly 1 ms is at most 1 ms');
  assert.equal(judge(t, 1000.1, 0.5), false);
  assert.equal(judge(t, 500, 1), false, 'equal to tgtd is not below it');
  assert.equal(judge(t, 500, null), null);
  assert.equal(judge(t, 1500, null), false);
  assert.equal(judge({ text: '<= 2x tgtd', maxRatio: 2 }, 90, 2), true);
});

check('percentiles: nearest rank', () => {
  const v = Float64Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentileOfSorted(v, 50), 50);
  assert.equal(percentileOfSorted(v, 99), 99);
  assert.equal(percentileOfSorted(v, 100), 100);
  assert.equal(percentileOfSorted(v, 0.001), 1);
  assert.equal(percentileOfSorted([7], 99), 7);
  assert.equal(percentileOfSorted([], 50), null);
  assert.equal(percentileOfSorted([1, 2], 0), null);
  assert.equal(percentileOfSorted([1, 2], 101), null);
  // 1000 samples: p99 is the 990th, p99.9 the 999th.
  const k = Float64Array.from({ length: 1000 }, (_, i) => i);
  assert.equal(percentileOfSorted(k, 99), 989);
  assert.equal(percentileOfSorted(k, 99.9), 998);
});
check('latency summary: sorts the used part only, mean and max', () => {
  const a = new Float64Array([5, 1, 3, 2, 4, 99, 99]);
  const s = summarizeLatencies(a, 5)!;
  assert.deepEqual(s, { count: 5, p50: 3, p99: 5, p999: 5, max: 5, mean: 3 });
  assert.equal(summarizeLatencies(new Float64Array(4), 0), null);
  const many = new Float64Array(10_000).fill(10);
  many[3] = 1e6;
  const m = summarizeLatencies(many)!;
  assert.equal(m.p99, 10, 'one outlier in 10000 moves neither p50 nor p99');
  assert.equal(m.max, 1e6);
});

/** A PDU: BHS with opcode, AHS words and a data segment, padded. */
function pdu(opcode: number, ahsWords: number, data: Buffer): Buffer {
  const bhs = Buffer.alloc(BHS_LENGTH);
  bhs[0] = opcode;
  bhs[4] = ahsWords;
  bhs.writeUIntBE(data.length, 5, 3);
  bhs.writeUInt32BE(data.length * 7 + opcode, 16);
  const pad = (4 - (data.length % 4)) % 4;
  return Buffer.concat([bhs, Buffer.alloc(ahsWords * 4, 0xee), data, Buffer.alloc(pad)]);
}
check('PDU framer: every split of a stream gives the same PDUs, AHS and padding skipped', () => {
  const datas = [Buffer.alloc(0), Buffer.from('abc'), Buffer.alloc(4096, 7), Buffer.from('hello world'), Buffer.alloc(0)];
  const stream = Buffer.concat(datas.map((d, i) => pdu(0x20 + i, i === 1 ? 2 : 0, d)));
  const want = datas.map((d, i) => `${0x20 + i}:${d.length}:${d.toString('hex')}`);
  const cut = (sizes: number[]): string[] => {
    const got: string[] = [];
    const f = new PduFramer((bhs, data) => got.push(`${bhs[0]}:${data.length}:${Buffer.from(data).toString('hex')}`));
    let off = 0;
    for (const n of sizes) {
      f.push(stream.subarray(off, off + n));
      off += n;
    }
    f.push(stream.subarray(off));
    assert.equal(f.error, null);
    return got;
  };
  assert.deepEqual(cut([]), want, 'one chunk');
  for (let a = 1; a < stream.length; a += 7) assert.deepEqual(cut([a]), want, `split at ${a}`);
  for (const step of [1, 3, 47, 48, 49, 1000]) {
    const sizes = Array.from({ length: Math.ceil(stream.length / step) }, () => step);
    assert.deepEqual(cut(sizes), want, `chunks of ${step}`);
  }
});
check('PDU framer: a PDU over the limit stops it with an error', () => {
  const got: number[] = [];
  const f = new PduFramer((bhs) => got.push(bhs[0]!), 1024);
  f.push(pdu(0x25, 0, Buffer.alloc(2000)));
  assert.match(f.error ?? '', /over the limit/);
  assert.deepEqual(got, []);
  const g = new PduFramer(() => undefined, 1024);
  const big = pdu(0x25, 0, Buffer.alloc(2000));
  g.push(big.subarray(0, 20));
  g.push(big.subarray(20, 60));
  assert.match(g.error ?? '', /over the limit/);
});

check('write command: W bit, immediate data length, expected length, LUN, CDB', () => {
  const cdb = Buffer.from([0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0]);
  const b = writeCommand({ lun: 3, itt: 0x11, cmdSN: 7, expStatSN: 9, cdb, dataLength: 24 });
  assert.equal(b.length, BHS_LENGTH);
  assert.equal(b[0], 0x01);
  assert.equal(b[1], 0x80 | 0x20 | 1);
  assert.equal(b.readUIntBE(5, 3), 24);
  assert.equal(b[9], 3);
  assert.equal(b.readUInt32BE(16), 0x11);
  assert.equal(b.readUInt32BE(20), 24);
  assert.equal(b.readUInt32BE(24), 7);
  assert.equal(b.readUInt32BE(28), 9);
  assert.deepEqual(b.subarray(32, 42), cdb);
});

check('etcd prefix range end: last byte below 0xff incremented, the rest cut', () => {
  assert.equal(prefixEnd('/a/b/').toString(), '/a/b0');
  assert.equal(prefixEnd('ab~').toString(), 'ab\x7f');
});

check('cluster node configs: one shared device, distinct rel_tgt_id, the cluster_mode 0 LUN on node 1 only', () => {
  const one = nodeConfig({ imagePath: '/x.img', relTgtId: 1, withLocal: true });
  const two = nodeConfig({ imagePath: '/x.img', relTgtId: 2, withLocal: false });
  for (const c of [one, two]) {
    assert.match(c, /^cluster_name bench$/m);
    assert.match(c, /t10_dev_id bench-shared\n\t\tcluster_mode 1\n/);
  }
  assert.match(one, /rel_tgt_id 1\n/);
  assert.match(two, /rel_tgt_id 2\n/);
  assert.match(one, /DEVICE local \{\n\t\tfilename \/x\.img\n\t\tcluster_mode 0\n/);
  assert.match(one, /LUN 1 local/);
  assert.doesNotMatch(two, /local/);
});

check('cluster rows: the two runs of a LUN in a round of a LUN as their mean, failed if one failed', () => {
  const run = (value: number | null, cpu: number | null = 0.5) => ({ value, serverCpu: cpu, otherCpu: 0, wallMs: 1000, ...(value === null ? { error: 'x' } : {}) });
  assert.deepEqual(meanOf([run(100), run(200)]), { value: 150, serverCpu: 0.5, otherCpu: 0 });
  assert.equal(meanOf([run(100, null), run(200)]).serverCpu, null);
  assert.deepEqual(meanOf([run(100), run(null)]), { value: null, serverCpu: 0.5, otherCpu: 0, error: 'x' });
});

check('client answers: JSON lines, split anywhere', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('{"event":"rea'), []);
  assert.deepEqual(s.push('dy"}\n{"event":"x"}\npartial'), ['{"event":"ready"}', '{"event":"x"}']);
  assert.deepEqual(parseAnswer('{"event":"ready"}'), { event: 'ready' });
  for (const bad of ['', 'not json', '[1]', 'null', '{"event":3}', '{"x":1}']) assert.equal(parseAnswer(bad), null, bad);
});
check('latency-client result: figures or null', () => {
  assert.deepEqual(latencyOf({ event: 'result', count: 10, p50Us: 50, p99Us: 90, maxUs: 120, stopped: false }), { count: 10, p50: 50, p99: 90, max: 120, stopped: false });
  assert.equal(latencyOf({ event: 'result', count: 0, p50Us: 50, p99Us: 90, maxUs: 120 }), null);
  assert.equal(latencyOf({ event: 'result', count: 5, p50Us: '50', p99Us: 90, maxUs: 120 }), null);
  assert.equal(latencyOf({ event: 'result', count: 5, p50Us: 1, p99Us: null, maxUs: 120 }), null);
  assert.equal(latencyOf({ event: 'result', count: 5, p50Us: 1, p99Us: 2, maxUs: 3, stopped: true })?.stopped, true);
});
check('writer sizing: enough 1 MiB writes to cover the window with margin, bounded', () => {
  // 1000 MiB/s = 1048576 bytes/ms; 3 s with margin 3: 9000 writes.
  assert.equal(writerCount(1048576, 3000), 9000);
  assert.equal(writerCount(0, 3000), 256);
  assert.equal(writerCount(NaN, 3000), 256);
  assert.equal(writerCount(1, 1), 256, 'never fewer than the sizing run');
  assert.equal(writerCount(1e12, 1e6), 1_000_000, 'never more than the bound');
});
check('writer note: only when the writers differ by more than a tenth', () => {
  const rows = (r: number | null): CaseResult[] => [{ id: 'fair-writer', ratio: r } as CaseResult];
  assert.equal(writerNote(rows(1)), null);
  assert.equal(writerNote(rows(0.95)), null);
  assert.equal(writerNote(rows(1.1)), null);
  assert.equal(writerNote(rows(null)), null);
  assert.equal(writerNote([]), null);
  assert.match(writerNote(rows(0.5)) ?? '', /starving the writer/);
  assert.match(writerNote(rows(2)) ?? '', /heavier load/);
});
check('storm answers, per-session RSS, open-file limits', () => {
  assert.deepEqual(stormOf({ event: 'loggedIn', ms: 12.5, ok: 3, failed: 1, firstError: 'refused' }), { ms: 12.5, ok: 3, failed: 1, firstError: 'refused' });
  assert.equal(stormOf({ event: 'loggedIn', ms: '1', ok: 3, failed: 0 }), null);
  assert.equal(stormOf({ event: 'loggedIn', ms: 1, ok: 3 }), null);
  assert.equal(stormOf({ event: 'loggedIn', ms: 1, ok: 3, failed: 0 })?.firstError, null);
  assert.equal(perSessionKiB(1000, 11000, 1000), 10);
  assert.equal(perSessionKiB(1000, 900, 100), -1, 'a shrinking RSS is reported, not hidden');
  assert.equal(perSessionKiB(null, 900, 100), null);
  assert.equal(perSessionKiB(1000, 2000, 0), null);
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95733                95733                processes \nMax open files            1024                 524288               files     \n';
  assert.deepEqual(openFilesLimit(limits), { soft: 1024, hard: 524288 });
  assert.deepEqual(openFilesLimit('Max open files            unlimited            unlimited            files'), { soft: Infinity, hard: Infinity });
  assert.equal(openFilesLimit('Max processes 1 1'), null);
});
check('netstat counters', () => {
  const text = 'TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops\nTcpExt: 0 0 354 354\nIpExt: InOctets\nIpExt: 123\nBroken: a b\nBroken: 1\n';
  const m = parseNetstat(text);
  assert.equal(m.get('TcpExt.ListenOverflows'), 354);
  assert.equal(m.get('IpExt.InOctets'), 123);
  assert.equal(m.has('Broken.a'), false);
  assert.equal(parseNetstat('').size, 0);
});

check('cpuprofile: self time per function and file, idle left out of the percentages', () => {
  const profile = {
    nodes: [
      { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 3, 4] },
      { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      { id: 3, callFrame: { functionName: 'onData', url: 'file:///repo/dist/src/engine/iscsi/connection.js', lineNumber: 9 } },
      { id: 4, callFrame: { functionName: '', url: 'file:///repo/dist/src/engine/iscsi/connection.js', lineNumber: 99 } },
    ],
    samples: [3, 3, 4, 2, 3],
    timeDeltas: [0, 1000, 1000, 1000, 2000],
  };
  const r = summarizeCpuProfile(profile, '/repo', 10);
  assert.ok(r.ok);
  if (!r.ok) return;
  // Sample i lasts until sample i+1: onData 1000 + 1000 + 0 (last), anonymous 1000, idle 2000.
  assert.equal(r.summary.totalMs, 5);
  assert.equal(r.summary.idleMs, 2);
  assert.equal(r.summary.busyMs, 3);
  assert.deepEqual(r.summary.functions[0], { functionName: 'onData', location: 'dist/src/engine/iscsi/connection.js:10', selfMs: 2, selfPercent: 66.7 });
  assert.equal(r.summary.functions[1]!.functionName, '(anonymous)');
  assert.deepEqual(r.summary.files, [{ file: 'dist/src/engine/iscsi/connection.js', selfMs: 3, selfPercent: 100 }]);
});
check('cpuprofile: hostile input gives an error result', () => {
  for (const bad of [null, 42, 'x', {}, { nodes: [], samples: [1], timeDeltas: [] }, { nodes: 'x', samples: [], timeDeltas: [] }]) {
    const r = summarizeCpuProfile(bad);
    assert.equal(r.ok, false);
  }
  const odd = summarizeCpuProfile({ nodes: [null, { id: 'x' }, { id: 1 }], samples: [1, 7, 'z'], timeDeltas: [0, 'q', -5] });
  assert.ok(odd.ok);
});

check('formatting', () => {
  assert.equal(formatValue(123456.7, 'IOPS'), '123,457');
  assert.equal(formatValue(1541.3, 'MiB/s'), '1,541');
  assert.equal(formatValue(99.94, 'MiB/s'), '99.9');
  assert.equal(formatValue(25.63, 'us'), '25.6');
  assert.equal(formatValue(null, 'IOPS'), '-');
  assert.equal(formatValue('n/a', ''), 'n/a');
  const t = pipeTable(['a', 'b'], [['x', '1'], ['yy', '22']], [false, true]).split('\n');
  assert.deepEqual(t, ['| a  |  b |', '|----|---:|', '| x  |  1 |', '| yy | 22 |']);
});

let failed = 0;
for (const [name, fn] of checks) {
  try {
    fn();
    process.stdout.write(`ok   ${name}\n`);
  } catch (e) {
    failed++;
    process.stdout.write(`FAIL ${name}\n  ${(e as Error).message.split('\n').join('\n  ')}\n`);
  }
}
process.stdout.write(`${checks.length - failed}/${checks.length} checks passed\n`);
process.exitCode = failed === 0 ? 0 : 1;

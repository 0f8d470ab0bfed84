#!/usr/bin/env node
// The fair-service case's measuring client, run as its own process: one session, QD1 reads of
// `--bytes` at random aligned offsets of one LUN, each command timed from its send to its status.
// Neither iscsi-perf nor fio (no libiscsi engine in Debian) reports per-command latency.
//
// Speaks JSON lines on stdout: {"event":"measuring"} when the timed window starts, then
// {"event":"result",...} (microseconds) or {"event":"error","message":...}. A line "stop" on stdin
// ends the window early (the result then says stopped: true); stdin closing ends the program.
// The hot path allocates nothing per command: one command PDU rewritten in place, reads into one
// shared buffer, latencies into a preallocated array.
import { Command, InvalidArgumentError } from 'commander';
import { intIn, sessionOptionsOf, withSessionOptions, type SessionOptions } from './options.js';
import { FIRST_COMMAND_ITT, InitiatorSession } from './login-client.js';
import { DATA_IN_STATUS, Op, opcodeOf, readCommand } from './pdu.js';
import { summarizeLatencies } from './stats.js';

const COMMAND_TIMEOUT_MS = 10_000;
// Bounds the memory: 4 Mi latencies (32 MiB) is about 100 s at 40k commands/s.
const MAX_SAMPLES = 4 * 1024 * 1024;
const READ_10 = 0x28;
const READ_CAPACITY_10 = 0x25;
const GOOD = 0;
const CHECK_CONDITION = 2;

interface Options extends SessionOptions {
  seconds: number;
  bytes: number;
  warmupOps: number;
  seed: number;
  intervalUs: number;
}


function parseOptions(argv: string[]): Options {
  const o = withSessionOptions(new Command().name('latency-client').description('QD1 random reads over one iSCSI session; per-command latency percentiles as JSON'), { initiator: 'iqn.2026-11.org.scst-usermode.bench:latency', isid: '80b1a7000001' })
    .option('--seconds <s>', 'length of the timed window', (v) => {
      const n = Number(v);
      if (!(n > 0 && n <= 600)) throw new InvalidArgumentError('expected seconds from 0 to 600');
      return n;
    }, 3)
    .option('--bytes <n>', 'bytes per read (a multiple of the block size)', intIn(512, 1024 * 1024), 4096)
    .option('--warmup-ops <n>', 'reads before the window, not timed', intIn(0, 1_000_000), 200)
    .option('--seed <n>', 'seed of the offsets (same seed, same offsets)', intIn(1, 0xffffffff), 0x5eed)
    .option('--interval-us <n>', 'start timed reads at most this often (0: back to back)', intIn(0, 1_000_000), 0)
    .parse(argv)
    .opts<{ port: number; target: string; lun: number; initiator: string; isid: string; seconds: number; bytes: number; warmupOps: number; seed: number; intervalUs: number }>();
  return sessionOptionsOf(o);
}

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

/** Status of one command: the SCSI status, and the data it read (only when asked to keep it). */
interface Completion {
  status: number;
  response: number;
}

/**
 * One command at a time over a session. The command PDU is built once and rewritten in place.
 * Completion is a Data-In with the status bit or a SCSI Response, whichever comes.
 */
class SerialReader {
  private readonly pdu: Buffer;
  private itt = FIRST_COMMAND_ITT;
  private busy = false;
  private keep: Buffer | null = null;
  private onDone: ((c: Completion) => void) | null = null;
  startedAt = 0;

  constructor(
    private readonly sess: InitiatorSession,
    lun: number,
  ) {
    this.pdu = readCommand({ lun, itt: this.itt, expectedLength: 0, cmdSN: sess.cmdSN, expStatSN: sess.expStatSN, cdb: Buffer.alloc(16) });
    sess.setHandler((bhs, data) => this.onPdu(bhs, data));
  }

  get outstanding(): boolean {
    return this.busy;
  }

  /** Sends `cdb` expecting `length` bytes; `done` runs at its completion. `keep` receives the data. */
  issue(cdb: (pdu: Buffer) => void, length: number, done: (c: Completion) => void, keep: Buffer | null = null): void {
    if (this.busy) throw new Error('one command at a time');
    this.busy = true;
    this.itt = this.itt >= 0x7fffffff ? FIRST_COMMAND_ITT : this.itt + 1;
    this.keep = keep;
    this.onDone = done;
    const p = this.pdu;
    p.writeUInt32BE(this.itt, 16);
    p.writeUInt32BE(length, 20);
    p.writeUInt32BE(this.sess.cmdSN >>> 0, 24);
    p.writeUInt32BE(this.sess.expStatSN >>> 0, 28);
    p.fill(0, 32, 48);
    cdb(p);
    this.sess.cmdSN = (this.sess.cmdSN + 1) >>> 0;
    this.startedAt = performance.now();
    this.sess.send(p);
  }

  private onPdu(bhs: Buffer, data: Buffer): void {
    if (!this.busy || bhs.readUInt32BE(16) !== this.itt) return;
    const op = opcodeOf(bhs);
    if (op === Op.DATA_IN) {
      if (this.keep !== null) data.copy(this.keep, bhs.readUInt32BE(40));
      if ((bhs[1]! & DATA_IN_STATUS) !== 0) this.complete({ status: bhs[3]!, response: 0 });
    } else if (op === Op.SCSI_RSP) {
      this.complete({ status: bhs[3]!, response: bhs[2]! });
    }
  }

  private complete(c: Completion): void {
    this.busy = false;
    const done = this.onDone!;
    this.onDone = null;
    done(c);
  }
}

function once(r: SerialReader, cdb: (pdu: Buffer) => void, length: number, keep: Buffer | null): Promise<Completion> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no status within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
    r.issue(cdb, length, (c) => {
      clearTimeout(t);
      resolve(c);
    }, keep);
  });
}

/** READ CAPACITY(10); a unit attention left over from the login is retried. */
async function readCapacity(r: SerialReader): Promise<{ blocks: number; blockBytes: number }> {
  const data = Buffer.alloc(8);
  for (let attempt = 0; attempt < 4; attempt++) {
    const c = await once(r, (p) => {
      p[32] = READ_CAPACITY_10;
    }, 8, data);
    if (c.response === 0 && c.status === GOOD) return { blocks: data.readUInt32BE(0) + 1, blockBytes: data.readUInt32BE(4) };
    if (c.status !== CHECK_CONDITION) throw new Error(`READ CAPACITY(10): response ${c.response}, status 0x${c.status.toString(16)}`);
  }
  throw new Error('READ CAPACITY(10): CHECK CONDITION four times');
}

/** xorshift32: cheap, and the same seed gives every daemon the same offsets. */
function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv);
  let stopRequested = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (s: string) => {
    if (s.includes('stop')) stopRequested = true;
  });
  process.stdin.on('end', () => {
    stopRequested = true;
  });

  const sess = await InitiatorSession.open({ port: o.port, targetName: o.target, initiatorName: o.initiator, isid: o.isid, timeoutMs: 30_000 });
  const reader = new SerialReader(sess, o.lun);
  const cap = await readCapacity(reader);
  if (cap.blockBytes === 0 || o.bytes % cap.blockBytes !== 0) throw new Error(`--bytes ${o.bytes} is not a multiple of the block size ${cap.blockBytes}`);
  const blocksPerRead = o.bytes / cap.blockBytes;
  const slots = Math.floor(cap.blocks / blocksPerRead);
  if (slots < 1 || cap.blocks > 0x100000000) throw new Error(`LUN of ${cap.blocks} blocks: READ(10) cannot cover it`);
  const next = xorshift32(o.seed);

  const samples = new Float64Array(MAX_SAMPLES);
  let count = 0;
  let warm = o.warmupOps;
  let endAt = Infinity;
  let windowStart = 0;
  let failure: string | null = null;
  let stoppedEarly = false;
  const readCdb = (p: Buffer): void => {
    p[32] = READ_10;
    p.writeUInt32BE(((next() % slots) * blocksPerRead) >>> 0, 34);
    p.writeUInt16BE(blocksPerRead, 39);
  };

  const finished = new Promise<boolean>((resolve) => {
    const watchdog = setInterval(() => {
      if (reader.outstanding && performance.now() - reader.startedAt > COMMAND_TIMEOUT_MS) failure = `a READ(10) had no status after ${COMMAND_TIMEOUT_MS} ms`;
      else if (!sess.alive) failure = `session lost: ${sess.error ?? 'connection closed'}`;
      if (failure !== null) {
        clearInterval(watchdog);
        resolve(false);
      }
    }, 200);
    const onDone = (c: Completion): void => {
      const now = performance.now();
      if (failure !== null) return;
      if (c.response !== 0 || c.status !== GOOD) {
        failure = `READ(10): response ${c.response}, status 0x${c.status.toString(16)}`;
        return;
      }
      if (warm > 0) {
        warm--;
        if (warm === 0) {
          say({ event: 'measuring' });
          windowStart = performance.now();
          endAt = windowStart + o.seconds * 1000;
        }
      } else {
        samples[count++] = now - reader.startedAt;
        if (now >= endAt || stopRequested || count === MAX_SAMPLES) {
          stoppedEarly = now < endAt;
          clearInterval(watchdog);
          resolve(true);
          return;
        }
      }
      // Paced: a reader that loops flat out is a CPU hog of its own on the client CPU, which
      // the writer it is measured beside shares; one read per interval measures the target.
      const wait = warm === 0 && o.intervalUs > 0 ? o.intervalUs / 1000 - (now - reader.startedAt) : 0;
      if (wait >= 1) setTimeout(() => reader.issue(readCdb, o.bytes, onDone), wait);
      else reader.issue(readCdb, o.bytes, onDone);
    };
    if (warm === 0) {
      say({ event: 'measuring' });
      windowStart = performance.now();
      endAt = windowStart + o.seconds * 1000;
    }
    reader.issue(readCdb, o.bytes, onDone);
  });
  const ok = await finished;
  const windowMs = performance.now() - windowStart;
  if (!ok) throw new Error(failure ?? 'failed');
  const s = summarizeLatencies(samples, count);
  if (s === null) throw new Error('no reads completed in the window');
  const us = (ms: number): number => Math.round(ms * 10_000) / 10;
  say({ event: 'result', count: s.count, p50Us: us(s.p50), p99Us: us(s.p99), p999Us: us(s.p999), maxUs: us(s.max), meanUs: us(s.mean), windowMs: Math.round(windowMs), stopped: stoppedEarly });
  try {
    await sess.logout(5_000);
  } catch {
    sess.close();
  }
}

main().then(
  () => {
    process.exit(0);
  },
  (e: unknown) => {
    say({ event: 'error', message: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  },
);

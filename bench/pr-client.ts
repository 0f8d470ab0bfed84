#!/usr/bin/env node
// The cluster rows' PR OUT client, run as its own process: one session, PERSISTENT RESERVE OUT
// at QD1, REGISTER of a new key and REGISTER of key 0 (unregister) in alternation, each command
// timed from its send to its status. On a cluster-mode LUN each one is a transaction in etcd that
// every node acknowledges before the status; on a cluster_mode 0 LUN a local store. No libiscsi
// tool issues PR OUT in a loop and reports per-command times.
//
// Speaks JSON lines on stdout: {"event":"result",...} (microseconds) or {"event":"error",...};
// stdin closing ends the program.
import { Command } from 'commander';
import { intIn, sessionOptionsOf, withSessionOptions, type SessionOptions } from './options.js';
import { FIRST_COMMAND_ITT, InitiatorSession } from './login-client.js';
import { Op, opcodeOf, writeCommand } from './pdu.js';
import { summarizeLatencies } from './stats.js';

const COMMAND_TIMEOUT_MS = 10_000;
const PR_OUT = 0x5f;
const REGISTER = 0x00;
const REGISTER_AND_IGNORE = 0x06;
const PARAMETER_LENGTH = 24;
const TEST_UNIT_READY = 0x00;
const GOOD = 0;
const CHECK_CONDITION = 2;

interface Options extends SessionOptions {
  count: number;
  warmupOps: number;
}

function parseOptions(argv: string[]): Options {
  const o = withSessionOptions(new Command().name('pr-client').description('QD1 PERSISTENT RESERVE OUT (register / unregister) over one iSCSI session; latency percentiles as JSON'), { initiator: 'iqn.2026-12.org.scst-usermode.bench:pr', isid: '80b1a7000002' })
    .option('--count <n>', 'timed commands', intIn(2, 100_000), 300)
    .option('--warmup-ops <n>', 'commands before the timed ones, not timed', intIn(0, 100_000), 20)
    .parse(argv)
    .opts<{ port: number; target: string; lun: number; initiator: string; isid: string; count: number; warmupOps: number }>();
  return sessionOptionsOf(o);
}

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

interface Status {
  status: number;
  response: number;
}

/** One command at a time; the status comes in a SCSI Response (PR OUT and TUR read no data). */
class SerialIssuer {
  private itt = FIRST_COMMAND_ITT;
  private pending: { itt: number; done: (s: Status) => void } | null = null;

  constructor(private readonly sess: InitiatorSession, private readonly lun: number) {
    sess.setHandler((bhs) => {
      const p = this.pending;
      if (p === null || opcodeOf(bhs) !== Op.SCSI_RSP || bhs.readUInt32BE(16) !== p.itt) return;
      this.pending = null;
      p.done({ status: bhs[3]!, response: bhs[2]! });
    });
  }

  issue(cdb: Buffer, data: Buffer): Promise<Status> {
    if (this.pending !== null) throw new Error('one command at a time');
    this.itt = this.itt >= 0x7fffffff ? FIRST_COMMAND_ITT : this.itt + 1;
    const itt = this.itt;
    const bhs = writeCommand({ lun: this.lun, itt, cmdSN: this.sess.cmdSN, expStatSN: this.sess.expStatSN, cdb, dataLength: data.length });
    this.sess.cmdSN = (this.sess.cmdSN + 1) >>> 0;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending = null;
        reject(new Error(`no status within ${COMMAND_TIMEOUT_MS} ms (opcode 0x${cdb[0]!.toString(16)})${this.sess.alive ? '' : `; session lost: ${this.sess.error ?? 'closed'}`}`));
      }, COMMAND_TIMEOUT_MS);
      this.pending = {
        itt,
        done: (s) => {
          clearTimeout(t);
          resolve(s);
        },
      };
      this.sess.send(bhs, data);
    });
  }
}

function prOutCdb(serviceAction: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = PR_OUT;
  c[1] = serviceAction;
  c.writeUInt32BE(PARAMETER_LENGTH, 5);
  return c;
}

function parameters(key: bigint, serviceActionKey: bigint): Buffer {
  const p = Buffer.alloc(PARAMETER_LENGTH);
  p.writeBigUInt64BE(key, 0);
  p.writeBigUInt64BE(serviceActionKey, 8);
  return p;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv);
  process.stdin.resume();
  const sess = await InitiatorSession.open({ port: o.port, targetName: o.target, initiatorName: o.initiator, isid: o.isid, timeoutMs: 30_000 });
  const issuer = new SerialIssuer(sess, o.lun);
  // The new nexus's power-on unit attention: taken by TEST UNIT READY (bounded retries).
  let ready = false;
  for (let i = 0; i < 4 && !ready; i++) {
    const s = await issuer.issue(Buffer.alloc(6, TEST_UNIT_READY), Buffer.alloc(0));
    if (s.response !== 0 || (s.status !== GOOD && s.status !== CHECK_CONDITION)) throw new Error(`TEST UNIT READY: response ${s.response}, status 0x${s.status.toString(16)}`);
    ready = s.status === GOOD;
  }
  if (!ready) throw new Error('TEST UNIT READY: CHECK CONDITION four times');
  // A key left by an earlier run that was cut short is dropped first (REGISTER AND IGNORE
  // EXISTING KEY with key 0 unregisters, or does nothing).
  const clear = await issuer.issue(prOutCdb(REGISTER_AND_IGNORE), parameters(0n, 0n));
  if (clear.response !== 0 || clear.status !== GOOD) throw new Error(`PR OUT REGISTER AND IGNORE EXISTING KEY: response ${clear.response}, status 0x${clear.status.toString(16)}`);

  const register = prOutCdb(REGISTER);
  const samples = new Float64Array(o.count);
  let key = 0n;
  for (let i = 0; i < o.warmupOps + o.count; i++) {
    // Even steps register a new key, odd steps unregister it: each step changes the store.
    const next = key === 0n ? BigInt(0x5c57_0000 + i + 1) : 0n;
    const data = parameters(key, next);
    const t0 = performance.now();
    const s = await issuer.issue(register, data);
    const ms = performance.now() - t0;
    if (s.response !== 0 || s.status !== GOOD) throw new Error(`PR OUT REGISTER (key ${key.toString(16)} -> ${next.toString(16)}), command ${i + 1}: response ${s.response}, status 0x${s.status.toString(16)}`);
    key = next;
    if (i >= o.warmupOps) samples[i - o.warmupOps] = ms;
  }
  if (key !== 0n) await issuer.issue(register, parameters(key, 0n));
  const sum = summarizeLatencies(samples, o.count);
  if (sum === null) throw new Error('no command timed');
  const us = (ms: number): number => Math.round(ms * 10_000) / 10;
  say({ event: 'result', count: sum.count, p50Us: us(sum.p50), p99Us: us(sum.p99), maxUs: us(sum.max), meanUs: us(sum.mean) });
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

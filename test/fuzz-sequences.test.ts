// Stateful PDU-sequence fuzzing against a live daemon over TCP (issue 14): fast-check generates
// WHOLE sequences - logins (stage transitions, continuations, key sets, CHAP steps, AHS, TSIH),
// SCSI commands with R2T/Data-Out exchanges (offsets, lengths, DataSN, TTT, F and I bits,
// several commands interleaved), task management (ABORT TASK of in-flight writes, LUN RESET, ...),
// text, NOP and logout, on one or two connections - and an interpreter plays them, each step
// meaning something relative to the state so far (which writes are open, which R2Ts arrived).
// After each sequence the daemon is alive and a control session does verified I/O; at the end
// no fuzzed LUN holds a byte the fuzzer did not send (the control session's pattern, say), and
// the daemon stops with `exit balance: commands 0, pool buffers 0`.
//
// CI runs a fixed seed and a few dozen sequences; `npm run fuzz` runs FUZZ_RUNS sequences (seed
// FUZZ_SEED), at most FUZZ_SECONDS seconds (default 3300, under the fuzz script's test timeout);
// FUZZ_PATH replays one case fast-check reported; FUZZ_VERBOSE=1 prints every sequence and what
// the daemon logged for it.
import fc from 'fast-check';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { HostileInitiator, hostileLoginBhs, RESERVED_TAG } from './helpers/hostile.js';
import { Cdb, encodeTextKeys, nopOutBhs, Op, parseTextKeys, RawIscsiClient, textRequestBhs, type RawLoginResult } from './helpers/rawclient.js';
import { scstConf } from './helpers/scstconf.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';

installHarnessHooks();

const FUZZ_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const FUZZ_SECONDS = process.env.FUZZ_SECONDS ? Number(process.env.FUZZ_SECONDS) : FUZZ_RUNS ? 3300 : 45;
const RUNS = FUZZ_RUNS ?? 30;
const SEED = FUZZ_SEED ?? 1402;
/** Replays one failing case (fast-check prints its seed and path) without the runs before it. */
const FUZZ_PATH = process.env.FUZZ_PATH;

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512;
const LUN_BYTES = 8 * MiB;
const TARGET = 'iqn.2026-11.test:fuzzseq';
const CHAP_TARGET = 'iqn.2026-11.test:fuzzseq-chap';
const CHAP_USER = 'fuzzuser';
const CHAP_SECRET = 'fuzzsecret1234';
const CONTROL = 'iqn.2026-11.test:fuzz-control';
const CHECKER = 'iqn.2026-11.test:fuzz-checker';
const FUZZ_NAMES = ['iqn.2026-11.test:fuzz-a', 'iqn.2026-11.test:fuzz-b'];
const ISIDS = [Buffer.from([0x80, 0, 0, 0xf0, 0, 1]), Buffer.from([0x80, 0, 0, 0xf0, 0, 2])];
/** Every byte the fuzzer ever sends as data; the control session's pattern has none of them. */
const FUZZ_BYTES = [0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8];
const CONTROL_PATTERN = Buffer.from('CONTROL-PATTERN!');
/** How long a step waits for the target, at most. */
const STEP_WAIT_MS = 150;

// ---------------------------------------------------------------------------------------------
// The sequence language

const KEY_VALUES: Record<string, string[]> = {
  HeaderDigest: ['None', 'CRC32C', 'None,CRC32C', 'MD5'],
  DataDigest: ['None', 'CRC32C', 'CRC32C,None'],
  MaxRecvDataSegmentLength: ['512', '8192', '65536', '262144', '16777215', '0', 'x'],
  InitialR2T: ['Yes', 'No', 'Maybe'],
  ImmediateData: ['Yes', 'No'],
  FirstBurstLength: ['512', '4096', '65536', '262144', '16777216'],
  MaxBurstLength: ['512', '8192', '262144', '1048576', '16777215', '99999999999'],
  MaxOutstandingR2T: ['1', '2', '4', '0', '65535'],
  DataPDUInOrder: ['Yes', 'No'],
  DataSequenceInOrder: ['Yes', 'No'],
  ErrorRecoveryLevel: ['0', '1', '2', '9'],
  MaxConnections: ['1', '2', '65535'],
  DefaultTime2Wait: ['0', '2', '3600'],
  DefaultTime2Retain: ['0', '20'],
  'X-fuzz': ['a', ''],
};
const keyPair = fc.constantFrom(...Object.keys(KEY_VALUES)).chain((k) => fc.constantFrom(...KEY_VALUES[k]!).map((v): [string, string] => [k, v]));
const keySet = fc.uniqueArray(keyPair, { maxLength: 6, selector: ([k]) => k });

type LoginPlan =
  | { kind: 'full'; target: 'open' | 'chap'; chap: 'none' | 'good' | 'bad' | 'mutual'; keys: Array<[string, string]>; name: number; isid: number }
  | { kind: 'raw'; pdus: RawLoginPdu[]; name: number; isid: number }
  | { kind: 'discovery' }
  | { kind: 'none' };

interface RawLoginPdu {
  csg: number;
  nsg: number;
  transit: boolean;
  /** Split the text into this many C=1 continuation PDUs (1: no continuation). */
  pieces: number;
  keys: 'names' | 'names+auth' | 'auth' | 'ops' | 'chap-a' | 'chap-bad-r' | 'empty' | 'junk';
  tsih: 'zero' | 'previous' | 'random';
  itt: 'same' | 'new';
  ahs: boolean;
}

const rawLoginPdu: fc.Arbitrary<RawLoginPdu> = fc.record({
  csg: fc.constantFrom(0, 0, 1, 1, 2, 3),
  nsg: fc.constantFrom(0, 1, 1, 3, 3, 2),
  transit: fc.boolean(),
  pieces: fc.constantFrom(1, 1, 1, 2, 3),
  keys: fc.constantFrom('names', 'names+auth', 'names+auth', 'auth', 'ops', 'ops', 'chap-a', 'chap-bad-r', 'empty', 'junk'),
  tsih: fc.constantFrom('zero', 'zero', 'zero', 'previous', 'random'),
  itt: fc.constantFrom('same', 'same', 'new'),
  ahs: fc.constantFrom(false, false, false, true),
}) as fc.Arbitrary<RawLoginPdu>;

/** A correct two-stage login, then possibly mutated field by field. */
const templateRawLogin: fc.Arbitrary<RawLoginPdu[]> = fc
  .tuple(fc.array(fc.tuple(fc.nat(2), rawLoginPdu), { maxLength: 2 }), fc.boolean())
  .map(([mutations, extraOps]) => {
    const base: RawLoginPdu[] = [
      { csg: 0, nsg: 1, transit: true, pieces: 1, keys: 'names+auth', tsih: 'zero', itt: 'same', ahs: false },
      { csg: 1, nsg: 3, transit: true, pieces: 1, keys: 'ops', tsih: 'zero', itt: 'same', ahs: false },
    ];
    if (extraOps) base.splice(1, 0, { csg: 1, nsg: 3, transit: false, pieces: 2, keys: 'ops', tsih: 'zero', itt: 'same', ahs: false });
    for (const [at, pdu] of mutations) base.splice(Math.min(at, base.length), 1, pdu);
    return base;
  });

const loginPlan: fc.Arbitrary<LoginPlan> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('full' as const), target: fc.constant('open' as const), chap: fc.constant('none' as const), keys: keySet, name: fc.nat(1), isid: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('full' as const), target: fc.constant('chap' as const), chap: fc.constantFrom('good' as const, 'bad' as const, 'mutual' as const, 'none' as const), keys: keySet, name: fc.nat(1), isid: fc.nat(1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('raw' as const), pdus: fc.oneof(templateRawLogin, fc.array(rawLoginPdu, { minLength: 1, maxLength: 5 })), name: fc.nat(1), isid: fc.nat(1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'discovery' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

type Step =
  | { op: 'cmd'; actor: number; kind: 'read' | 'write' | 'tur' | 'inquiry' | 'sync'; lun: number; lba: number; blocks: number; edtl: 'exact' | 'less' | 'more' | 'zero' | 'huge'; immediate: boolean; immData: 'none' | 'burst' | 'small' | 'over'; final: 'auto' | boolean; cmdSN: 'ok' | 'dup' | 'ahead' | 'behind'; fill: number }
  | { op: 'dout'; actor: number; cmd: number; base: 'r2t' | 'unsolicited' | 'stale'; offset: 'exact' | 'overlap' | 'gap' | 'beyond' | 'zero'; length: 'seg' | 'small' | 'half' | 'one' | 'zero' | 'over'; dataSN: 'next' | 'same' | 'skip' | 'zero'; ttt: 'r2t' | 'reserved' | 'random'; final: 'auto' | boolean; fill: number }
  | { op: 'answer'; actor: number; cmd: number; fill: number }
  | { op: 'tmf'; actor: number; func: number; ref: 'open' | 'done' | 'random'; cmd: number; lun: number; immediate: boolean }
  | { op: 'nop'; actor: number; ttt: 'reserved' | 'random'; len: number; immediate: boolean }
  | { op: 'text'; actor: number; keys: Array<[string, string]>; sendTargets: boolean }
  | { op: 'logout'; actor: number; reason: number }
  | { op: 'wait'; ms: number }
  | { op: 'pauseReading' | 'resumeReading' | 'close'; actor: number }
  | { op: 'garbage'; actor: number; bytes: number[] }
  | { op: 'relogin'; actor: number; plan: LoginPlan };

const actor = fc.nat(1);
const fill = fc.constantFrom(...FUZZ_BYTES);
type CmdStep = Extract<Step, { op: 'cmd' }>;
type DoutStep = Extract<Step, { op: 'dout' }>;

/**
 * Most steps are valid and one in five carries ONE mutated field: a sequence of all-broken PDUs
 * only ever tests the first error path, so the mutations are spread over long valid exchanges.
 */
function mostlyValid<T>(valid: fc.Arbitrary<T>, mutation: fc.Arbitrary<Partial<T>>): fc.Arbitrary<T> {
  return fc.tuple(valid, fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: mutation })).map(([v, m]) => (m ? { ...v, ...m } : v));
}

const cmdArb: fc.Arbitrary<CmdStep> = mostlyValid<CmdStep>(
  fc.record({
    op: fc.constant('cmd' as const),
    actor,
    kind: fc.constantFrom('read' as const, 'write' as const, 'write' as const, 'write' as const, 'tur' as const, 'inquiry' as const, 'sync' as const),
    lun: fc.constantFrom(0, 0, 0, 1),
    lba: fc.nat(LUN_BYTES / BLOCK - 1),
    blocks: fc.constantFrom(1, 8, 128, 129, 512, 2048),
    edtl: fc.constant('exact' as const),
    immediate: fc.constant(false),
    immData: fc.constantFrom('none' as const, 'burst' as const),
    final: fc.constant('auto' as const),
    cmdSN: fc.constant('ok' as const),
    fill,
  }),
  fc.oneof(
    fc.record({ edtl: fc.constantFrom('less' as const, 'more' as const, 'zero' as const, 'huge' as const) }),
    fc.record({ immediate: fc.constant(true) }),
    fc.record({ immData: fc.constantFrom('small' as const, 'over' as const) }),
    fc.record({ final: fc.boolean() }),
    fc.record({ cmdSN: fc.constantFrom('dup' as const, 'ahead' as const, 'behind' as const) }),
    fc.record({ lun: fc.constant(9) }),
    fc.record({ blocks: fc.constant(0) }),
  ),
);

const doutArb: fc.Arbitrary<DoutStep> = mostlyValid<DoutStep>(
  fc.record({
    op: fc.constant('dout' as const),
    actor,
    cmd: fc.nat(7),
    base: fc.constantFrom('r2t' as const, 'r2t' as const, 'r2t' as const, 'unsolicited' as const),
    offset: fc.constant('exact' as const),
    length: fc.constantFrom('seg' as const, 'seg' as const, 'small' as const),
    dataSN: fc.constant('next' as const),
    ttt: fc.constant('r2t' as const),
    final: fc.constant('auto' as const),
    fill,
  }),
  fc.oneof(
    fc.record({ offset: fc.constantFrom('overlap' as const, 'gap' as const, 'beyond' as const, 'zero' as const) }),
    fc.record({ length: fc.constantFrom('half' as const, 'one' as const, 'zero' as const, 'over' as const) }),
    fc.record({ dataSN: fc.constantFrom('same' as const, 'skip' as const, 'zero' as const) }),
    fc.record({ ttt: fc.constantFrom('reserved' as const, 'random' as const) }),
    fc.record({ final: fc.boolean() }),
    fc.record({ base: fc.constant('stale' as const) }),
  ),
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: cmdArb },
  { weight: 10, arbitrary: doutArb },
  { weight: 7, arbitrary: fc.record({ op: fc.constant('answer' as const), actor, cmd: fc.nat(7), fill }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('tmf' as const),
      actor,
      func: fc.constantFrom(1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 8, 0, 14),
      ref: fc.constantFrom('open' as const, 'open' as const, 'done' as const, 'random' as const),
      cmd: fc.nat(7),
      lun: fc.constantFrom(0, 0, 1, 9),
      immediate: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(0, 5, 20, 60) }) },
  // Steps that usually end or derail the connection: rarer, so that sequences get somewhere.
  {
    weight: 3,
    arbitrary: fc.oneof(
      { weight: 1, arbitrary: fc.record({ op: fc.constant('nop' as const), actor, ttt: fc.constantFrom('reserved' as const, 'random' as const), len: fc.constantFrom(0, 0, 4, 100, 70_000), immediate: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('text' as const), actor, keys: keySet, sendTargets: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('logout' as const), actor, reason: fc.constantFrom(0, 0, 1, 2, 3) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('pauseReading' as const, 'resumeReading' as const, 'close' as const), actor }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('garbage' as const), actor, bytes: fc.array(fc.nat(255), { minLength: 1, maxLength: 120 }) }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('relogin' as const), actor, plan: loginPlan }) },
    ),
  },
);

const sequenceArb = fc.record({
  logins: fc.array(loginPlan, { minLength: 1, maxLength: 2 }),
  steps: fc.array(stepArb, { minLength: 4, maxLength: 80, size: 'medium' }),
});
type Sequence = { logins: LoginPlan[]; steps: Step[] };

// ---------------------------------------------------------------------------------------------
// The interpreter

/** What the interpreter remembers of a command it sent. */
interface FCmd {
  itt: number;
  lun: number;
  write: boolean;
  edtl: number;
  /** Next unsolicited offset and DataSN. */
  unsolicitedNext: number;
  unsolicitedSN: number;
  /** Per TTT: next offset and DataSN inside that R2T. */
  r2tNext: Map<number, { offset: number; sn: number; end: number }>;
  cmdSN: number;
  /** The command went with F=1 (no unsolicited Data-Out may follow). */
  final: boolean;
  /** Bytes of the transfer the fuzzer sent (immediate data and Data-Out), when EDTL is small enough to track. */
  coverage: Uint8Array | null;
  /** Bytes a GOOD status vouches for: min(EDTL, the CDB's transfer length). */
  dataBytes: number;
  /** TTTs whose sequence the fuzzer closed with F=1 (early or not). */
  finalSent: Set<number>;
  /** The unsolicited burst was closed with F=1 (or there was none to send). */
  unsolicitedClosed: boolean;
  /** CmdSN inside the window the target last announced (or an immediate command). */
  inWindow: boolean;
  /** A TMF or a logout went out after this command: it may end without a response of its own. */
  afterTmf: boolean;
}

interface Actor {
  h: HostileInitiator;
  /** The target its login named: only TARGET shares sessions with the control initiator. */
  sharesControlTarget: boolean;
  /** Raw garbage went out: the target no longer sees PDU boundaries where we do, nothing is owed. */
  desynced: boolean;
  cmds: FCmd[];
  tmfs: number[];
  /** ITTs of this actor's clearing TMFs (task sets, resets), which reach other sessions' tasks too. */
  clearingTmfs: number[];
  lastTsih: number;
}

describe('PDU-sequence fuzzing against a live daemon', () => {
  let d: ScstdHandle;
  let control: RawIscsiClient | null = null;
  let controlSlot = 0;
  let lastTsih = 0;
  let checker: RawIscsiClient | null = null;
  /** What the sequences reached, printed at the end (a fuzzer that never logs in tests little). */
  const stats = { sequences: 0, logins: 0, ffp: 0, commands: 0, dataOuts: 0, r2ts: 0, good: 0, checkCondition: 0, otherStatus: 0, rejects: 0, tmfResponses: 0, closedByTarget: 0 };
  const crashes: string[] = [];
  /** The actors of the sequence being played. */
  let currentActors: Array<Actor | null> = [];
  /** A TARGET COLD RESET went out on a live connection in this sequence (or the one before). */
  let coldResetSent = false;
  let prevColdResetSent = false;
  /** LBA ranges of the fuzzed disk that writes of the current sequence named. */
  let written: Array<[number, number]> = [];
  let confText = '';

  const start = async (): Promise<void> => {
    d = await startScstd({ config: confText });
    control = null;
  };

  const controlSession = async (): Promise<RawIscsiClient> => {
    if (control && !control.closed) return control;
    control?.destroy();
    const c = await RawIscsiClient.connect(d.ports[0]!);
    const login = await c.login({ initiatorName: CONTROL, targetName: TARGET });
    if (!login.ok) throw new Error(`control login failed: ${login.error}`);
    control = c;
    return c;
  };

  /**
   * The control session writes its pattern and reads it back (rotating sizes, so that pool
   * buffers of every size the fuzzer uses hold the pattern, and rotating LBAs).
   */
  const controlIo = async (): Promise<string | null> => {
    const c = await controlSession();
    const sizes = [4 * KiB, 64 * KiB, 256 * KiB, MiB];
    const size = sizes[controlSlot % sizes.length]!;
    const lba = ((controlSlot++ % 7) * MiB) / BLOCK;
    const data = Buffer.alloc(size, CONTROL_PATTERN);
    const w = await c.scsi({ cdb: Cdb.write10(lba, size / BLOCK), writeData: data, timeoutMs: 10_000 });
    if (w.status !== 0) return `control write: ${JSON.stringify({ status: w.status, timedOut: w.timedOut, closed: w.closed })}`;
    const r = await c.scsi({ cdb: Cdb.read10(lba, size / BLOCK), readLength: size, timeoutMs: 10_000 });
    if (r.status !== 0 || !r.data.equals(data)) return `control read: status ${r.status}, equal ${r.data.equals(data)}`;
    return null;
  };

  const checkerSession = async (): Promise<RawIscsiClient> => {
    if (checker && !checker.closed) return checker;
    checker?.destroy();
    const c = await RawIscsiClient.connect(d.ports[0]!);
    const login = await c.login({ initiatorName: CHECKER, targetName: TARGET });
    if (!login.ok) throw new Error(`checker login failed: ${login.error}`);
    checker = c;
    return c;
  };

  const ALLOWED = new Set([0, ...FUZZ_BYTES]);

  /** Reads [lba, lba+blocks) of the fuzzed disk: the offset of the first byte the fuzzer did not send, or null. */
  const foreignBytes = async (lba: number, blocks: number): Promise<string | null> => {
    const c = await checkerSession();
    for (let b = lba; b < lba + blocks; b += 512) {
      const n = Math.min(512, lba + blocks - b);
      const r = await c.scsi({ cdb: Cdb.read10(b, n), readLength: n * BLOCK, timeoutMs: 10_000 });
      if (r.status !== 0) return `checker read at LBA ${b}: ${JSON.stringify({ status: r.status, sense: r.sense?.toString('hex'), timedOut: r.timedOut, closed: r.closed, reject: r.reject !== null })}`;
      const bad = r.data.findIndex((x) => !ALLOWED.has(x));
      if (bad >= 0) return `foreign bytes at byte ${b * BLOCK + bad}: ${JSON.stringify(r.data.subarray(bad, bad + 32).toString('latin1'))}`;
    }
    return null;
  };

  beforeAll(async () => {
    const dir = await tmpDir();
    confText = scstConf({
      devices: [
        { handler: 'vdisk_fileio', name: 'fz0', attrs: { filename: await sparseFile(join(dir, 'fz0.img'), LUN_BYTES) } },
        { handler: 'vdisk_nullio', name: 'fzn', attrs: { size_mb: 64 } },
        { handler: 'vdisk_fileio', name: 'ctl0', attrs: { filename: await sparseFile(join(dir, 'ctl0.img'), LUN_BYTES) } },
      ],
      targets: [
        {
          name: TARGET,
          attrs: { MaxRecvDataSegmentLength: 65536, FirstBurstLength: 65536, MaxBurstLength: 262144, InitialR2T: 'No', ImmediateData: 'Yes', MaxOutstandingR2T: 2, HeaderDigest: 'None,CRC32C', DataDigest: 'None,CRC32C' },
          luns: [
            [0, 'fz0'],
            [1, 'fzn'],
          ],
          groups: [{ name: 'control', luns: [[0, 'ctl0']], initiators: [CONTROL] }],
        },
        {
          name: CHAP_TARGET,
          attrs: { IncomingUser: `${CHAP_USER} ${CHAP_SECRET}`, OutgoingUser: 'fuzztarget fuzztargetsecret1' },
          luns: [[0, 'fzn']],
        },
      ],
    });
    await start();
    expect(await controlIo()).toBeNull();
  }, 60_000);

  afterAll(() => {
    control?.destroy();
    checker?.destroy();
  });

  const loginActor = async (plan: LoginPlan): Promise<Actor | null> => {
    let raw: RawIscsiClient;
    try {
      raw = await RawIscsiClient.connect(d.ports[0]!, '127.0.0.1', 3_000);
    } catch {
      return null;
    }
    let login: RawLoginResult | null = null;
    if (plan.kind === 'full') {
      raw.isid = Buffer.from(ISIDS[plan.isid]!);
      const keys: Record<string, string> = {};
      for (const [k, v] of plan.keys) keys[k] = v;
      const secret = plan.chap === 'bad' ? 'wrongsecret12' : CHAP_SECRET;
      login = await raw.login({
        initiatorName: FUZZ_NAMES[plan.name]!,
        targetName: plan.target === 'chap' ? CHAP_TARGET : TARGET,
        operationalKeys: keys,
        chap: plan.chap === 'none' ? undefined : { user: CHAP_USER, secret, mutual: plan.chap === 'mutual' ? { user: 'fuzztarget', secret: 'fuzztargetsecret1' } : undefined },
        timeoutMs: 2_000,
      });
      if (login.ok) lastTsih = login.tsih;
    } else if (plan.kind === 'discovery') {
      login = await raw.login({ initiatorName: FUZZ_NAMES[0]!, sessionType: 'Discovery', timeoutMs: 2_000 });
      if (login.ok) await raw.sendTargets(1_000);
    } else if (plan.kind === 'raw') {
      await rawLogin(raw, plan);
    }
    stats.logins++;
    const h = HostileInitiator.adopt(raw, login?.ok ? login : null);
    if (login?.ok || (await reachedFfp(raw))) {
      stats.ffp++;
      // The first command of a new I_T nexus meets a UNIT ATTENTION; without clearing it most
      // writes would end there, before any R2T.
      if (plan.kind !== 'discovery') await h.clearUnitAttention([0, 1], 1_000).catch(() => undefined);
    }
    const sharesControlTarget = plan.kind === 'raw' || (plan.kind === 'full' && plan.target === 'open');
    return { h, sharesControlTarget, desynced: false, cmds: [], tmfs: [], clearingTmfs: [], lastTsih };
  };

  /** A hand-driven login reached the full feature phase: its last Login Response said T=1, NSG=3, status 0. */
  const ffpByRaw = new WeakSet<RawIscsiClient>();
  const reachedFfp = async (raw: RawIscsiClient): Promise<boolean> => ffpByRaw.has(raw);

  const rawLogin = async (raw: RawIscsiClient, plan: Extract<LoginPlan, { kind: 'raw' }>): Promise<void> => {
    raw.isid = Buffer.from(ISIDS[plan.isid]!);
    let itt = raw.allocItt();
    // What the session negotiated, as the target answered the keys we offered (RFC 7143 §13
    // defaults for the rest): a session that offered InitialR2T=No and got it must be modelled so.
    const offered = new Map<string, string>();
    const answered = new Map<string, string>();
    for (const p of plan.pdus) {
      if (raw.closed) return;
      if (p.itt === 'new') itt = raw.allocItt();
      const names: Array<[string, string]> = [
        ['InitiatorName', FUZZ_NAMES[plan.name]!],
        ['TargetName', TARGET],
        ['SessionType', 'Normal'],
      ];
      const text = encodeTextKeys(
        p.keys === 'names'
          ? names
          : p.keys === 'names+auth'
            ? [...names, ['AuthMethod', 'None']]
            : p.keys === 'auth'
              ? [['AuthMethod', 'CHAP,None']]
              : p.keys === 'ops'
                ? [
                    ['HeaderDigest', 'None'],
                    ['DataDigest', 'None'],
                    ['MaxRecvDataSegmentLength', '65536'],
                    ['InitialR2T', 'No'],
                    ['ImmediateData', 'Yes'],
                    ['ErrorRecoveryLevel', '0'],
                  ]
                : p.keys === 'chap-a'
                  ? [['CHAP_A', '5']]
                  : p.keys === 'chap-bad-r'
                    ? [
                        ['CHAP_N', CHAP_USER],
                        ['CHAP_R', '0x00112233445566778899aabbccddeeff'],
                      ]
                    : p.keys === 'junk'
                      ? [['X-' + 'k'.repeat(40), 'v'.repeat(300)]]
                      : [],
      );
      const tsih = p.tsih === 'zero' ? 0 : p.tsih === 'previous' ? lastTsih : 0x4242;
      const per = Math.ceil(text.length / p.pieces) || 0;
      for (let i = 0; i < p.pieces; i++) {
        const chunk = text.subarray(i * per, (i + 1) * per);
        const last = i === p.pieces - 1;
        const bhs = hostileLoginBhs({ isid: raw.isid, itt, transit: last && p.transit, cont: !last, csg: p.csg, nsg: p.nsg, dataSegmentLength: chunk.length, totalAhsLength: p.ahs ? 1 : 0, tsih, expStatSN: raw.expStatSN });
        raw.sendPdu(bhs, chunk, p.ahs ? Buffer.from([0, 1, 0x3f, 0]) : Buffer.alloc(0));
        if (last) for (const [k, v] of parseTextKeys(text)) offered.set(k, v);
        const r = await raw.waitFor((x) => x.opcode === Op.LOGIN_RSP || x.opcode === Op.REJECT, STEP_WAIT_MS);
        if (r.kind === 'pdu' && r.pdu.opcode === Op.LOGIN_RSP && r.pdu.bhs[36] === 0) {
          const t = r.pdu.bhs.readUInt16BE(14);
          if (t !== 0) lastTsih = t;
          for (const [k, v] of parseTextKeys(r.pdu.data)) answered.set(k, v);
          if ((r.pdu.bhs[1]! & 0x83) === 0x83) ffpByRaw.add(raw);
        }
      }
    }
    if (!ffpByRaw.has(raw)) return;
    const v = (k: string): string | undefined => answered.get(k) ?? offered.get(k);
    raw.negotiated = {
      headerDigest: false,
      dataDigest: false,
      initialR2T: (v('InitialR2T') ?? 'Yes') === 'Yes',
      immediateData: (v('ImmediateData') ?? 'Yes') === 'Yes',
      firstBurstLength: Number(v('FirstBurstLength') ?? 65536) || 65536,
      maxBurstLength: Number(v('MaxBurstLength') ?? 262144) || 262144,
      maxXmitDataSegmentLength: Number(answered.get('MaxRecvDataSegmentLength') ?? 8192) || 8192,
    };
  };

  const cdbFor = (s: Extract<Step, { op: 'cmd' }>): { cdb: Buffer; bytes: number; read: boolean; write: boolean } => {
    const lba = Math.min(s.lba, LUN_BYTES / BLOCK - s.blocks);
    switch (s.kind) {
      case 'read':
        return { cdb: Cdb.read10(Math.max(0, lba), s.blocks), bytes: s.blocks * BLOCK, read: true, write: false };
      case 'write':
        return { cdb: Cdb.write10(Math.max(0, lba), s.blocks), bytes: s.blocks * BLOCK, read: false, write: true };
      case 'inquiry':
        return { cdb: Cdb.inquiry(96), bytes: 96, read: true, write: false };
      case 'sync': {
        const c = Buffer.alloc(10);
        c[0] = 0x35;
        return { cdb: c, bytes: 0, read: false, write: false };
      }
      default:
        return { cdb: Cdb.testUnitReady(), bytes: 0, read: false, write: false };
    }
  };

  const doCmd = (a: Actor, s: Extract<Step, { op: 'cmd' }>): void => {
    const h = a.h;
    const { cdb, bytes, read, write } = cdbFor(s);
    const edtl = s.edtl === 'exact' ? bytes : s.edtl === 'less' ? Math.max(0, bytes - BLOCK) : s.edtl === 'more' ? bytes + 4 * KiB : s.edtl === 'zero' ? 0 : 0x7ffffe00;
    const burst = Math.min(h.params.firstBurstLength, edtl, h.params.maxXmit);
    const immLen = !write ? 0 : s.immData === 'burst' ? burst : s.immData === 'small' ? Math.min(BLOCK, edtl) : s.immData === 'over' ? Math.min(edtl + BLOCK, 2 * h.params.maxXmit) : 0;
    const unsolicitedPlanned = write && !h.params.initialR2T && edtl > immLen;
    const final = s.final === 'auto' ? !unsolicitedPlanned : s.final;
    const cmdSN = s.cmdSN === 'ok' ? undefined : s.cmdSN === 'dup' ? (h.cmdSN - 1) >>> 0 : s.cmdSN === 'ahead' ? (h.cmdSN + 1000) >>> 0 : (h.cmdSN - 100) >>> 0;
    const sn = cmdSN ?? h.cmdSN;
    const w = h.window;
    const inWindow = s.immediate || (cmdSN === undefined && ((sn - w.expCmdSN) | 0) >= 0 && ((w.maxCmdSN - sn) | 0) >= 0);
    // Another session's clearing TMF still unanswered may abort this command too: the daemon
    // reads its sockets in no order the fuzzer controls, and a TMF held for its CmdSN runs later.
    const mayBeCleared = currentActors.some((x) => x && x !== a && x.clearingTmfs.some((t) => x.h.record(t).tmfResponse === null));
    const itt = h.command({ cdb, lun: s.lun, edtl, read, write, final, immediate: s.immediate, data: Buffer.alloc(immLen, s.fill), cmdSN });
    stats.commands++;
    if (write && s.lun === 0 && s.blocks > 0) written.push([cdb.readUInt32BE(2), s.blocks]);
    const coverage = write && edtl <= 4 * MiB ? new Uint8Array(edtl) : null;
    coverage?.fill(1, 0, Math.min(immLen, edtl));
    a.cmds.push({
      itt,
      lun: s.lun,
      write,
      edtl,
      unsolicitedNext: immLen,
      unsolicitedSN: 0,
      r2tNext: new Map(),
      cmdSN: sn,
      final,
      coverage,
      dataBytes: Math.min(edtl, bytes),
      finalSent: new Set(),
      unsolicitedClosed: final || h.params.initialR2T,
      inWindow,
      afterTmf: mayBeCleared,
    });
    if (a.cmds.length > 64) a.cmds.shift();
  };

  const pickWrite = (a: Actor, i: number): FCmd | undefined => {
    const writes = a.cmds.filter((c) => c.write);
    return writes.length === 0 ? undefined : writes[i % writes.length];
  };

  /** Data-Out steps refer to R2Ts: give the target a moment to send one for this write. */
  const awaitR2t = async (a: Actor, c: FCmd | undefined): Promise<void> => {
    if (!c || a.h.readingPaused || a.h.closed) return;
    const rec = a.h.record(c.itt);
    if (rec.done || rec.rejects.length > 0) return;
    const seen = rec.r2ts.length;
    const allFinished = rec.r2ts.every((r) => (c.r2tNext.get(r.ttt)?.offset ?? r.offset) >= r.offset + r.length);
    if (allFinished) await a.h.waitR2t(c.itt, seen + 1, STEP_WAIT_MS);
  };

  const sentData = (c: FCmd, offset: number, len: number, ttt: number, final: boolean): void => {
    if (c.coverage && offset < c.coverage.length) c.coverage.fill(1, offset, Math.min(offset + len, c.coverage.length));
    if (!final) return;
    if (ttt === RESERVED_TAG) c.unsolicitedClosed = true;
    else c.finalSent.add(ttt);
  };

  /** A Data-Out step with every field as the protocol wants it (mutations are the exceptions). */
  const isValidDout = (s: DoutStep): boolean => s.base !== 'stale' && s.offset === 'exact' && (s.length === 'seg' || s.length === 'small') && s.dataSN === 'next' && s.ttt === 'r2t' && s.final === 'auto';

  const doDataOut = async (a: Actor, s: DoutStep): Promise<void> => {
    const h = a.h;
    const c = pickWrite(a, s.cmd);
    if (s.base !== 'unsolicited') await awaitR2t(a, c);
    h.pump();
    const valid = isValidDout(s);
    const itt = c?.itt ?? 0x5eed;
    const rec = h.record(itt);
    const seg = h.params.maxXmit;
    let ttt = RESERVED_TAG;
    let offset = 0;
    let end = c?.edtl ?? 4096;
    let sn = 0;
    let state: { offset: number; sn: number; end: number } | undefined;
    // The sequence this PDU continues: the latest R2T with bytes left (or the first R2T when
    // 'stale'), else the unsolicited burst.
    const open = c ? rec.r2ts.filter((r) => (c.r2tNext.get(r.ttt)?.offset ?? r.offset) < r.offset + r.length) : [];
    const r2t = s.base === 'stale' ? rec.r2ts[0] : s.base === 'r2t' ? open[open.length - 1] : undefined;
    if (r2t) {
      ttt = r2t.ttt;
      state = c?.r2tNext.get(ttt) ?? { offset: r2t.offset, sn: 0, end: r2t.offset + r2t.length };
      offset = state.offset;
      sn = state.sn;
      end = state.end;
    } else if (c) {
      // Unsolicited data is only valid with InitialR2T=No, after a command with F=0, within the first burst.
      if (valid && (h.params.initialR2T || c.final || c.unsolicitedNext >= Math.min(h.params.firstBurstLength, c.edtl))) return;
      offset = c.unsolicitedNext;
      sn = c.unsolicitedSN;
      end = Math.min(h.params.firstBurstLength, c.edtl);
    } else if (valid) {
      return;
    }
    if (valid && (rec.done || offset >= end)) return;
    offset = s.offset === 'exact' ? offset : s.offset === 'overlap' ? Math.max(0, offset - BLOCK * 2) : s.offset === 'gap' ? offset + BLOCK * 4 : s.offset === 'beyond' ? (c?.edtl ?? 0) + BLOCK : 0;
    const rest = Math.max(0, end - offset);
    const len = s.length === 'seg' ? Math.min(seg, rest) : s.length === 'small' ? Math.min(4 * KiB, rest) : s.length === 'half' ? Math.floor(Math.min(seg, rest) / 2) + 1 : s.length === 'one' ? 1 : s.length === 'zero' ? 0 : seg + BLOCK;
    sn = s.dataSN === 'next' ? sn : s.dataSN === 'same' ? Math.max(0, sn - 1) : s.dataSN === 'skip' ? sn + 1 : 0;
    if (s.ttt === 'reserved') ttt = RESERVED_TAG;
    else if (s.ttt === 'random') ttt = 0x13572468;
    const final = s.final === 'auto' ? offset + len >= end : s.final;
    h.dataOut({ itt, lun: c?.lun ?? 0, ttt, offset, data: Buffer.alloc(len, s.fill), dataSN: sn, final });
    stats.dataOuts++;
    // Remember where this sequence stands (as the fuzzer sees it).
    if (c) {
      sentData(c, offset, len, ttt, final);
      if (ttt === RESERVED_TAG) {
        c.unsolicitedNext = offset + len;
        c.unsolicitedSN = sn + 1;
      } else if (state) {
        c.r2tNext.set(ttt, { offset: offset + len, sn: sn + 1, end: state.end });
      }
    }
  };

  /** Finishes every R2T of a write the fuzzer has not finished: the rest of its range, PDU by PDU. */
  const doAnswer = async (a: Actor, s: Extract<Step, { op: 'answer' }>): Promise<void> => {
    const h = a.h;
    const c = pickWrite(a, s.cmd);
    if (!c) return;
    await awaitR2t(a, c);
    h.pump();
    for (const r2t of h.record(c.itt).r2ts) {
      const st = c.r2tNext.get(r2t.ttt) ?? { offset: r2t.offset, sn: 0, end: r2t.offset + r2t.length };
      // An R2T for gigabytes is answered in part only.
      const end = Math.min(st.end, st.offset + 4 * MiB);
      const seg = h.params.maxXmit;
      let sn = st.sn;
      let off = st.offset;
      for (; off < end; off += seg) {
        const len = Math.min(seg, end - off);
        h.dataOut({ itt: c.itt, lun: c.lun, ttt: r2t.ttt, offset: off, data: Buffer.alloc(len, s.fill), dataSN: sn++, final: off + len >= st.end });
        sentData(c, off, len, r2t.ttt, off + len >= st.end);
        stats.dataOuts++;
      }
      c.r2tNext.set(r2t.ttt, { offset: Math.max(off, st.offset), sn, end: st.end });
    }
  };

  const doTmf = (a: Actor, s: Extract<Step, { op: 'tmf' }>): void => {
    const h = a.h;
    h.pump();
    const open = a.cmds.filter((c) => !h.record(c.itt).done);
    const done = a.cmds.filter((c) => h.record(c.itt).done);
    const ref = s.ref === 'open' ? open[s.cmd % Math.max(1, open.length)] : s.ref === 'done' ? done[s.cmd % Math.max(1, done.length)] : undefined;
    if (s.func === 7 && a.sharesControlTarget) coldResetSent = true;
    // Clearing functions reach other sessions' tasks too, which SAM lets end without a
    // response of their own (TAS=0: the other initiator gets a UNIT ATTENTION instead).
    const clearsAll = s.func === 4 || s.func === 5 || s.func === 6 || s.func === 7;
    for (const x of clearsAll ? currentActors : [a]) for (const c of x?.cmds ?? []) c.afterTmf = true;
    const itt = h.tmf({ func: s.func, lun: ref?.lun ?? s.lun, refTaskTag: ref?.itt ?? 0x0badf00d, refCmdSN: ref?.cmdSN ?? h.cmdSN, immediate: s.immediate });
    a.tmfs.push(itt);
    if (clearsAll) a.clearingTmfs.push(itt);
  };

  const runStep = async (actors: Array<Actor | null>, s: Step): Promise<void> => {
    if (s.op === 'wait') {
      await new Promise((r) => setTimeout(r, s.ms));
      return;
    }
    if (s.op === 'relogin') {
      actors[s.actor]?.h.destroy();
      actors[s.actor] = await loginActor(s.plan);
      return;
    }
    const a = actors[s.actor] ?? actors[0];
    if (!a || a.h.closed) return;
    const h = a.h;
    switch (s.op) {
      case 'cmd':
        return doCmd(a, s);
      case 'dout':
        return doDataOut(a, s);
      case 'answer':
        return doAnswer(a, s);
      case 'tmf':
        return doTmf(a, s);
      case 'nop': {
        const itt = h.raw.allocItt();
        h.raw.sendPdu(nopOutBhs({ immediate: s.immediate, itt, ttt: s.ttt === 'reserved' ? RESERVED_TAG : 0x2468, cmdSN: h.cmdSN, expStatSN: h.raw.expStatSN, dataSegmentLength: s.len }), Buffer.alloc(s.len, 0xf1));
        // A non-immediate NOP-Out with a task tag takes a CmdSN (RFC 7143 §11.18).
        if (!s.immediate) h.raw.cmdSN = (h.raw.cmdSN + 1) >>> 0;
        return;
      }
      case 'text': {
        const data = encodeTextKeys(s.sendTargets ? [['SendTargets', 'All'], ...s.keys] : s.keys);
        h.raw.sendPdu(textRequestBhs({ itt: h.raw.allocItt(), cmdSN: h.cmdSN, expStatSN: h.raw.expStatSN, dataSegmentLength: data.length, immediate: true }), data);
        return;
      }
      case 'logout':
        for (const c of a.cmds) c.afterTmf = true;
        h.logout(s.reason);
        return;
      case 'pauseReading':
        h.pauseReading();
        return;
      case 'resumeReading':
        h.resumeReading();
        return;
      case 'close':
        h.destroy();
        return;
      case 'garbage':
        a.desynced = true;
        h.raw.writeRaw(Buffer.from(s.bytes));
        return;
    }
  };

  /**
   * A command the target owes an answer: in the window (or immediate), no TMF or logout after
   * it, and for a write every sequence the target opened (each R2T, the unsolicited burst) closed
   * by an F=1 Data-Out from us - early or not, valid or not. Then RFC 7143 leaves the target a
   * status, a Reject, or dropping the connection; never silence.
   */
  const owed = (a: Actor, c: FCmd): boolean => {
    const r = a.h.record(c.itt);
    if (a.desynced || r.done || r.rejects.length > 0 || !c.inWindow || c.afterTmf) return false;
    if (!c.write || c.edtl === 0) return true;
    return c.unsolicitedClosed && r.r2ts.every((x) => c.finalSent.has(x.ttt));
  };

  const OWED_WAIT_MS = 3_000;

  const collectViolations = async (a: Actor, out: string[]): Promise<void> => {
    const h = a.h;
    if (!h.readingPaused) {
      const deadline = Date.now() + OWED_WAIT_MS;
      while (!h.closed && Date.now() < deadline && a.cmds.some((c) => owed(a, c))) await h.settle(50);
      if (!h.closed) {
        for (const c of a.cmds) if (owed(a, c)) out.push(`ITT 0x${c.itt.toString(16)} (${c.write ? `write, EDTL ${c.edtl}` : 'no data out'}) left without an answer for ${OWED_WAIT_MS} ms: ${JSON.stringify({ r2ts: h.record(c.itt).r2ts, finalSent: [...c.finalSent] })}`);
      }
    }
    h.pump();
    for (const c of a.cmds) {
      const r = h.record(c.itt);
      if (!c.coverage || r.status !== 0 || r.response !== 0) continue;
      const hole = c.coverage.subarray(0, c.dataBytes).indexOf(0);
      if (hole >= 0) out.push(`ITT 0x${c.itt.toString(16)}: WRITE completed GOOD although byte ${hole} of ${c.dataBytes} was never sent`);
    }
  };

  const runSequence = async (seq: Sequence): Promise<void> => {
    if (d.exited()) {
      crashes.push(d.recentOutput(20));
      await start();
    }
    const actors: Array<Actor | null> = [];
    currentActors = actors;
    const violations: string[] = [];
    const seqStarted = Date.now();
    coldResetSent = false;
    const closedNoted = new Set<Actor>();
    written = [];
    try {
      for (const plan of seq.logins) {
        const t0 = Date.now();
        actors.push(await loginActor(plan));
        if (process.env.FUZZ_VERBOSE && Date.now() - t0 > 1000) console.log(`slow login ${Date.now() - t0} ms: ${JSON.stringify(plan)}`);
      }
      for (const s of seq.steps) {
        const t0 = Date.now();
        await runStep(actors, s);
        if (process.env.FUZZ_VERBOSE && Date.now() - t0 > 1000) console.log(`slow step ${Date.now() - t0} ms: ${JSON.stringify(s)}`);
        if (process.env.FUZZ_VERBOSE && s.op !== 'wait' && s.op !== 'relogin') {
          const a = actors[s.actor] ?? actors[0];
          if (a && !a.h.closed) await a.h.settle(20);
          if (a && a.h.closed && !closedNoted.has(a)) {
            closedNoted.add(a);
            console.log(`closed after: ${JSON.stringify(s)}`);
          }
        }
        for (const a of actors) if (a && !a.h.readingPaused) a.h.pump();
      }
      // Let the target answer what it will, briefly; then hold it to what it owes.
      await Promise.all(actors.map((a) => (a && !a.h.readingPaused ? a.h.settle(STEP_WAIT_MS) : undefined)));
      await Promise.all(actors.map((a) => (a ? collectViolations(a, violations) : undefined)));
    } finally {
      for (const a of actors) {
        if (!a) continue;
        if (a.h.closed && !a.h.readingPaused) stats.closedByTarget++;
        for (const c of a.cmds) {
          const r = a.h.record(c.itt);
          stats.r2ts += r.r2ts.length;
          stats.rejects += r.rejects.length;
          if (r.status === 0) stats.good++;
          else if (r.status === 2) stats.checkCondition++;
          else if (r.status !== null) stats.otherStatus++;
        }
        for (const t of a.tmfs) if (a.h.record(t).tmfResponse !== null) stats.tmfResponses++;
        a.h.destroy();
      }
    }
    stats.sequences++;
    if (process.env.FUZZ_VERBOSE) {
      console.log(`sequence ${stats.sequences}: ${seq.steps.length} steps, ${Date.now() - seqStarted} ms, ${seq.steps.map((x) => x.op).join(' ')}`);
      for (const l of d.logs()) if (l.at >= seqStarted && !/logged (in|out)|session \d+ (closed|ended)/.test(l.msg)) console.log(`  daemon: ${l.msg}`);
    }
    expect(d.exited(), `the daemon died\n${d.recentOutput(30)}`).toBe(false);
    expect(violations, 'RFC 7143 answers the target owed').toEqual([]);
    // Only a TARGET COLD RESET may end other initiators' connections, and it must end them all
    // (RFC 7143 §11.5.1), the control session's too - once its aborts are done, which the
    // daemon bounds by its teardown timeout (5 s). What the daemon logs arrives asynchronously,
    // so the sequence's own record of sending one decides how long to wait.
    if (coldResetSent && control) {
      const closed = await control.waitClosed(8_000);
      if (!closed) {
        await new Promise((r) => setTimeout(r, 500));
        const processed = d.logs().some((l) => l.at >= seqStarted && /TARGET COLD RESET/.test(l.msg) && l.json?.target === TARGET);
        expect(processed, 'TARGET COLD RESET was carried out but left the control session connected').toBe(false);
      }
    }
    if (coldResetSent && checker) await checker.waitClosed(8_000);
    if (control && (control.closed || !(await control.ping(2_000)))) {
      expect(coldResetSent || prevColdResetSent, 'the control connection was dropped by a sequence without TARGET COLD RESET').toBe(true);
    }
    if (control?.closed) {
      control.destroy();
      control = null;
    }
    prevColdResetSent = coldResetSent;
    const problem = await controlIo();
    expect(problem, `control session after the sequence\n${d.recentOutput(30)}`).toBeNull();
    for (const [lba, blocks] of written.slice(0, 16)) {
      const foreign = await foreignBytes(lba, blocks);
      expect(foreign, 'the fuzzed disk holds data the fuzzer never sent').toBeNull();
    }
  };

  it(
    `random PDU sequences (${RUNS} runs, seed ${SEED}, at most ${FUZZ_SECONDS} s): daemon alive, control I/O verified, no foreign bytes, exit balance 0`,
    async () => {
      const started = Date.now();
      // The time budget is checked between sequences (fast-check's own interruption would leave
      // a sequence running against the daemon while the test goes on to stop it).
      const budgetEnd = started + FUZZ_SECONDS * 1000;
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(sequenceArb, async (seq) => {
          if (Date.now() > budgetEnd) return;
          runs++;
          await runSequence(seq);
        }),
        // Past the budget the remaining runs return at once; this backstop only stops fast-check
        // generating them (a minute after the last sequence could have started).
        { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: (FUZZ_SECONDS + 60) * 1000, markInterruptAsFailure: false, ...(FUZZ_PATH ? { path: FUZZ_PATH, endOnFailure: true } : {}) },
      );
      console.log(`fuzz-sequences: ${runs} sequences in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED}): ${JSON.stringify(stats)}`);
      expect(crashes, crashes.join('\n----\n')).toEqual([]);

      // No byte anywhere on the fuzzed disk that the fuzzer did not send (or the zeros it started with).
      expect(await foreignBytes(0, LUN_BYTES / BLOCK)).toBeNull();
      checker?.destroy();
      checker = null;
      control?.destroy();
      control = null;
      const stopped = await d.stop('SIGTERM', 15_000);
      expect(stopped, d.recentOutput()).toMatchObject({ code: 0, timedOut: false });
      expect(d.exitBalance(), d.recentOutput()).toEqual({ commands: 0, poolBuffers: 0 });
    },
    (FUZZ_SECONDS + 180) * 1000,
  );
});

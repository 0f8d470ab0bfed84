// Wrappers around real initiators (libiscsi-bin utilities, qemu-io, qemu-img): each call is one
// bounded child process whose output is parsed into plain objects.
import { spawn } from 'node:child_process';
import { onCleanup } from './cleanup.js';
import { describeRun, run, track, waitExit, type RunResult } from './proc.js';

export type DigestChoice = 'none' | 'crc32c' | 'none-crc32c' | 'crc32c-none';

/** Where and how to reach a LUN (or, without `target`, a portal for discovery). */
export interface IscsiTarget {
  host?: string;
  port: number;
  target?: string;
  lun?: number;
  user?: string;
  password?: string;
  /** Mutual CHAP: the target's OutgoingUser credentials, which the initiator verifies. */
  targetUser?: string;
  targetPassword?: string;
  initiator?: string;
  headerDigest?: DigestChoice;
}

export interface CommonOptions {
  initiator?: string;
  timeoutMs?: number;
  env?: Record<string, string | undefined>;
  /** Ends the initiator process early. */
  signal?: AbortSignal;
}

/** libiscsi URL: iscsi://[user%pass@]host:port[/iqn/lun][?target_user=..&target_password=..]. */
export function iscsiUrl(t: IscsiTarget): string {
  // libiscsi does not percent-decode credentials: they go in verbatim (test secrets are plain).
  const auth = t.user !== undefined ? `${t.user}%${t.password ?? ''}@` : '';
  let url = `iscsi://${auth}${t.host ?? '127.0.0.1'}:${t.port}`;
  if (t.target !== undefined) url += `/${t.target}/${t.lun ?? 0}`;
  const q: string[] = [];
  if (t.targetUser !== undefined) q.push(`target_user=${encodeURIComponent(t.targetUser)}`);
  if (t.targetPassword !== undefined) q.push(`target_password=${encodeURIComponent(t.targetPassword)}`);
  if (t.headerDigest !== undefined) q.push(`header_digest=${t.headerDigest}`);
  return q.length > 0 ? `${url}?${q.join('&')}` : url;
}

/** Inverse of iscsiUrl (enough of libiscsi's URL syntax for this harness). */
export function parseIscsiUrl(url: string): IscsiTarget {
  const m = /^iscsi:\/\/(?:([^%@/]*)(?:%([^@/]*))?@)?([^:/?]+):(\d+)(?:\/([^/?]+)(?:\/(\d+))?)?(?:\?(.*))?$/.exec(url);
  if (!m) throw new Error(`not an iscsi:// URL this harness understands: ${url}`);
  const t: IscsiTarget = { host: m[3]!, port: Number(m[4]) };
  if (m[1] !== undefined) t.user = m[1];
  if (m[2] !== undefined) t.password = m[2];
  if (m[5] !== undefined) t.target = m[5];
  if (m[6] !== undefined) t.lun = Number(m[6]);
  for (const kv of (m[7] ?? '').split('&').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    if (k === 'target_user') t.targetUser = decodeURIComponent(v);
    else if (k === 'target_password') t.targetPassword = decodeURIComponent(v);
    else if (k === 'header_digest') t.headerDigest = v as DigestChoice;
  }
  return t;
}

function toTarget(t: string | IscsiTarget): IscsiTarget {
  return typeof t === 'string' ? parseIscsiUrl(t) : t;
}

function initiatorArgs(name: string | undefined): string[] {
  return name === undefined ? [] : ['-i', name];
}

// ---------------------------------------------------------------------------------------------
// iscsi-ls

export interface LsLun {
  lun: number;
  type: string;
  /** As printed by iscsi-ls, e.g. "63M"; absent for LUs without a capacity. */
  size?: string;
}

export interface LsTarget {
  name: string;
  portal: string;
  luns: LsLun[];
}

export interface IscsiLsResult {
  run: RunResult;
  targets: LsTarget[];
}

export function parseIscsiLs(stdout: string): LsTarget[] {
  const targets: LsTarget[] = [];
  for (const line of stdout.split('\n')) {
    const t = /^Target:(\S+)\s+Portal:(\S+)/.exec(line);
    if (t) {
      targets.push({ name: t[1]!, portal: t[2]!, luns: [] });
      continue;
    }
    const l = /^\s*Lun:(\d+)\s+Type:(\S+)(?:\s+\(Size:([^)]+)\))?/.exec(line);
    if (l && targets.length > 0) {
      const lun: LsLun = { lun: Number(l[1]), type: l[2]! };
      if (l[3] !== undefined) lun.size = l[3];
      targets[targets.length - 1]!.luns.push(lun);
    }
  }
  return targets;
}

/** iscsi-ls [-s] on a portal: SendTargets discovery (and REPORT LUNS per target with -s). */
export async function iscsiLs(
  portal: string | IscsiTarget,
  o: CommonOptions & { showLuns?: boolean } = {},
): Promise<IscsiLsResult> {
  const t = toTarget(portal);
  const url = iscsiUrl({ ...t, target: undefined, lun: undefined });
  const args = [...initiatorArgs(o.initiator ?? t.initiator), ...(o.showLuns ? ['-s'] : []), url];
  const r = await run('iscsi-ls', args, { timeoutMs: o.timeoutMs ?? 30_000, env: o.env, signal: o.signal });
  return { run: r, targets: parseIscsiLs(r.stdout) };
}

// ---------------------------------------------------------------------------------------------
// iscsi-inq

export interface IscsiInqResult {
  run: RunResult;
  /** "Key:Value" lines in order (values not trimmed of inner blanks). */
  pairs: Array<[string, string]>;
  /** First value of `key`. */
  get(key: string): string | undefined;
  /** Every value of `key` (VPD 0x83 prints one block per designator). */
  all(key: string): string[];
}

export function parseKeyValueLines(stdout: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const line of stdout.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    pairs.push([line.slice(0, i).trim(), line.slice(i + 1)]);
  }
  return pairs;
}

/** iscsi-inq: standard INQUIRY, or with `evpd` a VPD page (`page` as a number, e.g. 0x83). */
export async function iscsiInq(
  url: string | IscsiTarget,
  o: CommonOptions & { evpd?: boolean; page?: number } = {},
): Promise<IscsiInqResult> {
  const t = toTarget(url);
  const args = [...initiatorArgs(o.initiator ?? t.initiator)];
  // popt parses these as decimal integers: "0x80" would silently become 0.
  if (o.evpd) args.push('-e', '1');
  if (o.page !== undefined) args.push('-c', String(o.page));
  args.push(iscsiUrl(t));
  const r = await run('iscsi-inq', args, { timeoutMs: o.timeoutMs ?? 30_000, env: o.env, signal: o.signal });
  const pairs = parseKeyValueLines(r.stdout);
  return {
    run: r,
    pairs,
    get: (k) => pairs.find(([key]) => key === k)?.[1],
    all: (k) => pairs.filter(([key]) => key === k).map(([, v]) => v),
  };
}

/** The pages listed by iscsi-inq for VPD page 0x00 ("Page:0x80 UNIT_SERIAL_NUMBER"). */
export function supportedVpdPages(inq: IscsiInqResult): number[] {
  return inq.all('Page').map((v) => parseInt(v.trim().split(/\s+/)[0]!, 16));
}

// ---------------------------------------------------------------------------------------------
// iscsi-readcapacity16

export interface ReadCapacity16Result {
  run: RunResult;
  blockSize: number | null;
  /** Number of logical blocks (RETURNED LOGICAL BLOCK ADDRESS + 1). */
  lbaCount: number | null;
  totalBytes: number | null;
  pairs: Array<[string, string]>;
}

export async function readCapacity16(url: string | IscsiTarget, o: CommonOptions = {}): Promise<ReadCapacity16Result> {
  const t = toTarget(url);
  const r = await run('iscsi-readcapacity16', [...initiatorArgs(o.initiator ?? t.initiator), iscsiUrl(t)], {
    timeoutMs: o.timeoutMs ?? 30_000,
    env: o.env,
    signal: o.signal,
  });
  const pairs = parseKeyValueLines(r.stdout);
  const num = (k: string): number | null => {
    const v = pairs.find(([key]) => key === k)?.[1];
    return v === undefined || !/^\s*\d+\s*$/.test(v) ? null : Number(v);
  };
  const lastLba = num('RETURNED LOGICAL BLOCK ADDRESS');
  return {
    run: r,
    blockSize: num('LOGICAL BLOCK LENGTH IN BYTES'),
    lbaCount: lastLba === null ? null : lastLba + 1,
    totalBytes: num('Total size'),
    pairs,
  };
}

// ---------------------------------------------------------------------------------------------
// qemu-io / qemu-img through qemu's libiscsi block driver

export interface QemuOptions extends CommonOptions {
  headerDigest?: DigestChoice;
  user?: string;
  password?: string;
}

/** qemu treats ',' as the option separator; a literal comma is written ',,'. */
function optValue(v: string): string {
  return v.replace(/,/g, ',,');
}

/**
 * --image-opts text for qemu's iscsi driver, plus the --object secret carrying the CHAP password
 * (qemu takes passwords only through secret objects).
 */
export function qemuIscsiImageOpts(t: IscsiTarget, secretId: string): { opts: string; objects: string[] } {
  if (t.target === undefined) throw new Error('qemu needs a target name');
  const parts = [
    'driver=iscsi',
    'transport=tcp',
    `portal=${t.host ?? '127.0.0.1'}:${t.port}`,
    `target=${optValue(t.target)}`,
    `lun=${t.lun ?? 0}`,
  ];
  if (t.initiator !== undefined) parts.push(`initiator-name=${optValue(t.initiator)}`);
  if (t.headerDigest !== undefined) parts.push(`header-digest=${t.headerDigest}`);
  const objects: string[] = [];
  if (t.user !== undefined) {
    parts.push(`user=${optValue(t.user)}`, `password-secret=${secretId}`);
    objects.push('--object', `secret,id=${secretId},data=${optValue(t.password ?? '')}`);
  }
  return { opts: parts.join(','), objects };
}

function withQemuOptions(t: string | IscsiTarget, o: QemuOptions): IscsiTarget {
  const base = toTarget(t);
  return {
    ...base,
    initiator: o.initiator ?? base.initiator,
    headerDigest: o.headerDigest ?? base.headerDigest,
    user: o.user ?? base.user,
    password: o.password ?? base.password,
  };
}

const QEMU_FAILURE_RE = /Pattern verification failed|failed|error|Error|can't open|Invalid/;

export interface QemuIoResult {
  run: RunResult;
  /** Exit 0, in time, and no line reporting a failure. */
  ok: boolean;
  failures: string[];
}

/**
 * Runs qemu-io commands (`write -P 0xab 0 64k`, `read -P 0xab 0 64k`, `flush`, ...) in one
 * session against an iSCSI LUN. qemu-io exits non-zero when a command fails; its messages are
 * checked as well.
 */
export async function qemuIo(t: string | IscsiTarget, commands: string[], o: QemuOptions = {}): Promise<QemuIoResult> {
  const target = withQemuOptions(t, o);
  const { opts, objects } = qemuIscsiImageOpts(target, 'sec0');
  const args = [...objects, '--image-opts'];
  for (const c of commands) args.push('-c', c);
  args.push(opts);
  const r = await run('qemu-io', args, { timeoutMs: o.timeoutMs ?? 120_000, env: o.env, signal: o.signal });
  const failures = (r.stdout + '\n' + r.stderr).split('\n').filter((l) => QEMU_FAILURE_RE.test(l));
  return { run: r, ok: r.code === 0 && !r.timedOut && failures.length === 0, failures };
}

/**
 * One qemu-io process kept open on a LUN (one iSCSI session), fed commands one at a time: what a
 * guest sees when the LUN changes under an established session. Killed by its PID at the end.
 */
export interface QemuIoSession {
  /** Sends one command; resolves with the output that arrived until `done` matched it (bounded). */
  exec(command: string, done: RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export async function qemuIoSession(t: string | IscsiTarget, o: QemuOptions = {}): Promise<QemuIoSession> {
  const { opts, objects } = qemuIscsiImageOpts(withQemuOptions(t, o), 'sec0');
  const child = track(spawn('qemu-io', [...objects, '--image-opts', opts], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...o.env } }));
  onCleanup('qemu-io session', () => child.kill('SIGKILL'));
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  /** Output from `from` on once `re` matches it, or a rejection after `ms`. */
  const until = (from: number, re: RegExp, ms: number, what: string) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const seen = out.slice(from);
        if (!re.test(seen)) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(seen);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`qemu-io: no ${re} after ${what} within ${ms} ms; output:\n${out.slice(from)}`));
      }, ms);
      waiters.add(check);
      void gone.then(() => check());
      check();
    });
  await until(0, /qemu-io> /, o.timeoutMs ?? 30_000, 'start');
  return {
    exec: (command, done, timeoutMs = 30_000) => {
      const from = out.length;
      child.stdin!.write(`${command}\n`);
      return until(from, done, timeoutMs, `'${command}'`);
    },
    close: async () => {
      child.stdin!.end('quit\n');
      await waitExit(child, 5_000); // SIGKILLs it when it does not go
    },
  };
}

/** Failure text for assertions: status, failing lines and output tails. */
export function describeQemu(r: QemuIoResult): string {
  return `${r.failures.slice(0, 20).join('\n')}\n${describeRun('qemu-io', r.run)}`;
}

export interface QemuImgConvertOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  env?: Record<string, string | undefined>;
  /** Extra qemu-img convert arguments (e.g. ['-m', '4'] coroutines, ['-W'] out-of-order writes). */
  extraArgs?: string[];
}

/**
 * qemu-img convert between raw files and iSCSI LUNs (either side may be either). An iSCSI
 * destination is written in place (-n): a LUN cannot be created.
 */
export async function qemuImgConvert(
  from: string | IscsiTarget,
  to: string | IscsiTarget,
  o: QemuImgConvertOptions = {},
): Promise<RunResult> {
  const isIscsi = (x: string | IscsiTarget): boolean => typeof x !== 'string' || x.startsWith('iscsi://');
  const args = ['convert', ...(o.extraArgs ?? [])];
  const objects: string[] = [];
  let src: string;
  if (isIscsi(from)) {
    const q = qemuIscsiImageOpts(toTarget(from), 'srcsec');
    objects.push(...q.objects);
    args.push('--image-opts');
    src = q.opts;
  } else {
    args.push('-f', 'raw');
    src = from as string;
  }
  let dst: string;
  if (isIscsi(to)) {
    const q = qemuIscsiImageOpts(toTarget(to), 'dstsec');
    objects.push(...q.objects);
    args.push('-n', '--target-image-opts');
    dst = q.opts;
  } else {
    args.push('-O', 'raw');
    dst = to as string;
  }
  return run('qemu-img', [...args.slice(0, 1), ...objects, ...args.slice(1), src, dst], {
    timeoutMs: o.timeoutMs ?? 300_000,
    env: o.env,
    signal: o.signal,
  });
}

import type { Logger } from 'pino';
import type { Target } from '../engine/target.js';
import { iscsiTarget, type ChapUser } from '../engine/iscsi/target.js';
import type { Digest, TargetParams } from '../engine/iscsi/params.js';
import { MAX_DATA_SEGMENT_LENGTH } from '../engine/iscsi/constants.js';
import type { IscsiDriver } from '../engine/iscsi/portal.js';
import type { Scst } from '../engine/scst.js';
import { MgmtError } from '../engine/errors.js';

// /etc/iscsi-scstd.conf of the procfs era (procfs.md §6.3), as iscsi-scstd reads it: lines end at
// '\n' and at ';', tokens are separated by blanks or '=', '#' starts a comment only as the first
// token, keywords are case-insensitive, and a bad line is reported and skipped -- the rest of the
// file still applies, as in iscsi-scstd.

const MAX_LINE = 4095;
const MIN_SECRET = 12;

export interface ConfProblem {
  line: number;
  message: string;
  /** 'warn' for lines iscsi-scstd accepts with a warning. */
  level: 'error' | 'warn';
}

export interface ConfAccounts {
  incoming: ChapUser[];
  outgoing: ChapUser | null;
}

export interface ConfTarget extends ConfAccounts {
  name: string;
  line: number;
  /** Negotiated keys set explicitly, typed as the engine stores them. */
  params: Partial<TargetParams>;
  queuedCommands?: number;
  rspTimeout?: number;
  nopInInterval?: number;
  nopInTimeout?: number;
  maxSessions?: number;
}

export interface IscsiScstdConf {
  /** Accounts of the global section: discovery sessions. */
  discovery: ConfAccounts;
  isnsServer: string | null;
  isnsAccessControl: boolean;
  targets: ConfTarget[];
  problems: ConfProblem[];
}

interface NumKey {
  min: number;
  max: number;
}

const TARGET_NUMERIC: Record<string, NumKey & { field: 'queuedCommands' | 'rspTimeout' | 'nopInInterval' | 'nopInTimeout' | 'maxSessions' }> = {
  queuedcommands: { min: 1, max: 2048, field: 'queuedCommands' },
  rsptimeout: { min: 2, max: 65535, field: 'rspTimeout' },
  nopininterval: { min: 0, max: 65535, field: 'nopInInterval' },
  nopintimeout: { min: 2, max: 65535, field: 'nopInTimeout' },
  maxsessions: { min: 0, max: 65535, field: 'maxSessions' },
};

type NumParam = 'MaxRecvDataSegmentLength' | 'MaxXmitDataSegmentLength' | 'MaxBurstLength' | 'FirstBurstLength' | 'MaxOutstandingR2T' | 'DefaultTime2Wait' | 'DefaultTime2Retain' | 'MaxConnections' | 'ErrorRecoveryLevel';
const SESSION_NUMERIC: Record<string, NumKey & { key: NumParam | null }> = {
  maxconnections: { min: 1, max: 1, key: 'MaxConnections' },
  maxrecvdatasegmentlength: { min: 512, max: MAX_DATA_SEGMENT_LENGTH, key: 'MaxRecvDataSegmentLength' },
  maxxmitdatasegmentlength: { min: 512, max: MAX_DATA_SEGMENT_LENGTH, key: 'MaxXmitDataSegmentLength' },
  maxburstlength: { min: 512, max: MAX_DATA_SEGMENT_LENGTH, key: 'MaxBurstLength' },
  firstburstlength: { min: 512, max: MAX_DATA_SEGMENT_LENGTH, key: 'FirstBurstLength' },
  defaulttime2wait: { min: 0, max: 0, key: 'DefaultTime2Wait' },
  defaulttime2retain: { min: 0, max: 0, key: 'DefaultTime2Retain' },
  maxoutstandingr2t: { min: 1, max: 65535, key: 'MaxOutstandingR2T' },
  errorrecoverylevel: { min: 0, max: 0, key: 'ErrorRecoveryLevel' },
  ofmarkint: { min: 1, max: 65535, key: null },
  ifmarkint: { min: 1, max: 65535, key: null },
};
const SESSION_BOOL: Record<string, 'InitialR2T' | 'ImmediateData' | 'DataPDUInOrder' | 'DataSequenceInOrder' | null> = {
  initialr2t: 'InitialR2T',
  immediatedata: 'ImmediateData',
  datapduinorder: 'DataPDUInOrder',
  datasequenceinorder: 'DataSequenceInOrder',
  ofmarker: null,
  ifmarker: null,
  rdmaextensions: null,
};
/** iSER keys: accepted, meaningless over TCP. */
const ISER_KEYS = new Set(['targetrecvdatasegmentlength', 'initiatorrecvdatasegmentlength', 'maxahslength', 'taggedbufferforsoliciteddataonly', 'iserhellorequired', 'maxoutstandingunexpectedpdus']);

/** strtol(s, &end, 0) over the whole token: null unless every character was used. */
function parseNumber(s: string): number | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const body = m[2]!;
  const v = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}

/** Split into (line number, text) pieces: at '\n' and ';', long lines cut at 4095 bytes. */
function logicalLines(text: string): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  text.split('\n').forEach((physical, i) => {
    for (const piece of physical.split(';')) {
      let rest = piece;
      do {
        out.push([i + 1, rest.slice(0, MAX_LINE)]);
        rest = rest.slice(MAX_LINE);
      } while (rest.length > 0);
    }
  });
  return out;
}

export function parseIscsiScstdConf(text: string): IscsiScstdConf {
  const conf: IscsiScstdConf = { discovery: { incoming: [], outgoing: null }, isnsServer: null, isnsAccessControl: false, targets: [], problems: [] };
  let current: ConfTarget | null = null;
  let skipping = false; // inside the stanza of a target that was refused
  const problem = (line: number, message: string, level: ConfProblem['level'] = 'error') => conf.problems.push({ line, message, level });

  for (const [line, raw] of logicalLines(text)) {
    const tok = raw.split(/[\s=]+/).filter((t) => t !== '');
    if (tok.length === 0 || tok[0]!.startsWith('#')) continue;
    const kw = tok[0]!.toLowerCase();
    const args = tok.slice(1);

    if (kw === 'target') {
      if (args.length !== 1) {
        problem(line, `Target name required on ${raw.trim()}`);
        current = null;
        skipping = true;
        continue;
      }
      const name = args[0]!;
      if (conf.targets.some((t) => t.name === name)) {
        problem(line, `duplicated target ${name}`);
        current = null;
        skipping = true;
        continue;
      }
      current = { name, line, params: {}, incoming: [], outgoing: null };
      conf.targets.push(current);
      skipping = false;
      continue;
    }
    if (skipping) continue;
    const accounts: ConfAccounts = current ?? conf.discovery;

    if (/^incominguser\d*$/.test(kw) || /^outgoinguser\d*$/.test(kw)) {
      const incoming = kw.startsWith('incoming');
      if (args.length < 2) {
        problem(line, 'Name or password is NULL');
        continue;
      }
      if (args.length > 2) {
        problem(line, `Unexpected parameter value ${args[2]}`);
        continue;
      }
      const [user, secret] = args as [string, string];
      if (Buffer.byteLength(secret) < MIN_SECRET) {
        problem(line, `Secret for user ${user} is too short. At least ${MIN_SECRET} bytes are required`);
        continue;
      }
      if (incoming) {
        if (accounts.incoming.some((u) => u.user === user)) {
          problem(line, `Attribute ${user} already exists`);
          continue;
        }
        accounts.incoming.push({ user, secret });
      } else {
        if (accounts.outgoing) problem(line, `Only one outgoing ${current ? 'target' : 'discovery'} account is supported. Replacing the old one.`, 'warn');
        accounts.outgoing = { user, secret };
      }
      continue;
    }
    if (!current) {
      if (kw === 'isnsserver' && args.length === 1) conf.isnsServer = args[0]!;
      else if (kw === 'isnsaccesscontrol' && args.length === 1) conf.isnsAccessControl = args[0]!.toLowerCase() !== 'no';
      else problem(line, `Unknown or unexpected param: ${tok[0]}`);
      continue;
    }
    if (kw === 'alias') continue;
    const known = kw in TARGET_NUMERIC || kw in SESSION_NUMERIC || kw in SESSION_BOOL || kw === 'headerdigest' || kw === 'datadigest' || ISER_KEYS.has(kw);
    if (!known) {
      problem(line, `Unknown or unexpected param: ${tok[0]}`);
      continue;
    }
    if (args.length !== 1) {
      problem(line, args.length === 0 ? `Unknown or unexpected param: ${tok[0]}` : `Unexpected parameter value ${args[1]}`);
      continue;
    }
    const value = args[0]!;
    const tnum = TARGET_NUMERIC[kw];
    const snum = SESSION_NUMERIC[kw];
    if (tnum || snum) {
      const range = (tnum ?? snum)!;
      const n = parseNumber(value);
      if (n === null || n < range.min || n > range.max) {
        problem(line, `Wrong value ${value} for parameter ${tok[0]}`);
        continue;
      }
      if (tnum) current[tnum.field] = n;
      else if (snum!.key) current.params[snum!.key] = n;
      continue;
    }
    if (kw in SESSION_BOOL) {
      // Booleans are exactly Yes or No, case-sensitive.
      if (value !== 'Yes' && value !== 'No') {
        problem(line, `Wrong value ${value} for parameter ${tok[0]}`);
        continue;
      }
      const key = SESSION_BOOL[kw];
      if (key) current.params[key] = value === 'Yes';
      continue;
    }
    if (kw === 'headerdigest' || kw === 'datadigest') {
      const list: Digest[] = [];
      let bad = false;
      for (const d of value.split(',')) {
        if (d.toLowerCase() === 'none') list.push('None');
        else if (d.toLowerCase() === 'crc32c') list.push('CRC32C');
        else bad = true;
      }
      if (bad || list.length === 0) problem(line, `Wrong value ${value} for parameter ${tok[0]}`);
      else current.params[kw === 'headerdigest' ? 'HeaderDigest' : 'DataDigest'] = list;
      continue;
    }
    // The remaining known keys are the iSER ones: accepted, meaningless over TCP.
  }
  return conf;
}

/**
 * Create the file's targets (enabled at once, as in procfs builds), with their parameters and
 * CHAP accounts; the global accounts serve discovery. Problems are logged with file:line; a target
 * that already exists (from scst.conf) is reported and left alone.
 */
export function applyIscsiScstdConf(conf: IscsiScstdConf, file: string, scst: Scst, iscsi: IscsiDriver, log: Logger): Target[] {
  for (const p of conf.problems) (p.level === 'warn' ? log.warn : log.error).call(log, { file, line: p.line }, `${file}:${p.line}: ${p.message}`);
  if (conf.discovery.incoming.length) iscsi.incomingUsers.push(...conf.discovery.incoming);
  if (conf.discovery.outgoing) iscsi.outgoingUser = conf.discovery.outgoing;
  if (conf.isnsServer) log.warn({ file }, `${file}: iSNSServer ${conf.isnsServer}: iSNS registration is not supported; ignored`);
  const created: Target[] = [];
  for (const c of conf.targets) {
    if (scst.targets.has(c.name)) {
      log.error({ file, line: c.line }, `${file}:${c.line}: duplicated target ${c.name}`);
      continue;
    }
    let t: Target;
    try {
      t = scst.addTarget(c.name);
    } catch (e) {
      if (!(e instanceof MgmtError)) throw e;
      log.error({ file, line: c.line }, `${file}:${c.line}: ${e.message}`);
      continue;
    }
    const p = { ...c.params };
    // The engine places Data-Out as it arrives, which needs the in-order answers (Yes wins under OR).
    for (const k of ['DataPDUInOrder', 'DataSequenceInOrder'] as const) {
      if (p[k] === false) log.warn({ file, target: c.name }, `${file}: ${c.name}: ${k} No is not supported; keeping Yes`);
      delete p[k];
    }
    const it = iscsiTarget(t);
    it.params = { ...it.params, ...p };
    if (it.params.FirstBurstLength > it.params.MaxBurstLength) {
      log.error({ file, target: c.name }, `${file}: ${c.name}: FirstBurstLength ${it.params.FirstBurstLength} exceeds MaxBurstLength ${it.params.MaxBurstLength}; using ${it.params.MaxBurstLength}`);
      it.params.FirstBurstLength = it.params.MaxBurstLength;
    }
    if (c.queuedCommands !== undefined) it.queuedCommands = c.queuedCommands;
    if (c.rspTimeout !== undefined) it.rspTimeout = c.rspTimeout;
    if (c.nopInInterval !== undefined) it.nopInInterval = c.nopInInterval;
    if (c.nopInTimeout !== undefined) it.nopInTimeout = c.nopInTimeout;
    if (c.maxSessions !== undefined) it.maxSessions = c.maxSessions;
    it.incomingUsers.push(...c.incoming);
    it.outgoingUser = c.outgoing;
    t.enabled = true;
    if (t.relTgtId === 0) {
      let rel = 1;
      while ([...scst.targets.values()].some((o) => o.relTgtId === rel)) rel++;
      t.relTgtId = rel;
    }
    log.info({ file, target: c.name, tid: t.tid }, `Target ${c.name} (tid ${t.tid}) created from ${file}`);
    created.push(t);
  }
  return created;
}

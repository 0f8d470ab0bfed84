import { MgmtError, einval } from '../../engine/errors.js';
import type { IscsiDriver } from '../../engine/iscsi/portal.js';
import { defaultTargetParams, type Digest } from '../../engine/iscsi/params.js';
import type { Target } from '../../engine/target.js';
import { iscsiTarget, type ChapUser } from '../../engine/iscsi/target.js';
import { iscsiDriverExtras } from '../../engine/iscsi/driver-attrs.js';
import { MODE_SECRET, attr, type PdeNode } from '../node.js';
import { ro, rw } from './attr.js';
import type { SysfsContext } from './context.js';
import { Lexer, cText, isSpace, targetCommand, trimBlanks } from './lexer.js';

// The attributes the iSCSI target driver publishes (sysfs.md §7.1, §7.2; in SCST they come from
// iscsi-scstd, hence the extra trailing newline of §2.3): driver attributes, per-target iSCSI
// parameters, CHAP accounts (IncomingUser*, OutgoingUser) and allowed_portal*. Session keys take
// effect for new sessions (the iSCSI target object is read at login); accounts for new logins.

/** iscsi-scstd's value text: what it produced, a newline from the kernel. */
const daemon = (value: string, key: boolean): string => (key ? `${value}\n[key]\n\n` : `${value}\n`);

/**
 * iscsi-scstd's config_sep_string: words separated by white space or `=` (either, any number),
 * so `IncomingUser=joe secret` and `allowed_portal=10.0.0.*` read as `IncomingUser joe secret`
 * and `allowed_portal 10.0.0.*`; a value cannot hold `=` (as in SCST).
 */
export function words(text: string): string[] {
  const sep = (c: string | undefined): boolean => c === '=' || isSpace(c);
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && sep(text[i])) i++;
    const start = i;
    while (i < text.length && !sep(text[i])) i++;
    if (i > start) out.push(text.slice(start, i));
  }
  return out;
}

// ---- target parameters --------------------------------------------------------------------------

type NumKey = 'MaxRecvDataSegmentLength' | 'MaxXmitDataSegmentLength' | 'MaxBurstLength' | 'FirstBurstLength' | 'MaxOutstandingR2T';
type TgtKey = 'QueuedCommands' | 'RspTimeout' | 'NopInInterval' | 'NopInTimeout' | 'MaxSessions';

/** Ranges as iscsi-scstd checks them (iscsi-scst/usr/param.c; lengths up to the 24-bit maximum). */
const SESSION_NUM: Record<NumKey, { min: number; max: number }> = {
  MaxRecvDataSegmentLength: { min: 512, max: 16777215 },
  MaxXmitDataSegmentLength: { min: 512, max: 16777215 },
  MaxBurstLength: { min: 512, max: 16777215 },
  FirstBurstLength: { min: 512, max: 16777215 },
  MaxOutstandingR2T: { min: 1, max: 65535 },
};

const TARGET_NUM: Record<TgtKey, { min: number; max: number; dflt: number; field: 'queuedCommands' | 'rspTimeout' | 'nopInInterval' | 'nopInTimeout' | 'maxSessions' }> = {
  QueuedCommands: { min: 1, max: 2048, dflt: 32, field: 'queuedCommands' },
  RspTimeout: { min: 2, max: 65535, dflt: 90, field: 'rspTimeout' },
  NopInInterval: { min: 0, max: 65535, dflt: 30, field: 'nopInInterval' },
  NopInTimeout: { min: 2, max: 65535, dflt: 30, field: 'nopInTimeout' },
  MaxSessions: { min: 0, max: 65535, dflt: 0, field: 'maxSessions' },
};

/** strtol(str, NULL, 0) as iscsi-scstd reads numbers: leading digits, garbage ends them (0 if none). */
function strtol(s: string): number {
  const m = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (!m) return 0;
  const body = m[2]!;
  const v = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body.startsWith('0') ? parseInt(body, 8) : parseInt(body, 10);
  return m[1] === '-' ? -v : v;
}

const digestText = (d: readonly Digest[]): string => {
  const none = d.includes('None');
  const crc = d.includes('CRC32C');
  return none && crc ? 'None,CRC32C' : crc ? 'CRC32C' : none ? 'None' : 'Unknown';
};

/** digest_str_to_val: comma-separated, each item a case-insensitive prefix match of None/CRC32C. */
function parseDigest(s: string): Digest[] {
  let none = false;
  let crc = false;
  for (const part of s.split(',')) {
    const p = part.replace(/^\s+/, '');
    if (p.toLowerCase().startsWith('none')) none = true;
    else if (p.toLowerCase().startsWith('crc32c')) crc = true;
    else throw einval(`Unknown digest '${part}'`);
  }
  if (!none && !crc) none = true;
  return none && crc ? ['None', 'CRC32C'] : crc ? ['CRC32C'] : ['None'];
}

/** The one value word of a parameter write (':default:' restores the default). */
function oneValue(text: string, name: string): string {
  const w = words(text);
  if (w.length === 0) throw einval(`${name}: value expected`);
  if (w.length > 1) throw einval(`Unexpected parameter value ${w[1]}`);
  return w[0]!;
}

function setSessionKey(t: Target, name: string, text: string): void {
  const v = oneValue(text, name);
  const p = iscsiTarget(t).params;
  const dflt = defaultTargetParams;
  switch (name) {
    case 'InitialR2T':
    case 'ImmediateData': {
      if (v === ':default:') p[name] = dflt[name];
      else if (v === 'Yes' || v === 'No') p[name] = v === 'Yes';
      else throw einval(`Wrong value ${v} for parameter ${name}`);
      return;
    }
    case 'HeaderDigest':
    case 'DataDigest':
      p[name] = v === ':default:' ? [...dflt[name]] : parseDigest(v);
      return;
    case 'RDMAExtensions':
      // iSER is not offered: only No (its maximum) is accepted.
      if (v !== ':default:' && v !== 'No') throw einval(`Wrong value ${v} for parameter ${name}`);
      return;
    default: {
      const r = SESSION_NUM[name as NumKey];
      const n = v === ':default:' ? dflt[name as NumKey] : strtol(v);
      if (n < r.min || n > r.max) throw einval(`Wrong value ${n} for parameter ${name}`);
      p[name as NumKey] = n;
    }
  }
}

function setTargetKey(t: Target, name: TgtKey, text: string): void {
  const v = oneValue(text, name);
  const r = TARGET_NUM[name];
  const n = v === ':default:' ? r.dflt : strtol(v);
  if (n < r.min || n > r.max) throw einval(`Wrong value ${n} for parameter ${name}`);
  iscsiTarget(t)[r.field] = n;
}

export const SESSION_KEYS = ['InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength', 'MaxXmitDataSegmentLength', 'MaxBurstLength', 'FirstBurstLength', 'MaxOutstandingR2T', 'HeaderDigest', 'DataDigest', 'RDMAExtensions'] as const;
export const TARGET_KEYS = Object.keys(TARGET_NUM) as TgtKey[];

function sessionKeyText(t: Target, name: (typeof SESSION_KEYS)[number]): string {
  const p = iscsiTarget(t).params;
  const d = defaultTargetParams;
  switch (name) {
    case 'InitialR2T':
    case 'ImmediateData':
      return daemon(p[name] ? 'Yes' : 'No', p[name] !== d[name]);
    case 'HeaderDigest':
    case 'DataDigest':
      return daemon(digestText(p[name]), digestText(p[name]) !== digestText(d[name]));
    case 'RDMAExtensions':
      return daemon('No', false);
    default:
      return daemon(String(p[name]), p[name] !== d[name]);
  }
}

// ---- CHAP accounts and allowed portals -----------------------------------------------------------

/** The sysfs file name of each account (IncomingUser, IncomingUser1, ...). */
const userFile = new WeakMap<ChapUser, string>();

/** Lowest free name: `base` itself, else base1, base2, ... */
function freeName(base: string, taken: Set<string>): string {
  if (!taken.has(base)) return base;
  for (let n = 1; ; n++) if (!taken.has(`${base}${n}`)) return `${base}${n}`;
}

/** Accounts by file name; accounts that came from a config file get names in their order. */
function userFiles(incoming: ChapUser[], outgoing: ChapUser | null): Array<[string, ChapUser, 'in' | 'out']> {
  const taken = new Set<string>();
  for (const u of incoming) {
    const n = userFile.get(u);
    if (n) taken.add(n);
  }
  const out: Array<[string, ChapUser, 'in' | 'out']> = [];
  for (const u of incoming) {
    let n = userFile.get(u);
    if (!n) {
      n = freeName('IncomingUser', taken);
      taken.add(n);
      userFile.set(u, n);
    }
    out.push([n, u, 'in']);
  }
  if (outgoing) {
    if (!userFile.get(outgoing)) userFile.set(outgoing, 'OutgoingUser');
    out.push([userFile.get(outgoing)!, outgoing, 'out']);
  }
  return out;
}

/** "name secret": both required, the secret at least 12 bytes (RFC 7143 12.1.3 minimum). */
function account(ws: string[]): ChapUser {
  const [user, secret] = ws;
  if (!user || !secret) throw einval('Name or password is NULL');
  if (Buffer.byteLength(secret) < 12) throw einval(`Secret for user ${user} is too short. At least 12 bytes are required`);
  return { user, secret };
}

const USER_RE = /^(IncomingUser|OutgoingUser)(\d*)$/i;
const PORTAL_RE = /^allowed_portal\d*$/i;

interface AccountOwner {
  incoming: ChapUser[];
  getOutgoing(): ChapUser | null;
  setOutgoing(u: ChapUser | null): void;
  label: string;
}

function driverOwner(iscsi: IscsiDriver): AccountOwner {
  return {
    incoming: iscsi.incomingUsers,
    getOutgoing: () => iscsi.outgoingUser,
    setOutgoing: (u) => (iscsi.outgoingUser = u),
    label: 'discovery',
  };
}

function targetOwner(t: Target): AccountOwner {
  const it = iscsiTarget(t);
  return {
    incoming: it.incomingUsers,
    getOutgoing: () => it.outgoingUser,
    setOutgoing: (u) => (it.outgoingUser = u),
    label: t.name,
  };
}

/** add_attribute / add_target_attribute: IncomingUser*, OutgoingUser*, allowed_portal* (targets). */
function addAttribute(ctx: SysfsContext, o: AccountOwner, t: Target | null, args: string[]): void {
  const [name, ...rest] = args;
  if (!name) throw einval('Attribute name expected');
  const m = USER_RE.exec(name);
  if (m) {
    const u = account(rest);
    if (m[1]!.toLowerCase() === 'outgoinguser') {
      o.setOutgoing(u);
      userFile.set(u, 'OutgoingUser');
    } else {
      if (o.incoming.some((x) => x.user === u.user)) throw einval(`Attribute ${u.user} already exists`);
      const taken = new Set(userFiles(o.incoming, null).map(([n]) => n));
      userFile.set(u, freeName(name, taken));
      o.incoming.push(u);
    }
    ctx.log.info({ target: o.label, user: u.user }, `User ${u.user} added to ${o.label}`);
    return;
  }
  if (t && PORTAL_RE.test(name)) {
    const [pattern, extra] = rest;
    if (!pattern) throw einval(`Value expected for attr ${name}`);
    if (extra) throw einval(`Only one value expected for attr ${pattern}`);
    const portals = iscsiTarget(t).allowedPortals;
    if ([...portals.values()].includes(pattern)) throw einval(`Attribute ${pattern} already exists`);
    portals.set(freeName('allowed_portal', new Set(portals.keys())), pattern);
    return;
  }
  throw einval(`Syntax error at ${name}`);
}

function delAttribute(ctx: SysfsContext, o: AccountOwner, t: Target | null, args: string[]): void {
  const [name, key] = args;
  if (!name) throw einval('Attribute name expected');
  const m = USER_RE.exec(name);
  if (m) {
    if (!key) throw einval('Name expected');
    if (m[1]!.toLowerCase() === 'outgoinguser') {
      if (o.getOutgoing()?.user !== key) throw new MgmtError('ENOENT', `User ${key} not found`);
      o.setOutgoing(null);
    } else {
      const i = o.incoming.findIndex((x) => x.user === key);
      if (i < 0) throw new MgmtError('ENOENT', `User ${key} not found`);
      o.incoming.splice(i, 1);
    }
    ctx.log.info({ target: o.label, user: key }, `User ${key} deleted from ${o.label}`);
    return;
  }
  if (t && PORTAL_RE.test(name)) {
    const portals = iscsiTarget(t).allowedPortals;
    const hit = [...portals.entries()].find(([, v]) => v === key);
    if (!hit) throw einval(`Unknown portal ${key}`);
    portals.delete(hit[0]);
    return;
  }
  throw einval(`Syntax error at ${name}`);
}

/** Account files of a driver or target: 0600, `name secret\n[key]\n\n`; a write replaces the account. */
function accountFiles(ctx: SysfsContext, o: AccountOwner): Array<readonly [string, PdeNode]> {
  return userFiles(o.incoming, o.getOutgoing()).map(([file, u, dir]) => [
    file,
    attr(
      MODE_SECRET,
      () => `${u.user} ${u.secret}\n[key]\n\n`,
      (d) => {
        const nu = account(words(cText(d)));
        if (dir === 'out') {
          userFile.set(nu, file);
          o.setOutgoing(nu);
        } else {
          if (o.incoming.some((x) => x !== u && x.user === nu.user)) throw einval(`Attribute ${nu.user} already exists`);
          const i = o.incoming.indexOf(u);
          if (i < 0) throw new MgmtError('ENOENT', `${file} no longer exists`);
          userFile.set(nu, file);
          o.incoming[i] = nu;
        }
        ctx.log.info({ target: o.label, file }, `${file} of ${o.label} replaced`);
      },
    ),
  ]);
}

// ---- the driver directory's own attributes ------------------------------------------------------

const extras = iscsiDriverExtras;

export const ISCSI_MGMT_HELP =
  'Usage: echo "add_target target_name [parameters]" >mgmt\n' +
  '       echo "del_target target_name" >mgmt\n' +
  '       echo "add_attribute <attribute> <value>" >mgmt\n' +
  '       echo "del_attribute <attribute> <value>" >mgmt\n' +
  '       echo "add_target_attribute target_name <attribute> <value>" >mgmt\n' +
  '       echo "del_target_attribute target_name <attribute> <value>" >mgmt\n' +
  '\n' +
  "where parameters are one or more param_name=value pairs separated by ';'\n\n" +
  'The following target driver attributes available: IncomingUser, OutgoingUser\n' +
  'The following target attributes available: IncomingUser, OutgoingUser, allowed_portal\n' +
  '\n';

/** The target-level attributes add_target may set as parameters (iscsi-scstd's config keys). */
function applyTargetParams(ctx: SysfsContext, t: Target, params: Array<[string, string]>): void {
  for (const [k, v] of params) {
    const key = [...SESSION_KEYS, ...TARGET_KEYS].find((n) => n.toLowerCase() === k.toLowerCase());
    if (key && (SESSION_KEYS as readonly string[]).includes(key)) setSessionKey(t, key, v);
    else if (key) setTargetKey(t, key as TgtKey, v);
    else if (USER_RE.test(k)) addAttribute(ctx, targetOwner(t), t, [k, ...words(v)]);
    else throw einval(`Unknown parameter ${k}`);
  }
}

/** Split add_target's parameters: `k=v` or `k v` groups separated by ';' or newlines. */
function targetParams(rest: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of rest.split(/[;\n]/)) {
    const p = trimBlanks(part);
    if (p === '') continue;
    const m = /^([^\s=]+)\s*[=\s]\s*(.*)$/s.exec(p);
    if (!m) throw einval(`Syntax error at ${p}`);
    out.push([m[1]!, m[2]!]);
  }
  return out;
}

/** targets/iscsi/mgmt: add_target, del_target, and the driver commands (sysfs.md §11.3). */
export async function writeIscsiMgmt(ctx: SysfsContext, iscsi: IscsiDriver, text: string): Promise<void> {
  // SCST lexes add_target/del_target itself; other lines go to the driver (words()).
  const lx = new Lexer(text);
  const cmd = lx.lexem().toLowerCase();
  const tc = targetCommand(lx, cmd);
  if (tc?.cmd === 'del_target') {
    await ctx.mgmt.delTarget(tc.name);
    return;
  }
  if (tc) {
    const name = tc.name;
    const params = targetParams(lx.rest());
    // Validate the parameters on a scratch target first: a refused add_target creates nothing.
    if (params.length) {
      const probe = { params: { ...defaultTargetParams }, queuedCommands: 32, rspTimeout: 90, nopInInterval: 30, nopInTimeout: 30, maxSessions: 0, incomingUsers: [], outgoingUser: null, name } as unknown as Target;
      applyTargetParams({ ...ctx, log: ctx.log.child({ probe: true }, { level: 'silent' }) }, probe, params);
    }
    if (ctx.scst.targets.has(name)) throw new MgmtError('EEXIST', `Target ${name} already exists`);
    const t = ctx.mgmt.addTarget(name);
    applyTargetParams(ctx, t, params);
    return;
  }
  const plain = words(text);
  const word = (plain[0] ?? '').toLowerCase();
  switch (word) {
    case 'add_attribute':
      return addAttribute(ctx, driverOwner(iscsi), null, plain.slice(1));
    case 'del_attribute':
      return delAttribute(ctx, driverOwner(iscsi), null, plain.slice(1));
    case 'add_target_attribute':
    case 'del_target_attribute': {
      const t = ctx.scst.targets.get(plain[1] ?? '');
      if (!t) throw new MgmtError('ENOENT', `Target ${plain[1] ?? ''} not found`);
      if (word === 'add_target_attribute') addAttribute(ctx, targetOwner(t), t, plain.slice(2));
      else delAttribute(ctx, targetOwner(t), t, plain.slice(2));
      return;
    }
    default:
      throw einval(`Syntax error at ${plain[0] ?? ''}`);
  }
}

/** The iSCSI driver's attributes in targets/iscsi/ (without mgmt and the targets). */
export function iscsiDriverAttrs(ctx: SysfsContext, iscsi: IscsiDriver): Array<readonly [string, PdeNode]> {
  const e = () => extras(iscsi);
  const opts = ['EXTRACHECKS', 'TRACING', 'DEBUG', 'DEBUG_DIGEST_FAILURES'].filter((o) => ctx.build.options.includes(o));
  return [
    ['version', ro(() => [ctx.build.version, ...opts].map((l) => `${l}\n`).join(''))],
    ['open_state', ro(() => 'open\n')],
    [
      'enabled',
      rw(
        () => `${iscsi.enabled ? 1 : 0}\n\n`,
        (text) => {
          const v = words(text)[0];
          if (v !== '0' && v !== '1') throw einval(`Unknown value ${v ?? ''}`);
          iscsi.enabled = v === '1';
          ctx.log.info({ enabled: iscsi.enabled }, `iSCSI target driver ${iscsi.enabled ? 'enabled' : 'disabled'}`);
        },
      ),
    ],
    [
      'iSNSServer',
      rw(
        () => (e().isnsServer ? `${e().isnsServer} ${e().isnsAccessControl ? 'AccessControl' : ''}\n[key]\n\n` : '\n\n'),
        (text) => {
          const w = words(text);
          if (w.length === 0) {
            e().isnsServer = '';
            e().isnsAccessControl = false;
            return;
          }
          let ac = false;
          if (w[1] !== undefined) {
            if (w[1].toLowerCase() !== 'accesscontrol') throw einval(`Unknown iSNS parameter ${w[1]}`);
            const yn = (w[2] ?? 'Yes').toLowerCase();
            if (yn !== 'yes' && yn !== 'no') throw einval(`Unknown AccessControl value ${w[2]}`);
            ac = yn === 'yes';
          }
          e().isnsServer = w[0]!;
          e().isnsAccessControl = ac;
        },
      ),
    ],
    [
      'isns_entity_name',
      rw(
        () => `${e().isnsEntityName}\n`,
        (text) => {
          e().isnsEntityName = words(text)[0] ?? '';
        },
      ),
    ],
    [
      'link_local',
      rw(
        () => (e().linkLocal ? '1\n\n' : '0\n[key]\n\n'),
        (text) => {
          const v = words(text)[0];
          if (v !== '0' && v !== '1') throw einval(`Unknown value ${v ?? ''}`);
          e().linkLocal = v === '1';
        },
      ),
    ],
    [
      'internal_portal',
      rw(
        () => (e().internalPortal ? `${e().internalPortal}\n[key]\n\n` : '\n\n'),
        (text) => {
          e().internalPortal = words(text)[0] ?? '';
        },
      ),
    ],
    ...accountFiles(ctx, driverOwner(iscsi)),
  ];
}

/** The iSCSI attributes of one target (sysfs.md §7.2 "iscsi target"). */
export function iscsiTargetAttrs(ctx: SysfsContext, t: Target): Array<readonly [string, PdeNode]> {
  const a = () => iscsiTarget(t);
  const out: Array<readonly [string, PdeNode]> = [['tid', ro(() => `${t.tid}\n`)]];
  for (const k of SESSION_KEYS) out.push([k, rw(() => sessionKeyText(t, k), (text) => setSessionKey(t, k, text))]);
  for (const k of TARGET_KEYS) {
    const r = TARGET_NUM[k];
    out.push([k, rw(() => daemon(String(a()[r.field]), a()[r.field] !== r.dflt), (text) => setTargetKey(t, k, text))]);
  }
  out.push(
    [
      'per_portal_acl',
      rw(
        () => (a().perPortalAcl ? '1\n[key]\n\n' : '0\n\n'),
        (text) => {
          const v = words(text)[0];
          if (v !== '0' && v !== '1') throw einval(`Unknown value ${v ?? ''}`);
          a().perPortalAcl = v === '1';
        },
      ),
    ],
    [
      'redirect',
      rw(
        () => (a().redirect ? `${a().redirect}\n[key]\n\n` : '\n'),
        (text) => {
          const w = words(text);
          if (w.length === 0) {
            a().redirect = '';
            return;
          }
          if (w.length < 2) throw einval('Redirection type required');
          if (w.length > 2) throw einval('Too many arguments for redirection');
          const type = w[1]!.toLowerCase();
          if (type !== 'temp' && type !== 'perm') throw einval(`Unknown redirection type ${w[1]}`);
          a().redirect = `${w[0]} ${type}`;
        },
      ),
    ],
    [
      'alias',
      rw(
        () => (a().alias ? `${a().alias}\n[key]\n\n` : '\n'),
        (text) => {
          a().alias = trimBlanks(text);
        },
      ),
    ],
    ...accountFiles(ctx, targetOwner(t)),
  );
  for (const [file, pattern] of a().allowedPortals) out.push([file, rw(() => `${pattern}\n[key]\n\n`, (text) => void a().allowedPortals.set(file, words(text)[0] ?? pattern))]);
  return out;
}

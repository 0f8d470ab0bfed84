import fsp from 'node:fs/promises';
import path from 'node:path';

// Persistent reservation state that must survive power loss (APTPL, SPC-4 5.13.6): one JSON
// file per device under <state-dir>/pr/, replaced atomically (write a temporary file, fsync it,
// rename it over the old one, fsync the directory). Reading validates every field: a file that
// does not parse is reported, never half-applied.

export interface StoredRegistration {
  key: bigint;
  initiator: string;
  isid: string;
  relTgtId: number;
  allTgPt: boolean;
}

export interface StoredPr {
  generation: number;
  aptpl: boolean;
  registrations: readonly StoredRegistration[];
  /** Index into registrations of the holder (null: all registrants type), type. */
  reservation: { type: number; holder: number | null } | null;
}

const FORMAT_VERSION = 1;
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export function prFile(stateDir: string, device: string): string {
  return path.join(stateDir, 'pr', `${device}.json`);
}

export function serialize(device: string, s: StoredPr): string {
  return JSON.stringify({ version: FORMAT_VERSION, device, ...prToJson(s) }, null, 1) + '\n';
}

/** The JSON fields of a PR state (keys as hex), shared by the state file and the cluster value. */
export function prToJson(s: StoredPr): Record<string, unknown> {
  return {
    generation: s.generation,
    aptpl: s.aptpl,
    registrations: s.registrations.map((r) => ({ key: r.key.toString(16), initiator: r.initiator, isid: r.isid, relTgtId: r.relTgtId, allTgPt: r.allTgPt })),
    reservation: s.reservation,
  };
}

/** Parse a state file's text; returns an error message for anything malformed. */
export function deserialize(text: string): StoredPr | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof v !== 'object' || v === null) return { error: 'not an object' };
  const o = v as Record<string, unknown>;
  if (o.version !== FORMAT_VERSION) return { error: `unknown format version ${String(o.version)}` };
  return prFromJson(o);
}

/** Validate the fields prToJson writes; an error message for anything malformed, never a throw. */
export function prFromJson(o: Record<string, unknown>): StoredPr | { error: string } {
  if (!Number.isInteger(o.generation) || (o.generation as number) < 0 || (o.generation as number) > 0xffffffff) return { error: 'bad generation' };
  if (typeof o.aptpl !== 'boolean') return { error: 'bad aptpl' };
  if (!Array.isArray(o.registrations) || o.registrations.length > 65536) return { error: 'bad registrations' };
  const regs: StoredRegistration[] = [];
  for (const r of o.registrations as unknown[]) {
    if (typeof r !== 'object' || r === null) return { error: 'bad registration' };
    const x = r as Record<string, unknown>;
    if (typeof x.key !== 'string' || !/^[0-9a-f]{1,16}$/i.test(x.key)) return { error: 'bad registration key' };
    if (typeof x.initiator !== 'string' || x.initiator.length === 0 || x.initiator.length > 255) return { error: 'bad registration initiator' };
    if (typeof x.isid !== 'string' || !/^[0-9a-f]{12}$/.test(x.isid)) return { error: 'bad registration isid' };
    if (!Number.isInteger(x.relTgtId) || (x.relTgtId as number) < 0 || (x.relTgtId as number) > 65535) return { error: 'bad registration relTgtId' };
    if (typeof x.allTgPt !== 'boolean') return { error: 'bad registration allTgPt' };
    const key = BigInt('0x' + x.key);
    if (key === 0n) return { error: 'registration with key 0' };
    regs.push({ key, initiator: x.initiator, isid: x.isid, relTgtId: x.relTgtId as number, allTgPt: x.allTgPt });
  }
  let reservation: StoredPr['reservation'] = null;
  if (o.reservation !== null) {
    if (typeof o.reservation !== 'object' || o.reservation === undefined) return { error: 'bad reservation' };
    const x = o.reservation as Record<string, unknown>;
    if (![1, 3, 5, 6, 7, 8].includes(x.type as number)) return { error: 'bad reservation type' };
    const allRegistrants = x.type === 7 || x.type === 8;
    if (allRegistrants ? x.holder !== null : !Number.isInteger(x.holder) || (x.holder as number) < 0 || (x.holder as number) >= regs.length) return { error: 'bad reservation holder' };
    if (regs.length === 0) return { error: 'reservation without registrations' };
    reservation = { type: x.type as number, holder: x.holder as number | null };
  }
  return { generation: o.generation as number, aptpl: o.aptpl, registrations: regs, reservation };
}

/** Read a device's saved state: null when there is none. Throws with a message when corrupt. */
export async function loadPr(stateDir: string, device: string): Promise<StoredPr | null> {
  const file = prFile(stateDir, device);
  let text: string;
  try {
    const st = await fsp.stat(file);
    if (st.size > MAX_FILE_BYTES) throw new Error(`${file}: larger than ${MAX_FILE_BYTES} bytes`);
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const r = deserialize(text);
  if ('error' in r) throw new Error(`${file}: ${r.error}`);
  return r;
}

let tmpSeq = 0;

/** Replace the device's state file atomically, or remove it (state null). */
export async function savePr(stateDir: string, device: string, state: StoredPr | null): Promise<void> {
  const file = prFile(stateDir, device);
  const dir = path.dirname(file);
  if (state === null) {
    await fsp.rm(file, { force: true });
    await syncDir(dir);
    return;
  }
  await fsp.mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${++tmpSeq}`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(serialize(device, state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | null = null;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is then as durable as it gets.
  } finally {
    await fh?.close();
  }
}

/**
 * Serialises the saves of one device: at most one write in flight, and a save requested while
 * one runs is folded into the next write (which then carries the newest state). Each caller's
 * promise settles once a write that includes its change is on stable storage.
 */
export class PrSaver {
  private running: Promise<void> | null = null;
  private pending: { snapshot: () => StoredPr | null; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> } | null = null;

  constructor(
    private readonly stateDir: string,
    private readonly device: string,
  ) {}

  save(snapshot: () => StoredPr | null): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.pending) this.pending = { snapshot, waiters: [] };
      this.pending.snapshot = snapshot;
      this.pending.waiters.push({ resolve, reject });
      if (!this.running) this.next();
    });
  }

  private next(): void {
    const job = this.pending;
    this.pending = null;
    if (!job) {
      this.running = null;
      return;
    }
    this.running = savePr(this.stateDir, this.device, job.snapshot()).then(
      () => job.waiters.forEach((w) => w.resolve()),
      (e: unknown) => job.waiters.forEach((w) => w.reject(e)),
    );
    void this.running.then(() => this.next());
  }
}

// Wire format between scstd and a user-space device handler (our scst_user): frames of
// [u32 BE header length][JSON header][u32 BE data length][data]. The JSON header names the
// message; bulk data (data-out to the handler, data-in from it) travels raw after it.

export type HandlerMessage =
  | { type: 'register'; name: string; blockSize: number; size: number; devType?: number; readOnly?: boolean; vendor?: string; product?: string; forward?: 'all' | 'data' }
  | { type: 'reply'; id: number; status: number; sense?: string /* hex */ }
  | { type: 'unregister'; name: string };

export type DaemonMessage =
  | { type: 'registered'; name: string }
  | { type: 'error'; message: string }
  | { type: 'exec'; id: number; device: string; lun: number; initiator: string; target: string; cdb: string /* hex */; dir: 'none' | 'read' | 'write'; dataLength: number }
  | { type: 'tmf'; fn: 'abort'; ids: number[]; device: string }
  | { type: 'attach'; device: string; session: number; initiator: string; target: string; lun: number }
  | { type: 'detach'; device: string; session: number; initiator: string; target: string; lun: number };

export interface Frame<T> {
  msg: T;
  data: Buffer;
}

const MAX_HEADER = 64 * 1024;
const MAX_DATA = 64 * 1024 * 1024;

export function encodeFrame(msg: object, data?: Buffer): Buffer[] {
  const json = Buffer.from(JSON.stringify(msg), 'utf8');
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(json.length, 0);
  const d = Buffer.allocUnsafe(4);
  d.writeUInt32BE(data ? data.length : 0, 0);
  return data && data.length ? [h, json, d, data] : [h, json, d];
}

/** Incremental frame parser; a malformed frame is a fatal error for the link (never a throw). */
export class FrameReader<T> {
  private chunks: Buffer[] = [];
  private have = 0;
  failed: string | null = null;

  constructor(private readonly onFrame: (f: Frame<T>) => void) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.chunks.push(chunk);
    this.have += chunk.length;
    for (;;) {
      if (this.have < 4) return;
      const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [buf];
      const hl = buf.readUInt32BE(0);
      if (hl === 0 || hl > MAX_HEADER) return this.fail(`header length ${hl} out of range`);
      if (buf.length < 8 + hl) return;
      const dl = buf.readUInt32BE(4 + hl);
      if (dl > MAX_DATA) return this.fail(`data length ${dl} out of range`);
      const total = 8 + hl + dl;
      if (buf.length < total) return;
      let msg: T;
      try {
        msg = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as T;
      } catch {
        return this.fail('header is not JSON');
      }
      if (typeof msg !== 'object' || msg === null || typeof (msg as { type?: unknown }).type !== 'string') return this.fail('header has no type');
      const data = Buffer.from(buf.subarray(8 + hl, total));
      const rest = buf.subarray(total);
      this.chunks = rest.length ? [rest] : [];
      this.have = rest.length;
      this.onFrame({ msg, data });
      if (this.failed) return;
    }
  }

  private fail(why: string): void {
    this.failed = why;
    this.chunks = [];
    this.have = 0;
  }
}

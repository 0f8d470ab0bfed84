import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { acceptConnections, readSocket, READ_BUFFER_BYTES, type Accepted as AcceptedConnection } from '../src/engine/iscsi/socket-reader.js';

// Real TCP on 127.0.0.1: the point is how Node's accepted sockets behave once their handle moves.

interface Accepted {
  raw: net.Socket;
  sock: net.Socket;
  chunks: Buffer[];
  /** The ArrayBuffer of every chunk as it arrived (not the copies). */
  buffers: ArrayBufferLike[];
}

const servers: net.Server[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(prepare?: (raw: net.Socket) => void): Promise<{ srv: net.Server; port: number; accepted: Accepted[]; next(): Promise<Accepted> }> {
  const accepted: Accepted[] = [];
  const waiters: Array<(a: Accepted) => void> = [];
  const srv = net.createServer({ pauseOnConnect: true }, (raw) => {
    prepare?.(raw);
    const a: Accepted = { raw, sock: raw, chunks: [], buffers: [] };
    a.sock = readSocket(raw, (chunk) => {
      a.buffers.push(chunk.buffer);
      a.chunks.push(Buffer.from(chunk)); // the chunk is valid only during the call
    });
    accepted.push(a);
    waiters.shift()?.(a);
  });
  servers.push(srv);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  let taken = 0;
  return {
    srv,
    port,
    accepted,
    next: () =>
      new Promise<Accepted>((r) => {
        const i = taken++;
        if (i < accepted.length) r(accepted[i]!);
        else waiters.push(r);
      }),
  };
}

async function connect(port: number): Promise<net.Socket> {
  const c = net.connect(port, '127.0.0.1');
  clients.push(c);
  await once(c, 'connect');
  return c;
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const total = (a: Accepted) => a.chunks.reduce((n, c) => n + c.length, 0);

describe('readSocket', () => {
  it('moves an accepted connection to a socket that reads into one buffer shared by every connection', async () => {
    const s = await serve();
    const data = [randomBytes(3 << 20), randomBytes(700 << 10)];
    const c1 = await connect(s.port);
    const c2 = await connect(s.port);
    const a1 = await s.next();
    const a2 = await s.next();
    expect(a1.sock).not.toBe(a1.raw);
    expect(a1.raw.destroyed).toBe(true);
    expect(a1.sock.remotePort).toBe(c1.localPort);
    c1.write(data[0]);
    c2.write(data[1]);
    await until(() => total(a1) === data[0]!.length && total(a2) === data[1]!.length, 'all bytes');
    expect(Buffer.concat(a1.chunks).equals(data[0]!)).toBe(true);
    expect(Buffer.concat(a2.chunks).equals(data[1]!)).toBe(true);
    // No allocation per read: every chunk of both connections lies in the same buffer.
    const all = [...a1.buffers, ...a2.buffers];
    expect(new Set(all).size).toBe(1);
    expect(all[0]!.byteLength).toBe(READ_BUFFER_BYTES);
    expect(Math.max(...a1.chunks.map((c) => c.length))).toBeLessThanOrEqual(READ_BUFFER_BYTES);
  });

  it('the moved socket writes, ends and closes like the accepted one', async () => {
    const s = await serve();
    const c = await connect(s.port);
    const a = await s.next();
    const got: Buffer[] = [];
    c.on('data', (b: Buffer) => got.push(b));
    a.sock.write('reply');
    await until(() => Buffer.concat(got).toString() === 'reply', 'the reply');
    const closed = once(a.sock, 'close');
    c.end();
    await closed;
    expect(a.sock.destroyed).toBe(true);
    // The server no longer counts the moved connection (its accepted socket was destroyed).
    const n = await new Promise<number>((r, j) => s.srv.getConnections((e, k) => (e ? j(e) : r(k))));
    expect(n).toBe(0);
  });

  it('a socket whose handle cannot take a user buffer keeps reading through data events', async () => {
    const s = await serve((raw) => {
      const h = (raw as unknown as { _handle: { useUserBuffer?: unknown } })._handle;
      h.useUserBuffer = undefined;
    });
    const c = await connect(s.port);
    const a = await s.next();
    expect(a.sock).toBe(a.raw);
    const data = randomBytes(1 << 20);
    c.write(data);
    await until(() => total(a) === data.length, 'all bytes');
    expect(Buffer.concat(a.chunks).equals(data)).toBe(true);
  });
});

describe('acceptConnections', () => {
  async function acceptServer(decide: (a: AcceptedConnection) => boolean) {
    const got: Array<{ sock: net.Socket; chunks: Buffer[]; buffers: ArrayBufferLike[] }> = [];
    const refused: string[] = [];
    const srv = net.createServer({ pauseOnConnect: true });
    servers.push(srv);
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    acceptConnections(srv, (a) => {
      if (!decide(a)) {
        refused.push(a.remoteAddress);
        return a.refuse();
      }
      const e = { sock: null as unknown as net.Socket, chunks: [] as Buffer[], buffers: [] as ArrayBufferLike[] };
      e.sock = a.open((chunk) => {
        e.buffers.push(chunk.buffer);
        e.chunks.push(Buffer.from(chunk));
      });
      got.push(e);
    });
    return { port: (srv.address() as net.AddressInfo).port, got, refused };
  }

  it('opens accepted connections as sockets reading into the shared buffer, from their handle', async () => {
    const s = await acceptServer(() => true);
    const c = await connect(s.port);
    await until(() => s.got.length === 1, 'the connection');
    const data = randomBytes(2 << 20);
    c.write(data);
    await until(() => s.got[0]!.chunks.reduce((n, b) => n + b.length, 0) === data.length, 'all bytes');
    expect(Buffer.concat(s.got[0]!.chunks).equals(data)).toBe(true);
    expect(new Set(s.got[0]!.buffers).size).toBe(1);
    expect(s.got[0]!.sock.remotePort).toBe(c.localPort);
    const replies: Buffer[] = [];
    c.on('data', (b: Buffer) => replies.push(b));
    s.got[0]!.sock.write('reply');
    await until(() => Buffer.concat(replies).toString() === 'reply', 'the reply');
  });

  it('a refused connection is closed before any socket is made for it, and knows its peer address', async () => {
    const s = await acceptServer(() => false);
    const c = await connect(s.port);
    const closed = once(c, 'close');
    c.on('error', () => {});
    await closed;
    expect(s.refused).toEqual(['127.0.0.1']);
    expect(s.got).toHaveLength(0);
  });
});

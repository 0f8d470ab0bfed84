// The partition test's TCP proxy (test/helpers/tcp-proxy.ts) against an echo server: it
// forwards, a 'reset' cut resets open and new connections, a 'blackhole' cut keeps them open and
// silent, and heal() resets exactly the connections that lost bytes.
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { installHarnessHooks, onCleanup } from './helpers/cleanup.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

installHarnessHooks();

async function echoServer(): Promise<number> {
  const socks = new Set<Socket>();
  const s = createServer((c) => {
    socks.add(c);
    c.on('close', () => socks.delete(c));
    c.on('error', () => undefined);
    c.pipe(c);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  onCleanup('echo server', () => {
    for (const c of socks) c.destroy();
    return new Promise<void>((r) => s.close(() => r()));
  });
  return (s.address() as { port: number }).port;
}

interface Client {
  sock: Socket;
  got: () => string;
  closed: () => boolean;
}

async function client(port: number): Promise<Client> {
  const sock = connect({ host: '127.0.0.1', port });
  let buf = '';
  let closed = false;
  sock.on('data', (d) => (buf += d.toString()));
  sock.on('error', () => undefined);
  sock.on('close', () => (closed = true));
  await new Promise<void>((r, j) => {
    sock.once('connect', () => r());
    sock.once('error', j);
  });
  onCleanup('proxy test client', () => sock.destroy());
  return { sock, got: () => buf, closed: () => closed };
}

async function until(p: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!p() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 10));
  return p();
}
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('test TCP proxy', () => {
  it('forwards; reset cuts reset open and new connections; heal lets new ones through', async () => {
    const proxy = await startTcpProxy([{ port: await echoServer() }]);
    const port = proxy.ports[0]!.port;
    const c = await client(port);
    c.sock.write('hello');
    expect(await until(() => c.got() === 'hello', 2000)).toBe(true);
    proxy.cut('reset');
    expect(await until(c.closed, 2000), 'open connection reset').toBe(true);
    // A new connection is reset as soon as it is accepted: its connect may fail already.
    const n = connect({ host: '127.0.0.1', port });
    let nClosed = false;
    let nGot = '';
    n.on('error', () => undefined);
    n.on('data', (d) => (nGot += d.toString()));
    n.on('close', () => (nClosed = true));
    n.on('connect', () => n.write('x'));
    expect(await until(() => nClosed, 2000), 'new connection reset').toBe(true);
    expect(nGot).toBe('');
    proxy.heal();
    const h = await client(port);
    h.sock.write('again');
    expect(await until(() => h.got() === 'again', 2000)).toBe(true);
    await proxy.close();
    expect(await until(h.closed, 2000), 'close() ends every connection').toBe(true);
  });

  it('blackhole: connections stay open and silent; heal resets those that lost bytes and resumes the others', async () => {
    const proxy = await startTcpProxy([{ port: await echoServer() }]);
    const port = proxy.ports[0]!.port;
    const lossy = await client(port);
    const quiet = await client(port);
    lossy.sock.write('a');
    quiet.sock.write('b');
    expect(await until(() => lossy.got() === 'a' && quiet.got() === 'b', 2000)).toBe(true);
    proxy.cut('blackhole');
    lossy.sock.write('dropped');
    const late = await client(port); // accepted during the blackhole, silent
    await pause(300);
    expect(lossy.got()).toBe('a');
    expect([lossy.closed(), quiet.closed(), late.closed()]).toEqual([false, false, false]);
    expect(proxy.stats().droppedBytes).toBe('dropped'.length);
    proxy.heal();
    expect(await until(lossy.closed, 2000), 'a connection with a hole is reset on heal').toBe(true);
    quiet.sock.write('c');
    late.sock.write('d');
    expect(await until(() => quiet.got() === 'bc' && late.got() === 'd', 2000), `quiet ${quiet.got()} late ${late.got()}`).toBe(true);
    await proxy.close();
  });

  it("heal({ lossy: 'dead' }) leaves a connection that lost bytes open and silent for good; new ones work", async () => {
    const proxy = await startTcpProxy([{ port: await echoServer() }]);
    const port = proxy.ports[0]!.port;
    const lossy = await client(port);
    proxy.cut('blackhole');
    lossy.sock.write('dropped');
    await pause(100);
    proxy.heal({ lossy: 'dead' });
    lossy.sock.write('still dropped');
    const fresh = await client(port);
    fresh.sock.write('ok');
    expect(await until(() => fresh.got() === 'ok', 2000)).toBe(true);
    await pause(200);
    expect([lossy.got(), lossy.closed()]).toEqual(['', false]);
    await proxy.close();
  });
});

// How the daemon reads its iSCSI sockets. Node's default gives every read a freshly allocated,
// zero-filled 64 KiB buffer that lives until the next garbage collection; at 4 KiB writes and
// queue depth 32 that was the daemon's main source of page faults and a memset of 64 KiB per
// read. Node can instead read a socket into a buffer the caller owns (the `onread` option), but
// offers it only to sockets it creates itself, not to those a server accepts. So the daemon takes
// over the server's accept callback and creates each connection's socket itself, with `onread`,
// straight from the accepted handle (acceptConnections); where that callback cannot be reached,
// an accepted socket's handle is moved into such a socket before it has read anything
// (readSocket; the server accepts paused). Creating one socket instead of two also halves what
// a login storm costs in socket set-up and tear-down.
//
// One buffer serves every connection: the event loop reads one socket at a time and hands the
// chunk over synchronously, and the PDU receiver copies whatever it keeps (receiver.ts).

import net from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Larger than Node's 64 KiB: a 1 MiB write arrives in fewer reads. */
export const READ_BUFFER_BYTES = 256 * 1024;

let shared: Buffer | null = null;

/** A connection the kernel accepted, before any socket object exists for it. */
export interface Accepted {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** A socket for it that reads into the shared buffer; `onChunk` as for readSocket(). */
  open(onChunk: (chunk: Buffer) => void): net.Socket;
  /** Close it unopened (refused): no socket object is ever made. */
  refuse(): void;
}

/** Node's TCP handles, as far as accepting goes (node:net internals). */
interface ClientHandle {
  getpeername(out: { address?: string; port?: number }): number;
  close(): void;
}
interface ServerHandle {
  onconnection?: (err: number, client?: ClientHandle) => void;
  setNoDelay?: (on: boolean) => number;
}

/**
 * Hands every connection `srv` (listening) accepts to `onAccept` as an Accepted, with Nagle's
 * algorithm off (every reply leaves at once; the daemon gathers a turn's replies itself). An
 * accept error (EMFILE: out of descriptors) is emitted as the server's 'error', as Node does.
 */
export function acceptConnections(srv: net.Server, onAccept: (a: Accepted) => void): void {
  const handle = (srv as unknown as { _handle?: ServerHandle | null })._handle;
  if (!handle || typeof handle.onconnection !== 'function' || handle.setNoDelay?.(true) !== 0) {
    const open = (raw: net.Socket, onChunk: (chunk: Buffer) => void): net.Socket => readSocket(raw, onChunk).setNoDelay(true);
    srv.on('connection', (raw: net.Socket) => onAccept({ remoteAddress: raw.remoteAddress ?? '', remotePort: raw.remotePort ?? 0, open: (onChunk) => open(raw, onChunk), refuse: () => raw.destroy() }));
    return;
  }
  // Linux gives accepted sockets the listener's TCP_NODELAY: one system call, not one a login.
  handle.onconnection = (err, client) => {
    if (err || !client) {
      const code = err ? getSystemErrorName(err) : 'EINVAL';
      srv.emit('error', Object.assign(new Error(`accept ${code}`), { code, errno: err, syscall: 'accept' }));
      return;
    }
    const peer: { address?: string; port?: number } = {};
    client.getpeername(peer);
    onAccept({ remoteAddress: peer.address ?? '', remotePort: peer.port ?? 0, open: (onChunk) => socketFor(client, onChunk), refuse: () => client.close() });
  };
}

/** A socket owning `handle` (an accepted TCP handle no socket owns) that reads into the shared buffer. */
function socketFor(handle: unknown, onChunk: (chunk: Buffer) => void): net.Socket {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const buffer = shared;
  return new net.Socket({
    handle,
    readable: true,
    writable: true,
    onread: { buffer, callback: (n: number) => onChunk(buffer.subarray(0, n)) },
  } as net.SocketConstructorOpts);
}

/** What an accepted socket looks like inside, as far as moving its handle goes. */
interface AcceptedSocket {
  _handle?: { useUserBuffer?: unknown } | null;
}

/**
 * Starts reading `raw` (accepted by a server created with `pauseOnConnect: true`) and returns
 * the socket to use from now on: a new one that owns raw's connection and reads into the shared
 * buffer, or raw itself emitting 'data' where the handle cannot be moved. `onChunk` gets each
 * chunk read; it must not keep the buffer (or a view of it) after it returns.
 */
export function readSocket(raw: net.Socket, onChunk: (chunk: Buffer) => void): net.Socket {
  const inner = raw as unknown as AcceptedSocket;
  const handle = inner._handle;
  if (handle && typeof handle.useUserBuffer === 'function' && !raw.destroyed) {
    inner._handle = null;
    let sock: net.Socket;
    try {
      sock = socketFor(handle, onChunk);
    } catch {
      inner._handle = handle;
      return readWithEvents(raw, onChunk);
    }
    // raw has no connection any more: destroying it only settles the server's connection count.
    raw.destroy();
    return sock;
  }
  return readWithEvents(raw, onChunk);
}

function readWithEvents(raw: net.Socket, onChunk: (chunk: Buffer) => void): net.Socket {
  raw.on('data', onChunk);
  raw.resume();
  return raw;
}

// How the daemon reads its iSCSI sockets. Node's default gives every read a freshly allocated,
// zero-filled 64 KiB buffer that lives until the next garbage collection; at 4 KiB writes and
// queue depth 32 that was the daemon's main source of page faults and a memset of 64 KiB per
// read. Node can instead read a socket into a buffer the caller owns (the `onread` option), but
// offers it only to sockets it creates itself, not to those a server accepts. So the accepted
// socket's handle is moved into a socket created with `onread`, before it has read anything (the
// server accepts paused).
//
// One buffer serves every connection: the event loop reads one socket at a time and hands the
// chunk over synchronously, and the PDU receiver copies whatever it keeps (receiver.ts).

import net from 'node:net';

/** Larger than Node's 64 KiB: a 1 MiB write arrives in fewer reads. */
export const READ_BUFFER_BYTES = 256 * 1024;

let shared: Buffer | null = null;

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
    shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const buffer = shared;
    const opts = {
      handle,
      readable: true,
      writable: true,
      onread: { buffer, callback: (n: number) => onChunk(buffer.subarray(0, n)) },
    } as net.SocketConstructorOpts;
    inner._handle = null;
    let sock: net.Socket;
    try {
      sock = new net.Socket(opts);
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

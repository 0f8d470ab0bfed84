// The native file I/O addon (native/pio) and the file backstore on top of it: non-blocking cached
// reads, batched pool jobs with errno codes the sense mapping understands, and the same data and
// fd lifetime as the fs fallback.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, openSync, closeSync, readFileSync, readlinkSync } from 'node:fs';
import { readFile, readlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { FileBackstore } from '../src/engine/backstore/file.js';
import {
  IoBatcher,
  NativeIo,
  type NativeWriter,
  nativeIo,
  nativeIoDescription,
  nativeIoLoadError,
  NOWAIT_MISS,
  PIO_FDATASYNC,
  PIO_READ,
  PIO_STRIDE,
  PIO_SYNC_AFTER,
  PIO_WRITE,
} from '../src/engine/backstore/pio.js';
import { tmpDir } from './helpers/files.js';
import { onCleanup } from './helpers/cleanup.js';

const EBADF = 9;

/** The addon; a test fails (never skips) without it: CI builds it with `npm ci`. */
function io(): NativeIo {
  if (!nativeIo)
    throw new Error(`native I/O addon not loaded (${nativeIoDescription}${nativeIoLoadError ? `: ${nativeIoLoadError}` : ''}); run npm run build:native`);
  return nativeIo;
}

function openFd(path: string, flags: number): number {
  const fd = openSync(path, flags);
  onCleanup(`close ${fd}`, () => closeSync(fd));
  return fd;
}

/**
 * A file of random data that is not in the page cache: dd writes it with O_DIRECT. (A sparse
 * file would not do: the kernel fills holes without I/O, so even a non-blocking read gets them.)
 */
async function uncachedFile(path: string, mib: number): Promise<string> {
  await new Promise<void>((resolve, reject) =>
    execFile('dd', ['if=/dev/urandom', `of=${path}`, 'bs=1M', `count=${mib}`, 'oflag=direct', 'status=none'], { timeout: 30_000 }, (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  return path;
}

type Result = { err: NodeJS.ErrnoException | null; bytes: number };
const op = (f: (cb: (err: NodeJS.ErrnoException | null, bytes: number) => void) => void) =>
  new Promise<Result>((resolve) => f((err, bytes) => resolve({ err, bytes })));

it('the addon loads and says so', () => {
  io();
  expect(nativeIoDescription).toBe('native (preadv2 RWF_NOWAIT + batched pool jobs + writer threads)');
});

describe('readNowait', () => {
  it('returns the bytes of a page-cached file, short at end of file', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    const data = randomBytes(64 * 1024);
    await writeFile(path, data);
    const fd = openFd(path, constants.O_RDONLY);
    const buf = Buffer.alloc(8192, 0xee);
    expect(io().readNowait(fd, buf, 100, 4096, 12345)).toBe(4096);
    expect(buf.subarray(100, 4196).equals(data.subarray(12345, 12345 + 4096))).toBe(true);
    expect(buf[99]).toBe(0xee);
    expect(buf[4196]).toBe(0xee);
    expect(io().readNowait(fd, buf, 0, 4096, data.length - 1000)).toBe(1000);
    expect(io().readNowait(fd, buf, 0, 4096, data.length)).toBe(0);
  });

  it('returns -EBADF on a bad fd and -EAGAIN for pages not in the cache', async () => {
    const buf = Buffer.alloc(4096);
    expect(io().readNowait(1 << 30, buf, 0, 4096, 0)).toBe(-EBADF);
    const path = await uncachedFile(join(await tmpDir('pio-'), 'direct'), 8);
    const fd = openFd(path, constants.O_RDONLY);
    // The refused read starts readahead, which may be quick: one miss out of eight will do.
    const firstTries = Array.from({ length: 8 }, (_, i) => io().readNowait(fd, buf, 0, 4096, i << 20));
    expect(firstTries).toContain(NOWAIT_MISS);
    for (const r of firstTries) expect([NOWAIT_MISS, 4096]).toContain(r);
  });

  it('refuses ranges outside the buffer', () => {
    const buf = Buffer.alloc(16);
    expect(() => io().readNowait(0, buf, 8, 9, 0)).toThrow(RangeError);
    expect(() => io().readNowait(0, buf, -1, 1, 0)).toThrow(RangeError);
    expect(() => io().readNowait(0, buf, 0, 1, -5)).toThrow(RangeError);
    expect(() => io().readNowait(0, 'x' as unknown as Buffer, 0, 1, 0)).toThrow(TypeError);
  });
});

describe('batched submission', () => {
  it('runs one batch in order: interleaved writes, FUA writes, reads, fdatasync, read past end of file', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(16384, 1));
    const fd = openFd(path, constants.O_RDWR);
    const a = Buffer.alloc(4096, 0xaa);
    const b = randomBytes(4096);
    const r1 = Buffer.alloc(4096);
    const r2 = Buffer.alloc(8192, 0xff);
    const r3 = Buffer.alloc(4096, 0xff);
    const ops: Array<[number, Buffer | null, number, number, number]> = [
      [PIO_WRITE, a, 0, 4096, 4096],
      [PIO_READ, r1, 0, 4096, 4096], // sees the write before it
      [PIO_WRITE | PIO_SYNC_AFTER, b, 1000, 3096, 5096], // overwrites part of `a`, then fdatasync
      [PIO_READ, r2, 0, 8192, 4096],
      [PIO_FDATASYNC, null, 0, 0, 0],
      [PIO_READ, r3, 0, 4096, 16384 - 100], // 100 bytes, then zeroes
    ];
    const desc = new Float64Array(ops.length * PIO_STRIDE);
    ops.forEach(([k, , off, len, pos], i) => desc.set([k, fd, off, len, pos, -1], i * PIO_STRIDE));
    await new Promise<void>((done) => io().submit(desc, ops.length, ops.map((o) => o[1]), done));
    const results = ops.map((_, i) => desc[i * PIO_STRIDE + 5]);
    expect(results).toEqual([4096, 4096, 3096, 8192, 0, 100]);
    expect(r1.equals(a)).toBe(true);
    const want = Buffer.concat([a.subarray(0, 1000), b.subarray(1000), Buffer.alloc(4096, 1)]);
    expect(r2.equals(want)).toBe(true);
    expect(r3.equals(Buffer.concat([Buffer.alloc(100, 1), Buffer.alloc(3996, 0)]))).toBe(true);
    expect((await readFile(path)).subarray(4096, 12288).equals(want)).toBe(true);
  });

  it('refuses bad descriptors without running anything', () => {
    const desc = new Float64Array(PIO_STRIDE);
    const done = vi.fn();
    desc.set([PIO_READ, 0, 0, 17, 0, 0]);
    expect(() => io().submit(desc, 1, [Buffer.alloc(16)], done)).toThrow(RangeError);
    expect(() => io().submit(desc, 1, [null], done)).toThrow(TypeError);
    desc.set([7, 0, 0, 1, 0, 0]);
    expect(() => io().submit(desc, 1, [Buffer.alloc(16)], done)).toThrow(RangeError);
    expect(() => io().submit(desc, 2, [Buffer.alloc(16)], done)).toThrow(RangeError);
    expect(() => io().submit(new Float64Array(0), 0, [], done)).toThrow(RangeError);
    expect(done).not.toHaveBeenCalled();
  });

  it('IoBatcher: errors carry their codes (EBADF, ENOSPC) and do not affect the rest of the batch', async () => {
    const dir = await tmpDir('pio-');
    const path = join(dir, 'f');
    await writeFile(path, Buffer.alloc(8192, 3));
    const ro = openFd(path, constants.O_RDONLY);
    const full = openFd('/dev/full', constants.O_WRONLY);
    const batcher = new IoBatcher(io());
    const buf = Buffer.alloc(4096);
    const [bad, nospc, ok, sync] = await Promise.all([
      op((cb) => batcher.write(ro, Buffer.alloc(512, 1), 0, 512, 0, false, cb)),
      op((cb) => batcher.write(full, Buffer.alloc(512, 1), 0, 512, 0, false, cb)),
      op((cb) => batcher.read(ro, buf, 0, 4096, 4096, cb)),
      op((cb) => batcher.fdatasync(1 << 30, cb)),
    ]);
    expect(bad.err).toMatchObject({ code: 'EBADF', errno: -EBADF, syscall: 'write' });
    expect(bad.err!.message).toMatch(/^EBADF: /);
    expect(nospc.err).toMatchObject({ code: 'ENOSPC', syscall: 'write' });
    expect(ok).toEqual({ err: null, bytes: 4096 });
    expect(buf.equals(Buffer.alloc(4096, 3))).toBe(true);
    expect(sync.err).toMatchObject({ code: 'EBADF', syscall: 'fdatasync' });
  });

  it('IoBatcher: one synchronous run becomes few pool jobs; syncs travel apart from plain writes', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(1 << 20));
    const fd = openFd(path, constants.O_RDWR);
    const real = io();
    const jobs: number[][] = [];
    const counting: NativeIo = {
      readNowait: real.readNowait,
      submit: (desc, count, bufs, done) => {
        jobs.push(Array.from({ length: count }, (_, i) => desc[i * PIO_STRIDE]!));
        real.submit(desc, count, bufs, done);
      },
    };
    const batcher = new IoBatcher(counting, { maxOps: 64, readSpread: 4, syncSpread: 4 });
    const pending: Promise<Result>[] = [];
    for (let i = 0; i < 100; i++) {
      const data = Buffer.alloc(4096, i);
      pending.push(op((cb) => batcher.write(fd, data, 0, 4096, i * 4096, false, cb)));
    }
    pending.push(op((cb) => batcher.write(fd, Buffer.alloc(4096, 0xfe), 0, 4096, 200 * 4096, true, cb)));
    pending.push(op((cb) => batcher.fdatasync(fd, cb)));
    for (let i = 0; i < 8; i++) pending.push(op((cb) => batcher.read(fd, Buffer.alloc(512), 0, 512, i * 512, cb)));
    expect(batcher.queued).toBe(110 - 64); // a full batch leaves at once
    const results = await Promise.all(pending);
    expect(results.filter((r) => r.err !== null)).toEqual([]);
    expect(batcher.inFlight).toBe(0);
    const plain = jobs.filter((j) => j.every((k) => k === PIO_WRITE)).map((j) => j.length);
    expect(plain.sort((x, y) => x - y)).toEqual([36, 64]);
    // The FUA write and the fdatasync each in a job without reads or plain writes.
    const syncJobs = jobs.filter((j) => j.some((k) => k === PIO_FDATASYNC || k === (PIO_WRITE | PIO_SYNC_AFTER)));
    expect(syncJobs.length).toBe(2);
    for (const j of syncJobs) expect(j.every((k) => k === PIO_FDATASYNC || k === (PIO_WRITE | PIO_SYNC_AFTER))).toBe(true);
    // Reads that missed the cache are spread over the pool's threads.
    expect(jobs.filter((j) => j.every((k) => k === PIO_READ)).map((j) => j.length)).toEqual([2, 2, 2, 2]);
    const file = await readFile(path);
    for (let i = 0; i < 100; i++) expect(file[i * 4096 + 17]).toBe(i);
    expect(file[200 * 4096]).toBe(0xfe);
  });

  it("IoBatcher: one job per file at a time, the next gathers meanwhile; files apart; O_DSYNC files' writes spread like syncs", async () => {
    const jobs: Array<Array<[number, number]>> = [];
    const out: Array<() => void> = [];
    const fake: NativeIo = {
      readNowait: () => -95,
      submit: (desc, count, _bufs, done) => {
        jobs.push(Array.from({ length: count }, (_, i) => [desc[i * PIO_STRIDE]!, desc[i * PIO_STRIDE + 1]!] as [number, number]));
        for (let i = 0; i < count; i++) desc[i * PIO_STRIDE + 5] = desc[i * PIO_STRIDE + 3]!;
        out.push(done);
      },
    };
    const batcher = new IoBatcher(fake, { maxOps: 64, syncSpread: 4 });
    const order: number[] = [];
    const write = (fd: number, tag: number, fdSyncs = false) =>
      batcher.write(fd, Buffer.alloc(8), 0, 8, tag * 8, false, (err) => order.push(err ? -tag : tag), fdSyncs);
    for (let i = 0; i < 8; i++) write(i < 5 ? 9 : 10, i);
    await Promise.resolve(); // the run ends: one job per file
    expect(jobs.map((j) => [j[0]![1], j.length])).toEqual([
      [9, 5],
      [10, 3],
    ]);
    // While fd 9's job is out, its new writes gather instead of leaving in a job of their own.
    write(9, 8);
    write(9, 9);
    await Promise.resolve();
    expect(jobs.length).toBe(2);
    expect(batcher.queued).toBe(2);
    out.shift()!(); // fd 9's first job returns: the gathered two leave at once
    expect(jobs.length).toBe(3);
    expect(jobs[2]!.map(([, fd]) => fd)).toEqual([9, 9]);
    while (out.length) out.shift()!();
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batcher.inFlight).toBe(0);
    // Writes to an O_DSYNC (write-through) file each wait for the disk: spread over jobs.
    jobs.length = 0;
    for (let i = 0; i < 8; i++) write(11, 20 + i, true);
    await Promise.resolve();
    expect(jobs.map((j) => j.length)).toEqual([2, 2, 2, 2]);
    while (out.length) out.shift()!();
    expect(batcher.inFlight).toBe(0);
    expect(batcher.queued).toBe(0);
  });

  it('IoBatcher: a throwing callback does not keep the others of its batch waiting', async () => {
    let pendingDone: (() => void) | null = null;
    const fake: NativeIo = {
      readNowait: () => -95,
      submit: (desc, count, _bufs, done) => {
        for (let i = 0; i < count; i++) desc[i * PIO_STRIDE + 5] = desc[i * PIO_STRIDE + 3]!;
        pendingDone = done;
      },
    };
    const batcher = new IoBatcher(fake);
    const seen: number[] = [];
    batcher.write(3, Buffer.alloc(8), 0, 8, 0, false, () => {
      seen.push(1);
      throw new Error('boom');
    });
    batcher.write(3, Buffer.alloc(8), 0, 4, 0, false, (err, n) => seen.push(err ? -1 : n * 10));
    await Promise.resolve(); // the microtask that submits
    expect(pendingDone).not.toBeNull();
    expect(() => pendingDone!()).toThrow('boom');
    expect(seen).toEqual([1, 40]);
    expect(batcher.inFlight).toBe(0);
  });
});

describe('writer threads', () => {
  const ADDON = fileURLToPath(new URL('../native/pio/build/Release/pio.node', import.meta.url));

  it('run the batches given to them in order, with the same results as the pool', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(8192));
    const fd = openFd(path, constants.O_RDWR);
    const w = io().createWriter!();
    const done: number[] = [];
    const descs: Float64Array[] = [];
    // Three batches overwrite the same block: the file ends with the last one's data only if
    // the thread ran them in the order given.
    const all = [1, 2, 3].map(
      (k) =>
        new Promise<void>((resolve) => {
          const d = new Float64Array(2 * PIO_STRIDE);
          d.set([PIO_WRITE, fd, 0, 4096, 0, 0, PIO_READ, fd, 0, 100, 8100, 0]);
          descs.push(d);
          io().submit(d, 2, [Buffer.alloc(4096, k), Buffer.alloc(100, 0xff)], () => (done.push(k), resolve()), w);
        }),
    );
    await Promise.all(all);
    expect(done).toEqual([1, 2, 3]);
    for (const d of descs) expect([d[5], d[11]]).toEqual([4096, 92]); // the read stops at end of file
    expect((await readFile(path)).subarray(0, 4096).equals(Buffer.alloc(4096, 3))).toBe(true);
    // Errors come back as -errno, as from the pool.
    const d = new Float64Array(PIO_STRIDE);
    d.set([PIO_WRITE, 1 << 30, 0, 8, 0, 0]);
    await new Promise<void>((resolve) => io().submit(d, 1, [Buffer.alloc(8)], resolve, w));
    expect(d[5]).toBe(-EBADF);
  });

  it('write large buffers whole although a writer yields the CPU every 128 KiB (the result counts every byte)', async () => {
    const path = join(await tmpDir('pio-'), 'big');
    await writeFile(path, Buffer.alloc(0));
    const fd = openFd(path, constants.O_RDWR);
    const w = io().createWriter!();
    // Two writes that straddle the yield points at odd offsets, then a small one between them.
    const a = Buffer.alloc(1_000_003);
    for (let i = 0; i < a.length; i++) a[i] = (i * 7 + 1) & 0xff;
    const b = Buffer.alloc(300_001, 0x5c);
    const d = new Float64Array(3 * PIO_STRIDE);
    d.set([PIO_WRITE, fd, 0, a.length, 5, 0, PIO_WRITE, fd, 0, 3, 1_000_008, 0, PIO_WRITE, fd, 0, b.length, 1_000_011, 0]);
    await new Promise<void>((resolve) => io().submit(d, 3, [a, Buffer.from('xyz'), b], resolve, w));
    expect([d[5], d[11], d[17]]).toEqual([a.length, 3, b.length]);
    const got = await readFile(path);
    expect(got.length).toBe(1_000_011 + b.length);
    expect(got.subarray(5, 5 + a.length).equals(a)).toBe(true);
    expect(got.subarray(1_000_008, 1_000_011).toString()).toBe('xyz');
    expect(got.subarray(1_000_011).equals(b)).toBe(true);
  });

  it('refuse anything but a writer; an idle writer does not keep the process alive, and a collected one ends its thread', async () => {
    expect(() => io().submit(new Float64Array(PIO_STRIDE), 1, [Buffer.alloc(8)], () => {}, {} as NativeWriter)).toThrow(TypeError);
    const file = join(await tmpDir('pio-'), 'child');
    // In a child, so that exiting (or hanging) is observable. Counts the threads by name.
    const script = `
      const fs = require('fs');
      const io = require(${JSON.stringify(ADDON)});
      const writers = () => fs.readdirSync('/proc/self/task').filter((t) => {
        try { return fs.readFileSync('/proc/self/task/' + t + '/comm', 'utf8').trim() === 'scstd-writer'; } catch { return false; }
      }).length;
      globalThis.idle = io.createWriter();
      let w = io.createWriter();
      const out = { created: writers(), waits: 0 };
      const fd = fs.openSync(${JSON.stringify(file)}, 'w+');
      const d = new Float64Array(6);
      d.set([1, fd, 0, 5, 0, 0]);
      io.submit(d, 1, [Buffer.from('hello')], () => {
        out.result = d[5];
        w = null;
        global.gc();
        const t = setInterval(() => {
          if (writers() === 1 || ++out.waits > 100) {
            clearInterval(t);
            out.afterGc = writers();
            console.log(JSON.stringify(out));
          }
        }, 10);
      }, w);`;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--expose-gc', '-e', script], { timeout: 10_000 }, (e, so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(so))),
    );
    const out = JSON.parse(stdout) as { created: number; result: number; afterGc: number };
    expect(out).toMatchObject({ created: 2, result: 5, afterGc: 1 });
    expect(readFileSync(file, 'utf8')).toBe('hello');
  });

  it("IoBatcher: a file's writes go to one writer; busy files to different ones; an idle file lets go of its writer", async () => {
    const jobs: Array<{ fd: number; writer: NativeWriter | undefined }> = [];
    const out: Array<() => void> = [];
    let created = 0;
    const fake: NativeIo = {
      readNowait: () => -95,
      submit: (desc, count, _bufs, done, writer) => {
        jobs.push({ fd: desc[1]!, writer });
        for (let i = 0; i < count; i++) desc[i * PIO_STRIDE + 5] = desc[i * PIO_STRIDE + 3]!;
        out.push(done);
      },
      createWriter: () => ({ id: ++created }) as NativeWriter,
    };
    const id = (w: NativeWriter | undefined) => (w as { id: number } | undefined)?.id;
    const batcher = new IoBatcher(fake, { writers: 2 });
    const write = (fd: number) => batcher.write(fd, Buffer.alloc(8), 0, 8, 0, false, () => {});
    write(5);
    write(6);
    write(7);
    await Promise.resolve();
    // Two writers at most: the third file shares the one serving fewest.
    expect(batcher.writerThreads).toBe(2);
    expect(jobs.map((j) => id(j.writer))).toEqual([1, 2, 1]);
    write(5); // gathers while fd 5's job is out, and leaves on the same writer when it returns
    await Promise.resolve();
    out.shift()!();
    expect(jobs.map((j) => [j.fd, id(j.writer)])).toEqual([
      [5, 1],
      [6, 2],
      [7, 1],
      [5, 1],
    ]);
    while (out.length) out.shift()!();
    // All idle: the next file to write takes the first writer again; no third thread.
    write(8);
    await Promise.resolve();
    expect(id(jobs.at(-1)!.writer)).toBe(1);
    out.shift()!();
    expect(created).toBe(2);
    // Syncs stay in the pool; writers: 0 sends plain writes there too.
    batcher.fdatasync(5, () => {});
    await Promise.resolve();
    expect(jobs.at(-1)!.writer).toBeUndefined();
    out.shift()!();
    const pooled = new IoBatcher(fake, { writers: 0 });
    pooled.write(5, Buffer.alloc(8), 0, 8, 0, false, () => {});
    await Promise.resolve();
    expect(jobs.at(-1)!.writer).toBeUndefined();
    out.shift()!();
    expect(created).toBe(2);
  });
});

describe('FileBackstore on both paths', () => {
  /** The same mixed workload on a native and a fallback backstore over identical files. */
  it('gives the same data: cached and uncached reads, writes, FUA, flush, a file that shrank', async () => {
    const dir = await tmpDir('pio-');
    const size = 4 << 20;
    const image = randomBytes(size / 2); // the second half a hole
    const paths = [join(dir, 'native.img'), join(dir, 'fs.img')];
    for (const p of paths) {
      await writeFile(p, image);
      await truncate(p, size);
    }
    const native = await FileBackstore.open(paths[0]!, { readOnly: false, writeThrough: false });
    const fallback = await FileBackstore.open(paths[1]!, { readOnly: false, writeThrough: false, nativeIo: null });
    onCleanup('close backstores', () => Promise.all([native.close(), fallback.close()]));
    // Rounds of concurrent writes to distinct 64 KiB slots (some FUA), then concurrent reads of
    // any ranges (cached, uncached, straddling both) and a flush: deterministic on either path.
    const rnd = randomBytes(8192);
    let ri = 0;
    const next = (n: number) => {
      const v = rnd.readUInt32LE(ri % 8188);
      ri += 4;
      return v % n;
    };
    const rounds: Array<{ writes: Array<[number, number, number, boolean]>; reads: Array<[number, number]> }> = [];
    for (let r = 0; r < 12; r++) {
      const slots = new Set<number>();
      while (slots.size < 12) slots.add(next(size / 65536));
      const writes = [...slots].map((slot, i): [number, number, number, boolean] => {
        const len = 512 * (1 + next(64));
        return [slot * 65536 + 512 * next((65536 - len) / 512 + 1), len, r * 16 + i, i % 4 === 0];
      });
      const reads = Array.from({ length: 16 }, (): [number, number] => {
        const len = 512 * (1 + next(128));
        return [512 * next((size - len) / 512 + 1), len];
      });
      rounds.push({ writes, reads });
    }
    const run = async (bs: FileBackstore) => {
      const out: Buffer[] = [];
      for (const { writes, reads } of rounds) {
        await Promise.all(
          writes.map(([pos, len, fill, fua]) => new Promise<void>((res, rej) => bs.write(Buffer.alloc(len, fill), 0, len, pos, fua, (e) => (e ? rej(e) : res())))),
        );
        const bufs = reads.map(([, len]) => Buffer.alloc(len + 8, 0xcc));
        await Promise.all([
          ...reads.map(([pos, len], i) => new Promise<void>((res, rej) => bs.read(bufs[i]!, 8, len, pos, (e) => (e ? rej(e) : res())))),
          new Promise<void>((res, rej) => bs.flush((e) => (e ? rej(e) : res()))),
        ]);
        out.push(...bufs);
      }
      return out;
    };
    const [a, b] = await Promise.all([run(native), run(fallback)]);
    expect(a.length).toBe(b.length);
    a.forEach((buf, i) => expect(buf.equals(b[i]!)).toBe(true));
    const [fa, fb] = await Promise.all(paths.map((p) => readFile(p)));
    expect(fa!.equals(fb!)).toBe(true);
    // Settled reads of everything, in 64 KiB pieces, through both paths.
    const readAll = async (bs: FileBackstore) => {
      const buf = Buffer.alloc(size);
      await Promise.all(
        Array.from({ length: size / 65536 }, (_, i) => new Promise<void>((res, rej) => bs.read(buf, i * 65536, 65536, i * 65536, (e) => (e ? rej(e) : res())))),
      );
      return buf;
    };
    const [ra, rb] = await Promise.all([readAll(native), readAll(fallback)]);
    expect(ra.equals(fa!)).toBe(true);
    expect(rb.equals(fa!)).toBe(true);
    // A file that shrank underneath: the tail reads as zeroes on both paths.
    for (const p of paths) await truncate(p, 1 << 20);
    for (const bs of [native, fallback]) {
      const buf = Buffer.alloc(8192, 0xcc);
      await new Promise<void>((res, rej) => bs.read(buf, 0, 8192, (1 << 20) - 4096, (e) => (e ? rej(e) : res())));
      expect(buf.subarray(0, 4096).equals(fa!.subarray((1 << 20) - 4096, 1 << 20))).toBe(true);
      expect(buf.subarray(4096).equals(Buffer.alloc(4096))).toBe(true);
    }
  });

  it('a cached read completes synchronously on the native path', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(65536, 9));
    const bs = await FileBackstore.open(path, { readOnly: true, writeThrough: false });
    onCleanup('close', () => bs.close());
    const buf = Buffer.alloc(4096);
    let called = false;
    bs.read(buf, 0, 4096, 8192, (e) => {
      expect(e).toBeNull();
      called = true;
    });
    expect(called).toBe(true);
    expect(buf.equals(Buffer.alloc(4096, 9))).toBe(true);
  });

  it('a partly cached read finishes in the pool; a file system without NOWAIT is not asked again', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    const data = randomBytes(65536);
    await writeFile(path, data);
    const real = io();
    let mode: 'half' | 'unsupported' = 'half';
    const calls: number[] = [];
    const fake: NativeIo = {
      readNowait: (fd, buf, off, len, pos) => {
        calls.push(len);
        return mode === 'half' ? real.readNowait(fd, buf, off, len >> 1, pos) : -95; // EOPNOTSUPP
      },
      submit: real.submit,
    };
    const bs = await FileBackstore.open(path, { readOnly: true, writeThrough: false, nativeIo: fake });
    onCleanup('close', () => bs.close());
    const read = (pos: number, len: number) =>
      new Promise<Buffer>((res, rej) => {
        const buf = Buffer.alloc(len);
        bs.read(buf, 0, len, pos, (e) => (e ? rej(e) : res(buf)));
      });
    expect((await read(1000, 8192)).equals(data.subarray(1000, 9192))).toBe(true);
    mode = 'unsupported';
    expect((await read(0, 4096)).equals(data.subarray(0, 4096))).toBe(true);
    expect((await read(4096, 4096)).equals(data.subarray(4096, 8192))).toBe(true);
    expect(calls).toEqual([8192, 4096]);
  });

  it('errors reach the backstore callback with their code', async () => {
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(65536, 9));
    for (const nativeIoChoice of [undefined, null]) {
      const bs = await FileBackstore.open(path, { readOnly: true, writeThrough: false, nativeIo: nativeIoChoice });
      const err = await new Promise<NodeJS.ErrnoException | null>((res) => bs.write(Buffer.alloc(512), 0, 512, 0, false, res));
      expect(err?.code).toBe('EBADF');
      await bs.close();
    }
  });

  for (const [name, choice] of [
    ['native', undefined],
    ['fs fallback', null],
  ] as const) {
    it(`${name}: close() while operations are in flight closes the fd only after they returned`, async () => {
      const dir = await tmpDir('pio-');
      const path = join(dir, 'f.img');
      await uncachedFile(path, 8); // nothing cached: the native reads go to the pool too
      const bs = await FileBackstore.open(path, { readOnly: false, writeThrough: false, nativeIo: choice });
      const fd = (bs as unknown as { fd: number }).fd;
      const ops: Promise<NodeJS.ErrnoException | null>[] = [];
      const reads: Buffer[] = [];
      for (let i = 0; i < 64; i++) {
        const buf = Buffer.alloc(4096, 0xcc);
        reads.push(buf);
        ops.push(new Promise((r) => bs.read(buf, 0, 4096, (i + 1024) * 4096, r)));
        ops.push(new Promise((r) => bs.write(Buffer.alloc(4096, i), 0, 4096, i * 4096, i % 2 === 0, r)));
      }
      ops.push(new Promise((r) => bs.flush(r)));
      const t0 = Date.now();
      await bs.close();
      expect(Date.now() - t0).toBeLessThan(50);
      // Checked synchronously: completions need the event loop, an asynchronous readlink would
      // race the last of them.
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(path);
      expect((await Promise.all(ops)).filter((e) => e !== null)).toEqual([]);
      await new Promise((r) => setTimeout(r, 50));
      await expect(readlink(`/proc/self/fd/${fd}`)).rejects.toThrow();
      const file = readFileSync(path);
      for (let i = 0; i < 64; i++) expect(file[i * 4096 + 100]).toBe(i);
      reads.forEach((buf, i) => expect(buf.equals(file.subarray((i + 1024) * 4096, (i + 1025) * 4096))).toBe(true));
    });
  }
});

it('SCSTD_NATIVE_IO=0 keeps the fs path', async () => {
  vi.stubEnv('SCSTD_NATIVE_IO', '0');
  vi.resetModules();
  try {
    const pio = await import('../src/engine/backstore/pio.js');
    expect(pio.nativeIo).toBeNull();
    expect(pio.sharedBatcher).toBeNull();
    expect(pio.nativeIoDescription).toBe('libuv thread pool (SCSTD_NATIVE_IO=0)');
    const { FileBackstore: Fresh } = await import('../src/engine/backstore/file.js');
    const path = join(await tmpDir('pio-'), 'f');
    await writeFile(path, Buffer.alloc(8192, 5));
    const bs = await Fresh.open(path, { readOnly: true, writeThrough: false });
    expect((bs as unknown as { batcher: unknown }).batcher).toBeNull();
    const buf = Buffer.alloc(4096);
    let sync = true;
    const done = new Promise<NodeJS.ErrnoException | null>((r) => bs.read(buf, 0, 4096, 0, (e) => r(sync ? new Error('synchronous') : e)));
    sync = false;
    expect(await done).toBeNull();
    expect(buf.equals(Buffer.alloc(4096, 5))).toBe(true);
    await bs.close();
  } finally {
    vi.unstubAllEnvs();
    vi.resetModules();
  }
});

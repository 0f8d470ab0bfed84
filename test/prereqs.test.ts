import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// The test command's prerequisite check (test/prereqs.mjs), as a reader of the README meets it.
const run = promisify(execFile);
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'prereqs.mjs');

async function check(path: string): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(process.execPath, [SCRIPT], { env: { PATH: path }, timeout: 10_000 });
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stderr: x.stderr ?? '' };
  }
}

describe('test prerequisites', () => {
  let empty = '';
  afterAll(async () => {
    if (empty) await rm(empty, { recursive: true, force: true });
  });

  it('without the tools on PATH: exit 1 and one line naming what is missing and what to install', async () => {
    empty = await mkdtemp(join(os.tmpdir(), 'prereqs-'));
    const r = await check(empty);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^scst-usermode tests: missing iscsi-ls, .*qemu-io, .*tgtd, .*fusermount/);
    expect(lines[0]).toMatch(/apt-get install -y libiscsi-bin qemu-utils tgt fuse prometheus etcd-server ceph-mon ceph-osd ceph-mgr ceph-common/);
  });

  it('with the machine PATH (where the tests run): nothing missing', async () => {
    const r = await check(process.env.PATH ?? '');
    expect(r).toEqual({ code: 0, stderr: '' });
  });
});

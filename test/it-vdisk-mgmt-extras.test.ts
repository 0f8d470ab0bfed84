// Issue 15, smaller items: del_device through any vdisk handler's mgmt (scst_vdisk.c looks the name
// up in the one list all vdisk devices share), no handlers/scst_user without the user-handler
// socket, and lb_per_pb_exp accepted for vdisk_blockio in scst.conf (an attribute of fileio and
// blockio in SCST, which scstadmin writes after add_device), and devices/<dev>/block holding the
// device's commands until it is unblocked (scst_dev_block_store / scst_ext_block_dev).
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { installHarnessHooks } from './helpers/cleanup.js';
import { sparseFile, tmpDir } from './helpers/files.js';
import { startScstd, type ScstdHandle } from './helpers/scstd.js';
import { qemuIoSession } from './helpers/initiators.js';

installHarnessHooks();

const MiB = 1024 * 1024;

describe('vdisk handlers share one device list; scst_user only with its socket', () => {
  let d: ScstdHandle;
  let root = '';
  beforeAll(async () => {
    const dir = await tmpDir();
    const mnt = join(dir, 'mnt');
    const img = await sparseFile(join(dir, 'f.img'), 16 * MiB);
    const bimg = await sparseFile(join(dir, 'b.img'), 16 * MiB);
    d = await startScstd({
      config: `HANDLER vdisk_fileio {\n\tDEVICE f1 {\n\t\tfilename ${img}\n\t}\n}\n\nHANDLER vdisk_blockio {\n\tDEVICE b1 {\n\t\tfilename ${bimg}\n\t\tlb_per_pb_exp 0\n\t}\n}\n\nHANDLER vdisk_nullio {\n\tDEVICE n1 {\n\t}\n}\n\nHANDLER vcdrom {\n\tDEVICE c1 {\n\t}\n}\n`,
      extraArgs: ['--mount', mnt, '--no-user-socket'],
    });
    root = join(mnt, 'sys/kernel/scst_tgt');
  }, 60_000);

  it('handlers/ has no scst_user when the daemon runs with --no-user-socket', async () => {
    const handlers = await readdir(join(root, 'handlers'));
    expect(handlers).toEqual(expect.arrayContaining(['vcdrom', 'vdisk_blockio', 'vdisk_fileio', 'vdisk_nullio']));
    expect(handlers).not.toContain('scst_user');
  });

  it('scst.conf sets lb_per_pb_exp on a blockio device', async () => {
    expect(await readFile(join(root, 'devices/b1/lb_per_pb_exp'), 'utf8')).toBe('0\n[key]\n');
    expect(d.exited()).toBe(false);
  });

  it('del_device through another vdisk handler deletes the device', async () => {
    await writeFile(join(root, 'handlers/vdisk_fileio/mgmt'), 'del_device n1');
    await writeFile(join(root, 'handlers/vdisk_nullio/mgmt'), 'del_device c1');
    await writeFile(join(root, 'handlers/vcdrom/mgmt'), 'del_device b1');
    expect((await readdir(join(root, 'devices'))).sort()).toEqual(['f1']);
    await expect(writeFile(join(root, 'handlers/vdisk_blockio/mgmt'), 'del_device nosuch')).rejects.toThrow(/EINVAL/);
    await writeFile(join(root, 'handlers/vdisk_blockio/mgmt'), 'del_device f1');
    expect(await readdir(join(root, 'devices'))).toEqual([]);
  });
});

describe('with the user-handler socket', () => {
  it('handlers/scst_user is listed', async () => {
    const mnt = join(await tmpDir(), 'mnt');
    await startScstd({ config: '# empty\n', extraArgs: ['--mount', mnt] });
    expect(await readdir(join(mnt, 'sys/kernel/scst_tgt/handlers'))).toContain('scst_user');
  }, 60_000);
});

describe('devices/<dev>/block', () => {
  it('holds commands while blocked, reads back the count, and runs them on unblock', async () => {
    const dir = await tmpDir();
    const mnt = join(dir, 'mnt');
    const img = await sparseFile(join(dir, 'f.img'), 16 * MiB);
    const T = 'iqn.2026-11.test:block';
    const d = await startScstd({
      config: `HANDLER vdisk_fileio {\n\tDEVICE f1 {\n\t\tfilename ${img}\n\t}\n}\n\nTARGET_DRIVER iscsi {\n\tenabled 1\n\tTARGET ${T} {\n\t\tenabled 1\n\t\tLUN 0 f1\n\t}\n}\n`,
      extraArgs: ['--mount', mnt],
    });
    const f = join(mnt, 'sys/kernel/scst_tgt/devices/f1/block');
    expect(await readFile(f, 'utf8')).toBe('0 0\n');
    const s = await qemuIoSession({ port: d.ports[0]!, target: T, lun: 0 });
    try {
      await s.exec('read 0 4096', /read 4096\/4096 bytes/, 20_000);
      await writeFile(f, '1');
      await writeFile(f, '1 1 cookie');
      expect(await readFile(f, 'utf8')).toBe('2 0\n');
      let done = false;
      const read = s.exec('read 4096 4096', /read 4096\/4096 bytes/, 30_000).then((out) => {
        done = true;
        return out;
      });
      // Held: nothing comes back while the device is blocked (a second of silence, not a timing claim).
      await new Promise((r) => setTimeout(r, 1000));
      expect(done).toBe(false);
      await writeFile(f, '0');
      expect(await readFile(f, 'utf8')).toBe('1 0\n');
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false);
      await writeFile(f, '0');
      expect(await read).toMatch(/read 4096\/4096 bytes/);
      expect(await readFile(f, 'utf8')).toBe('0 0\n');
      // Unblocking an unblocked device changes nothing; garbage is refused.
      await writeFile(f, '0');
      expect(await readFile(f, 'utf8')).toBe('0 0\n');
      await expect(writeFile(f, '2')).rejects.toThrow(/EINVAL/);
    } finally {
      await s.close();
    }
  }, 90_000);
});

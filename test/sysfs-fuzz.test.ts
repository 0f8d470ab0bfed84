// Hostile input on every writable file of the sysfs tree: whatever the bytes, a write ends with
// a byte count or a refusal errno, never an internal error (EIO) or an exception, and the tree
// stays readable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { createTrees } from '../src/pde-fuse/index.js';
import { readWholeTree, writableFiles } from './helpers/tree-walk.js';

const R = '/sys/kernel/scst_tgt';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sysfs-fuzz-'));
  writeFileSync(join(dir, 'f'), '');
  truncateSync(join(dir, 'f'), 1 << 20);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hostile writes', () => {
  it('never end in an internal error', async () => {
    const log = pino({ level: 'silent' });
    const scst = new Scst(log);
    const fs = createTrees(scst, new IscsiDriver(scst, log), log);
    const setup: Array<[string, string]> = [
      ['handlers/vdisk_fileio/mgmt', `add_device d1 filename=${dir}/f`],
      ['handlers/vdisk_nullio/mgmt', 'add_device n1'],
      ['handlers/vcdrom/mgmt', 'add_device c1'],
      ['targets/iscsi/mgmt', 'add_target iqn.x:t'],
      ['targets/iscsi/iqn.x:t/luns/mgmt', 'add d1 0'],
      ['targets/iscsi/iqn.x:t/ini_groups/mgmt', 'create g'],
      ['targets/iscsi/iqn.x:t/ini_groups/g/initiators/mgmt', 'add iqn.i:1'],
      ['targets/iscsi/mgmt', 'add_target_attribute iqn.x:t IncomingUser joe 12charsecret'],
      ['device_groups/mgmt', 'create dg'],
      ['device_groups/dg/target_groups/mgmt', 'create tg'],
      ['device_groups/dg/target_groups/tg/mgmt', 'add remote'],
    ];
    for (const [p, c] of setup) expect(await fs.writePath(`${R}/${p}`, c), c).toBeGreaterThan(0);
    const files = writableFiles(fs, R);
    const word = fc.oneof(
      fc.constantFrom('add', 'del', 'create', 'add_device', 'del_device', 'add_target', 'del_target', 'replace', 'replace_no_ua', 'clear', 'move', 'add_attribute', 'add_target_attribute', 'del_target_attribute', 'value', 'all', 'none', 'IncomingUser', 'OutgoingUser', 'allowed_portal'),
      fc.constantFrom('d1', 'n1', 'c1', 'iqn.x:t', 'g', 'dg', 'tg', 'remote', 'iqn.i:1', `${dir}/f`, '12charsecret', 'joe'),
      fc.constantFrom('filename', 'size', 'size_mb', 'blocksize', 'read_only', 'nv_cache', 'tst', 'active', 'dummy', ':default:', 'Yes', 'No', 'CRC32C', 'standby'),
      fc.constantFrom('0', '1', '-1', '0x10', '010', '16383', '16384', '4096', '65536', '18446744073709551616', '9999999999999999999999'),
      fc.constantFrom('=', ';', '\n', ' ', '\t', ';;', '\0', '|', '*'),
      fc.string({ maxLength: 12 }),
    );
    const command = fc.array(word, { maxLength: 10 }).map((ws) => ws.join(' '));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...files), fc.oneof(command, fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1'))), async (path, cmd) => {
        const r = await fs.writePath(path, Buffer.from(cmd, 'latin1'));
        expect(typeof r).toBe('number');
        expect(r, `${path}: ${JSON.stringify(cmd)}`).not.toBe(-5);
      }),
      { numRuns: 1500, seed: 20261105 },
    );
    readWholeTree(fs, R);
  }, 120_000);
});

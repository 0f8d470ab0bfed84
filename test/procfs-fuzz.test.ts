// Hostile input on every writable file of the procfs tree (as sysfs-fuzz does for sysfs): whatever the bytes, a write ends with
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

const R = '/proc/scsi_tgt';
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'procfs-fuzz-'));
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
      ['vdisk/vdisk', `open d1 ${dir}/f`],
      ['vdisk/vdisk', 'open n1 /dev/zero 512 NULLIO'],
      ['vcdrom/vcdrom', 'open c1'],
      ['scsi_tgt', 'add_group g1'],
      ['groups/g1/devices', 'add d1 0'],
      ['groups/g1/names', 'add iqn.i:1'],
    ];
    for (const [p, c] of setup) expect(await fs.writePath(`${R}/${p}`, c), c).toBeGreaterThan(0);
    const files = writableFiles(fs, R);
    const word = fc.oneof(
      fc.constantFrom('add', 'del', 'add_group', 'del_group', 'rename_group', 'assign', 'replace', 'clear', 'move', 'open', 'close', 'change', 'resync_size', 'set_t10_dev_id', 'all', 'none', 'value'),
      fc.constantFrom('d1', 'n1', 'c1', 'g1', 'Default', 'iqn.i:1', `${dir}/f`, '/dev/zero', 'NULLIO', 'NV_CACHE', 'READ_ONLY', 'BLOCKIO', 'WRITE_THROUGH', 'O_DIRECT', 'REMOVABLE'),
      fc.constantFrom('0', '1', '-1', '0x10', '010', '255', '16383', '16384', '512', '4096', '65536', '18446744073709551616', '9999999999999999999999'),
      fc.constantFrom('=', ';', '\n', ' ', '\t', ';;', '\0', '|', '*', '0x', '+'),
      fc.string({ maxLength: 12 }),
    );
    const command = fc.array(word, { maxLength: 10 }).map((ws) => ws.join(' '));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...files), fc.oneof(command, fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1'))), async (path, cmd) => {
        const r = await fs.writePath(path, Buffer.from(cmd, 'latin1'));
        expect(typeof r).toBe('number');
        expect(r, `${path}: ${JSON.stringify(cmd)}`).not.toBe(-5);
      }),
      { numRuns: 1500, seed: 20261121 },
    );
    readWholeTree(fs, R);
  }, 120_000);
});

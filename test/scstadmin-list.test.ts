// The -list_* family and -write_config against golden files typed from scstadmin.md (§5, §8.3),
// on an in-memory tree holding the reference's synthetic live state.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceFake, runAdmin } from './helpers/scstadmin/run.js';
import { tmpDir } from './helpers/files.js';

const GOLDEN = join(import.meta.dirname, 'golden', 'scstadmin');
const golden = (name: string) => readFile(join(GOLDEN, name), 'utf8');
const TGT = 'iqn.2006-10.net.vlnb:tgt';

const CASES: Array<[string, string[], number]> = [
  ['list_handler.txt', ['-list_handler'], 0],
  ['list_device.txt', ['-list_device'], 0],
  ['list_handler_vdisk_fileio.txt', ['-list_handler', 'vdisk_fileio'], 0],
  ['list_dev_attr_disk2.txt', ['-list_dev_attr', 'disk2'], 0],
  ['list_dev_attr_disk2.txt', ['-list_device', 'disk2'], 0],
  ['list_driver.txt', ['-list_driver'], 0],
  ['list_driver_iscsi.txt', ['-list_driver', 'iscsi'], 0],
  ['list_target.txt', ['-list_target'], 0],
  ['list_target.txt', ['-list_target', TGT], 0],
  ['list_target_tgt.txt', ['-list_target', TGT, '-driver', 'iscsi'], 0],
  ['list_group_HOST1.txt', ['-list_group', 'HOST1', '-driver', 'iscsi', '-target', TGT], 0],
  ['list_dgrp.txt', ['-list_dgrp'], 0],
  ['list_dgrp_dg1.txt', ['-list_dgrp', 'dg1'], 0],
  ['list_tgrp.txt', ['-list_tgrp', '-dev_group', 'dg1'], 0],
  ['list_tgrp_tgA.txt', ['-list_tgrp', 'tgA', '-dev_group', 'dg1'], 0],
  ['list_tgrp_attr_tgB.txt', ['-list_tgrp_attr', 'tgB', '-dev_group', 'dg1'], 0],
  ['list_dgrp_attr_dg1.txt', ['-list_dgrp_attr', 'dg1'], 0],
  ['list_sessions.txt', ['-list_sessions'], 0],
];

describe('listings match the reference byte for byte', () => {
  for (const [file, argv, code] of CASES) {
    it(`${argv.join(' ')} → ${file}`, async () => {
      const fake = await referenceFake();
      const r = await runAdmin(fake, argv);
      expect(r.err).toBe('');
      expect(r.out).toBe(await golden(file));
      expect(r.code).toBe(code);
      expect(fake.fs.writes).toEqual([]);
    });
  }

  it('-list_cluster_nodes (ours) on a tree without cluster/ says so and fails', async () => {
    const fake = await referenceFake();
    const r = await runAdmin(fake, ['-list_cluster_nodes']);
    expect(r.out).toContain('\nThis SCST is not part of a cluster (scstd runs without --cluster).\n');
    expect(r.code).toBe(1);
    expect(fake.fs.writes).toEqual([]);
  });

  it('-write_config writes §8.3 exactly', async () => {
    const fake = await referenceFake();
    const file = join(await tmpDir('scstadmin-'), 'out.conf');
    const r = await runAdmin(fake, ['-write_config', file]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`\nCollecting current configuration: done.\n\nWriting current configuration to file '${file}'.. \nAll done.\n`);
    expect(await readFile(file, 'utf8')).toBe(await golden('write_config.conf'));
  });
});

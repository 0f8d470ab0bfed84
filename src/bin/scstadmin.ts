#!/usr/bin/env node
import fs from 'node:fs/promises';
import { parseScstConf } from '../scstadmin/conf/parse.js';
import { ConfigError } from '../scstadmin/conf/config-error.js';

// The scstadmin command line. So far it checks configuration files with the same parser scstd
// uses; the options that administer a live tree (issue 6) are refused with a clear message.

const USAGE = `Usage: scstadmin -check_config <file>
       scstadmin -help | -version
`;

async function main(argv: string[]): Promise<number> {
  const opt = (argv[0] ?? '').replace(/^--?/, '').toLowerCase();
  if (opt === '' || 'help'.startsWith(opt) && opt.length >= 1) {
    process.stdout.write(USAGE);
    return argv.length === 0 ? 1 : 0;
  }
  if ('version'.startsWith(opt) && opt.length >= 2) {
    process.stdout.write('scstadmin (scst-usermode) 0.1.0\n');
    return 0;
  }
  if ('check_config'.startsWith(opt) && opt.length >= 2) {
    const file = argv[1];
    if (!file) {
      process.stderr.write('-check_config requires a file name\n');
      return 1;
    }
    try {
      const cfg = parseScstConf(await fs.readFile(file, 'utf8'), file);
      for (const w of cfg.warnings ?? []) process.stdout.write(`WARNING: ${w}\n`);
      process.stdout.write('Configuration checked successfully.\n');
      return 0;
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`${e.describe()}\n`);
        return 1;
      }
      process.stderr.write(`${(e as Error).message}\n`);
      return 1;
    }
  }
  process.stderr.write(`scstadmin: option '${argv[0]}' is not available in this version yet\n${USAGE}`);
  return 1;
}

main(process.argv.slice(2)).then((c) => (process.exitCode = c));

// Reading a configuration file for -config / -check_config: scst.conf (modern or the obsolete
// procfs format, converted) or YAML, chosen by the file name's extension.

import { readFile } from 'node:fs/promises';
import { ConfigError } from '../../conf/config-error.js';
import type { ScstConfig } from '../../conf/model.js';
import { parseScstConf } from '../../conf/parse.js';
import { convertProcfsConf, procfsFormatLine, type ProcfsLiveState } from '../../conf/procfs.js';
import { parseScstYaml } from '../../conf/yaml.js';
import { strerror } from '../sysfs/attrs.js';

export type ConfigFormat = 'conf' | 'yaml';

export function formatOf(file: string): ConfigFormat {
  return /\.ya?ml$/i.test(file) ? 'yaml' : 'conf';
}

export type LoadResult =
  | { ok: true; config: ScstConfig; deprecated: boolean }
  | { ok: false; unreadable: string }
  | { ok: false; error: ConfigError };

/** Reads and parses; never throws for bad content (ConfigError is returned). */
export async function loadConfigFile(file: string, live: ProcfsLiveState | undefined): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { ok: false, unreadable: strerror(e) };
  }
  try {
    if (formatOf(file) === 'yaml') return { ok: true, config: parseScstYaml(text, file), deprecated: false };
    if (procfsFormatLine(text) !== undefined) return { ok: true, config: convertProcfsConf(text, file, live), deprecated: true };
    return { ok: true, config: parseScstConf(text, file), deprecated: false };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: e };
    return { ok: false, error: new ConfigError(file, 1, `cannot be read as a configuration: ${e instanceof Error ? e.message : String(e)}`) };
  }
}

// The configuration room, shared by scstd and scstadmin: scst.conf reading and writing (scstadmin.md
// §6, §8) and YAML (yaml.ts), the procfs-era scst.conf (procfs.ts) and iscsi-scstd.conf
// (iscsi-scstd-conf.ts), and applying a parsed config to a running engine (apply.ts, scstd only).

export { ConfigError } from './config-error.js';
export type {
  Attrs,
  DeviceConf,
  DeviceGroupConf,
  DriverConf,
  GroupConf,
  HandlerConf,
  LunConf,
  ScstConfig,
  TargetConf,
  TargetGroupConf,
  TargetGroupTargetConf,
} from './model.js';
export { MAX_LUN } from './model.js';
export { parseScstConf, PROCFS_FORMAT_MESSAGE } from './parse.js';
export { compareBytes, DEFAULT_HEADER, escapeConfValue, writeScstConf, type WriteOptions } from './write.js';
export {
  convertProcfsConf,
  procfsFormatLine,
  SCSTD_LIVE_STATE,
  type ProcfsLiveDriver,
  type ProcfsLiveState,
} from './procfs.js';

import type { Logger } from 'pino';
import type { IscsiDriver } from '../../engine/iscsi/portal.js';
import type { ScstMgmt } from '../../engine/mgmt.js';
import type { Scst } from '../../engine/scst.js';
import { SCST_VERSION } from '../../engine/scst.js';
import { CORE_DEFAULT, CORE_TOKENS, ISCSI_DEFAULT, ISCSI_TOKENS, TraceLevel, VDISK_DEFAULT, VDISK_TOKENS } from './trace.js';

/** What the build "was compiled with": visible in version, help and the trace_level files. */
export interface ProcfsBuild {
  /** First line of version (and iscsi/version). */
  version: string;
  /** Build-option lines of version, in SCST's fixed order. */
  options: string[];
  /** Whether trace_level files exist (a tracing build); also selects the long help text. */
  tracing: boolean;
}

/** scstadmin needs MAJOR.MINOR.RELEASE >= 2.0.0; procfs builds end their version in -procfs. */
export const DEFAULT_BUILD: ProcfsBuild = {
  version: `${SCST_VERSION.split('-')[0]}-procfs`,
  options: ['TRACING'],
  tracing: true,
};

export interface ProcfsContext {
  scst: Scst;
  mgmt: ScstMgmt;
  /** The iSCSI target driver; without it there is no iscsi/ directory. */
  iscsi: IscsiDriver | null;
  log: Logger;
  build: ProcfsBuild;
  trace: { core: TraceLevel; vdisk: TraceLevel; iscsi: TraceLevel };
}

export function makeContext(scst: Scst, mgmt: ScstMgmt, iscsi: IscsiDriver | null, log: Logger, build: Partial<ProcfsBuild> = {}): ProcfsContext {
  return {
    scst,
    mgmt,
    iscsi,
    log,
    build: { ...DEFAULT_BUILD, ...build },
    trace: {
      core: new TraceLevel('scsi_tgt', CORE_TOKENS, CORE_DEFAULT),
      vdisk: new TraceLevel('vdisk', VDISK_TOKENS, VDISK_DEFAULT),
      iscsi: new TraceLevel('iscsi', ISCSI_TOKENS, ISCSI_DEFAULT),
    },
  };
}

import type { Logger } from 'pino';
import type { ScsiCmd } from './cmd.js';
import type { Device } from './device.js';
import type { ScstSession } from './session.js';
import type { TgtDev } from './tgtdev.js';
import { Sense } from './scsi/constants.js';
import { resetLogicalUnit } from './scsi/spc.js';
import { releaseSpc2ReservationOf } from './scsi/reserve.js';

// SCSI task management (SAM-5 §7, SPC-4 for what a reset clears), for every target driver: which
// tasks each function ends, what the other I_T nexuses are told, and the service response once
// the affected tasks are really gone. A driver translates its fabric's request into one call here
// and the answer into its fabric's response; fabric rules (iSCSI's CmdSN window, referenced-task
// checks, response codes) stay in the driver. Each aborted command ends exactly once, through its
// session's transport (SessionTransport.abortCommand / abortDeviceTasks), which sends no status
// for it.

/** Task management functions (SAM-5 §7.1). */
export type TmFunction =
  | 'ABORT TASK'
  | 'ABORT TASK SET'
  | 'CLEAR ACA'
  | 'CLEAR TASK SET'
  | 'I_T NEXUS RESET'
  | 'LOGICAL UNIT RESET'
  | 'QUERY TASK'
  | 'QUERY TASK SET'
  | 'QUERY ASYNCHRONOUS EVENT'
  | 'TARGET WARM RESET'
  | 'TARGET COLD RESET';

/**
 * Service responses (SAM-5 §7.12), plus TASK DOES NOT EXIST (an ABORT TASK whose task is not in
 * the task set: FUNCTION COMPLETE to SAM, a code of its own to iSCSI and to LIO/SCST) and NOT
 * SUPPORTED (a function this target does not implement).
 */
export type TmResponse = 'FUNCTION COMPLETE' | 'FUNCTION SUCCEEDED' | 'FUNCTION REJECTED' | 'INCORRECT LOGICAL UNIT NUMBER' | 'TASK DOES NOT EXIST' | 'NOT SUPPORTED';

export interface TmRequest {
  fn: TmFunction;
  /** The logical unit (ignored by the I_T nexus and target functions and by ABORT TASK). */
  lun: number;
  /** ABORT TASK, QUERY TASK: the referenced task, as the driver found it in this session (null: none). */
  task?: ScsiCmd | null;
}

export interface TmOptions {
  log: Logger;
  /** How long to wait for the affected commands to leave their devices before answering anyway. */
  boundMs: number;
}

/** Functions that name a logical unit which must exist in the session's view. */
const NEEDS_LUN: ReadonlySet<TmFunction> = new Set<TmFunction>(['ABORT TASK SET', 'CLEAR TASK SET', 'LOGICAL UNIT RESET', 'QUERY TASK SET', 'QUERY ASYNCHRONOUS EVENT']);

/**
 * Perform task management function `req` for I_T nexus `s`. Resolves with the service response
 * once the tasks it ends are gone (or the bound passed, which is logged). A TARGET COLD RESET
 * closes the target's sessions right after the caller has had the chance to send its response.
 */
export async function taskManagement(s: ScstSession, req: TmRequest, o: TmOptions): Promise<TmResponse> {
  const td = s.tgtDevs.get(req.lun);
  if (NEEDS_LUN.has(req.fn) && !td) return 'INCORRECT LOGICAL UNIT NUMBER';
  const log = o.log;
  const finish = async (waits: Promise<unknown>[], response: TmResponse = 'FUNCTION COMPLETE'): Promise<TmResponse> => {
    if (await boundedAll(waits, o.boundMs)) log.error({ fn: req.fn }, 'task management: affected commands did not finish in time');
    return response;
  };
  switch (req.fn) {
    case 'ABORT TASK': {
      const cmd = req.task;
      if (!cmd || cmd.session !== s) return 'TASK DOES NOT EXIST';
      log.info({ itt: cmd.tag }, 'ABORT TASK');
      return finish([s.transport.abortCommand(cmd)]);
    }
    case 'ABORT TASK SET':
      log.info({ lun: req.lun }, 'ABORT TASK SET');
      return finish([s.transport.abortDeviceTasks(td!.device)]);
    case 'CLEAR TASK SET':
      log.info({ lun: req.lun }, 'CLEAR TASK SET');
      return finish(abortEverywhere(td!.device, (other) => other.queueUA(Sense.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR), td!));
    case 'LOGICAL UNIT RESET': {
      const dev = td!.device;
      log.info({ lun: req.lun, device: dev.name }, 'LOGICAL UNIT RESET');
      const waits: Promise<unknown>[] = abortEverywhere(dev, () => {}, null);
      waits.push(resetLogicalUnit(dev));
      dev.queueUA(Sense.DEVICE_RESET);
      // A logical unit several nodes serve is reset for their nexuses too (cluster_mode).
      if (dev.reservations.logicalUnitReset) waits.push(dev.reservations.logicalUnitReset(dev).catch(() => undefined));
      return finish(waits);
    }
    case 'I_T NEXUS RESET': {
      // SAM-5 §7.6: this nexus's tasks end and it is told I_T NEXUS LOSS OCCURRED on each LU;
      // what the nexus held goes with it (SPC-2 reservation, medium removal prevention), while
      // persistent reservation registrations survive (SPC-4 5.13.6).
      log.info({ initiator: s.initiatorName, target: s.target.name }, 'I_T NEXUS RESET');
      const wait = s.transport.abortDeviceTasks(null);
      const releases: Promise<void>[] = [];
      for (const x of s.tgtDevs.values()) {
        releases.push(releaseSpc2ReservationOf(x.device, x));
        x.device.preventers.delete(x);
        x.queueUA(Sense.I_T_NEXUS_LOSS);
      }
      return finish([wait, ...releases]);
    }
    case 'TARGET WARM RESET':
    case 'TARGET COLD RESET': {
      const cold = req.fn === 'TARGET COLD RESET';
      const target = s.target;
      log.info({ target: target.name }, req.fn);
      const devices = new Set<Device>();
      for (const x of target.sessions) for (const t of x.tgtDevs.values()) devices.add(t.device);
      const waits: Promise<unknown>[] = [...target.sessions].map((x) => x.transport.abortDeviceTasks(null));
      for (const d of devices) {
        waits.push(resetLogicalUnit(d));
        d.queueUA(Sense.POWER_ON_RESET);
      }
      await boundedAll(waits, o.boundMs);
      // The caller answers in a continuation of this promise; the sessions go after that.
      if (cold) for (const x of [...target.sessions]) setImmediate(() => x.transport.forceClose('target cold reset'));
      return 'FUNCTION COMPLETE';
    }
    case 'QUERY TASK': {
      const cmd = req.task;
      return cmd && cmd.session === s && !cmd.isDone && !cmd.aborted ? 'FUNCTION SUCCEEDED' : 'FUNCTION COMPLETE';
    }
    case 'QUERY TASK SET': {
      for (const c of s.cmds.values()) if (c.tgtDev === td && !c.isDone && !c.aborted) return 'FUNCTION SUCCEEDED';
      return 'FUNCTION COMPLETE';
    }
    case 'QUERY ASYNCHRONOUS EVENT':
      // A pending unit attention is the asynchronous event this target reports.
      return td!.hasUA ? 'FUNCTION SUCCEEDED' : 'FUNCTION COMPLETE';
    case 'CLEAR ACA':
      // NACA is not supported (standard INQUIRY NormACA 0), so there is never an ACA to clear.
      return 'NOT SUPPORTED';
    default:
      return 'NOT SUPPORTED';
  }
}

/** Abort every session's tasks on `dev`; `notify` is called for each other nexus of the device. */
function abortEverywhere(dev: Device, notify: (td: TgtDev) => void, self: TgtDev | null): Promise<void>[] {
  const sessions = new Set([...dev.tgtDevs].map((t) => t.session));
  for (const t of dev.tgtDevs) if (t !== self) notify(t);
  return [...sessions].map((s) => s.transport.abortDeviceTasks(dev));
}

/** Resolves after all promises settle or `ms` elapse; the result says whether it timed out. */
export function boundedAll(ps: Promise<unknown>[], ms: number): Promise<boolean> {
  if (ps.length === 0) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(true), ms);
    void Promise.allSettled(ps).then(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

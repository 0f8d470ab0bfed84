import { Sense } from '../scsi/constants.js';
import type { Device } from '../device.js';
import type { IscsiConnection } from './connection.js';
import { boundedAll } from './connection.js';
import { RejectReason, TmfFunction, TmfResponse } from './constants.js';
import type { TaskMgmt } from './pdu.js';
import { snLt } from './serial.js';
import { resetLogicalUnit } from '../scsi/spc.js';

// Task management functions (RFC 7143 §11.5, SAM-5 §7): which tasks each one ends, what the
// other nexuses are told, and the response once the affected tasks are really gone.

export function taskManagement(conn: IscsiConnection, req: TaskMgmt, bhs: Buffer): void {
  const sess = conn.session!;
  const scst = sess.scst;
  if (!scst) {
    conn.sendTmfResponse(req.itt, TmfResponse.FUNCTION_REJECTED);
    return;
  }
  const log = conn.log;
  const bound = conn.ctx.teardownTimeoutMs;
  const finish = (response: number, waits: Promise<unknown>[]) => {
    void boundedAll(waits, bound).then((timedOut) => {
      if (timedOut) log.error({ fn: req.function }, 'task management: affected commands did not finish in time');
      conn.sendTmfResponse(req.itt, response);
    });
  };
  const td = scst.tgtDevs.get(req.lun);
  const lunRequired = [TmfFunction.ABORT_TASK, TmfFunction.ABORT_TASK_SET, TmfFunction.CLEAR_TASK_SET, TmfFunction.LOGICAL_UNIT_RESET] as number[];
  if (lunRequired.includes(req.function) && !td && req.function !== TmfFunction.ABORT_TASK) {
    return conn.sendTmfResponse(req.itt, TmfResponse.LUN_DOES_NOT_EXIST);
  }
  switch (req.function) {
    case TmfFunction.ABORT_TASK: {
      const task = conn.tasks.get(req.referencedTaskTag);
      if (!task) {
        // Received and already answered: nothing left to abort. Not received yet but inside the
        // window and before this request: it counts as received, and aborted (RFC 7143 11.5.1).
        const pending = conn.abortBeforeArrival(req.refCmdSN, req.referencedTaskTag, req.cmdSN);
        return conn.sendTmfResponse(req.itt, pending ? TmfResponse.FUNCTION_COMPLETE : TmfResponse.TASK_DOES_NOT_EXIST);
      }
      log.info({ itt: req.referencedTaskTag }, 'ABORT TASK');
      return finish(TmfResponse.FUNCTION_COMPLETE, [conn.abortTask(task)]);
    }
    case TmfFunction.ABORT_TASK_SET: {
      log.info({ lun: req.lun }, 'ABORT TASK SET');
      return finish(TmfResponse.FUNCTION_COMPLETE, [scst.transport.abortDeviceTasks(td!.device)]);
    }
    case TmfFunction.CLEAR_TASK_SET: {
      log.info({ lun: req.lun }, 'CLEAR TASK SET');
      return finish(TmfResponse.FUNCTION_COMPLETE, abortEverywhere(td!.device, (other) => other.queueUA(Sense.COMMANDS_CLEARED_BY_ANOTHER_INITIATOR), td!));
    }
    case TmfFunction.LOGICAL_UNIT_RESET: {
      log.info({ lun: req.lun, device: td!.device.name }, 'LOGICAL UNIT RESET');
      const dev = td!.device;
      const waits = abortEverywhere(dev, () => {}, null);
      resetDevice(dev);
      dev.queueUA(Sense.DEVICE_RESET);
      return finish(TmfResponse.FUNCTION_COMPLETE, waits);
    }
    case TmfFunction.TARGET_WARM_RESET:
    case TmfFunction.TARGET_COLD_RESET: {
      const cold = req.function === TmfFunction.TARGET_COLD_RESET;
      const target = sess.target!;
      log.info({ target: target.name }, cold ? 'TARGET COLD RESET' : 'TARGET WARM RESET');
      const devices = new Set<Device>();
      for (const s of target.sessions) for (const x of s.tgtDevs.values()) devices.add(x.device);
      const waits = [...target.sessions].map((s) => s.transport.abortDeviceTasks(null));
      for (const d of devices) {
        resetDevice(d);
        d.queueUA(Sense.POWER_ON_RESET);
      }
      void boundedAll(waits, bound).then(() => {
        conn.sendTmfResponse(req.itt, TmfResponse.FUNCTION_COMPLETE);
        if (cold) for (const s of [...target.sessions]) setImmediate(() => s.transport.forceClose('target cold reset'));
      });
      return;
    }
    case TmfFunction.TASK_REASSIGN:
      return conn.sendTmfResponse(req.itt, TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED);
    case TmfFunction.CLEAR_ACA:
      return conn.sendTmfResponse(req.itt, TmfResponse.TMF_NOT_SUPPORTED);
    default:
      void bhs;
      void RejectReason;
      return conn.sendTmfResponse(req.itt, TmfResponse.TMF_NOT_SUPPORTED);
  }
}

/** Abort every session's tasks on `dev`; `notify` is called for each other nexus of the device. */
function abortEverywhere(dev: Device, notify: (td: import('../tgtdev.js').TgtDev) => void, self: import('../tgtdev.js').TgtDev | null): Promise<void>[] {
  const sessions = new Set([...dev.tgtDevs].map((t) => t.session));
  for (const t of dev.tgtDevs) if (t !== self) notify(t);
  return [...sessions].map((s) => s.transport.abortDeviceTasks(dev));
}

/** What a reset clears in the logical unit's state (persistent reservations survive it). */
function resetDevice(dev: Device): void {
  resetLogicalUnit(dev);
}

import type { IscsiConnection } from './connection.js';
import { TmfFunction, TmfResponse } from './constants.js';
import type { TaskMgmt } from './pdu.js';
import { taskManagement as coreTaskManagement, type TmFunction, type TmResponse } from '../tmf.js';

// The Task Management Function Request PDU (RFC 7143 §11.5) translated into the core's task
// management (engine/tmf.ts), and the core's service response into the Response PDU's code
// (§11.6.1). What is iSCSI's own stays here: the referenced task is looked up by its ITT on this
// connection, and an ABORT TASK for a command not received yet is judged by its CmdSN.

const FUNCTIONS: Readonly<Record<number, TmFunction>> = {
  [TmfFunction.ABORT_TASK]: 'ABORT TASK',
  [TmfFunction.ABORT_TASK_SET]: 'ABORT TASK SET',
  [TmfFunction.CLEAR_ACA]: 'CLEAR ACA',
  [TmfFunction.CLEAR_TASK_SET]: 'CLEAR TASK SET',
  [TmfFunction.LOGICAL_UNIT_RESET]: 'LOGICAL UNIT RESET',
  [TmfFunction.TARGET_WARM_RESET]: 'TARGET WARM RESET',
  [TmfFunction.TARGET_COLD_RESET]: 'TARGET COLD RESET',
};

const RESPONSES: Readonly<Record<TmResponse, number>> = {
  'FUNCTION COMPLETE': TmfResponse.FUNCTION_COMPLETE,
  // iSCSI has no code of its own for the QUERY functions, which it does not define.
  'FUNCTION SUCCEEDED': TmfResponse.FUNCTION_COMPLETE,
  'FUNCTION REJECTED': TmfResponse.FUNCTION_REJECTED,
  'INCORRECT LOGICAL UNIT NUMBER': TmfResponse.LUN_DOES_NOT_EXIST,
  'TASK DOES NOT EXIST': TmfResponse.TASK_DOES_NOT_EXIST,
  'NOT SUPPORTED': TmfResponse.TMF_NOT_SUPPORTED,
};

export function taskManagement(conn: IscsiConnection, req: TaskMgmt): void {
  const scst = conn.session!.scst;
  if (!scst) return conn.sendTmfResponse(req.itt, TmfResponse.FUNCTION_REJECTED);
  if (req.function === TmfFunction.TASK_REASSIGN) return conn.sendTmfResponse(req.itt, TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED);
  const fn = FUNCTIONS[req.function];
  if (!fn) return conn.sendTmfResponse(req.itt, TmfResponse.TMF_NOT_SUPPORTED);
  let task = null;
  if (fn === 'ABORT TASK') {
    const t = conn.tasks.get(req.referencedTaskTag);
    if (!t) {
      // Received and already answered: nothing left to abort. Not received yet but inside the
      // window and before this request: it counts as received, and aborted (RFC 7143 11.5.1).
      const pending = conn.abortBeforeArrival(req.refCmdSN, req.referencedTaskTag, req.cmdSN);
      return conn.sendTmfResponse(req.itt, pending ? TmfResponse.FUNCTION_COMPLETE : TmfResponse.TASK_DOES_NOT_EXIST);
    }
    task = t.cmd;
  }
  void coreTaskManagement(scst, { fn, lun: req.lun, task }, { log: conn.log, boundMs: conn.ctx.teardownTimeoutMs }).then((r) => conn.sendTmfResponse(req.itt, RESPONSES[r]));
}

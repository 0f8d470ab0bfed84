import type { Target } from '../target.js';
import { defaultTargetParams, type TargetParams } from './params.js';

export interface ChapUser {
  user: string;
  secret: string;
}

/**
 * What the iSCSI driver knows of a core target (iscsi-scst's struct iscsi_target): the keys it
 * negotiates and those it does not, CHAP accounts, and the iSCSI target attributes of sysfs. The
 * core Target knows none of it.
 */
export class IscsiTarget {
  // In-order data: with the OR rule our Yes wins, so Data-Out can be placed as it arrives.
  params: TargetParams = { ...defaultTargetParams, DataPDUInOrder: true, DataSequenceInOrder: true };
  /** Target keys that are not negotiated (QueuedCommands, NopInInterval, ...). */
  queuedCommands = 32;
  nopInInterval = 30;
  nopInTimeout = 30;
  rspTimeout = 90;
  maxSessions = 0;
  alias = '';
  incomingUsers: ChapUser[] = [];
  outgoingUser: ChapUser | null = null;
  perPortalAcl = false;
  redirect = '';
  /** allowed_portal patterns, by sysfs file name (allowed_portal, allowed_portal1, ...). */
  readonly allowedPortals = new Map<string, string>();
}

// Keyed by the core object: the iSCSI side of a target lives exactly as long as the target does.
const iscsiTargets = new WeakMap<Target, IscsiTarget>();

/** The iSCSI driver's object for core target `t` (made on first use). */
export function iscsiTarget(t: Target): IscsiTarget {
  let it = iscsiTargets.get(t);
  if (!it) iscsiTargets.set(t, (it = new IscsiTarget()));
  return it;
}

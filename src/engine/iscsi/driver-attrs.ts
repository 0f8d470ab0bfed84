import type { IscsiDriver } from './portal.js';

/**
 * iSCSI driver attributes this daemon keeps but does not act on (sysfs.md §7.1: iSNS, link_local,
 * internal_portal): set by scst.conf at start and through the tree, shown by both.
 */
export interface IscsiDriverExtras {
  isnsServer: string;
  isnsAccessControl: boolean;
  isnsEntityName: string;
  linkLocal: boolean;
  internalPortal: string;
}

const extrasMap = new WeakMap<IscsiDriver, IscsiDriverExtras>();

export function iscsiDriverExtras(iscsi: IscsiDriver): IscsiDriverExtras {
  let e = extrasMap.get(iscsi);
  if (!e) extrasMap.set(iscsi, (e = { isnsServer: '', isnsAccessControl: false, isnsEntityName: '', linkLocal: true, internalPortal: '' }));
  return e;
}

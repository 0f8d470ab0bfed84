import type { IscsiConnection } from './connection.js';
import { portalAddress, targetPortalAllowed } from './portal-acl.js';

/**
 * SendTargets (RFC 7143 §13.x, Appendix C): the targets this initiator may see, each with the
 * portals it is reachable at. A wildcard listener is reported by the address the initiator used.
 * As iscsi-scstd does, a target is listed when this initiator may reach it through the portal it
 * asked on, and each address only when allowed_portal and per_portal_acl admit it there.
 */
export function sendTargetsReply(conn: IscsiConnection, value: string): Array<[string, string]> {
  const sess = conn.session!;
  const discovery = sess.scst === null;
  const out: Array<[string, string]> = [];
  const peer = conn.remoteAddress;
  const here = portalAddress(conn.local.address);
  let targets = [...conn.ctx.scst.targets.values()].filter((t) => t.enabled && targetPortalAllowed(t, here, sess.initiatorName) && conn.ctx.addressAllowed(t.name, peer));
  if (value === 'All') {
    if (!discovery) targets = targets.filter((t) => t === sess.target);
  } else if (value === '') {
    if (discovery) return [['SendTargets', 'Reject']];
    targets = targets.filter((t) => t === sess.target);
  } else targets = targets.filter((t) => t.name === value);
  for (const t of targets) {
    out.push(['TargetName', t.name]);
    for (const p of conn.ctx.portals()) {
      const host = p.host === '0.0.0.0' || p.host === '::' ? here : portalAddress(p.host);
      if (host !== here && !targetPortalAllowed(t, host, sess.initiatorName)) continue;
      const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      out.push(['TargetAddress', `${h}:${p.port},1`]);
    }
  }
  return out;
}

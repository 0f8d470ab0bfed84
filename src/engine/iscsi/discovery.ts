import type { IscsiConnection } from './connection.js';

/**
 * SendTargets (RFC 7143 §13.x, Appendix C): the targets this initiator may see, each with the
 * portals it is reachable at. A wildcard listener is reported by the address the initiator used.
 */
export function sendTargetsReply(conn: IscsiConnection, value: string): Array<[string, string]> {
  const sess = conn.session!;
  const discovery = sess.scst === null;
  const out: Array<[string, string]> = [];
  const peer = conn.remoteAddress;
  let targets = [...conn.ctx.scst.targets.values()].filter((t) => t.enabled && t.admits(sess.initiatorName) && conn.ctx.addressAllowed(t.name, peer));
  if (value === 'All') {
    if (!discovery) targets = targets.filter((t) => t === sess.target);
  } else if (value === '') {
    if (discovery) return [['SendTargets', 'Reject']];
    targets = targets.filter((t) => t === sess.target);
  } else targets = targets.filter((t) => t.name === value);
  for (const t of targets) {
    out.push(['TargetName', t.name]);
    for (const p of conn.ctx.portals()) {
      const host = p.host === '0.0.0.0' || p.host === '::' ? conn.local.address : p.host;
      const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      out.push(['TargetAddress', `${h}:${p.port},1`]);
    }
  }
  return out;
}

import { iscsiTarget } from './target.js';
import type { Target } from '../target.js';

// Which initiators may reach a target through which portal, as iscsi-scstd decides it
// (iscsi-scst/usr/target.c target_portal_allowed): first the target's allowed_portal patterns
// against the portal address; then SCST's group lookup for the initiator's full name, which with
// per_portal_acl=1 is `initiator#portal` (iscsi_make_full_initiator_name). The full name is also
// the SCST session's initiator name, so group patterns such as `iqn.x#10.0.0.1` or `*#10.0.0.*`
// select the LUNs a session sees, and sysfs shows sessions under that name.

/**
 * The portal address as iscsi-scstd writes it (getnameinfo NI_NUMERICHOST of the accepted
 * socket's local address): an IPv4 connection to a dual-stack listener is shown as IPv4.
 */
export function portalAddress(local: string): string {
  return local.startsWith('::ffff:') && local.includes('.') ? local.slice(7) : local;
}

/** iscsi_make_full_initiator_name: `initiator#portal` with per_portal_acl, else the name. */
export function fullInitiatorName(t: Target, initiator: string, portal: string): string {
  return iscsiTarget(t).perPortalAcl ? `${initiator}#${portal}` : initiator;
}

/**
 * SCST's wildcmp (iscsi-scst/usr/target.c, scst_targ.c): case-insensitive, `*` any run, `?` any
 * one character, and one `!` met while matching at the outer level inverts the rest.
 */
export function wildcmp(wild: string, str: string): boolean {
  return wildAt(wild, 0, str, 0, 0);
}

function wildAt(wild: string, w0: number, str: string, s0: number, level: number): boolean {
  const lc = (c: string | undefined): string | undefined => c?.toLowerCase();
  let w = w0;
  let s = s0;
  let mp = -1;
  let cp = -1;
  while (s < str.length && wild[w] !== '*') {
    if (wild[w] === '!' && level === 0) return !wildAt(wild, w + 1, str, s, level + 1);
    if (lc(wild[w]) !== lc(str[s]) && wild[w] !== '?') return false;
    w++;
    s++;
  }
  while (s < str.length) {
    if (wild[w] === '!' && level === 0) return !wildAt(wild, w + 1, str, s, level + 1);
    if (wild[w] === '*') {
      if (++w >= wild.length) return true;
      mp = w;
      cp = s + 1;
    } else if (lc(wild[w]) === lc(str[s]) || wild[w] === '?') {
      w++;
      s++;
    } else {
      // A mismatch before any `*`: wild[-1] in the C original, which ends there unmatched.
      if (mp < 0) return false;
      w = mp;
      s = cp++;
    }
  }
  while (wild[w] === '*') w++;
  return w >= wild.length;
}

/**
 * allowed_portal: positive patterns, one of which must match (when there is any), and `!`
 * patterns, all of which must match (that is, none of the negated ones may).
 */
export function portalPatternsAllow(patterns: Iterable<string>, portal: string): boolean {
  let anyPositive = false;
  let positive = false;
  let negative = true;
  for (const p of patterns) {
    const m = wildcmp(p, portal);
    if (!p.startsWith('!')) {
      anyPositive = true;
      positive ||= m;
    } else negative &&= m;
  }
  return (!anyPositive || positive) && negative;
}

/** target_portal_allowed: may `initiator`, connected to `portal`, log in to (or discover) `t`? */
export function targetPortalAllowed(t: Target, portal: string, initiator: string): boolean {
  if (!portalPatternsAllow(iscsiTarget(t).allowedPortals.values(), portal)) return false;
  return t.admits(fullInitiatorName(t, initiator, portal));
}

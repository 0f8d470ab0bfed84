// per_portal_acl and allowed_portal decisions (engine/iscsi/portal-acl.ts) against what
// iscsi-scstd's target_portal_allowed and SCST's wildcmp decide for the same inputs.
import { describe, expect, it } from 'vitest';
import { fullInitiatorName, portalAddress, portalPatternsAllow, targetPortalAllowed, wildcmp } from '../src/engine/iscsi/portal-acl.js';
import { iscsiTarget } from '../src/engine/iscsi/target.js';
import { IniGroup, Target } from '../src/engine/target.js';
import type { Device } from '../src/engine/device.js';

describe('wildcmp (SCST)', () => {
  it.each([
    ['iqn.x#10.0.0.1', 'iqn.x#10.0.0.1', true],
    ['IQN.X#10.0.0.1', 'iqn.x#10.0.0.1', true],
    ['*#*', 'iqn.x#10.0.0.1', true],
    ['*#*', 'iqn.x', false],
    ['iqn.x#10.0.0.?', 'iqn.x#10.0.0.7', true],
    ['iqn.x#10.0.0.?', 'iqn.x#10.0.0.17', false],
    ['*#10.0.0.1', 'iqn.y#10.0.0.1', true],
    ['*#10.0.0.1', 'iqn.y#10.0.0.11', false],
    ['iqn.*.test#*', 'iqn.2026.test#::1', true],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['', '', true],
    ['*', '', true],
    ['?', '', false],
    ['!iqn.x#*', 'iqn.x#10.0.0.1', false],
    ['!iqn.x#*', 'iqn.y#10.0.0.1', true],
    // Only the first '!' at the outer level negates; a second is a plain character.
    ['!a!b', 'a!b', false],
    ['!a!b', 'ab', true],
  ])('%s vs %s: %s', (wild, str, want) => {
    expect(wildcmp(wild, str)).toBe(want);
  });
});

describe('allowed_portal', () => {
  it('no pattern allows every portal; positives need one match; negatives must all hold', () => {
    expect(portalPatternsAllow([], '10.0.0.1')).toBe(true);
    expect(portalPatternsAllow(['10.0.0.*'], '10.0.0.1')).toBe(true);
    expect(portalPatternsAllow(['10.0.0.*'], '10.0.1.1')).toBe(false);
    expect(portalPatternsAllow(['10.0.1.*', '10.0.0.*'], '10.0.0.1')).toBe(true);
    expect(portalPatternsAllow(['!10.0.0.5'], '10.0.0.1')).toBe(true);
    expect(portalPatternsAllow(['!10.0.0.5'], '10.0.0.5')).toBe(false);
    expect(portalPatternsAllow(['10.0.0.*', '!10.0.0.5'], '10.0.0.5')).toBe(false);
  });
});

describe('target_portal_allowed', () => {
  const dev = { mappings: new Set(), exportedLunNum: 0 } as unknown as Device;
  function target(perPortal: boolean, defaultLun: boolean): Target {
    const t = new Target('iqn.t', 1);
    iscsiTarget(t).perPortalAcl = perPortal;
    const g = new IniGroup('g', t);
    g.initiators.push('iqn.ini#127.0.0.1');
    g.luns.add(dev, 0, false);
    t.groups.push(g);
    if (defaultLun) t.defaultLuns.add(dev, 1, false);
    return t;
  }

  it('with per_portal_acl the full name is initiator#portal', () => {
    expect(fullInitiatorName(target(true, false), 'iqn.ini', '127.0.0.1')).toBe('iqn.ini#127.0.0.1');
    expect(fullInitiatorName(target(false, false), 'iqn.ini', '127.0.0.1')).toBe('iqn.ini');
  });

  it('admits on the named portal, refuses on another unless the default set has LUNs', () => {
    const t = target(true, false);
    expect(targetPortalAllowed(t, '127.0.0.1', 'iqn.ini')).toBe(true);
    expect(targetPortalAllowed(t, '127.0.0.2', 'iqn.ini')).toBe(false);
    expect(targetPortalAllowed(target(true, true), '127.0.0.2', 'iqn.ini')).toBe(true);
    // Without per_portal_acl the pattern never matches a plain name.
    expect(targetPortalAllowed(target(false, false), '127.0.0.1', 'iqn.ini')).toBe(false);
  });

  it('allowed_portal is checked first', () => {
    const t = target(true, true);
    iscsiTarget(t).allowedPortals.set('allowed_portal', '10.*');
    expect(targetPortalAllowed(t, '127.0.0.1', 'iqn.ini')).toBe(false);
    expect(targetPortalAllowed(t, '10.1.2.3', 'iqn.ini')).toBe(true);
  });

  it('an IPv4 connection to a dual-stack listener is named by its IPv4 address', () => {
    expect(portalAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(portalAddress('::1')).toBe('::1');
    expect(portalAddress('10.0.0.1')).toBe('10.0.0.1');
  });
});

// Waits on announcements, not polling: a device's backstore draining, a target's sessions ending.
import { describe, expect, it } from 'vitest';
import { settledWithin } from '../src/engine/wait.js';
import { unitCore } from './helpers/scsi-unit.js';

describe('settledWithin', () => {
  it('resolves at once, on the announcement, or false after the bound leaving no waiter behind', async () => {
    const waiters: Array<() => void> = [];
    expect(await settledWithin(true, waiters, 10)).toBe(true);
    const p = settledWithin(false, waiters, 5000);
    expect(waiters.length).toBe(1);
    for (const w of waiters.splice(0)) w();
    expect(await p).toBe(true);
    expect(await settledWithin(false, waiters, 20)).toBe(false);
    expect(waiters.length).toBe(0);
  });
});

describe('device and target waits', () => {
  it('whenIdle follows inflight; whenNoSessions follows the sessions closing', async () => {
    const u = await unitCore([{ name: 'd0', handler: 'vdisk_nullio', params: [['size_mb', '1']] }]);
    const dev = u.devices.get('d0')!;
    dev.inflight++;
    dev.inflight++;
    let idle = false;
    const p = dev.whenIdle(5000).then((v) => (idle = v));
    dev.inflight--;
    await Promise.resolve();
    expect(idle).toBe(false);
    dev.inflight--;
    expect(await p).toBe(true);
    dev.inflight++;
    expect(await dev.whenIdle(20)).toBe(false);
    dev.inflight--;
    const a = u.session('iqn.i:a', '800000000001');
    const b = u.session('iqn.i:b', '800000000002');
    const gone = u.target.whenNoSessions(5000);
    u.scst.closeSession(a);
    expect(u.target.sessions.size).toBe(1);
    u.scst.closeSession(b);
    expect(await gone).toBe(true);
    expect(await u.target.whenNoSessions(10)).toBe(true);
  });
});

// Hostile login negotiation: random and mutated key=value sets through the Negotiator and the
// CHAP authenticator. They answer (a reply, or a login failure) and never throw.
import fc from 'fast-check';

// Fixed seeds and bounded runs in CI; `npm run fuzz` (FUZZ_RUNS, FUZZ_SEED) runs longer.
const FUZZ_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
import { describe, expect, it } from 'vitest';
import { Negotiator, defaultTargetParams, keyTable } from '../src/engine/iscsi/params.js';
import { ChapTarget } from '../src/engine/iscsi/chap.js';

const KEYS = Object.keys(keyTable);
const VALUES = ['Yes', 'No', 'None', 'CRC32C', 'None,CRC32C', '0', '1', '512', '8192', '262144', '16777215', '16777216', '99999999999', '-1', '0x10', 'Normal', 'Discovery', 'Reject', 'Irrelevant', 'NotUnderstood', '', 'iqn.2026-11.test:x', 'CHAP,None', '5', 'All'];

const pair = fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 70 })), fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 300 })));

describe('login negotiation fuzzing', () => {
  it('the Negotiator answers any key set without throwing', () => {
    fc.assert(
      fc.property(fc.array(pair, { maxLength: 30 }), fc.array(pair, { maxLength: 30 }), fc.boolean(), (a, b, leading) => {
        const n = new Negotiator(defaultTargetParams, { leading, targetPortalGroupTag: 1 });
        for (const [phase, pairs] of [['security', a], ['operational', b]] as const) {
          const r = n.offer(pairs, phase);
          if ('fail' in r) {
            expect(r.fail.statusClass).toBeGreaterThanOrEqual(2);
            return;
          }
          for (const [k, v] of r.reply) {
            expect(typeof k).toBe('string');
            expect(typeof v).toBe('string');
          }
        }
        const fin = n.finish();
        expect(Array.isArray(fin)).toBe(true);
        const p = n.params;
        expect(p.MaxBurstLength).toBeGreaterThanOrEqual(512);
        expect(p.FirstBurstLength).toBeLessThanOrEqual(p.MaxBurstLength);
      }),
      { seed: FUZZ_SEED ?? 4242, numRuns: FUZZ_RUNS ?? 3000 },
    );
  });

  it('CHAP steps on random input fail cleanly or continue, never throw', () => {
    const chapKey = fc.constantFrom('CHAP_A', 'CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C', 'AuthMethod');
    const chapVal = fc.oneof(fc.constantFrom('5', '7,5', '0x00', '0xzz', '0b', '0bAAAA', 'user1', '0x' + 'ab'.repeat(16), '0b' + Buffer.alloc(16, 1).toString('base64')), fc.string({ maxLength: 200 }));
    fc.assert(
      fc.property(fc.array(fc.array(fc.tuple(chapKey, chapVal), { maxLength: 6 }), { maxLength: 4 }), (steps) => {
        const c = new ChapTarget({ incoming: [{ user: 'user1', secret: 'secretsecret1' }], outgoing: { user: 'tgt', secret: 'secretsecret2' } });
        for (const s of steps) {
          const r = c.step(s);
          if ('fail' in r) {
            expect(r.fail.statusClass).toBe(2);
            return;
          }
          expect(r.done).toBe(false); // nobody can guess the response to a random challenge
        }
      }),
      { seed: FUZZ_SEED ?? 99, numRuns: FUZZ_RUNS ?? 3000 },
    );
  });
});

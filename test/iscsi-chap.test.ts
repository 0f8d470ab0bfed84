import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChapTarget, chapResponse, decodeBinaryValue, negotiateAuthMethod } from '../src/engine/iscsi/chap.js';

const md5 = (...parts: Buffer[]) => createHash('md5').update(Buffer.concat(parts)).digest();
const CHALLENGE = Buffer.from([...Array(16).keys()]);
/** Deterministic "random": id byte 1, challenge 00..0f. */
const fixedRandom = (n: number) => (n === 1 ? Buffer.from([1]) : Buffer.from(CHALLENGE.subarray(0, n)));

const alice = { user: 'alice', secret: '12charsecret' };
const target = { user: 'tgt', secret: 'target-secret-2' };

function started(cfg: ConstructorParameters<typeof ChapTarget>[0] = { incoming: [alice] }) {
  const c = new ChapTarget(cfg, fixedRandom);
  const r = c.step([['CHAP_A', '7,5']]);
  expect(r).toEqual({
    reply: [
      ['CHAP_A', '5'],
      ['CHAP_I', '1'],
      ['CHAP_C', '0x000102030405060708090a0b0c0d0e0f'],
    ],
    done: false,
  });
  return c;
}

describe('MD5 responses', () => {
  it('match independently computed vectors', () => {
    // hashlib.md5(bytes([1]) + b'12charsecret' + bytes(range(16))).hexdigest()
    expect(chapResponse(1, '12charsecret', CHALLENGE).toString('hex')).toBe('2a1e4f35b57efd670294a7ff264fa260');
    // hashlib.md5(bytes([77]) + b'target-secret-2' + bytes.fromhex('0abcdef0123456789a')).hexdigest()
    expect(chapResponse(77, 'target-secret-2', Buffer.from('0abcdef0123456789a', 'hex')).toString('hex')).toBe('d2279e68fb03ef07ec5785ea2bbf204d');
    expect(chapResponse(200, 's3cr3t-secret', CHALLENGE)).toEqual(md5(Buffer.from([200]), Buffer.from('s3cr3t-secret'), CHALLENGE));
  });
});

describe('binary values', () => {
  it('decodes hex (odd digit counts too) and base64', () => {
    expect(decodeBinaryValue('0x0a0B')).toEqual(Buffer.from([0x0a, 0x0b]));
    expect(decodeBinaryValue('0Xabc')).toEqual(Buffer.from([0x0a, 0xbc]));
    expect(decodeBinaryValue('0bAAECAw==')).toEqual(Buffer.from([0, 1, 2, 3]));
    expect(decodeBinaryValue('0BAAECAwQ=')).toEqual(Buffer.from([0, 1, 2, 3, 4]));
    for (const bad of ['', '0x', '0b', 'abcd', '0xzz', '0bA', '0b====', '12']) expect(decodeBinaryValue(bad), bad).toBeNull();
  });
});

describe('negotiateAuthMethod', () => {
  it('CHAP required: CHAP if offered, else Reject', () => {
    expect(negotiateAuthMethod(['None', 'CHAP'], true)).toBe('CHAP');
    expect(negotiateAuthMethod(['None'], true)).toBe('Reject');
  });
  it('CHAP not configured: None if offered, else Reject', () => {
    expect(negotiateAuthMethod(['CHAP', 'None'], false)).toBe('None');
    expect(negotiateAuthMethod(['CHAP'], false)).toBe('Reject');
    expect(negotiateAuthMethod(['KRB5', 'SRP'], false)).toBe('Reject');
  });
});

describe('one-way CHAP', () => {
  it('accepts the right response (hex) and remembers the user', () => {
    const c = started();
    const resp = md5(Buffer.from([1]), Buffer.from(alice.secret), CHALLENGE);
    expect(c.step([['CHAP_N', 'alice'], ['CHAP_R', `0x${resp.toString('hex')}`]])).toEqual({ reply: [], done: true });
    expect(c.user).toBe('alice');
  });
  it('accepts a base64 response', () => {
    const c = started();
    const resp = md5(Buffer.from([1]), Buffer.from(alice.secret), CHALLENGE);
    expect(c.step([['CHAP_N', 'alice'], ['CHAP_R', `0b${resp.toString('base64')}`]])).toEqual({ reply: [], done: true });
  });
  it('tries every account with that name', () => {
    const c = started({ incoming: [{ user: 'alice', secret: 'another-secret!' }, alice] });
    const resp = chapResponse(1, alice.secret, CHALLENGE);
    expect(c.step([['CHAP_N', 'alice'], ['CHAP_R', `0x${resp.toString('hex')}`]])).toMatchObject({ done: true });
  });
  it('fails with 0x0201 on a wrong secret, unknown user, malformed or short response', () => {
    const cases: Array<Array<[string, string]>> = [
      [['CHAP_N', 'alice'], ['CHAP_R', `0x${chapResponse(1, 'wrong-secret', CHALLENGE).toString('hex')}`]],
      [['CHAP_N', 'mallory'], ['CHAP_R', `0x${chapResponse(1, alice.secret, CHALLENGE).toString('hex')}`]],
      [['CHAP_N', 'alice'], ['CHAP_R', 'garbage']],
      [['CHAP_N', 'alice'], ['CHAP_R', '0x0102']],
      [['CHAP_N', 'alice']],
      [['CHAP_N', 'alice'], ['CHAP_R', `0x${chapResponse(1, alice.secret, CHALLENGE).toString('hex')}`], ['CHAP_A', '5']],
    ];
    for (const pairs of cases) {
      const c = started();
      const r = c.step(pairs);
      expect(r, JSON.stringify(pairs)).toMatchObject({ fail: { statusClass: 2, statusDetail: 1 } });
      expect(c.user).toBeNull();
      // a failed exchange stays failed
      expect(c.step([['CHAP_N', 'alice'], ['CHAP_R', `0x${chapResponse(1, alice.secret, CHALLENGE).toString('hex')}`]])).toHaveProperty('fail');
    }
  });
  it('refuses algorithms other than MD5 and a first step without CHAP_A', () => {
    expect(new ChapTarget({ incoming: [alice] }, fixedRandom).step([['CHAP_A', '6,7']])).toMatchObject({ fail: { statusClass: 2, statusDetail: 1 } });
    expect(new ChapTarget({ incoming: [alice] }, fixedRandom).step([['CHAP_N', 'alice']])).toHaveProperty('fail');
  });
  it('uses fresh random challenges by default', () => {
    const a = new ChapTarget({ incoming: [alice] }).step([['CHAP_A', '5']]);
    const b = new ChapTarget({ incoming: [alice] }).step([['CHAP_A', '5']]);
    if ('fail' in a || 'fail' in b) throw new Error('unexpected');
    const ca = a.reply.find(([k]) => k === 'CHAP_C')![1];
    expect(ca).toMatch(/^0x[0-9a-f]{32}$/);
    expect(ca).not.toBe(b.reply.find(([k]) => k === 'CHAP_C')![1]);
  });
  it('refuses CHAP keys after completion', () => {
    const c = started();
    c.step([['CHAP_N', 'alice'], ['CHAP_R', `0x${chapResponse(1, alice.secret, CHALLENGE).toString('hex')}`]]);
    expect(c.step([['CHAP_A', '5']])).toHaveProperty('fail');
  });
});

describe('mutual CHAP', () => {
  const good = (): Array<[string, string]> => [
    ['CHAP_N', 'alice'],
    ['CHAP_R', `0x${chapResponse(1, alice.secret, CHALLENGE).toString('hex')}`],
  ];
  it('answers with the outgoing account', () => {
    const c = started({ incoming: [alice], outgoing: target });
    const r = c.step([...good(), ['CHAP_I', '77'], ['CHAP_C', '0xabcdef0123456789a']]);
    expect(r).toEqual({
      reply: [
        ['CHAP_N', 'tgt'],
        ['CHAP_R', '0xd2279e68fb03ef07ec5785ea2bbf204d'],
      ],
      done: true,
    });
  });
  it('accepts a base64 challenge', () => {
    const ch = Buffer.from('a mutual challenge');
    const c = started({ incoming: [alice], outgoing: target });
    const r = c.step([...good(), ['CHAP_I', '3'], ['CHAP_C', `0b${ch.toString('base64')}`]]);
    expect(r).toMatchObject({ reply: [['CHAP_N', 'tgt'], ['CHAP_R', `0x${md5(Buffer.from([3]), Buffer.from(target.secret), ch).toString('hex')}`]], done: true });
  });
  it('is refused without an outgoing user', () => {
    const c = started({ incoming: [alice] });
    expect(c.step([...good(), ['CHAP_I', '77'], ['CHAP_C', '0xabcd']])).toMatchObject({ fail: { statusClass: 2, statusDetail: 1 } });
  });
  it('refuses a reflected challenge', () => {
    const c = started({ incoming: [alice], outgoing: target });
    expect(c.step([...good(), ['CHAP_I', '1'], ['CHAP_C', `0x${CHALLENGE.toString('hex')}`]])).toMatchObject({ fail: { reason: expect.stringMatching(/reflected/) } });
  });
  it('refuses half a mutual request, bad ids, oversized challenges, shared secrets', () => {
    const cfg = { incoming: [alice], outgoing: target };
    expect(started(cfg).step([...good(), ['CHAP_I', '77']])).toHaveProperty('fail');
    expect(started(cfg).step([...good(), ['CHAP_C', '0xabcd']])).toHaveProperty('fail');
    expect(started(cfg).step([...good(), ['CHAP_I', '256'], ['CHAP_C', '0xabcd']])).toHaveProperty('fail');
    expect(started(cfg).step([...good(), ['CHAP_I', 'x'], ['CHAP_C', '0xabcd']])).toHaveProperty('fail');
    expect(started(cfg).step([...good(), ['CHAP_I', '7'], ['CHAP_C', `0x${'ab'.repeat(1025)}`]])).toHaveProperty('fail');
    expect(started({ incoming: [alice], outgoing: { user: 'tgt', secret: alice.secret } }).step([...good(), ['CHAP_I', '7'], ['CHAP_C', '0xabcd']])).toHaveProperty('fail');
  });
  it('does not answer the mutual challenge of an initiator that failed', () => {
    const c = started({ incoming: [alice], outgoing: target });
    const r = c.step([['CHAP_N', 'alice'], ['CHAP_R', `0x${'00'.repeat(16)}`], ['CHAP_I', '77'], ['CHAP_C', '0xabcd']]);
    expect(r).toHaveProperty('fail');
  });
});

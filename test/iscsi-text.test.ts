import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeTextKeys, isValidKey, parseTextKeys } from '../src/engine/iscsi/text.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('parseTextKeys', () => {
  it('parses NUL-terminated pairs in order', () => {
    const r = parseTextKeys(b('InitiatorName=iqn.1993-08.org.debian:01:abc\0SessionType=Normal\0AuthMethod=CHAP,None\0'));
    expect(r).toEqual({
      pairs: [
        ['InitiatorName', 'iqn.1993-08.org.debian:01:abc'],
        ['SessionType', 'Normal'],
        ['AuthMethod', 'CHAP,None'],
      ],
    });
  });
  it('allows empty values, "=" inside values, an unterminated last pair and trailing NULs', () => {
    expect(parseTextKeys(b('SendTargets=\0'))).toEqual({ pairs: [['SendTargets', '']] });
    expect(parseTextKeys(b('X-a=b=c\0'))).toEqual({ pairs: [['X-a', 'b=c']] });
    expect(parseTextKeys(b('A=1\0B=2'))).toEqual({ pairs: [['A', '1'], ['B', '2']] });
    expect(parseTextKeys(b('A=1\0\0\0'))).toEqual({ pairs: [['A', '1']] });
    expect(parseTextKeys(Buffer.alloc(0))).toEqual({ pairs: [] });
  });
  it('accepts extension and lower-case-initial keys', () => {
    expect(parseTextKeys(b('X#NodeArchitecture=Foo\0iSCSIProtocolLevel=1\0X-com.example.k=v\0'))).toEqual({
      pairs: [
        ['X#NodeArchitecture', 'Foo'],
        ['iSCSIProtocolLevel', '1'],
        ['X-com.example.k', 'v'],
      ],
    });
  });
  it('decodes UTF-8 values', () => {
    expect(parseTextKeys(b('InitiatorAlias=Ünïcödé 💾\0'))).toEqual({ pairs: [['InitiatorAlias', 'Ünïcödé 💾']] });
  });
  it('rejects a missing "=", empty pieces in the middle, bad keys, long keys, bad UTF-8', () => {
    expect(parseTextKeys(b('NoEquals\0'))).toHaveProperty('error');
    expect(parseTextKeys(b('A=1\0\0B=2\0'))).toHaveProperty('error');
    expect(parseTextKeys(b('=value\0'))).toHaveProperty('error');
    expect(parseTextKeys(b('Bad Key=1\0'))).toHaveProperty('error');
    expect(parseTextKeys(b('1Key=1\0'))).toHaveProperty('error');
    expect(parseTextKeys(b(`${'K'.repeat(64)}=1\0`))).toHaveProperty('error');
    expect(parseTextKeys(b(`${'K'.repeat(63)}=1\0`))).toEqual({ pairs: [['K'.repeat(63), '1']] });
    expect(parseTextKeys(Buffer.concat([b('A='), Buffer.from([0xc3, 0x28]), b('\0')]))).toHaveProperty('error');
  });
  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = parseTextKeys(Buffer.from(bytes));
        expect('pairs' in r || 'error' in r).toBe(true);
      }),
    );
  });
});

describe('encodeTextKeys', () => {
  it('writes key=value\\0 per pair', () => {
    expect(encodeTextKeys([['HeaderDigest', 'None'], ['MaxRecvDataSegmentLength', '8192']]).toString('latin1')).toBe(
      'HeaderDigest=None\0MaxRecvDataSegmentLength=8192\0',
    );
    expect(encodeTextKeys([]).length).toBe(0);
  });
  it('round-trips through parseTextKeys', () => {
    const key = fc.stringMatching(/^[A-Za-z][A-Za-z0-9.\-+@_]{0,62}$/);
    const value = fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 10 }), (pairs) => {
        expect(parseTextKeys(encodeTextKeys(pairs))).toEqual({ pairs });
      }),
    );
  });
  it('isValidKey', () => {
    expect(isValidKey('MaxBurstLength')).toBe(true);
    expect(isValidKey('X#NodeArchitecture')).toBe(true);
    expect(isValidKey('a b')).toBe(false);
    expect(isValidKey('')).toBe(false);
  });
});

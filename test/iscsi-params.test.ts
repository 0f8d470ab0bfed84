import { describe, expect, it } from 'vitest';
import {
  Negotiator,
  defaultTargetParams,
  isSecurityKey,
  keyTable,
  parseNumericValue,
  validateTargetParams,
  type TargetParams,
} from '../src/engine/iscsi/params.js';

type Pairs = Array<[string, string]>;
const INI = 'iqn.1993-08.org.debian:01:abcdef';
const TGT = 'iqn.2001-04.com.example:storage.disk1';
const hello: Pairs = [
  ['InitiatorName', INI],
  ['TargetName', TGT],
  ['SessionType', 'Normal'],
];

function neg(over: Partial<TargetParams> = {}, opts: { leading?: boolean; targetPortalGroupTag?: number; targetAlias?: string } = {}) {
  const n = new Negotiator({ ...defaultTargetParams, ...over }, { leading: opts.leading ?? true, ...opts });
  const first = n.offer(hello, 'security');
  expect(first).toHaveProperty('reply');
  return n;
}

/** Offers operational keys and returns the answer map (our declarations included). */
function answer(n: Negotiator, pairs: Pairs): Record<string, string> {
  const r = n.offer(pairs, 'operational');
  if ('fail' in r) throw new Error(`unexpected failure: ${r.fail.reason}`);
  return Object.fromEntries(r.reply);
}

function failure(n: Negotiator, pairs: Pairs, phase: 'security' | 'operational' | 'full-feature' = 'operational') {
  const r = n.offer(pairs, phase);
  if (!('fail' in r)) throw new Error(`expected failure, got ${JSON.stringify(r.reply)}`);
  return r.fail;
}

describe('defaults and configuration', () => {
  it('defaultTargetParams are iscsi-scstd defaults', () => {
    expect(defaultTargetParams).toEqual({
      InitialR2T: false,
      ImmediateData: true,
      MaxRecvDataSegmentLength: 1048576,
      MaxXmitDataSegmentLength: 1048576,
      MaxBurstLength: 1048576,
      FirstBurstLength: 65536,
      MaxOutstandingR2T: 32,
      HeaderDigest: ['None'],
      DataDigest: ['None'],
      DefaultTime2Wait: 0,
      DefaultTime2Retain: 0,
      MaxConnections: 1,
      ErrorRecoveryLevel: 0,
      DataPDUInOrder: false,
      DataSequenceInOrder: false,
    });
    expect(Object.isFrozen(defaultTargetParams)).toBe(true);
    expect(validateTargetParams(defaultTargetParams)).toEqual([]);
  });
  it('validateTargetParams reports out-of-range values', () => {
    const errs = validateTargetParams({ ...defaultTargetParams, MaxBurstLength: 100, HeaderDigest: [], ErrorRecoveryLevel: 1, MaxConnections: 2 });
    expect(errs.length).toBe(4);
  });
  it('the key table covers RFC 7143 13 and the iSER keys', () => {
    for (const key of [
      'HeaderDigest', 'DataDigest', 'MaxConnections', 'SendTargets', 'TargetName', 'InitiatorName', 'TargetAlias',
      'InitiatorAlias', 'TargetAddress', 'TargetPortalGroupTag', 'InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength',
      'MaxBurstLength', 'FirstBurstLength', 'DefaultTime2Wait', 'DefaultTime2Retain', 'MaxOutstandingR2T', 'DataPDUInOrder',
      'DataSequenceInOrder', 'ErrorRecoveryLevel', 'SessionType', 'TaskReporting', 'iSCSIProtocolLevel', 'IFMarker', 'OFMarker',
      'IFMarkInt', 'OFMarkInt', 'X#NodeArchitecture', 'RDMAExtensions', 'TargetRecvDataSegmentLength',
      'InitiatorRecvDataSegmentLength', 'MaxOutstandingUnexpectedPDUs', 'AuthMethod',
    ]) expect(keyTable[key], key).toBeDefined();
    expect(keyTable.MaxBurstLength).toMatchObject({ type: 'numeric-min', min: 512, max: 16777215, rfcDefault: '262144', leadingOnly: true, irrelevantInDiscovery: true });
    expect(keyTable.DefaultTime2Wait).toMatchObject({ type: 'numeric-max', min: 0, max: 3600 });
    expect(keyTable.InitialR2T.type).toBe('boolean-or');
    expect(keyTable.ImmediateData.type).toBe('boolean-and');
    expect(isSecurityKey('CHAP_N')).toBe(true);
    expect(isSecurityKey('AuthMethod')).toBe(true);
    expect(isSecurityKey('HeaderDigest')).toBe(false);
  });
  it('parseNumericValue takes decimal and hex constants only', () => {
    expect(parseNumericValue('8192')).toBe(8192);
    expect(parseNumericValue('0x2000')).toBe(8192);
    expect(parseNumericValue('0X2000')).toBe(8192);
    expect(parseNumericValue('')).toBeNull();
    expect(parseNumericValue('-1')).toBeNull();
    expect(parseNumericValue('12k')).toBeNull();
    expect(parseNumericValue('0b AAA=')).toBeNull();
    expect(parseNumericValue('1'.repeat(21))).toBeNull();
  });
});

describe('Boolean result functions', () => {
  it('InitialR2T is OR', () => {
    expect(answer(neg({ InitialR2T: false }), [['InitialR2T', 'No']]).InitialR2T).toBe('No');
    expect(answer(neg({ InitialR2T: false }), [['InitialR2T', 'Yes']]).InitialR2T).toBe('Yes');
    const n = neg({ InitialR2T: true });
    expect(answer(n, [['InitialR2T', 'No']]).InitialR2T).toBe('Yes');
    expect(n.params.InitialR2T).toBe(true);
  });
  it('ImmediateData is AND', () => {
    expect(answer(neg({ ImmediateData: true }), [['ImmediateData', 'Yes']]).ImmediateData).toBe('Yes');
    expect(answer(neg({ ImmediateData: true }), [['ImmediateData', 'No']]).ImmediateData).toBe('No');
    const n = neg({ ImmediateData: false });
    expect(answer(n, [['ImmediateData', 'Yes']]).ImmediateData).toBe('No');
    expect(n.params.ImmediateData).toBe(false);
  });
  it('DataPDUInOrder / DataSequenceInOrder are OR', () => {
    const n = neg();
    expect(answer(n, [['DataPDUInOrder', 'Yes'], ['DataSequenceInOrder', 'No']])).toMatchObject({ DataPDUInOrder: 'Yes', DataSequenceInOrder: 'No' });
    expect(n.params.DataSequenceInOrder).toBe(false);
  });
  it('a non-Boolean value is answered Reject and changes nothing', () => {
    const n = neg();
    expect(answer(n, [['InitialR2T', 'yes']]).InitialR2T).toBe('Reject');
    expect(n.params.InitialR2T).toBe(true); // RFC default stays
  });
  it('RDMAExtensions is answered No on TCP', () => {
    expect(answer(neg(), [['RDMAExtensions', 'Yes']]).RDMAExtensions).toBe('No');
  });
});

describe('numerical result functions', () => {
  it('Minimum: an initiator offering 16 MiB MaxBurstLength gets our cap', () => {
    const n = neg({ MaxBurstLength: 1048576 });
    expect(answer(n, [['MaxBurstLength', '16776192']]).MaxBurstLength).toBe('1048576');
    expect(n.params.MaxBurstLength).toBe(1048576);
    // 2**24 itself is above the RFC range: min(offer, ours) is still admissible, so we select it
    expect(answer(neg(), [['MaxBurstLength', '16777216']]).MaxBurstLength).toBe('1048576');
    expect(answer(neg(), [['MaxBurstLength', '262144']]).MaxBurstLength).toBe('262144');
    expect(answer(neg(), [['MaxBurstLength', '0x40000']]).MaxBurstLength).toBe('262144');
  });
  it('Minimum: below the range or malformed is Reject, value unchanged', () => {
    const n = neg();
    expect(answer(n, [['MaxBurstLength', '511'], ['MaxOutstandingR2T', '0'], ['FirstBurstLength', 'lots']])).toMatchObject({
      MaxBurstLength: 'Reject',
      MaxOutstandingR2T: 'Reject',
      FirstBurstLength: 'Reject',
    });
    expect(n.params.MaxBurstLength).toBe(262144);
    expect(n.params.MaxOutstandingR2T).toBe(1);
    expect(n.params.FirstBurstLength).toBe(65536);
  });
  it('Maximum: DefaultTime2Wait', () => {
    expect(answer(neg({ DefaultTime2Wait: 0 }), [['DefaultTime2Wait', '2']]).DefaultTime2Wait).toBe('2');
    expect(answer(neg({ DefaultTime2Wait: 5 }), [['DefaultTime2Wait', '2']]).DefaultTime2Wait).toBe('5');
    expect(answer(neg(), [['DefaultTime2Wait', '3601']]).DefaultTime2Wait).toBe('Reject');
  });
  it('Minimum: DefaultTime2Retain, MaxOutstandingR2T', () => {
    const n = neg({ DefaultTime2Retain: 0, MaxOutstandingR2T: 32 });
    expect(answer(n, [['DefaultTime2Retain', '20'], ['MaxOutstandingR2T', '1']])).toMatchObject({ DefaultTime2Retain: '0', MaxOutstandingR2T: '1' });
    expect(answer(neg({ MaxOutstandingR2T: 32 }), [['MaxOutstandingR2T', '64']]).MaxOutstandingR2T).toBe('32');
  });
  it('ErrorRecoveryLevel is answered 0 and MaxConnections 1, whatever is configured', () => {
    const n = neg({ ErrorRecoveryLevel: 2, MaxConnections: 4 });
    expect(answer(n, [['ErrorRecoveryLevel', '2'], ['MaxConnections', '8']])).toMatchObject({ ErrorRecoveryLevel: '0', MaxConnections: '1' });
    expect(n.params.ErrorRecoveryLevel).toBe(0);
    expect(n.params.MaxConnections).toBe(1);
  });
  it('FirstBurstLength never exceeds MaxBurstLength, whatever the order', () => {
    const n = neg({ MaxBurstLength: 1048576, FirstBurstLength: 1048576 });
    const r = n.offer([['FirstBurstLength', '262144'], ['MaxBurstLength', '131072']], 'operational');
    expect(r).toEqual({ reply: [['FirstBurstLength', '131072'], ['MaxBurstLength', '131072']] });
    expect(n.params).toMatchObject({ FirstBurstLength: 131072, MaxBurstLength: 131072 });
    // across requests, finish() clamps
    const m = neg({ FirstBurstLength: 1048576 });
    answer(m, [['FirstBurstLength', '262144']]);
    answer(m, [['MaxBurstLength', '65536']]);
    m.finish();
    expect(m.params).toMatchObject({ FirstBurstLength: 65536, MaxBurstLength: 65536 });
  });
  it('iSCSIProtocolLevel is Minimum with our level 1', () => {
    expect(answer(neg(), [['iSCSIProtocolLevel', '2']]).iSCSIProtocolLevel).toBe('1');
  });
});

describe('lists', () => {
  it('digests: the first value of the initiator list that we allow', () => {
    expect(answer(neg({ HeaderDigest: ['None'] }), [['HeaderDigest', 'CRC32C,None']]).HeaderDigest).toBe('None');
    const n = neg({ HeaderDigest: ['CRC32C', 'None'], DataDigest: ['None', 'CRC32C'] });
    expect(answer(n, [['HeaderDigest', 'CRC32C,None'], ['DataDigest', 'None,CRC32C']])).toMatchObject({ HeaderDigest: 'CRC32C', DataDigest: 'None' });
    expect(n.params.HeaderDigest).toBe('CRC32C');
    expect(n.params.DataDigest).toBe('None');
    // unknown values in the list are ignored
    expect(answer(neg({ DataDigest: ['CRC32C'] }), [['DataDigest', 'Y-vendor.digest,CRC32C']]).DataDigest).toBe('CRC32C');
  });
  it('digests: nothing acceptable is Reject', () => {
    const n = neg({ HeaderDigest: ['CRC32C'] });
    expect(answer(n, [['HeaderDigest', 'None']]).HeaderDigest).toBe('Reject');
    expect(n.params.HeaderDigest).toBe('None');
  });
  it('TaskReporting: RFC3720 only', () => {
    expect(answer(neg(), [['TaskReporting', 'FastAbort,RFC3720']]).TaskReporting).toBe('RFC3720');
    expect(answer(neg(), [['TaskReporting', 'ResponseFence']]).TaskReporting).toBe('Reject');
  });
});

describe('declaratives', () => {
  it('the initiator MaxRecvDataSegmentLength bounds what we send; we declare ours once', () => {
    const n = neg({ MaxRecvDataSegmentLength: 262144, MaxXmitDataSegmentLength: 1048576 });
    const r = n.offer([['MaxRecvDataSegmentLength', '65536'], ['MaxBurstLength', '262144']], 'operational');
    expect(r).toEqual({ reply: [['MaxBurstLength', '262144'], ['MaxRecvDataSegmentLength', '262144']] });
    expect(n.params.MaxXmitDataSegmentLength).toBe(65536);
    expect(n.params.MaxRecvDataSegmentLength).toBe(262144);
    expect(n.finish()).toEqual([]);
  });
  it('MaxXmitDataSegmentLength caps a large initiator MaxRecvDataSegmentLength', () => {
    const n = neg({ MaxXmitDataSegmentLength: 65536 });
    answer(n, [['MaxRecvDataSegmentLength', '16777215']]);
    expect(n.params.MaxXmitDataSegmentLength).toBe(65536);
  });
  it('until declared, both sides are at 8192', () => {
    const n = neg();
    expect(n.params.MaxXmitDataSegmentLength).toBe(8192);
    expect(n.params.MaxRecvDataSegmentLength).toBe(8192);
    answer(n, [['HeaderDigest', 'None']]);
    expect(n.finish()).toEqual([['MaxRecvDataSegmentLength', '1048576']]);
    expect(n.params.MaxRecvDataSegmentLength).toBe(1048576);
  });
  it('an out-of-range MaxRecvDataSegmentLength is Reject and keeps 8192', () => {
    const n = neg();
    expect(answer(n, [['MaxRecvDataSegmentLength', '256']]).MaxRecvDataSegmentLength).toBe('1048576'); // our declaration follows the Reject
    const r = neg().offer([['MaxRecvDataSegmentLength', '256']], 'operational');
    expect(r).toEqual({ reply: [['MaxRecvDataSegmentLength', 'Reject'], ['MaxRecvDataSegmentLength', '1048576']] });
    expect(n.params.MaxXmitDataSegmentLength).toBe(8192);
  });
  it('captures the names, SessionType and InitiatorAlias', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(n.offer([...hello, ['InitiatorAlias', 'host1']], 'security')).toEqual({ reply: [] });
    expect(n.params).toMatchObject({ InitiatorName: INI, TargetName: TGT, SessionType: 'Normal', InitiatorAlias: 'host1' });
  });
  it('TargetPortalGroupTag in the first response, TargetAlias and MaxRecvDataSegmentLength from finish()', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true, targetPortalGroupTag: 1, targetAlias: 'disk one' });
    expect(n.offer(hello, 'security')).toEqual({ reply: [['TargetPortalGroupTag', '1']] });
    expect(n.finish()).toEqual([['TargetAlias', 'disk one']]); // security stage: no operational declaration
    answer(n, [['HeaderDigest', 'None']]);
    expect(n.finish()).toEqual([['MaxRecvDataSegmentLength', '1048576']]);
    expect(n.params.TargetPortalGroupTag).toBe(1);
  });
});

describe('session type and required names', () => {
  it('missing InitiatorName fails with 0x0207', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(failure(n, [['TargetName', TGT]], 'security')).toMatchObject({ statusClass: 2, statusDetail: 7 });
  });
  it('a Normal session without TargetName fails with 0x0207; Discovery needs none', () => {
    expect(failure(new Negotiator(defaultTargetParams, { leading: true }), [['InitiatorName', INI]], 'security')).toMatchObject({ statusClass: 2, statusDetail: 7 });
    const d = new Negotiator(defaultTargetParams, { leading: true, targetPortalGroupTag: 1 });
    expect(d.offer([['InitiatorName', INI], ['SessionType', 'Discovery']], 'security')).toEqual({ reply: [] });
    expect(d.params.SessionType).toBe('Discovery');
  });
  it('an unknown SessionType fails with 0x0209', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(failure(n, [['InitiatorName', INI], ['SessionType', 'Bogus']], 'security')).toMatchObject({ statusClass: 2, statusDetail: 9 });
  });
  it('Discovery sessions answer most operational keys Irrelevant', () => {
    const d = new Negotiator(defaultTargetParams, { leading: true });
    const r = d.offer(
      [
        ['InitiatorName', INI],
        ['SessionType', 'Discovery'],
        ['HeaderDigest', 'None'],
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '262144'],
        ['FirstBurstLength', '65536'],
        ['MaxConnections', '1'],
        ['MaxOutstandingR2T', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['DefaultTime2Wait', '2'],
        ['ErrorRecoveryLevel', '0'],
        ['MaxRecvDataSegmentLength', '32768'],
      ],
      'operational',
    );
    expect(r).toEqual({
      reply: [
        ['HeaderDigest', 'None'],
        ['InitialR2T', 'Irrelevant'],
        ['ImmediateData', 'Irrelevant'],
        ['MaxBurstLength', 'Irrelevant'],
        ['FirstBurstLength', 'Irrelevant'],
        ['MaxConnections', 'Irrelevant'],
        ['MaxOutstandingR2T', 'Irrelevant'],
        ['DataPDUInOrder', 'Irrelevant'],
        ['DataSequenceInOrder', 'Irrelevant'],
        ['DefaultTime2Wait', '2'],
        ['ErrorRecoveryLevel', '0'],
        ['MaxRecvDataSegmentLength', '1048576'],
      ],
    });
    expect(d.params.MaxXmitDataSegmentLength).toBe(32768);
  });
  it('SessionType cannot change after the first request', () => {
    const n = neg();
    expect(failure(n, [['SessionType', 'Discovery']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
});

describe('unknown, private, obsolete and iSER keys', () => {
  it('unknown and X- / X# keys are NotUnderstood', () => {
    expect(answer(neg(), [['FooBar', '1'], ['X-com.example.thing', 'y'], ['X#NodeArchitecture', 'ExampleOS/v1']])).toEqual({
      FooBar: 'NotUnderstood',
      'X-com.example.thing': 'NotUnderstood',
      'X#NodeArchitecture': 'NotUnderstood',
    });
  });
  it('the obsoleted marker keys are Reject (never NotUnderstood)', () => {
    expect(answer(neg(), [['OFMarker', 'No'], ['IFMarker', 'No'], ['OFMarkInt', '2048~8192'], ['IFMarkInt', '2048']])).toEqual({
      OFMarker: 'Reject',
      IFMarker: 'Reject',
      OFMarkInt: 'Reject',
      IFMarkInt: 'Reject',
    });
  });
  it('iSER keys are Irrelevant without RDMAExtensions', () => {
    expect(answer(neg(), [['TargetRecvDataSegmentLength', '8192'], ['InitiatorRecvDataSegmentLength', '8192'], ['MaxAHSLength', '256'], ['iSERHelloRequired', 'No']])).toEqual({
      TargetRecvDataSegmentLength: 'Irrelevant',
      InitiatorRecvDataSegmentLength: 'Irrelevant',
      MaxAHSLength: 'Irrelevant',
      iSERHelloRequired: 'Irrelevant',
    });
  });
});

describe('protocol errors fail the login with 0x0200', () => {
  it('a key offered twice in one request', () => {
    expect(failure(neg(), [['MaxBurstLength', '65536'], ['MaxBurstLength', '65536']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('a key offered again in a later request, and the failure sticks', () => {
    const n = neg();
    answer(n, [['MaxBurstLength', '65536']]);
    expect(failure(n, [['MaxBurstLength', '65536']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
    expect(failure(n, [['HeaderDigest', 'None']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('a redeclared InitiatorName', () => {
    expect(failure(neg(), [['InitiatorName', INI]])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('a failing request changes nothing', () => {
    const n = neg();
    failure(n, [['MaxBurstLength', '65536'], ['InitialR2T', 'Reject']]);
    expect(n.params.MaxBurstLength).toBe(262144);
  });
  it('reserved constants as offers', () => {
    for (const v of ['Reject', 'Irrelevant', 'NotUnderstood']) expect(failure(neg(), [['InitialR2T', v]])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('operational keys in the security stage, security keys in the operational stage', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(failure(n, [...hello, ['HeaderDigest', 'None']], 'security')).toMatchObject({ statusClass: 2, statusDetail: 0 });
    expect(failure(neg(), [['AuthMethod', 'None']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
    expect(failure(neg(), [['CHAP_A', '5']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('security keys in the security stage are left for chap.ts', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(n.offer([...hello, ['AuthMethod', 'CHAP,None']], 'security')).toEqual({ reply: [] });
  });
  it('SendTargets during login', () => {
    expect(failure(neg(), [['SendTargets', 'All']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('target-only keys from the initiator', () => {
    expect(failure(neg(), [['TargetAlias', 'x']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
    expect(failure(neg(), [['TargetPortalGroupTag', '1']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
  it('leading-only keys on a non-leading connection', () => {
    const n = neg({}, { leading: false });
    expect(failure(n, [['MaxBurstLength', '65536']])).toMatchObject({ statusClass: 2, statusDetail: 0 });
    expect(answer(neg({}, { leading: false }), [['HeaderDigest', 'None']]).HeaderDigest).toBe('None');
  });
  it('over-long names', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true });
    expect(failure(n, [['InitiatorName', `iqn.2000-01.com.example:${'x'.repeat(220)}`], ['TargetName', TGT]], 'security')).toMatchObject({ statusClass: 2, statusDetail: 0 });
  });
});

describe('Full Feature Phase text negotiation', () => {
  it('SendTargets only here, returned to the caller', () => {
    const n = neg();
    expect(n.offer([['SendTargets', 'All']], 'full-feature')).toEqual({ reply: [], sendTargets: 'All' });
    expect(n.offer([['SendTargets', '']], 'full-feature')).toEqual({ reply: [], sendTargets: '' });
  });
  it('login-only keys are Reject, unknown keys NotUnderstood, MaxRecvDataSegmentLength may change', () => {
    const n = neg({ MaxXmitDataSegmentLength: 1048576 });
    expect(
      n.offer(
        [
          ['HeaderDigest', 'CRC32C'],
          ['X-foo', 'bar'],
          ['MaxRecvDataSegmentLength', '131072'],
          ['InitiatorAlias', 'renamed'],
        ],
        'full-feature',
      ),
    ).toEqual({ reply: [['HeaderDigest', 'Reject'], ['X-foo', 'NotUnderstood']] });
    expect(n.params.MaxXmitDataSegmentLength).toBe(131072);
    expect(n.params.InitiatorAlias).toBe('renamed');
  });
  it('duplicates within one text request are a protocol error; separate requests are not', () => {
    const n = neg();
    expect(n.offer([['SendTargets', 'All'], ['SendTargets', 'All']], 'full-feature')).toHaveProperty('fail');
    expect(n.offer([['SendTargets', 'All']], 'full-feature')).toHaveProperty('reply');
    expect(n.offer([['SendTargets', 'All']], 'full-feature')).toHaveProperty('reply');
  });
});

describe('a complete open-iscsi style login', () => {
  it('negotiates what open-iscsi offers by default', () => {
    const n = new Negotiator(defaultTargetParams, { leading: true, targetPortalGroupTag: 1 });
    expect(n.offer([...hello, ['InitiatorAlias', 'host'], ['AuthMethod', 'None']], 'security')).toEqual({ reply: [['TargetPortalGroupTag', '1']] });
    const r = n.offer(
      [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['IFMarker', 'No'],
        ['OFMarker', 'No'],
        ['ErrorRecoveryLevel', '0'],
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '16776192'],
        ['FirstBurstLength', '262144'],
        ['MaxOutstandingR2T', '1'],
        ['MaxConnections', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['MaxRecvDataSegmentLength', '262144'],
      ],
      'operational',
    );
    expect(r).toEqual({
      reply: [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['IFMarker', 'Reject'],
        ['OFMarker', 'Reject'],
        ['ErrorRecoveryLevel', '0'],
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '1048576'],
        ['FirstBurstLength', '65536'],
        ['MaxOutstandingR2T', '1'],
        ['MaxConnections', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['MaxRecvDataSegmentLength', '1048576'],
      ],
    });
    expect(n.finish()).toEqual([]);
    expect(n.params).toEqual({
      SessionType: 'Normal',
      TargetName: TGT,
      InitiatorName: INI,
      InitiatorAlias: 'host',
      TargetPortalGroupTag: 1,
      HeaderDigest: 'None',
      DataDigest: 'None',
      MaxConnections: 1,
      InitialR2T: false,
      ImmediateData: true,
      MaxRecvDataSegmentLength: 1048576,
      MaxXmitDataSegmentLength: 262144,
      MaxBurstLength: 1048576,
      FirstBurstLength: 65536,
      DefaultTime2Wait: 2,
      DefaultTime2Retain: 0,
      MaxOutstandingR2T: 1,
      DataPDUInOrder: true,
      DataSequenceInOrder: true,
      ErrorRecoveryLevel: 0,
      TaskReporting: 'RFC3720',
      iSCSIProtocolLevel: 1,
      RDMAExtensions: false,
    });
  });
});

// The procfs-era iSCSI administration files (procfs.md §6.3, §6.5): iscsi-scstd.conf and
// initiators.allow/deny.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Scst } from '../src/engine/scst.js';
import { IscsiDriver } from '../src/engine/iscsi/portal.js';
import { applyIscsiScstdConf, parseIscsiScstdConf } from '../src/conf/iscsi-scstd-conf.js';
import { addressListFor, initiatorAllowed, itemMatches } from '../src/engine/iscsi/initiators-acl.js';
import { iscsiTarget } from '../src/engine/iscsi/target.js';

const log = pino({ level: 'silent' });

describe('iscsi-scstd.conf', () => {
  it('parses the usermode sample with ; and = separators and case-insensitive keywords', () => {
    const c = parseIscsiScstdConf(
      [
        '# global section',
        'IncomingUser discover 123456789012',
        'OutgoingUser target0 abcdefghijkl',
        'Target iqn.2001-04.com.example.blackbox:1',
        '\tQueuedCommands 2048; RspTimeout 90',
        '\tNOPInInterval 30',
        '\tMaxSessions=0',
        '\tInitialR2T No',
        '\tImmediateData Yes',
        '\tMaxRecvDataSegmentLength 0x100000',
        '\tFirstBurstLength 65536',
        '\tMaxOutstandingR2T 010',
        '\tHeaderDigest CRC32C,None',
        '\tAlias whatever',
        '\tincominguser7 joe 12charsecret',
        'Target iqn.2001-04.com.example.blackbox:2',
        '',
      ].join('\n'),
    );
    expect(c.problems).toEqual([]);
    expect(c.discovery).toEqual({ incoming: [{ user: 'discover', secret: '123456789012' }], outgoing: { user: 'target0', secret: 'abcdefghijkl' } });
    expect(c.targets.map((t) => t.name)).toEqual(['iqn.2001-04.com.example.blackbox:1', 'iqn.2001-04.com.example.blackbox:2']);
    const t = c.targets[0]!;
    expect([t.queuedCommands, t.rspTimeout, t.nopInInterval, t.maxSessions]).toEqual([2048, 90, 30, 0]);
    expect(t.params).toEqual({ InitialR2T: false, ImmediateData: true, MaxRecvDataSegmentLength: 1048576, FirstBurstLength: 65536, MaxOutstandingR2T: 8, HeaderDigest: ['CRC32C', 'None'] });
    expect(t.incoming).toEqual([{ user: 'joe', secret: '12charsecret' }]);
  });

  it('reports bad lines with their line number and keeps going', () => {
    const c = parseIscsiScstdConf(
      [
        'IncomingUser joe secret', // 1: too short
        'Target iqn.t:1',
        '\tLun 0 Path=/dev/sdb', // 3
        '\tImmediateData yes', // 4: booleans are case-sensitive
        '\tQueuedCommands 4096', // 5: out of range
        '\tMaxConnections 2', // 6
        '\tHeaderDigest MD5', // 7
        '\tIncomingUser joe 12charsecret',
        '\tIncomingUser joe 12charsecret', // 9: duplicate
        '\tOutgoingUser a 12charsecret',
        '\tOutgoingUser b 12charsecret', // 11: replaces, with a warning
        '\tIncomingUser onlyname', // 12
        '\tQueuedCommands 64 # comment', // 13: '#' later in a line is no comment
        'Target', // 14
        'Target iqn.t:1', // 15: duplicate; its stanza is skipped
        '\tQueuedCommands 1',
        'Target iqn.t:2',
      ].join('\n') + '\n',
    );
    expect(c.problems.map((p) => [p.line, p.level, p.message])).toEqual([
      [1, 'error', 'Secret for user joe is too short. At least 12 bytes are required'],
      [3, 'error', 'Unknown or unexpected param: Lun'],
      [4, 'error', 'Wrong value yes for parameter ImmediateData'],
      [5, 'error', 'Wrong value 4096 for parameter QueuedCommands'],
      [6, 'error', 'Wrong value 2 for parameter MaxConnections'],
      [7, 'error', 'Wrong value MD5 for parameter HeaderDigest'],
      [9, 'error', 'Attribute joe already exists'],
      [11, 'warn', 'Only one outgoing target account is supported. Replacing the old one.'],
      [12, 'error', 'Name or password is NULL'],
      [13, 'error', 'Unexpected parameter value #'],
      [14, 'error', 'Target name required on Target'],
      [15, 'error', 'duplicated target iqn.t:1'],
    ]);
    expect(c.discovery.incoming).toEqual([]);
    expect(c.targets.map((t) => [t.name, t.queuedCommands])).toEqual([
      ['iqn.t:1', undefined],
      ['iqn.t:2', undefined],
    ]);
    expect(c.targets[0]!.outgoing).toEqual({ user: 'b', secret: '12charsecret' });
  });

  it('creates enabled targets with their parameters; a target already configured is left alone', () => {
    const scst = new Scst(log);
    const iscsi = new IscsiDriver(scst, log);
    scst.addTarget('iqn.t:old');
    const conf = parseIscsiScstdConf('IncomingUser d 123456789012\nTarget iqn.t:old\nTarget iqn.t:new\nMaxBurstLength 4096\nFirstBurstLength 8192\nQueuedCommands 7\nIncomingUser u 123456789012\n');
    const made = applyIscsiScstdConf(conf, 'test.conf', scst, iscsi, log);
    expect(made.map((t) => t.name)).toEqual(['iqn.t:new']);
    const t = scst.targets.get('iqn.t:new')!;
    const itgt = iscsiTarget(t);
    expect([t.enabled, itgt.queuedCommands, itgt.params.MaxBurstLength, itgt.params.FirstBurstLength, itgt.params.DataPDUInOrder]).toEqual([true, 7, 4096, 4096, true]);
    expect(itgt.incomingUsers).toEqual([{ user: 'u', secret: '123456789012' }]);
    expect(iscsi.incomingUsers).toEqual([{ user: 'd', secret: '123456789012' }]);
    expect(scst.targets.get('iqn.t:old')!.enabled).toBe(false);
  });

  it('never throws on hostile input', () => {
    for (const s of ['\0\0\0', ';;;;', '='.repeat(10000), 'Target\tx\ty', 'x'.repeat(9000), 'Target a\n' + 'QueuedCommands 0x\n'.repeat(10)]) {
      expect(() => parseIscsiScstdConf(s)).not.toThrow();
    }
  });
});

describe('initiators.allow / initiators.deny', () => {
  const allow = '# comment\niqn.t:1 192.168.22.2, 192.168.3.8\niqn.t:1 10.0.0.1\niqn.t:2 [3ffe:302:11:1:211:43ff:fe31:5ae2], [3ffe:505:2:1::]/64\nALL 192.168.22.4\n';
  it('uses only the first line for the target or ALL', () => {
    expect(addressListFor(allow, 'iqn.t:1')).toBe('192.168.22.2, 192.168.3.8');
    expect(addressListFor(allow, 'iqn.t:9')).toBe('192.168.22.4');
    expect(addressListFor('iqn.t:1 ALL', 'iqn.t:1')).toBeNull(); // last line without newline
    expect(addressListFor('iqn.t:1\n', 'iqn.t:1')).toBeNull(); // no blank
  });
  it('matches addresses, networks with clear host bits, IPv6 in brackets', () => {
    expect(itemMatches('ALL', '1.2.3.4')).toBe(true);
    expect(itemMatches('192.168.3.0/24', '192.168.3.77')).toBe(true);
    expect(itemMatches('192.168.3.1/24', '192.168.3.77')).toBe(false);
    expect(itemMatches('192.168.3.77/32', '192.168.3.77')).toBe(false);
    expect(itemMatches('192.167.1.16/28', '::ffff:192.167.1.20')).toBe(true);
    expect(itemMatches('[3ffe:505:2:1::]/64', '3ffe:505:2:1::99')).toBe(true);
    expect(itemMatches('[3ffe:505:2:1::]/64', '3ffe:505:2:2::99')).toBe(false);
    expect(itemMatches('[3ffe:302:11:1:211:43ff:fe31:5ae2]', '3ffe:302:11:1:211:43ff:fe31:5ae2')).toBe(true);
    expect(itemMatches('host.example.com', '1.2.3.4')).toBe(false);
  });
  it('denies only when deny matches and allow does not; missing files allow', () => {
    const deny = 'iqn.t:1 192.168.12.2, 192.168.3.0/24\nALL ALL\n';
    expect(initiatorAllowed(null, null, 'iqn.t:1', '10.9.9.9')).toBe(true);
    expect(initiatorAllowed(null, deny, 'iqn.t:1', '10.9.9.9')).toBe(true); // first line for iqn.t:1 is used
    expect(initiatorAllowed(null, deny, 'iqn.t:1', '192.168.3.8')).toBe(false);
    expect(initiatorAllowed(allow, deny, 'iqn.t:1', '192.168.3.8')).toBe(true);
    expect(initiatorAllowed(allow, deny, 'iqn.t:5', '192.168.22.4')).toBe(true);
    expect(initiatorAllowed(allow, deny, 'iqn.t:5', '192.168.22.5')).toBe(false);
  });
});

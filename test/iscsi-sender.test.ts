import { describe, expect, it } from 'vitest';
import * as S from '../src/engine/iscsi/sender.js';
import { PduReceiver, type ProtocolError } from '../src/engine/iscsi/receiver.js';
import { dataSegmentLength, encodeLun, isFinal, itt, opcode, type Pdu } from '../src/engine/iscsi/pdu.js';
import { AsyncEvent, LogoutResponse, Opcode, RejectReason, TmfResponse } from '../src/engine/iscsi/constants.js';
import { crc32cDigest, digestBytes } from '../src/engine/iscsi/digest.js';
import { encodeTextKeys } from '../src/engine/iscsi/text.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const h = (b: Buffer) => b.toString('hex');

/** Frames `bhs`+`data` and parses the bytes back with the receiver. */
function roundTrip(bhs: Buffer, data: Buffer | null, digests = { header: false, data: false }): Pdu {
  const bufs = S.frame(bhs, data, digests);
  const pdus: Pdu[] = [];
  const errors: ProtocolError[] = [];
  const rx = new PduReceiver({ onPdu: (p) => pdus.push(p), onError: (e) => errors.push(e) });
  rx.headerDigest = digests.header;
  rx.dataDigest = digests.data;
  rx.maxRecvDataSegmentLength = 1 << 20;
  // byte by byte, to exercise assembly too
  const wire = Buffer.concat(bufs);
  for (let i = 0; i < wire.length; i++) rx.push(wire.subarray(i, i + 1));
  expect(errors).toEqual([]);
  expect(pdus.length).toBe(1);
  expect(pdus[0]!.bhs.equals(bhs)).toBe(true);
  expect(pdus[0]!.data.equals(data ?? Buffer.alloc(0))).toBe(true);
  return pdus[0]!;
}

const SENSE = hex('70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 00 00 00');

describe('SCSI Response', () => {
  it('matches the hand-written bytes, with sense data', () => {
    const bhs = S.scsiResponse({ itt: 0x11223344, status: 0x02, underflow: true, residualCount: 0x200, statSN: 0x10, expCmdSN: 0x20, maxCmdSN: 0x40, expDataSN: 3 });
    const data = S.senseDataSegment(SENSE);
    expect(h(data)).toBe('0012' + h(SENSE));
    const bufs = S.frame(bhs, data, { header: false, data: false });
    expect(bufs.length).toBe(2); // 20 bytes of data need no padding
    expect(h(bufs[0]!)).toBe(
      h(
        hex(`21 82 00 02  00 00 00 14  00 00 00 00  00 00 00 00
             11 22 33 44  00 00 00 00  00 00 00 10  00 00 00 20
             00 00 00 40  00 00 00 03  00 00 00 00  00 00 02 00`),
      ),
    );
    expect(bufs[1]).toBe(data); // not copied
    roundTrip(bhs, data);
    roundTrip(bhs, data, { header: true, data: true });
  });
  it('sets the o/u/O/U bits', () => {
    const b = S.scsiResponse({ itt: 1, status: 0, overflow: true, bidiOverflow: true, bidiUnderflow: true, statSN: 0, expCmdSN: 0, maxCmdSN: 0 });
    expect(b[1]).toBe(0x80 | 0x10 | 0x08 | 0x04);
  });
});

describe('Data-In', () => {
  it('with phase-collapsed status matches the hand-written bytes', () => {
    const bhs = S.dataIn({
      final: true,
      status: 0,
      underflow: true,
      residualCount: 0x100,
      lun: encodeLun(1, 'peripheral'),
      itt: 0x01020304,
      statSN: 5,
      expCmdSN: 6,
      maxCmdSN: 0x26,
      dataSN: 2,
      bufferOffset: 0x2000,
    });
    const data = Buffer.from('hello');
    const bufs = S.frame(bhs, data, { header: false, data: false });
    expect(bufs.map(h)).toEqual([
      h(
        hex(`25 83 00 00  00 00 00 05  00 01 00 00  00 00 00 00
             01 02 03 04  ff ff ff ff  00 00 00 05  00 00 00 06
             00 00 00 26  00 00 00 02  00 00 20 00  00 00 01 00`),
      ),
      h(data),
      '000000',
    ]);
    roundTrip(bhs, data);
  });
  it('without status leaves StatSN, residual and O/U zero; status forces F', () => {
    const b = S.dataIn({ final: false, itt: 7, expCmdSN: 1, maxCmdSN: 2, dataSN: 0, bufferOffset: 0, statSN: 9, underflow: true, residualCount: 5, status: null });
    expect(b[1]).toBe(0x00);
    expect(b.readUInt32BE(24)).toBe(0);
    expect(b.readUInt32BE(44)).toBe(0);
    expect(b.readUInt32BE(20)).toBe(0xffffffff);
    const c = S.dataIn({ final: false, status: 0x02, itt: 7, statSN: 4, expCmdSN: 1, maxCmdSN: 2, dataSN: 0, bufferOffset: 0, ack: true });
    expect(c[1]).toBe(0x80 | 0x40 | 0x01);
    expect(c[3]).toBe(0x02);
  });
});

describe('R2T', () => {
  it('matches the hand-written bytes', () => {
    const bhs = S.r2t({ lun: encodeLun(300, 'peripheral'), itt: 0x0a, ttt: 0x77, statSN: 9, expCmdSN: 10, maxCmdSN: 42, r2tSN: 1, bufferOffset: 0x10000, desiredDataTransferLength: 0x40000 });
    expect(h(bhs)).toBe(
      h(
        hex(`31 80 00 00  00 00 00 00  41 2c 00 00  00 00 00 00
             00 00 00 0a  00 00 00 77  00 00 00 09  00 00 00 0a
             00 00 00 2a  00 00 00 01  00 01 00 00  00 04 00 00`),
      ),
    );
    const p = roundTrip(bhs, null, { header: true, data: true });
    expect(opcode(p.bhs)).toBe(Opcode.R2T);
  });
});

describe('Login Response', () => {
  it('matches the hand-written bytes', () => {
    const bhs = S.loginResponse({
      transit: true,
      csg: 1,
      nsg: 3,
      isid: hex('00023d000001'),
      tsih: 5,
      itt: 0x1234,
      statSN: 0,
      expCmdSN: 1,
      maxCmdSN: 1,
      statusClass: 0,
      statusDetail: 0,
    });
    const data = encodeTextKeys([['HeaderDigest', 'None']]);
    const bufs = S.frame(bhs, data, { header: false, data: false });
    expect(bufs.map(h)).toEqual([
      h(
        hex(`23 87 00 00  00 00 00 12  00 02 3d 00  00 01 00 05
             00 00 12 34  00 00 00 00  00 00 00 00  00 00 00 01
             00 00 00 01  00 00 00 00  00 00 00 00  00 00 00 00`),
      ),
      h(Buffer.from('HeaderDigest=None\0')),
      '0000',
    ]);
    roundTrip(bhs, data);
  });
  it('failure status, NSG reserved without T', () => {
    const b = S.loginResponse({ transit: false, csg: 0, nsg: 3, isid: Buffer.alloc(6), tsih: 0, itt: 1, statSN: 0, expCmdSN: 0, maxCmdSN: 0, statusClass: 2, statusDetail: 1 });
    expect(b[1]).toBe(0x00);
    expect(h(b.subarray(36, 38))).toBe('0201');
  });
});

describe('Reject', () => {
  it('matches the hand-written bytes and carries the rejected header', () => {
    const rejected = hex(`05 80 00 00  00 00 02 00  00 00 00 00  00 00 00 00
                          00 00 00 07  00 00 00 42  00 00 00 00  00 00 00 09
                          00 00 00 00  00 00 00 02  00 01 00 00  00 00 00 00`);
    const bhs = S.reject({ reason: RejectReason.DATA_DIGEST_ERROR, statSN: 7, expCmdSN: 8, maxCmdSN: 9 });
    const bufs = S.frame(bhs, rejected, { header: false, data: false });
    expect(bufs.map(h)).toEqual([
      h(
        hex(`3f 80 02 00  00 00 00 30  00 00 00 00  00 00 00 00
             ff ff ff ff  00 00 00 00  00 00 00 07  00 00 00 08
             00 00 00 09  00 00 00 00  00 00 00 00  00 00 00 00`),
      ),
      h(rejected),
    ]);
    roundTrip(bhs, rejected, { header: true, data: true });
  });
});

describe('other target PDUs', () => {
  it('NOP-In', () => {
    const b = S.nopIn({ itt: 0xffffffff, ttt: 0x99, lun: encodeLun(0, 'peripheral'), statSN: 3, expCmdSN: 4, maxCmdSN: 5 });
    expect(h(b)).toBe(h(hex(`20 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 ff ff ff ff 00 00 00 99 00 00 00 03 00 00 00 04 00 00 00 05` + '00'.repeat(12))));
    roundTrip(b, Buffer.from('ping'));
  });
  it('Text Response', () => {
    const b = S.textResponse({ final: true, itt: 2, statSN: 3, expCmdSN: 4, maxCmdSN: 5 });
    expect(b[1]).toBe(0x80);
    expect(b.readUInt32BE(20)).toBe(0xffffffff);
    const c = S.textResponse({ final: false, cont: true, itt: 2, ttt: 0x10, statSN: 3, expCmdSN: 4, maxCmdSN: 5 });
    expect(c[1]).toBe(0x40);
    expect(c.readUInt32BE(20)).toBe(0x10);
    roundTrip(b, encodeTextKeys([['TargetName', 'iqn.2001-04.com.example:t1']]));
  });
  it('Logout Response', () => {
    const b = S.logoutResponse({ response: LogoutResponse.CLOSED_SUCCESSFULLY, itt: 9, statSN: 1, expCmdSN: 2, maxCmdSN: 3, time2Wait: 2, time2Retain: 20 });
    expect(h(b)).toBe(h(hex(`26 80 00 00 00 00 00 00 ${'00'.repeat(8)} 00 00 00 09 00 00 00 00 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 00 00 02 00 14 00 00 00 00`)));
  });
  it('Task Management Function Response', () => {
    const b = S.taskMgmtResponse({ response: TmfResponse.TASK_DOES_NOT_EXIST, itt: 0x10, statSN: 1, expCmdSN: 2, maxCmdSN: 3 });
    expect(h(b)).toBe(h(hex(`22 80 01 00 00 00 00 00 ${'00'.repeat(8)} 00 00 00 10 00 00 00 00 00 00 00 01 00 00 00 02 00 00 00 03 ${'00'.repeat(12)}`)));
  });
  it('Asynchronous Message with sense data', () => {
    const b = S.asyncMessage({ lun: encodeLun(2, 'peripheral'), asyncEvent: AsyncEvent.SCSI_ASYNC_EVENT, statSN: 1, expCmdSN: 2, maxCmdSN: 3 });
    expect(h(b)).toBe(h(hex(`32 80 00 00 00 00 00 00 00 02 00 00 00 00 00 00 ff ff ff ff 00 00 00 00 00 00 00 01 00 00 00 02 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00 00`)));
    const req = S.asyncMessage({ asyncEvent: AsyncEvent.LOGOUT_REQUESTED, parameter3: 5, statSN: 1, expCmdSN: 2, maxCmdSN: 3 });
    expect(req[36]).toBe(1);
    expect(req.readUInt16BE(42)).toBe(5);
    roundTrip(b, S.senseDataSegment(SENSE));
  });
});

describe('frame', () => {
  it('appends digests in wire form, pads data, omits the data digest without data', () => {
    const bhs = S.nopIn({ itt: 1, ttt: 0xffffffff, statSN: 0, expCmdSN: 0, maxCmdSN: 0 });
    const noData = S.frame(bhs, null, { header: true, data: true });
    expect(noData.length).toBe(1);
    expect(noData[0]!.length).toBe(52);
    expect(h(noData[0]!.subarray(48))).toBe(h(digestBytes(crc32cDigest([bhs]))));
    const data = Buffer.from('abcde');
    const bufs = S.frame(bhs, data, { header: true, data: true });
    expect(bufs.length).toBe(3);
    expect(bufs[1]).toBe(data);
    expect(h(bufs[2]!)).toBe('000000' + h(digestBytes(crc32cDigest([Buffer.from('abcde\0\0\0')]))));
    expect(dataSegmentLength(bhs)).toBe(5);
    expect(isFinal(bhs)).toBe(true);
    expect(itt(bhs)).toBe(1);
    // header digest includes the DataSegmentLength written by frame()
    expect(h(bufs[0]!.subarray(48))).toBe(h(digestBytes(crc32cDigest([bufs[0]!.subarray(0, 48)]))));
  });
});

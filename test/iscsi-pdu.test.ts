import { describe, expect, it } from 'vitest';
import {
  NO_SUCH_LUN,
  checkAhs,
  dataSegmentLength,
  decodeDataOut,
  decodeLogin,
  decodeLogout,
  decodeLun,
  decodeNopOut,
  decodeScsiCommand,
  decodeSnack,
  decodeTaskMgmt,
  decodeText,
  encodeLun,
  isFinal,
  isImmediate,
  itt,
  opcode,
  totalAHSLength,
  writeDataSegmentLength,
  type Pdu,
} from '../src/engine/iscsi/pdu.js';
import { Opcode, TaskAttribute, TmfFunction } from '../src/engine/iscsi/constants.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const pdu = (bhs: Buffer, ahs: Buffer | null = null, data = Buffer.alloc(0)): Pdu => ({ bhs, ahs, data });

// The RFC's CRC example PDU: SCSI Read(10), F+R, ITT 0x14, EDTL 1024, CmdSN 0x14, ExpStatSN 0x18.
const READ10 = hex(`01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                    14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
                    28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`);

describe('BHS accessors', () => {
  it('read the common fields', () => {
    const b = Buffer.from(READ10);
    b[0] = 0x41; // immediate
    b[4] = 2;
    writeDataSegmentLength(b, 0x012345);
    expect(opcode(b)).toBe(Opcode.SCSI_CMD);
    expect(isImmediate(b)).toBe(true);
    expect(isFinal(b)).toBe(true);
    expect(totalAHSLength(b)).toBe(2);
    expect(dataSegmentLength(b)).toBe(0x012345);
    expect(b.subarray(5, 8).toString('hex')).toBe('012345');
    expect(itt(b)).toBe(0x14000000);
  });
});

describe('decodeScsiCommand', () => {
  it('decodes the RFC example READ(10)', () => {
    const c = decodeScsiCommand(pdu(READ10));
    expect(c).toMatchObject({
      final: true,
      read: true,
      write: false,
      attr: TaskAttribute.UNTAGGED,
      lun: 0,
      itt: 0x14000000,
      expectedDataTransferLength: 0x400,
      cmdSN: 0x14,
      expStatSN: 0x18,
      immediate: false,
      bidiReadDataLength: null,
    });
    expect(c.cdb.toString('hex')).toBe('28000000000000000200000000000000');
    expect(c.lunRaw.length).toBe(8);
    // views, not copies
    expect(c.cdb.buffer).toBe(READ10.buffer);
  });
  it('appends an Extended CDB AHS and reads the bidirectional length AHS', () => {
    const bhs = Buffer.alloc(48);
    bhs[0] = 0x01;
    bhs[1] = 0xa1; // F W SIMPLE
    bhs[4] = 7; // 28 bytes of AHS
    for (let i = 0; i < 16; i++) bhs[32 + i] = i;
    // Extended CDB: 32-byte CDB -> AHSLength 17 (reserved byte + 16), total 20 bytes
    const ext = Buffer.alloc(20);
    ext.writeUInt16BE(17, 0);
    ext[2] = 1;
    for (let i = 0; i < 16; i++) ext[4 + i] = 16 + i;
    const bidi = hex('0005 02 00 00001000');
    const ahs = Buffer.concat([ext, bidi]);
    expect(checkAhs(ahs)).toBeNull();
    const c = decodeScsiCommand(pdu(bhs, ahs));
    expect(c.write).toBe(true);
    expect(c.attr).toBe(TaskAttribute.SIMPLE);
    expect(c.cdb).toEqual(Buffer.from([...Array(32).keys()]));
    expect(c.bidiReadDataLength).toBe(0x1000);
  });
  it('checkAhs finds chains that do not fill TotalAHSLength', () => {
    expect(checkAhs(hex('0010 01 00 00000000'))).toMatch(/exceeds/);
    expect(checkAhs(hex('0001 01 00 00'))).toMatch(/truncated/);
    expect(checkAhs(hex('0001 01 00'))).toBeNull();
  });
});

describe('LUN encoding', () => {
  it('decodes peripheral, flat and logical unit addressing', () => {
    expect(decodeLun(hex('0000000000000000'))).toBe(0);
    expect(decodeLun(hex('00ff000000000000'))).toBe(255);
    expect(decodeLun(hex('412c000000000000'))).toBe(300);
    expect(decodeLun(hex('7fff000000000000'))).toBe(16383);
    expect(decodeLun(hex('8005000000000000'))).toBe(5);
  });
  it('refuses what it cannot address', () => {
    expect(decodeLun(hex('0101000000000000'))).toBe(NO_SUCH_LUN); // bus 1
    expect(decodeLun(hex('0001000100000000'))).toBe(NO_SUCH_LUN); // second level
    expect(decodeLun(hex('c000000000000000'))).toBe(NO_SUCH_LUN); // extended
    expect(decodeLun(hex('8120000000000000'))).toBe(NO_SUCH_LUN); // LU addressing, target 1
    expect(decodeLun(hex('0000'))).toBe(NO_SUCH_LUN); // short
  });
  it('encodes and round-trips 0..16383', () => {
    expect(encodeLun(5, 'peripheral').toString('hex')).toBe('0005000000000000');
    expect(encodeLun(5, 'flat').toString('hex')).toBe('4005000000000000');
    expect(encodeLun(256, 'peripheral').toString('hex')).toBe('4100000000000000');
    expect(encodeLun(16383, 'flat').toString('hex')).toBe('7fff000000000000');
    const bad: number[] = [];
    for (let lun = 0; lun <= 16383; lun++) {
      if (decodeLun(encodeLun(lun, 'peripheral')) !== lun || decodeLun(encodeLun(lun, 'flat')) !== lun) bad.push(lun);
    }
    expect(bad).toEqual([]);
    expect(() => encodeLun(16384, 'flat')).toThrow(RangeError);
    expect(() => encodeLun(-1, 'peripheral')).toThrow(RangeError);
    expect(() => encodeLun(1.5, 'peripheral')).toThrow(RangeError);
  });
});

describe('other initiator PDUs', () => {
  it('Data-Out', () => {
    const b = hex(`05 80 00 00  00 00 02 00  00 03 00 00  00 00 00 00
                   00 00 00 07  00 00 00 42  00 00 00 00  00 00 00 09
                   00 00 00 00  00 00 00 02  00 01 00 00  00 00 00 00`);
    expect(decodeDataOut(pdu(b))).toMatchObject({ final: true, lun: 3, itt: 7, ttt: 0x42, expStatSN: 9, dataSN: 2, bufferOffset: 0x10000 });
  });
  it('NOP-Out', () => {
    const b = hex(`40 80 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                   00 00 00 01  ff ff ff ff  00 00 00 05  00 00 00 06
                   00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`);
    expect(decodeNopOut(pdu(b))).toMatchObject({ itt: 1, ttt: 0xffffffff, lun: 0, cmdSN: 5, expStatSN: 6, immediate: true });
  });
  it('Task Management Function Request', () => {
    const b = hex(`42 81 00 00  00 00 00 00  00 01 00 00  00 00 00 00
                   00 00 00 10  00 00 00 0c  00 00 00 20  00 00 00 21
                   00 00 00 1f  00 00 00 03  00 00 00 00  00 00 00 00`);
    expect(decodeTaskMgmt(pdu(b))).toMatchObject({
      function: TmfFunction.ABORT_TASK,
      lun: 1,
      itt: 0x10,
      referencedTaskTag: 0x0c,
      cmdSN: 0x20,
      expStatSN: 0x21,
      refCmdSN: 0x1f,
      expDataSN: 3,
      immediate: true,
    });
  });
  it('Login Request', () => {
    const b = hex(`43 87 00 00  00 00 00 30  00 02 3d 00  00 01 00 00
                   00 00 00 00  00 01 00 00  00 00 00 01  00 00 00 00
                   00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`);
    const l = decodeLogin(pdu(b));
    expect(l).toMatchObject({ transit: true, cont: false, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, isidHex: '00023d000001', tsih: 0, itt: 0, cid: 1, cmdSN: 1, expStatSN: 0 });
    expect(l.isid.length).toBe(6);
    expect(decodeLogin(pdu(hex('4340' + '00'.repeat(46))))).toMatchObject({ transit: false, cont: true, csg: 0, nsg: 0 });
  });
  it('Text Request', () => {
    const b = hex(`44 c0 00 00  00 00 00 10  00 00 00 00  00 00 00 00
                   00 00 00 02  ff ff ff ff  00 00 00 07  00 00 00 08
                   00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`);
    expect(decodeText(pdu(b))).toMatchObject({ final: true, cont: true, itt: 2, ttt: 0xffffffff, cmdSN: 7, expStatSN: 8, lun: 0, immediate: true });
  });
  it('Logout Request', () => {
    const b = hex(`46 81 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                   00 00 00 09  00 02 00 00  00 00 00 0a  00 00 00 0b
                   00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00`);
    expect(decodeLogout(pdu(b))).toMatchObject({ reasonCode: 1, itt: 9, cid: 2, cmdSN: 10, expStatSN: 11, immediate: true });
  });
  it('SNACK Request', () => {
    const b = hex(`10 81 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                   00 00 00 09  00 00 00 05  00 00 00 00  00 00 00 0b
                   00 00 00 00  00 00 00 00  00 00 00 04  00 00 00 02`);
    expect(decodeSnack(pdu(b))).toMatchObject({ type: 1, itt: 9, tttOrSnackTag: 5, expStatSN: 11, begRun: 4, runLength: 2 });
  });
});

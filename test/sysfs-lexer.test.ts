// The pieces of the sysfs tree that mirror kernel behaviour: SCST's mgmt lexer (sysfs.md §2.4),
// the kstrto* number rules (§2.2), the [key] marker (§2.3) and kernfs listing order (§2.6).
import { describe, expect, it } from 'vitest';
import { Lexer, cText, kstrtobool, kstrtol, kstrtoul, kstrtoull, paramTokens } from '../src/pde-fuse/sysfs/lexer.js';
import { kernfsHash, kernfsOrder, keyed } from '../src/pde-fuse/sysfs/attr.js';
import { MgmtError } from '../src/engine/errors.js';

const errnoOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof MgmtError) return e.errno;
    throw e;
  }
  return 'ok';
};

describe('lexems and tokens (scst_get_next_lexem / scst_get_next_token_str)', () => {
  it('skips blanks and =, stops at blanks and =, consumes one delimiter', () => {
    const lx = new Lexer('  add_device =disk1 filename=/a; blocksize = 4096\n');
    expect(lx.lexem()).toBe('add_device');
    expect(lx.lexem()).toBe('disk1');
    expect(lx.rest()).toBe('filename=/a; blocksize = 4096\n');
    expect(paramTokens(lx, 'd')).toEqual([
      ['filename', '/a'],
      ['blocksize', '4096'],
    ]);
    expect(lx.lexem()).toBe('');
  });
  it('an empty token ends the parameters: a=1;;b=2 keeps only a', () => {
    expect(paramTokens(new Lexer('a=1;;b=2'), 'd')).toEqual([['a', '1']]);
    expect(paramTokens(new Lexer('a=1;\nb=2'), 'd')).toEqual([['a', '1']]);
    expect(paramTokens(new Lexer('A = 1;b=2;'), 'd')).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });
  it('a missing value or an extra word is EINVAL', () => {
    expect(errnoOf(() => paramTokens(new Lexer('filename'), 'd'))).toBe('EINVAL');
    expect(errnoOf(() => paramTokens(new Lexer('filename=/a /b'), 'd'))).toBe('EINVAL');
    expect(errnoOf(() => paramTokens(new Lexer(' = '), 'd'))).toBe('EINVAL');
  });
  it('a device name followed directly by ; keeps the ;', () => {
    const lx = new Lexer('add disk1; 0');
    lx.lexem();
    expect(lx.lexem()).toBe('disk1;');
  });
  it('the text of a write ends at its first NUL', () => {
    expect(cText(Buffer.from('add x\0garbage'))).toBe('add x');
  });
});

describe('kstrto*', () => {
  it('accepts base prefixes, an optional + and one trailing newline', () => {
    expect(kstrtoul('10')).toBe(10);
    expect(kstrtoul('0x10\n')).toBe(16);
    expect(kstrtoul('010')).toBe(8);
    expect(kstrtoul('+7')).toBe(7);
    expect(kstrtoull('18446744073709551615')).toBe(18446744073709551615n);
    expect(kstrtol('-1')).toBe(-1);
  });
  it('refuses blanks, trailing text, signs on unsigned, overflow', () => {
    for (const bad of ['', ' 1', '1 ', '1\n\n', '1x', '-1', '0x', '08', '18446744073709551616']) expect(errnoOf(() => kstrtoull(bad)), bad).toBe('EINVAL');
    expect(errnoOf(() => kstrtol('9223372036854775808'))).toBe('EINVAL');
  });
  it('kstrtobool', () => {
    expect(['1', 'y', 'Y', 'on', 'On'].map((s) => kstrtobool(s))).toEqual([true, true, true, true, true]);
    expect(['0', 'n', 'N', 'off'].map((s) => kstrtobool(s))).toEqual([false, false, false, false]);
    expect(errnoOf(() => kstrtobool('maybe'))).toBe('EINVAL');
  });
});

describe('[key] marker', () => {
  it('appears on its own line after the value', () => {
    expect(keyed(1, true)).toBe('1\n[key]\n');
    expect(keyed('auto', false)).toBe('auto\n');
  });
});

describe('kernfs listing order', () => {
  // Reference values from the formula compiled as C with gcc on x86-64 (char is signed there).
  const C_REFERENCE: Array<[string, number]> = [
    ['version', 1728983886],
    ['threads', 450913958],
    ['setup_id', 171180192],
    ['handlers', 488677703],
    ['devices', 698066606],
    ['targets', 870606390],
    ['mgmt', 1390491168],
    ['enabled', 457254161],
    ['iqn.2006-10.net.vlnb:tgt', 1021182909],
    ['é', 1490632645],
    ['a', 573381588],
    ['', 2],
    ['last_sysfs_mgmt_res', 884925121],
    ['export0', 1232834706],
    ['export1', 56090890],
    ['0', 1948804525],
    ['1', 772060710],
    ['2', 1742800542],
    ['10', 1851537749],
  ];
  it('hashes names as kernfs_name_hash does', () => {
    for (const [n, h] of C_REFERENCE) expect(kernfsHash(n), n).toBe(h);
  });
  it('orders by hash, not by name', () => {
    const names = ['0', '1', '2', '10', 'export0', 'export1'];
    expect(kernfsOrder(names.map((n) => [n, null] as const)).map(([n]) => n)).toEqual(['export1', '1', 'export0', '2', '10', '0']);
  });
});

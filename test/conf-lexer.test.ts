// The lexical helpers of the scst.conf reader (scstadmin.md §6.1 steps 1-4 and 6) in isolation.
import { describe, expect, it } from 'vitest';
import { isProcfsSectionLine, lexLines, splitWords, stripComment, unescape } from '../src/conf/lexer.js';

describe('stripComment', () => {
  it.each([
    ['# all of it', ''],
    ['#', ''],
    ['filename /a#b', 'filename /'],
    ['a #b', 'a'],
    ['a\\#b', 'a\\#b'],
    ['a\\#b#c', 'a\\#'],
    ['a\\\\#b', 'a\\\\#b'],
    ['x ## y', 'x'],
    ['"q #"', '"q'],
    ['no comment', 'no comment'],
  ])('%j → %j', (line, out) => {
    expect(stripComment(line)).toBe(out);
  });
});

describe('unescape', () => {
  it.each([
    ['a\\#b', 'a#b'],
    ['a\\\\b', 'a\\b'],
    ['\\"x\\"', '"x"'],
    ['\\\\\\\\', '\\\\'],
    ['trailing\\', 'trailing\\'],
    ['plain', 'plain'],
  ])('%j → %j', (line, out) => {
    expect(unescape(line)).toBe(out);
  });
});

describe('isProcfsSectionLine', () => {
  it.each([
    ['[HANDLER vdisk]', true],
    ['[GROUP Default]', true],
    ['[ASSIGNMENT Default_iqn.2007-05.com.example:x]', true],
    ['  [HANDLER vdisk]  ', true],
    ['[HANDLER]', false],
    ['[OPTIONS]', false],
    ['[TARGETS enable]', false],
    ['[handler vdisk]', false],
    // The original's greedy capture: two blanks leave a blank in the captured word.
    ['[HANDLER  vdisk]', false],
    ['[HANDLER a b]', false],
    ['HANDLER vdisk', false],
  ])('%j → %s', (line, yes) => {
    expect(isProcfsSectionLine(line)).toBe(yes);
  });
});

describe('lexLines', () => {
  it('keeps one newline per line so line numbers survive', () => {
    const { stream } = lexLines('# c\na 1 # c\n\\#x\nlast');
    expect(stream).toBe('\na 1\n#x\nlast');
  });

  it('reports the first procfs header line', () => {
    expect(lexLines('a\n[GROUP g]\n[HANDLER h]\n').procfsLine).toBe(2);
    expect(lexLines('a\n').procfsLine).toBeUndefined();
  });

  it('ignores a byte-order mark', () => {
    expect(lexLines('\uFEFFsetup_id 1\n').stream).toBe('setup_id 1\n');
  });
});

describe('splitWords', () => {
  it.each([
    ['a b c', ['a', 'b', 'c']],
    ['  a\tb  ', ['a', 'b']],
    ['a b c d e', ['a', 'b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['x "a b"c', ['x', 'a b', 'c']],
    ['x ""', ['x', '']],
    ['x "unclosed y', ['x', '"unclosed', 'y']],
    ['x a"b c"', ['x', 'a"b', 'c"']],
    ['x "a\\" b"', ['x', 'a\\" b']],
    ['x "a\\"', ['x', '"a\\"']],
    ['x "a b\\', ['x', '"a', 'b\\']],
    ['', []],
  ])('%j → %j', (text, words) => {
    expect(splitWords(text)).toEqual(words);
  });

  it('stays fast on long lines with unclosed quotes and escapes', () => {
    const hostile = 'x "'.concat('a\\" '.repeat(200_000));
    const t0 = performance.now();
    expect(splitWords(hostile, 3)).toEqual(['x', '"a\\"', 'a\\"']);
    expect(splitWords(hostile, Number.MAX_SAFE_INTEGER)).toHaveLength(200_001);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});

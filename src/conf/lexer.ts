// Lexical layer of scst.conf (scstadmin.md §6.1 steps 1-4 and 6): per-line comment stripping,
// detection of the obsolete procfs format, backslash unescaping, and splitting a statement into
// words. The rules reproduce the original Perl reader, quirks included, because existing files
// were written against that behaviour.

/** Blank characters of the original (Perl `\s` on byte strings): ASCII only. */
export function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
}

export function isBlankText(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isBlank(s[i]!)) return false;
  return true;
}

export function trimBlanks(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isBlank(s[a]!)) a++;
  while (b > a && isBlank(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/**
 * Steps 1 and 2: a line starting with `#` is emptied; otherwise the first `#` not preceded by a
 * backslash is cut together with the character before it and the rest of the line
 * (`filename /a#b` → `filename /`). Quotes do not protect `#`; `\#` is a literal `#`.
 */
export function stripComment(line: string): string {
  if (line.startsWith('#')) return '';
  for (let i = 1; i < line.length; i++) {
    if (line[i] === '#' && line[i - 1] !== '\\') return line.slice(0, i - 1);
  }
  return line;
}

const PROCFS_SECTIONS = new Set(['HANDLER', 'GROUP', 'ASSIGNMENT']);

/**
 * Step 4: does this (comment-stripped) line look like a section header of the obsolete procfs
 * format? The original tests `/\[(.*)\s+.*\]/` and compares the greedy capture with HANDLER,
 * GROUP and ASSIGNMENT, i.e. the text from the first `[` up to the last blank that still has a
 * `]` after it.
 */
export function isProcfsSectionLine(line: string): boolean {
  const open = line.indexOf('[');
  if (open < 0) return false;
  const close = line.lastIndexOf(']');
  if (close <= open) return false;
  for (let w = close - 1; w > open; w--) {
    if (isBlank(line[w]!)) return PROCFS_SECTIONS.has(line.slice(open + 1, w));
  }
  return false;
}

/** Step 3: every backslash followed by a character stands for that character. */
export function unescape(line: string): string {
  if (!line.includes('\\')) return line;
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      out += line[i + 1];
      i++;
    } else {
      out += c;
    }
  }
  return out;
}

export interface LexedText {
  /** The whole file after steps 1-3, newlines kept so line numbers stay countable. */
  stream: string;
  /** 1-based line of the first procfs section header (step 4), if any. */
  procfsLine?: number;
}

/** Runs steps 1-4 over every line of the file. */
export function lexLines(text: string): LexedText {
  // A UTF-8 byte-order mark would otherwise become part of the first word.
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const parts: string[] = [];
  let procfsLine: number | undefined;
  let lineNo = 0;
  let pos = 0;
  while (pos < src.length) {
    lineNo++;
    const nl = src.indexOf('\n', pos);
    const end = nl < 0 ? src.length : nl;
    const stripped = stripComment(src.slice(pos, end));
    if (procfsLine === undefined && isProcfsSectionLine(stripped)) procfsLine = lineNo;
    parts.push(unescape(stripped));
    if (nl >= 0) parts.push('\n');
    pos = end + 1;
  }
  return procfsLine === undefined ? { stream: parts.join('') } : { stream: parts.join(''), procfsLine };
}

/**
 * Step 6: the words of one statement. A word is a double-quoted string (quotes removed, the
 * text between them kept verbatim) or a run of non-blank characters; this is the original's
 * `"([^"\\]*(\\.[^"\\]*)*)"|(\S+)`, written as a scanner so hostile input stays linear.
 * Only the first `max` words are returned; the rest of the statement is ignored.
 */
export function splitWords(statement: string, max = 3): string[] {
  const words: string[] = [];
  const n = statement.length;
  let i = 0;
  while (i < n && words.length < max) {
    if (isBlank(statement[i]!)) {
      i++;
      continue;
    }
    // An unclosed quote scans to the end of the line once at most: no later word can start
    // with a quote the scan did not already see, so the work stays linear.
    if (statement[i] === '"') {
      let j = i + 1;
      let closed = -1;
      while (j < n) {
        const c = statement[j]!;
        if (c === '"') {
          closed = j;
          break;
        }
        if (c === '\\') {
          // A backslash pairs with the next character (the original's `\\.`, where `.` is
          // anything but a newline); a trailing one cannot pair and the quote stays open.
          if (j + 1 >= n || statement[j + 1] === '\n') break;
          j += 2;
          continue;
        }
        j++;
      }
      if (closed >= 0) {
        words.push(statement.slice(i + 1, closed));
        i = closed + 1;
        continue;
      }
    }
    let j = i;
    while (j < n && !isBlank(statement[j]!)) j++;
    words.push(statement.slice(i, j));
    i = j;
  }
  return words;
}

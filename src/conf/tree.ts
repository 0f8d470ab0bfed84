// Structural layer of scst.conf (scstadmin.md §6.1 steps 5 and 7): braces and newlines cut the
// lexed stream into statements, and each statement of up to three words is stored in a tree of
// ordered maps exactly as the original stored it in nested Perl hashes. Keeping that shape is
// what reproduces the original's replace/accumulate rules: `A` replaces `A`, `A B` replaces
// `A.B` (keeping other `A.*`), `A B C` replaces `A.B.C`.

import { ConfigError } from './config-error.js';
import { isBlankText, splitWords, trimBlanks } from './lexer.js';

export interface TreeNode {
  entries: Map<string, TreeEntry>;
}

export interface TreeEntry {
  /** Line of the statement that created the entry or last replaced it. */
  line: number;
  /** Set by a one-word statement: for a section keyword this means "no name given". */
  bare: boolean;
  /** Assigned together with a `{…}` block (as opposed to a plain line or implied by a deeper key). */
  block: boolean;
  child: TreeNode;
}

export interface TreeNote {
  line: number;
  message: string;
}

export interface Tree {
  root: TreeNode;
  /** Text the grammar silently drops (kept for diagnostics, never fatal). */
  notes: TreeNote[];
}

function newNode(): TreeNode {
  return { entries: new Map() };
}

/** The original skips statements that are blank or exactly `0` (false in Perl). */
function isStatement(text: string): boolean {
  return text !== '0' && !isBlankText(text);
}

/** An empty tree, for producers other than the text reader (the procfs converter). */
export function emptyTree(): Tree {
  return { root: newNode(), notes: [] };
}

/** Creates (or reuses) the entries along `path`, like Perl autovivification, and returns the last. */
export function vivifyPath(node: TreeNode, path: readonly string[], line: number): TreeEntry {
  let n = node;
  let e: TreeEntry | undefined;
  for (const key of path) {
    e = vivify(n, key, line);
    n = e.child;
  }
  if (!e) throw new RangeError('vivifyPath needs a non-empty path');
  return e;
}

function replaceEntry(node: TreeNode, key: string, entry: TreeEntry): void {
  // Delete first so iteration order follows the definition that is now in force.
  node.entries.delete(key);
  node.entries.set(key, entry);
}

function vivify(node: TreeNode, key: string, line: number): TreeEntry {
  let e = node.entries.get(key);
  if (!e) {
    e = { line, bare: false, block: false, child: newNode() };
    node.entries.set(key, e);
  }
  return e;
}

function applyStatement(node: TreeNode, text: string, child: TreeNode, line: number, block: boolean): void {
  const words = splitWords(text, 3);
  const entry = (bare: boolean): TreeEntry => ({ line, bare, block, child });
  if (words.length === 1) {
    replaceEntry(node, words[0]!, entry(true));
  } else if (words.length === 2) {
    replaceEntry(vivify(node, words[0]!, line).child, words[1]!, entry(false));
  } else if (words.length === 3) {
    const a = vivify(node, words[0]!, line);
    replaceEntry(vivify(a.child, words[1]!, line).child, words[2]!, entry(false));
  }
}

function shorten(text: string): string {
  const t = trimBlanks(text);
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}

interface Frame {
  node: TreeNode;
  header: string;
  headerLine: number;
}

/**
 * Builds the statement tree. Throws ConfigError for a `}` with no open block and for a block
 * still open at the end of the file.
 */
export function buildTree(stream: string, file: string): Tree {
  const root = newNode();
  const notes: TreeNote[] = [];
  const stack: Frame[] = [];
  let node = root;
  let lineNo = 1;
  // The statement being accumulated is always stream.slice(start, i): every character that is
  // not `{`, `}` or a newline belongs to it.
  let start = 0;

  for (let i = 0; i < stream.length; i++) {
    const c = stream[i];
    if (c === '{') {
      stack.push({ node, header: stream.slice(start, i), headerLine: lineNo });
      node = newNode();
      start = i + 1;
    } else if (c === '}') {
      const pending = stream.slice(start, i);
      if (isStatement(pending)) {
        notes.push({
          line: lineNo,
          message: `'${shorten(pending)}' is ignored: a statement must end with a newline before '}'.`,
        });
      }
      const frame = stack.pop();
      if (!frame) throw new ConfigError(file, lineNo, "Unexpected '}': there is no open block to close.");
      const child = node;
      node = frame.node;
      if (isStatement(frame.header)) {
        applyStatement(node, frame.header, child, frame.headerLine, true);
      } else if (child.entries.size > 0) {
        notes.push({
          line: frame.headerLine,
          message: "A block without a header is ignored: '{' must be on the line that names it.",
        });
      }
      start = i + 1;
    } else if (c === '\n') {
      const text = stream.slice(start, i);
      if (isStatement(text)) applyStatement(node, text, newNode(), lineNo, false);
      lineNo++;
      start = i + 1;
    }
  }

  const open = stack.at(-1);
  if (open) {
    const what = isBlankText(open.header) ? "'{'" : `'${shorten(open.header)} {'`;
    const more = stack.length > 1 ? ` (${stack.length} blocks are open)` : '';
    throw new ConfigError(file, open.headerLine, `${what} is never closed: '}' expected before the end of the file${more}.`);
  }
  const tail = stream.slice(start);
  if (isStatement(tail)) {
    notes.push({ line: lineNo, message: `'${shorten(tail)}' is ignored: the last line does not end with a newline.` });
  }
  return { root, notes };
}

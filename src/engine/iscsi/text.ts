// key=value text of Login/Text data segments, RFC 7143 6.1: every pair is UTF-8 "key=value"
// ended by a NUL byte. Keys are limited to 63 bytes of letters, digits and . - + @ _ (plus the
// '#' of X#/Y#/Z# public-extension names); values may be any UTF-8 without NUL.

export type TextPairs = Array<[string, string]>;

export const MAX_KEY_LENGTH = 63;

const KEY_RE = /^(?:[A-Za-z][A-Za-z0-9.\-+@_]*|[XYZ]#[A-Za-z0-9.\-+@_]+)$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True if `key` is a syntactically valid key name (standard label or extension form). */
export function isValidKey(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && KEY_RE.test(key);
}

/**
 * Splits a data segment into pairs, in order. NUL-terminated pairs are the rule; trailing empty
 * pieces (a final NUL, or extra NULs some initiators append) are allowed, and an unterminated
 * last pair is accepted because the caller always hands over a complete, reassembled text.
 * Errors: empty piece before other pairs, missing '=', invalid or over-long key, invalid UTF-8.
 */
export function parseTextKeys(data: Buffer): { pairs: TextPairs } | { error: string } {
  const pairs: TextPairs = [];
  let start = 0;
  const len = data.length;
  while (start < len) {
    let nul = data.indexOf(0, start);
    if (nul < 0) nul = len;
    if (nul === start) {
      // An empty piece is acceptable only if nothing but NULs follows.
      for (let i = start; i < len; i++) if (data[i] !== 0) return { error: `empty key=value pair at offset ${start}` };
      break;
    }
    const eq = data.indexOf(0x3d /* '=' */, start);
    if (eq < 0 || eq >= nul) return { error: `missing '=' in text at offset ${start}` };
    if (eq - start > MAX_KEY_LENGTH) return { error: `key longer than ${MAX_KEY_LENGTH} bytes at offset ${start}` };
    const key = data.toString('latin1', start, eq);
    if (!KEY_RE.test(key)) return { error: `invalid key name ${JSON.stringify(key)}` };
    // Decoded without a view of its own (a login has some twenty values); only a value that
    // decodes to a replacement character is checked strictly, where it may be invalid UTF-8.
    let value = data.toString('utf8', eq + 1, nul);
    if (value.includes('\ufffd')) {
      try {
        value = utf8.decode(data.subarray(eq + 1, nul));
      } catch {
        return { error: `value of ${key} is not valid UTF-8` };
      }
    }
    pairs.push([key, value]);
    start = nul + 1;
  }
  return { pairs };
}

/** Encodes pairs as "key=value\0" each, UTF-8. */
export function encodeTextKeys(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  // One string, one encoding: a login answer has some twenty pairs.
  let text = '';
  for (const [k, v] of pairs) text += `${k}=${v}\0`;
  return Buffer.from(text, 'utf8');
}

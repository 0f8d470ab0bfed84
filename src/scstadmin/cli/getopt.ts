// Option parsing with the rules of Perl's Getopt::Long in its default configuration, which is
// what the original scstadmin uses (scstadmin.md §2): `-`, `--` or `+` prefixes, names matched
// case-insensitively, any unambiguous prefix accepted, values after `=` or in the next argument
// (a mandatory value takes the next argument even when it starts with `-`), non-option arguments
// left over and ignored, and Getopt's own messages for errors.

export type OptionKind = 'flag' | 'required' | 'optional';

export interface OptionSpec {
  /** Canonical name as declared (`dumpAttrs`); matching uses its lower-case form. */
  name: string;
  kind: OptionKind;
}

export interface ParsedOptions {
  /** Canonical name → value: true for flags, the string for valued options ('' when omitted). */
  values: Map<string, string | true>;
  /** Non-option arguments, in order. */
  rest: string[];
  /** Getopt's warnings (each ends with a newline); parsing failed when non-empty. */
  errors: string[];
}

const PREFIX = /^(--|-|\+)(.+)$/s;

/** Does `arg` look like an option to an optional-value option (Getopt's `/^$prefix.+/`)? */
function looksLikeOption(arg: string): boolean {
  return arg === '--' || /^(--|-|\+)./s.test(arg);
}

export function getopt(argv: readonly string[], specs: readonly OptionSpec[]): ParsedOptions {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) byName.set(s.name.toLowerCase(), s);
  const names = [...byName.keys()].sort();
  const values = new Map<string, string | true>();
  const rest: string[] = [];
  const errors: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    }
    const m = PREFIX.exec(arg);
    if (!m || arg === '-') {
      rest.push(arg);
      continue;
    }
    let body = m[2]!;
    let optarg: string | undefined;
    const eq = body.indexOf('=');
    if (eq >= 0) {
      optarg = body.slice(eq + 1);
      body = body.slice(0, eq);
    }
    const typed = body.toLowerCase();
    let spec = byName.get(typed);
    if (!spec) {
      const hits = typed === '' ? [] : names.filter((n) => n.startsWith(typed));
      if (hits.length > 1) {
        errors.push(`Option ${typed} is ambiguous (${hits.join(', ')})\n`);
        continue;
      }
      if (hits.length === 0) {
        errors.push(`Unknown option: ${typed}\n`);
        continue;
      }
      spec = byName.get(hits[0]!)!;
    }
    const shown = spec.name.toLowerCase();
    if (spec.kind === 'flag') {
      if (optarg !== undefined) {
        errors.push(`Option ${shown} does not take an argument\n`);
        continue;
      }
      values.set(spec.name, true);
      continue;
    }
    if (optarg !== undefined) {
      if (optarg === '' && spec.kind === 'required') {
        errors.push(`Option ${shown} requires an argument\n`);
        continue;
      }
      values.set(spec.name, optarg);
      continue;
    }
    const next = argv[i + 1];
    if (spec.kind === 'required') {
      if (next === undefined) {
        errors.push(`Option ${shown} requires an argument\n`);
        continue;
      }
      values.set(spec.name, next);
      i++;
      continue;
    }
    if (next === undefined || (next !== '-' && looksLikeOption(next))) {
      values.set(spec.name, '');
      continue;
    }
    values.set(spec.name, next);
    i++;
  }
  return { values, rest, errors };
}

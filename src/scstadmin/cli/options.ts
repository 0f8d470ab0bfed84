// The modern scstadmin's options (scstadmin.md §2) and their validation, in the original's
// order and with its messages, so scripts that parse those messages keep working.

import { getopt, type OptionSpec } from './getopt.js';

const req = (name: string): OptionSpec => ({ name, kind: 'required' });
const opt = (name: string): OptionSpec => ({ name, kind: 'optional' });
const flag = (name: string): OptionSpec => ({ name, kind: 'flag' });

export const OPTIONS: readonly OptionSpec[] = [
  opt('config'),
  flag('clear_config'),
  req('write_config'),
  opt('check_config'),
  opt('list_handler'),
  opt('list_device'),
  opt('list_dgrp'),
  opt('list_tgrp'),
  opt('list_driver'),
  opt('list_target'),
  opt('list_group'),
  flag('list_sessions'),
  // Ours (issue 16): the nodes of the cluster (scstd --cluster).
  flag('list_cluster_nodes'),
  flag('list_scst_attr'),
  req('list_hnd_attr'),
  req('list_dev_attr'),
  req('list_dgrp_attr'),
  req('list_tgrp_attr'),
  req('list_ttgt_attr'),
  req('list_drv_attr'),
  req('list_tgt_attr'),
  req('list_grp_attr'),
  req('list_lun_attr'),
  req('list_init_attr'),
  flag('set_scst_attr'),
  req('set_hnd_attr'),
  req('set_dev_attr'),
  req('set_dgrp_attr'),
  req('set_tgrp_attr'),
  req('set_ttgt_attr'),
  req('set_drv_attr'),
  req('set_tgt_attr'),
  req('set_grp_attr'),
  req('set_lun_attr'),
  req('set_init_attr'),
  req('add_drv_attr'),
  req('add_tgt_attr'),
  req('rem_drv_attr'),
  req('rem_tgt_attr'),
  req('open_dev'),
  req('close_dev'),
  req('resync_dev'),
  req('add_dgrp'),
  req('rem_dgrp'),
  req('add_dgrp_dev'),
  req('rem_dgrp_dev'),
  req('add_tgrp'),
  req('rem_tgrp'),
  req('add_tgrp_tgt'),
  req('rem_tgrp_tgt'),
  req('add_target'),
  req('rem_target'),
  req('add_group'),
  req('rem_group'),
  req('add_init'),
  req('rem_init'),
  req('move_init'),
  flag('clear_inits'),
  req('add_lun'),
  req('rem_lun'),
  req('replace_lun'),
  flag('clear_luns'),
  req('enable_target'),
  req('disable_target'),
  opt('issue_lip'),
  flag('lip'),
  flag('no_lip'),
  req('handler'),
  req('attributes'),
  req('driver'),
  req('target'),
  req('group'),
  req('to'),
  req('device'),
  req('dev_group'),
  req('tgt_group'),
  flag('h'),
  flag('help'),
  flag('nonkey'),
  flag('noprompt'),
  flag('cont_on_err'),
  flag('force'),
  flag('dumpAttrs'),
  flag('debug'),
  // Ours: where the management tree is (the original only knows /sys/kernel/scst_tgt).
  req('root'),
];

export const QUERY_OPTIONS = [
  'list_handler',
  'list_device',
  'list_dgrp',
  'list_tgrp',
  'list_driver',
  'list_target',
  'list_group',
  'list_sessions',
  'list_cluster_nodes',
  'list_scst_attr',
  'list_hnd_attr',
  'list_dev_attr',
  'list_drv_attr',
  'list_tgt_attr',
  'list_grp_attr',
  'list_lun_attr',
  'list_init_attr',
  'list_dgrp_attr',
  'list_tgrp_attr',
  'list_ttgt_attr',
] as const;

const SET_OPTIONS = [
  'set_scst_attr',
  'set_hnd_attr',
  'set_dev_attr',
  'set_drv_attr',
  'set_tgt_attr',
  'set_grp_attr',
  'set_lun_attr',
  'set_init_attr',
  'set_dgrp_attr',
  'set_tgrp_attr',
  'set_ttgt_attr',
] as const;

// -resync_dev and -move_init are deliberately absent: the original does not count them.
const OP_OPTIONS = [
  'clear_config',
  'write_config',
  'check_config',
  'open_dev',
  'close_dev',
  'add_dgrp',
  'rem_dgrp',
  'add_tgrp',
  'rem_tgrp',
  'add_tgrp_tgt',
  'rem_tgrp_tgt',
  'add_group',
  'rem_group',
  'add_dgrp_dev',
  'rem_dgrp_dev',
  'add_init',
  'rem_init',
  'clear_inits',
  'add_drv_attr',
  'add_tgt_attr',
  'rem_drv_attr',
  'rem_tgt_attr',
  'add_target',
  'rem_target',
  'add_lun',
  'rem_lun',
  'replace_lun',
  'clear_luns',
  'enable_target',
  'disable_target',
  'issue_lip',
] as const;

export const DEFAULT_CONFIG = '/etc/scst.conf';

/** The parsed command line: option name → value (true for flags). */
export class Args {
  constructor(
    readonly values: ReadonlyMap<string, string | true>,
    /** `-attributes`, split as the original does: `a=1,b` → [[a,1],[b,1]], later names win. */
    readonly attributes: ReadonlyArray<readonly [string, string]>,
  ) {}

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** The option's string value; undefined when not given (flags give ''). */
  str(name: string): string | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : v === true ? '' : v;
  }

  flag(name: string): boolean {
    return this.values.has(name);
  }
}

/** `name=value,name2` → pairs; a bare name means 1; repeated names keep the last value. */
export function splitAttributes(text: string | undefined): Array<[string, string]> {
  // The original skips the whole list when it is Perl-false ('' or '0').
  if (text === undefined || text === '' || text === '0') return [];
  const map = new Map<string, string>();
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    if (eq < 0) map.set(item, '1');
    else map.set(item.slice(0, eq), item.slice(eq + 1));
  }
  return [...map];
}

export interface ParseResult {
  args?: Args;
  /** Getopt warnings for stderr. */
  errors: string[];
  /** The validation message for stdout (exit 1). */
  invalid?: string;
  help?: boolean;
}

/** Validation rules in the original's order: [applies?, message]. */
function validate(a: Args): string | undefined {
  const d = (n: string) => a.has(n);
  const count = (names: readonly string[]) => names.filter(d).length;
  const query = QUERY_OPTIONS.some(d) ? 1 : 0;
  if (query + count(SET_OPTIONS) + count(OP_OPTIONS) > 1) return 'Please specify only one non-query operation at a time.';
  const rules: Array<[boolean, string]> = [
    [d('clear_config') && !d('force'), 'Please specify -force with -clear_config.'],
    [d('list_tgrp') && !d('dev_group'), 'Please specify -dev_group with -list_tgrp.'],
    [d('list_tgt_attr') && !d('driver'), 'Please specify -driver with -list_tgt_attr.'],
    [d('list_grp_attr') && (!d('driver') || !d('target')), 'Please specify -driver, -target and group with -list_grp_attr.'],
    [d('list_lun_attr') && (!d('driver') || !d('target')), 'Please specify -driver and -target with -list_lun_attr.'],
    [d('list_init_attr') && (!d('driver') || !d('target') || !d('group')), 'Please specify -driver, -target and -group with -list_init_attr.'],
    [d('list_tgrp_attr') && !d('dev_group'), 'Please specify -dev_group with -list_tgrp_attr.'],
    [d('list_ttgt_attr') && (!d('dev_group') || !d('tgt_group')), 'Please specify -dev_group and -tgt_group with -list_ttgt_attr.'],
    [d('set_scst_attr') && !d('attributes'), 'Please specify -attributes with -set_scst_attr.'],
    [d('set_hnd_attr') && !d('attributes'), 'Please specify -attributes with -set_hnd_attr.'],
    [d('set_dev_attr') && !d('attributes'), 'Please specify -attributes with -set_dev_attr.'],
    [d('set_dgrp_attr') && !d('attributes'), 'Please specify -attributes with -set_dgrp_attr.'],
    [d('set_tgrp_attr') && (!d('dev_group') || !d('attributes')), 'Please specify -dev_group and -attributes with -set_tgrp_attr.'],
    [
      d('set_ttgt_attr') && (!d('dev_group') || !d('tgt_group') || !d('attributes')),
      'Please specify -dev_group -tgt_group and -attributes with -set_ttgt_attr.',
    ],
    [d('set_drv_attr') && !d('attributes'), 'Please specify -attributes with -set_drv_attr.'],
    [d('set_tgt_attr') && (!d('driver') || !d('attributes')), 'Please specify -driver and -attributes with -set_tgt_attr.'],
    [d('set_grp_attr') && (!d('driver') || !d('target') || !d('attributes')), 'Please specify -driver -target and -attributes with -set_grp_attr.'],
    [
      d('set_lun_attr') && (!d('driver') || !d('target') || !d('attributes')),
      'Please specify -driver -target -group and -attributes with -set_lun_attr.',
    ],
    [
      d('set_init_attr') && (!d('driver') || !d('target') || !d('group') || !d('attributes')),
      'Please specify -driver -target -group and -attributes with -set_init_attr.',
    ],
    [d('add_drv_attr') && !d('attributes'), 'Please specify -attributes with -add_drv_attr.'],
    [d('add_tgt_attr') && (!d('driver') || !d('attributes')), 'Please specify -driver and -attributes with -add_tgt_attr.'],
    [d('rem_drv_attr') && !d('attributes'), 'Please specify -attributes with -rem_drv_attr.'],
    [d('rem_tgt_attr') && (!d('driver') || !d('attributes')), 'Please specify -driver and -attributes with -rem_tgt_attr.'],
    [(d('open_dev') || d('close_dev')) && !d('handler'), 'Please specify -handler with -open_dev/-close_dev.'],
    [d('add_target') && !d('driver'), 'Please specify -driver with -add_target.'],
    [d('rem_target') && !d('driver'), 'Please specify -driver with -rem_target.'],
    [(d('add_group') || d('rem_group')) && (!d('driver') || !d('target')), 'Please specify -driver and -target with -add_group/-rem_group.'],
    [
      (d('add_init') || d('rem_init') || d('clear_inits')) && (!d('target') || !d('driver') || !d('group')),
      'Please specify -driver -target and -group with -add_init/-rem_init/-clear_inits.',
    ],
    [d('move_init') && (!d('driver') || !d('target') || !d('group') || !d('to')), 'Please specify -driver -target -group and -to with -move_init.'],
    [
      (d('add_lun') || d('replace_lun')) && (!d('driver') || !d('target') || !d('device')),
      'Please specify -driver -target and -device with -add_lun/-replace_lun.',
    ],
    [(d('clear_luns') || d('rem_lun')) && (!d('driver') || !d('target')), 'Please specify -driver and -target with -rem_lun/-clear_luns.'],
    [(d('add_dgrp_dev') || d('rem_dgrp_dev')) && !d('dev_group'), 'Please specify -dev_group with -add_dgrp_dev/-rem_dgrp_dev.'],
    [(d('add_tgrp') || d('rem_tgrp')) && !d('dev_group'), 'Please specify -dev_group with -add_tgrp/-rem_tgrp.'],
    [
      (d('add_tgrp_tgt') || d('rem_tgrp_tgt')) && (!d('dev_group') || !d('tgt_group')),
      'Please specify -dev_group and -tgt_group with -add_tgrp_tgt/-rem_tgrp_tgt.',
    ],
  ];
  return rules.find(([applies]) => applies)?.[1];
}

export function parseArgs(argv: readonly string[]): ParseResult {
  const parsed = getopt(argv, OPTIONS);
  if (parsed.errors.length > 0) return { errors: parsed.errors };
  const values = new Map(parsed.values);
  for (const name of ['config', 'check_config']) if (values.get(name) === '') values.set(name, DEFAULT_CONFIG);
  const args = new Args(values, splitAttributes(parsed.values.get('attributes') as string | undefined));
  if (args.has('h') || args.has('help')) return { args, errors: [], help: true };
  const invalid = validate(args);
  return invalid ? { args, errors: [], invalid } : { args, errors: [] };
}

/** The value of `--root`/`-root` even when the rest of the command line does not parse. */
export function scanRoot(argv: readonly string[]): string | undefined {
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const m = /^(?:--|-|\+)(root|roo|ro)(?:=(.*))?$/is.exec(argv[i]!);
    if (!m) continue;
    if (m[2] !== undefined) root = m[2];
    else if (argv[i + 1] !== undefined) root = argv[++i];
  }
  return root;
}

#!/usr/bin/env node
import { Command, Option } from 'commander';
import fs from 'node:fs/promises';
import path from 'node:path';
import { startDaemon } from '../daemon.js';
import { LIMIT_OPTIONS, parseLimit, type Limits } from '../engine/limits.js';
import { DEFAULT_CONFIG, DEFAULT_MOUNT } from './package-paths.js';
import { parseClusterOptions, type ClusterOptions } from '../cluster/options.js';

const program = new Command();
program
  .name('scstd')
  .description('User-mode SCSI target (iSCSI), administered like SCST')
  .option('--config <file>', 'scst.conf to apply at start-up', DEFAULT_CONFIG)
  .option('--listen <addr:port>', 'portal to listen on (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--mount <dir>', `publish the management trees through FUSE below this directory (default: ${DEFAULT_MOUNT})`)
  .option('--no-mount', 'do not publish the management trees')
  .option('--initiators-allow <file>', 'procfs-era initiators.allow (address-based access control)')
  .option('--initiators-deny <file>', 'procfs-era initiators.deny')
  .option('--iscsi-conf <file>', 'procfs-era iscsi-scstd.conf: iSCSI targets, their parameters and CHAP accounts')
  .option('--state-dir <dir>', 'directory for backing files and persistent state', process.env.SCSTD_STATE_DIR ?? '/var/lib/scstd')
  .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'))
  .option('--teardown-timeout <ms>', 'bound for draining commands at teardown', '5000')
  .option('--poll-us <us>', 'keep polling the network this long after activity instead of sleeping (0: off)', '200')
  .option('--user-socket <path>', 'Unix socket for user-space device handlers (default: <state-dir>/scst_user.sock)')
  .option('--no-user-socket', 'do not accept user-space device handlers')
  .option('--no-pass-through', 'do not offer the dev_disk/dev_cdrom pass-through handlers (as a kernel without scst_disk/scst_cdrom)')
  .option('--no-rbd', 'do not offer the vdisk_rbd handler (as a kernel SCST, which has none)')
  .option('--user-timeout <ms>', 'longest a user-space handler may hold a command', '30000')
  .option('--metrics <addr:port>', 'serve Prometheus metrics at http://ADDR:PORT/metrics')
  .option('--cluster <endpoints>', 'join a cluster of scstd nodes through etcd (comma-separated http://HOST:PORT client URLs)')
  .option('--node <name>', 'this node\'s name in the cluster (default: the host name up to its first dot)')
  .option('--cluster-ttl <seconds>', 'etcd lease TTL: a node that cannot reach etcd is fenced within it', '5')
  .option('--cluster-prefix <prefix>', 'etcd key prefix of the cluster (default: /scst-usermode/<cluster_name>/)');
for (const o of LIMIT_OPTIONS) program.option(o.flag, o.help);
program.parse();

const opts = program.opts<{ config: string; listen: string[]; mount: string | boolean; iscsiConf?: string; initiatorsAllow?: string; initiatorsDeny?: string; stateDir: string; logLevel: string; teardownTimeout: string; pollUs: string; userSocket: string | boolean; userTimeout: string; passThrough: boolean; rbd: boolean; metrics?: string; cluster?: string; node?: string; clusterTtl: string; clusterPrefix?: string }>();

/** --cluster and its companions, checked before anything starts; the others without --cluster are refused. */
function clusterFromOptions(): ClusterOptions | null {
  if (opts.cluster === undefined) {
    const stray = program.getOptionValueSource('clusterTtl') === 'cli' ? '--cluster-ttl' : opts.node !== undefined ? '--node' : opts.clusterPrefix !== undefined ? '--cluster-prefix' : null;
    if (stray) {
      process.stderr.write(`scstd: ${stray} needs --cluster\n`);
      process.exit(2);
    }
    return null;
  }
  const c = parseClusterOptions({ cluster: opts.cluster, node: opts.node, ttl: opts.clusterTtl, prefix: opts.clusterPrefix });
  if (typeof c === 'string') {
    process.stderr.write(`scstd: ${c}\n`);
    process.exit(2);
  }
  return c;
}

/** The bounds given on the command line (the rest keep their defaults). */
function limitsFromOptions(): Partial<Limits> {
  const all = program.opts<Record<string, string | undefined>>();
  const out: Partial<Limits> = {};
  for (const o of LIMIT_OPTIONS) {
    const name = o.flag.split(' ')[0]!.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const text = all[name];
    if (text === undefined) continue;
    const v = parseLimit(o, text);
    if (typeof v === 'string') {
      process.stderr.write(`scstd: ${v}\n`);
      process.exit(2);
    }
    out[o.key] = v;
  }
  return out;
}

async function main(): Promise<void> {
  const limits = limitsFromOptions();
  const cluster = clusterFromOptions();
  const stateDir = path.resolve(opts.stateDir);
  await fs.mkdir(stateDir, { recursive: true });
  const listen = (opts.listen.length ? opts.listen : ['0.0.0.0:3260']).map(parseListen);
  const code = await startDaemon({
    configFile: path.resolve(opts.config),
    listen,
    mount: typeof opts.mount === 'string' ? path.resolve(opts.mount) : opts.mount === false ? null : DEFAULT_MOUNT,
    iscsiConf: opts.iscsiConf ? path.resolve(opts.iscsiConf) : null,
    initiatorsAllow: opts.initiatorsAllow ? path.resolve(opts.initiatorsAllow) : null,
    initiatorsDeny: opts.initiatorsDeny ? path.resolve(opts.initiatorsDeny) : null,
    stateDir,
    logLevel: opts.logLevel,
    teardownTimeoutMs: Number(opts.teardownTimeout) || 5000,
    pollUs: Math.max(0, Math.min(Number(opts.pollUs) || 0, 10_000)),
    userSocket: opts.userSocket === false ? null : typeof opts.userSocket === 'string' ? path.resolve(opts.userSocket) : path.join(stateDir, 'scst_user.sock'),
    userTimeoutMs: Number(opts.userTimeout) || 30000,
    passThrough: opts.passThrough !== false,
    rbd: opts.rbd !== false,
    metrics: opts.metrics !== undefined ? parseListen(opts.metrics) : null,
    limits,
    cluster,
  });
  if (code !== 0) process.exitCode = code;
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s) ?? /^()()(\d+)$/.exec(s);
  if (!m) {
    process.stderr.write(`scstd: --listen '${s}': expected ADDR:PORT\n`);
    process.exit(2);
  }
  const port = Number(m[3]);
  if (port > 65535) {
    process.stderr.write(`scstd: --listen '${s}': port out of range\n`);
    process.exit(2);
  }
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

main().catch((e: unknown) => {
  process.stderr.write(`scstd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});

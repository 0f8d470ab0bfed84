import fs from 'node:fs/promises';
import pino from 'pino';
import { parseScstConf } from './conf/parse.js';
import { ConfigError } from './conf/config-error.js';
import { Scst, SCST_VERSION } from './engine/scst.js';
import { IscsiDriver } from './engine/iscsi/portal.js';
import { LocalDriver } from './engine/scst_local/driver.js';
import { applyConfig } from './conf/apply.js';
import { AddressAcl } from './engine/iscsi/address-acl.js';
import { UserHandlerServer } from './engine/user/server.js';
import { nativeIoDescription } from './engine/backstore/pio.js';
import { BusyPoll } from './engine/iscsi/busy-poll.js';
import { gcMode, gcModeHint } from './gc-mode.js';
import { connectionsWithin, type Limits } from './engine/limits.js';
import { openFilesLimit } from './engine/descriptors.js';
import { fileIoInFlight } from './engine/backstore/file.js';
import { registerBackstores } from './engine/backstore/register.js';
import { mountTrees, sysfsWaitFromEnv, type PdeMount } from './pde-fuse/index.js';
import { applyIscsiScstdConf, parseIscsiScstdConf } from './conf/iscsi-scstd-conf.js';
import { closeDevices, exitHolders, shutdown, type DaemonParts } from './shutdown.js';
import { exitNow, finishExit } from './exit.js';
import { startMetricsServer, type MetricsServer } from './metrics/prometheus.js';
import { aluaOf, coreAttrs } from './engine/mgmt.js';
import { EtcdMembership } from './cluster/etcd-membership.js';
import { EtcdReservationStore } from './cluster/etcd-reservations.js';
import { clusterPrefix, type ClusterOptions } from './cluster/options.js';
import { EtcdAluaSync } from './cluster/etcd-alua.js';
import { clusterAluaLocal } from './cluster-alua.js';

/** How long a cached pool buffer may stay unused before it is let go. */
const SGV_PURGE_MS = 30_000;

export interface DaemonOptions {
  configFile: string;
  listen: Array<{ host: string; port: number }>;
  mount: string | null;
  /** procfs-era iscsi-scstd.conf (targets, parameters, CHAP accounts), applied after the config. */
  iscsiConf?: string | null;
  /** procfs-era initiators.allow / initiators.deny (address-based access control). */
  initiatorsAllow?: string | null;
  initiatorsDeny?: string | null;
  stateDir: string;
  logLevel: string;
  teardownTimeoutMs: number;
  /** Busy-poll window after network activity, µs (0: off). */
  pollUs?: number;
  /** Unix socket for user-space device handlers (null: none). */
  userSocket: string | null;
  /** Offer the dev_disk/dev_cdrom pass-through handlers (default true; --no-pass-through: as a kernel without scst_disk/scst_cdrom). */
  passThrough?: boolean;
  /** Offer the vdisk_rbd handler (default true; --no-rbd: as a kernel SCST, which has none). */
  rbd?: boolean;
  /** Longest a user-space handler may hold a command. */
  userTimeoutMs: number;
  /** Resource bounds given on the command line (the rest keep their defaults). */
  limits?: Partial<Limits>;
  /** Where to serve Prometheus metrics (null: nowhere). */
  metrics?: { host: string; port: number } | null;
  /** scstd --cluster: join this etcd cluster as a node (issue 16); null or absent: standalone. */
  cluster?: ClusterOptions | null;
}

/** How long the first join may take: a dead predecessor's lease (kill -9, restart) must be able to expire. */
function joinTimeoutMs(ttlSeconds: number): number {
  return Math.max(10_000, ttlSeconds * 2000 + 2000);
}

/**
 * Start scstd: load the config (refusing to start on any error), listen, and on SIGINT/SIGTERM
 * shut down in order and bounded (shutdown.ts): sessions dropped, commands finished or aborted,
 * devices closed, then the command table and the buffer pool checked empty; after that nothing
 * may keep the process alive (exit.ts). Resolves with the exit code.
 */
export async function startDaemon(o: DaemonOptions): Promise<number> {
  const log = pino({ level: o.logLevel, base: { pid: process.pid } });
  registerBackstores();
  const scst = new Scst(log);
  scst.stateDir = o.stateDir;
  Object.assign(scst.limits, o.limits ?? {});
  const nofile = await openFilesLimit();
  if (nofile !== null) {
    const fit = connectionsWithin(nofile, scst.limits.maxConnections);
    if (fit < scst.limits.maxConnections) log.warn({ nofile, maxConnections: fit }, `descriptor limit ${nofile}: at most ${fit} connections (raise LimitNOFILE / ulimit -n for more)`);
    scst.limits.maxConnections = fit;
  }
  const iscsi = new IscsiDriver(scst, log);
  const local = new LocalDriver(scst, log);
  iscsi.teardownTimeoutMs = o.teardownTimeoutMs;
  iscsi.poller = new BusyPoll(o.pollUs ?? 0, fileIoInFlight);

  let text: string;
  try {
    text = await fs.readFile(o.configFile, 'utf8');
  } catch (e) {
    process.stderr.write(`scstd: cannot read config ${o.configFile}: ${(e as Error).message}\n`);
    return 1;
  }
  // %STATE_DIR% lets a shipped config place backing files in the daemon's state directory.
  text = text.split('%STATE_DIR%').join(o.stateDir);
  // ---- cluster_mode 1 devices (issue 16): their reservations in etcd; bound to the membership below ----
  const clusterResv = o.cluster ? new EtcdReservationStore({ node: o.cluster.node, log: log.child({ cluster: 'reservations' }) }) : null;
  scst.clusterReservations = clusterResv;
  try {
    const cfg = parseScstConf(text, o.configFile);
    for (const w of cfg.warnings ?? []) log.warn(`config: ${w}`);
    await applyConfig(cfg, o.configFile, scst, iscsi, local, { passThrough: o.passThrough !== false, rbd: o.rbd !== false });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`scstd: config error: ${e.file}:${e.line}: ${e.message}\n`);
      log.fatal({ file: e.file, line: e.line }, `config error: ${e.message}`);
      await closeDevices(scst);
      return 1;
    }
    throw e;
  }
  // ---- procfs-era iSCSI targets (issue 4): iscsi-scstd.conf, bad lines logged and skipped ----
  if (o.iscsiConf) {
    let conf: string;
    try {
      conf = await fs.readFile(o.iscsiConf, 'utf8');
    } catch (e) {
      process.stderr.write(`scstd: cannot read ${o.iscsiConf}: ${(e as Error).message}\n`);
      await closeDevices(scst);
      return 1;
    }
    applyIscsiScstdConf(parseIscsiScstdConf(conf), o.iscsiConf, scst, iscsi, log);
  }
  // ---- cluster membership (issue 16): built here for the tree, joined once the portals listen ----
  let cluster: EtcdMembership | null = null;
  if (o.cluster) {
    const named = clusterPrefix(coreAttrs(scst).clusterName, o.cluster.prefix);
    if (typeof named === 'string') {
      process.stderr.write(`scstd: --cluster: ${named}\n`);
      log.fatal(`--cluster: ${named}`);
      await closeDevices(scst);
      return 1;
    }
    cluster = new EtcdMembership({ endpoints: o.cluster.endpoints, node: o.cluster.node, ttlSeconds: o.cluster.ttlSeconds, clusterName: named.name, prefix: named.prefix, portals: () => iscsi.portals(), log: log.child({ cluster: named.name }) });
    // ALUA states of shared device groups agreed through etcd (docs/cluster.md "ALUA").
    aluaOf(scst).sharing = new EtcdAluaSync(cluster, clusterAluaLocal(scst), log.child({ cluster: named.name }));
    // Reservations of cluster_mode 1 devices in etcd (docs/cluster-reservations.md §4).
    clusterResv!.bind(cluster);
  }
  // ---- management trees: <mount>/proc/scsi_tgt and <mount>/sys/kernel/scst_tgt, one FUSE mount ----
  let mounted: PdeMount | null = null;
  if (o.mount) {
    try {
      const waitMs = sysfsWaitFromEnv(); // SCSTD_SYSFS_WAIT_MS: EAGAIN bound for asynchronous sysfs writes
      // Without the user-handler socket there is no scst_user "module": handlers/scst_user is not listed.
      const sysfs = { ...(waitMs === undefined ? {} : { asyncWaitMs: waitMs }), cluster, build: { userHandler: o.userSocket !== null, passThrough: o.passThrough !== false, rbd: o.rbd !== false } };
      mounted = await mountTrees(o.mount, scst, iscsi, log, { local, sysfs });
    } catch (e) {
      process.stderr.write(`scstd: cannot mount the management tree: ${(e as Error).message}\n`);
      log.fatal({ mount: o.mount }, `cannot mount the management tree: ${(e as Error).message}`);
      await closeDevices(scst);
      return 1;
    }
  }
  // ---- end management tree ----

  if (o.initiatorsAllow || o.initiatorsDeny) {
    iscsi.acl = new AddressAcl(o.initiatorsAllow ?? null, o.initiatorsDeny ?? null, log);
    await iscsi.acl.start();
  }
  const users = o.userSocket ? new UserHandlerServer(scst, log, o.userSocket, o.userTimeoutMs) : null;
  const parts: DaemonParts = { log, scst, iscsi, local, mount: mounted, users, cluster };
  try {
    await users?.listen();
    for (const l of o.listen) await iscsi.listen(l.host, l.port);
  } catch (e) {
    process.stderr.write(`scstd: cannot listen: ${(e as Error).message}\n`);
    log.fatal(`cannot listen: ${(e as Error).message}`);
    await shutdown(parts, o.teardownTimeoutMs);
    finishExit(log, 1, exitHolders(parts));
    return 1;
  }
  if (cluster) {
    const ms = joinTimeoutMs(cluster.ttlSeconds);
    try {
      await cluster.start(ms);
    } catch (e) {
      process.stderr.write(`scstd: cluster: ${(e as Error).message}\n`);
      log.fatal({ endpoints: cluster.endpoints, node: cluster.node }, `cluster: ${(e as Error).message}`);
      await shutdown(parts, o.teardownTimeoutMs);
      finishExit(log, 1, exitHolders(parts));
      return 1;
    }
  }
  let metrics: MetricsServer | null = null;
  if (o.metrics) {
    try {
      metrics = await startMetricsServer(o.metrics.host, o.metrics.port, { scst, iscsi, fuseRequests: () => mounted?.fuseRequests ?? null }, log);
    } catch (e) {
      process.stderr.write(`scstd: cannot serve metrics on ${o.metrics.host}:${o.metrics.port}: ${(e as Error).message}\n`);
      log.fatal(`cannot serve metrics: ${(e as Error).message}`);
      await shutdown(parts, o.teardownTimeoutMs);
      finishExit(log, 1, exitHolders(parts));
      return 1;
    }
  }
  // Cached buffers no command needed for a whole interval go back (SCST's SGV purge, 60 s there).
  const purgeMs = Number(process.env.SCSTD_SGV_PURGE_MS) || SGV_PURGE_MS;
  setInterval(() => scst.pool.purgeIdle(), purgeMs).unref();
  // The ready and exit-balance lines are the daemon's contract with its supervisor: always printed.
  log.child({}, { level: 'info' }).info(
    { version: SCST_VERSION, portals: iscsi.portals(), devices: [...scst.devices.keys()], targets: [...scst.targets.keys()], fileIo: nativeIoDescription, gc: gcMode() },
    `scstd ready: listening on ${iscsi.portals().map((p) => `${p.host}:${p.port}`).join(', ')}`,
  );
  const hint = gcModeHint();
  if (hint) log.warn(hint);

  return new Promise<number>((resolve) => {
    let stopping = false;
    // The handlers stay installed to the end (a signal handler never holds the loop): a second
    // signal, during the shutdown or after it, ends the process at once.
    const stop = (sig: string) => {
      if (stopping) exitNow(log, 1, `second ${sig}`, exitHolders(parts));
      stopping = true;
      log.info(`${sig} received: shutting down`);
      void (metrics?.close() ?? Promise.resolve())
        .then(() => shutdown(parts, o.teardownTimeoutMs))
        .then((clean) => {
          finishExit(log, clean ? 0 : 1, exitHolders(parts));
          resolve(clean ? 0 : 1);
        });
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

import http from 'node:http';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import { ScsiCmd } from '../engine/cmd.js';
import { LATENCY_BUCKETS_S, LATENCY_KINDS, type DeviceIo, type Latencies, type LatencyHistogram } from '../engine/io-metrics.js';
import type { IscsiDriver } from '../engine/iscsi/portal.js';
import { BOUND_NAMES } from '../engine/limits.js';
import type { Scst } from '../engine/scst.js';
import type { ScstSession } from '../engine/session.js';

// scstd --metrics ADDR:PORT: the daemon's state in Prometheus' text format, rendered when
// scraped from the numbers the core and the drivers keep anyway (io-metrics.ts, the sessions' SCST
// counters, the bound hits, the pool's statistics, the login statistics), so the sysfs tree and
// the metrics show the same counts and the data path does no extra work for a scrape. prom-client
// formats them and adds Node's own (event-loop lag, GC, memory, CPU).

export interface MetricsSources {
  scst: Scst;
  iscsi: IscsiDriver | null;
  /** FUSE requests served, by operation (the mounted trees), if any. */
  fuseRequests: () => ReadonlyMap<string, number> | null;
}

type Labels = Record<string, string>;
interface Sample {
  metricName?: string;
  labels: Labels;
  value: number;
}

/** A metric whose samples are read from the daemon's state at each scrape. */
class Collected {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly samples: () => Sample[],
  ) {}

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.samples() });
  }

  reset(): void {}
}

const SENSE_KEYS = ['no_sense', 'recovered_error', 'not_ready', 'medium_error', 'hardware_error', 'illegal_request', 'unit_attention', 'data_protect', 'blank_check', 'vendor_specific', 'copy_aborted', 'aborted_command', 'reserved_0c', 'volume_overflow', 'miscompare', 'completed'];
const UNIT_ATTENTION = 6;

function histogramSamples(name: string, labels: Labels, h: LatencyHistogram, out: Sample[]): void {
  let cum = 0;
  for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
    cum += h.buckets[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(LATENCY_BUCKETS_S[i]) }, value: cum });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sumSeconds });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
}

function latencySamples(name: string, labels: Labels, l: Latencies, out: Sample[]): void {
  for (const kind of LATENCY_KINDS) histogramSamples(name, { ...labels, kind }, l[kind], out);
}

/** The registry with every scstd metric; turns on the core's timing of commands (measure_latency). */
export function createRegistry(src: MetricsSources): Registry {
  const { scst, iscsi } = src;
  scst.measureLatency = true;
  const reg = new Registry();
  const add = (name: string, help: string, type: Collected['type'], samples: () => Sample[]): void => reg.registerMetric(new Collected(name, help, type, samples) as unknown as Metric);
  const devices = () => [...scst.devices.values()];
  const perDevice = (pick: (d: DeviceIo) => number) => (): Sample[] =>
    devices().map((dev) => {
      const io = dev.io;
      return { labels: { device: dev.name }, value: io ? pick(io) : 0 };
    });

  add('scst_device_read_commands_total', 'READ commands completed by the device', 'counter', perDevice((d) => d.readCmds));
  add('scst_device_write_commands_total', 'WRITE commands completed by the device', 'counter', perDevice((d) => d.writeCmds));
  add('scst_device_other_commands_total', 'commands other than READ and WRITE completed by the device', 'counter', perDevice((d) => d.otherCmds));
  add('scst_device_read_bytes_total', 'bytes read by commands that completed GOOD', 'counter', perDevice((d) => d.readBytes));
  add('scst_device_write_bytes_total', 'bytes written by commands that completed GOOD', 'counter', perDevice((d) => d.writeBytes));
  add('scst_device_reservation_conflicts_total', 'commands answered RESERVATION CONFLICT', 'counter', perDevice((d) => d.reservationConflicts));
  add('scst_device_busy_total', 'commands answered BUSY or TASK SET FULL (bounds)', 'counter', perDevice((d) => d.busy));
  add('scst_device_unit_attentions_total', 'unit attention conditions reported (CHECK CONDITION, UNIT ATTENTION)', 'counter', perDevice((d) => d.senseKeys[UNIT_ATTENTION]!));
  add('scst_device_check_conditions_total', 'CHECK CONDITIONs by sense key', 'counter', () => {
    const out: Sample[] = [];
    for (const dev of devices()) {
      const io = dev.io;
      if (!io) continue;
      io.senseKeys.forEach((n, k) => {
        if (n > 0) out.push({ labels: { device: dev.name, sense_key: SENSE_KEYS[k]! }, value: n });
      });
    }
    return out;
  });
  add('scst_device_command_duration_seconds', 'time from a command arriving to its completion, by kind', 'histogram', () => {
    const out: Sample[] = [];
    for (const dev of devices()) {
      const io = dev.io;
      if (io) latencySamples('scst_device_command_duration_seconds', { device: dev.name }, io.latency, out);
    }
    return out;
  });

  const sessions = () => [...scst.targets.values()].flatMap((t) => [...t.sessions].map((s) => ({ t, s })));
  const sessionLabels = (t: { name: string; driverName: string }, s: { sysfsName: string }): Labels => ({ driver: t.driverName, target: t.name, session: s.sysfsName });
  const perSession = (pick: (st: ScstSession['stats']) => number) => (): Sample[] => sessions().map(({ t, s }) => ({ labels: sessionLabels(t, s), value: pick(s.stats) }));
  add('scst_session_read_commands_total', "READ-direction commands of the session (its sysfs read_cmd_count)", 'counter', perSession((st) => st.read.cmds));
  add('scst_session_write_commands_total', "WRITE-direction commands of the session (its sysfs write_cmd_count)", 'counter', perSession((st) => st.write.cmds));
  add('scst_session_read_bytes_total', 'bytes the session asked to read (its sysfs read_io_count_kb, in bytes)', 'counter', perSession((st) => Math.round(st.read.kb * 1024)));
  add('scst_session_write_bytes_total', 'bytes the session asked to write (its sysfs write_io_count_kb, in bytes)', 'counter', perSession((st) => Math.round(st.write.kb * 1024)));
  add('scst_session_command_duration_seconds', 'time from a command arriving to its completion, by kind', 'histogram', () => {
    const out: Sample[] = [];
    for (const { t, s } of sessions()) {
      const l = s.latency;
      if (l) latencySamples('scst_session_command_duration_seconds', sessionLabels(t, s), l, out);
    }
    return out;
  });
  add('scst_target_sessions', 'sessions logged in to the target', 'gauge', () => [...scst.targets.values()].map((t) => ({ labels: { driver: t.driverName, target: t.name }, value: t.sessions.size })));

  if (iscsi) {
    add('scst_iscsi_logins_total', 'iSCSI logins accepted (target "" for discovery sessions)', 'counter', () => [...iscsi.loginStats.accepted].map(([target, n]) => ({ labels: { target }, value: n })));
    add('scst_iscsi_login_failures_total', 'iSCSI logins refused, by the Login Response reason (authentication_failure: a wrong CHAP secret)', 'counter', () =>
      [...iscsi.loginStats.refused].flatMap(([target, m]) => [...m].map(([reason, n]) => ({ labels: { target, reason }, value: n }))),
    );
    add('scst_iscsi_connections', 'iSCSI connections open (in login and in full feature phase)', 'gauge', () => [{ labels: {}, value: iscsi.connections.size }]);
  }

  add('scst_bound_hits_total', 'times a resource bound was reached (README "Bounds")', 'counter', () => BOUND_NAMES.map((bound) => ({ labels: { bound }, value: scst.bounds.hits.get(bound) ?? 0 })));
  add('scst_commands_in_flight', 'commands alive in the core', 'gauge', () => [{ labels: {}, value: ScsiCmd.live }]);
  add('scst_pool_bytes', 'data-buffer pool memory, in use by commands and cached for reuse', 'gauge', () => {
    const p = scst.pool.snapshot();
    return [
      { labels: { state: 'in_use' }, value: p.outstandingPages * 4096 },
      { labels: { state: 'cached' }, value: p.cachedPages * 4096 },
    ];
  });
  add('scst_pool_allocations_total', 'data-buffer allocations, and how many were served from the cache (hit rate = hit / all)', 'counter', () => {
    const p = scst.pool.snapshot();
    const hits = p.orders.reduce((a, o) => a + o.hits, 0) + p.big.hits;
    const total = p.orders.reduce((a, o) => a + o.total, 0) + p.big.total;
    return [
      { labels: { result: 'hit' }, value: hits },
      { labels: { result: 'all' }, value: total },
    ];
  });
  add('scst_fuse_requests_total', 'requests of the management trees (FUSE), by operation', 'counter', () => [...(src.fuseRequests() ?? new Map<string, number>())].map(([op, n]) => ({ labels: { op }, value: n })));
  collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 10 });
  return reg;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Connections a scraper may hold open at once. */
const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 10_000;

/** Serves GET /metrics on host:port (bounded: connections, request time). */
export async function startMetricsServer(host: string, port: number, src: MetricsSources, log: Logger): Promise<MetricsServer> {
  const reg = createRegistry(src);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('scstd serves /metrics\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
      (e: unknown) => {
        log.error({ err: e }, 'metrics: rendering failed');
        res.writeHead(500).end();
      },
    );
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => log.error({ err: e }, 'metrics server error'));
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  log.info({ host, port: bound }, `metrics at http://${host}:${bound}/metrics`);
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Every metric crimux exports, declared in this one file on one explicit registry (no global default registry),
 * so the alert rules and dashboards in deploy/ can be checked against exactly this list.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version';

/** Request outcomes waiting to be handed to prom-client; past this many they are handed over at once. */
const MAX_PENDING_REQUESTS = 10_000;

/** The CRI requests of one method and backend since the last hand-over. */
interface PendingRequests {
  readonly method: string;
  readonly backend: string;
  /** By gRPC code name. */
  readonly counts: Map<string, number>;
  readonly seconds: number[];
}

export class Metrics {
  readonly registry = new Registry();

  /**
   * The two CRI request metrics are filled from requestServed()'s plain numbers when they are read (their
   * collect hooks: a scrape, or a test reading them) or when many are pending, not at every call: prom-client
   * hashes the label set at every inc and observe, a few microseconds on calls that take about a hundred
   * (issue #21).
   */
  private readonly pending = new Map<string, PendingRequests>();
  private pendingCount = 0;

  readonly criRequests = new Counter({
    name: 'crimux_cri_requests_total',
    help: 'CRI requests served, by method, owning backend ("none" before routing) and gRPC status code.',
    labelNames: ['method', 'backend', 'code'] as const,
    registers: [this.registry],
    collect: () => this.handOver(),
  });

  readonly criRequestDuration = new Histogram({
    name: 'crimux_cri_request_duration_seconds',
    help: 'Latency of CRI requests by method and owning backend.',
    labelNames: ['method', 'backend'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
    collect: () => this.handOver(),
  });

  readonly routingDecisions = new Counter({
    name: 'crimux_routing_decisions_total',
    help: 'Pods routed to a backend, by backend, handler and the rule that decided.',
    labelNames: ['backend', 'handler', 'reason'] as const,
    registers: [this.registry],
  });

  readonly sandboxes = new Gauge({
    name: 'crimux_sandboxes',
    help: 'Pod sandboxes owned, by backend and CRI state (from the last list or status).',
    labelNames: ['backend', 'state'] as const,
    registers: [this.registry],
  });

  readonly containers = new Gauge({
    name: 'crimux_containers',
    help: 'Containers owned, by backend and CRI state (from the last list or status).',
    labelNames: ['backend', 'state'] as const,
    registers: [this.registry],
  });

  readonly backendUp = new Gauge({
    name: 'crimux_backend_up',
    help: '1 when the backend reports ready, 0 when it is down.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  readonly listPartialFailures = new Counter({
    name: 'crimux_list_partial_failures_total',
    help: 'List calls answered for a backend from the last-known snapshot because the backend failed or timed out.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  readonly reconcileRepairs = new Counter({
    name: 'crimux_reconcile_repairs_total',
    help: 'Repairs made by start-up reconcile, by backend and kind (rolled_back_create, finished_remove, ghost_removed, orphan_adopted, orphan_removed).',
    labelNames: ['backend', 'kind'] as const,
    registers: [this.registry],
  });

  readonly imagePulls = new Counter({
    name: 'crimux_image_pulls_total',
    help: "Image pulls by store backend (oci: the shared store; docker: Docker's) and result (success, error).",
    labelNames: ['backend', 'result'] as const,
    registers: [this.registry],
  });

  readonly imagePullsInProgress = new Gauge({
    name: 'crimux_image_pulls_in_progress',
    help: 'Image pulls running now, by store backend (oci, docker).',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  readonly imagePullBytes = new Counter({
    name: 'crimux_image_pull_bytes_total',
    help: 'Bytes downloaded from registries.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  readonly imagePullDuration = new Histogram({
    name: 'crimux_image_pull_duration_seconds',
    help: 'Duration of successful image pulls.',
    labelNames: ['backend'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly streamingSessions = new Gauge({
    name: 'crimux_streaming_sessions',
    help: 'Open streaming sessions by kind (exec, attach, portforward) and backend.',
    labelNames: ['kind', 'backend'] as const,
    registers: [this.registry],
  });

  readonly streamingSessionDuration = new Histogram({
    name: 'crimux_streaming_session_duration_seconds',
    help: 'Duration of finished streaming sessions.',
    labelNames: ['kind', 'backend'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });

  /** Constant 1, labelled with what is running: the usual way to join versions onto other series. */
  readonly buildInfo = new Gauge({
    name: 'crimux_build_info',
    help: 'crimux build information; always 1, labelled with the crimux version and the Node.js version.',
    labelNames: ['version', 'node_version'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version: VERSION, node_version: process.version }, 1);
  }

  /** One CRI request served: counted in crimux_cri_requests_total and timed in ..._duration_seconds. */
  requestServed(method: string, backend: string, code: string, seconds: number): void {
    const key = `${method}\0${backend}`;
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { method, backend, counts: new Map(), seconds: [] }));
    p.counts.set(code, (p.counts.get(code) ?? 0) + 1);
    p.seconds.push(seconds);
    if (++this.pendingCount >= MAX_PENDING_REQUESTS) this.handOver();
  }

  private handOver(): void {
    if (this.pendingCount === 0) return;
    this.pendingCount = 0;
    for (const p of this.pending.values()) {
      if (p.seconds.length === 0) continue;
      for (const [code, n] of p.counts) this.criRequests.inc({ method: p.method, backend: p.backend, code }, n);
      p.counts.clear();
      const h = this.criRequestDuration.labels({ method: p.method, backend: p.backend });
      for (const v of p.seconds) h.observe(v);
      p.seconds.length = 0;
    }
  }
}

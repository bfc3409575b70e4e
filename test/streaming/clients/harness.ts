/**
 * A streaming server on 127.0.0.1:0 with a ProcessBackend, for the streaming tests; the logger keeps lines so
 * tests can check what was logged (and that no token was).
 */
import { createLogger } from '../../../src/log/logger';
import { Metrics } from '../../../src/metrics/metrics';
import { StreamingServer, type StreamingServerOptions } from '../../../src/streaming/server';
import { ProcessBackend } from './process-backend';

export interface Harness {
  server: StreamingServer;
  backend: ProcessBackend;
  metrics: Metrics;
  lines: string[];
  close(): Promise<void>;
}

export async function startHarness(opts: Partial<StreamingServerOptions> = {}): Promise<Harness> {
  const lines: string[] = [];
  const metrics = new Metrics({ processMetrics: false });
  const backend = new ProcessBackend();
  const server = new StreamingServer({
    address: '127.0.0.1:0',
    tokenTtlSeconds: 60,
    log: createLogger({ level: 'debug', write: (l) => lines.push(l) }),
    metrics,
    streamCreationTimeoutMs: 5000,
    ...opts,
  });
  await server.listen();
  return {
    server,
    backend,
    metrics,
    lines,
    async close() {
      await server.close(3000);
      backend.killAll();
    },
  };
}

/** Poll until cond() holds (bounded). */
export async function eventually(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Current value of a gauge/counter with these labels (0 when absent). */
export async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
  return v?.value ?? 0;
}

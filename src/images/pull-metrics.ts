/**
 * The pull metrics of every image store (the shared OCI store and Docker's), counted the same way in one place:
 * pulls by store and result, the duration of successful ones, and how many are running right now (a pull that
 * never ends shows up as a gauge that never drops, which a counter alone would hide).
 */
import type { Metrics } from '../metrics/metrics';

export async function measurePull<T>(metrics: Metrics | undefined, store: string, pull: () => Promise<T>): Promise<T> {
  if (!metrics) return pull();
  const labels = { backend: store };
  const started = process.hrtime.bigint();
  metrics.imagePullsInProgress.inc(labels);
  try {
    const result = await pull();
    metrics.imagePulls.inc({ ...labels, result: 'success' });
    metrics.imagePullDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    return result;
  } catch (err) {
    metrics.imagePulls.inc({ ...labels, result: 'error' });
    throw err;
  } finally {
    metrics.imagePullsInProgress.dec(labels);
  }
}

/**
 * CRI request metrics (src/metrics/metrics.ts): recorded as plain numbers on the hot path, handed to prom-client
 * when read (a scrape) or when many are pending, with nothing lost or counted twice either way (issue #21).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics/metrics';

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

test('requests served appear at the next scrape, counted once, with their durations', async () => {
  const m = new Metrics({ processMetrics: false });
  m.requestServed('Version', 'none', 'OK', 0.0001);
  m.requestServed('Version', 'none', 'OK', 0.002);
  m.requestServed('Version', 'none', 'UNAVAILABLE', 0.0003);
  m.requestServed('PodSandboxStatus', 'runc', 'OK', 0.02);
  let text = await m.registry.metrics();
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="Version",backend="none",code="OK"'), 2);
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="Version",backend="none",code="UNAVAILABLE"'), 1);
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="PodSandboxStatus",backend="runc",code="OK"'), 1);
  assert.equal(sample(text, 'crimux_cri_request_duration_seconds_count', 'method="Version",backend="none"'), 3);
  assert.equal(
    sample(text, 'crimux_cri_request_duration_seconds_bucket', 'le="0.0005",method="Version",backend="none"'),
    2,
  );
  const sum = sample(text, 'crimux_cri_request_duration_seconds_sum', 'method="Version",backend="none"');
  assert.ok(sum !== undefined && Math.abs(sum - 0.0024) < 1e-9);

  text = await m.registry.metrics();
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="Version",backend="none",code="OK"'), 2, 'not twice');
  m.requestServed('Version', 'none', 'OK', 0.0001);
  text = await m.registry.metrics();
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="Version",backend="none",code="OK"'), 3);
  assert.equal(sample(text, 'crimux_cri_request_duration_seconds_count', 'method="Version",backend="none"'), 4);
});

test('with no scrape, pending requests are handed over once there are many (memory stays bounded)', async () => {
  const m = new Metrics({ processMetrics: false });
  let handed = 0;
  const inc = m.criRequests.inc.bind(m.criRequests) as (...a: unknown[]) => void;
  m.criRequests.inc = ((...a: unknown[]) => {
    handed++;
    inc(...a);
  }) as typeof m.criRequests.inc;
  for (let i = 0; i < 9_999; i++) m.requestServed('Status', 'none', 'OK', 0.0001);
  assert.equal(handed, 0, 'kept as plain numbers below the bound');
  m.requestServed('Status', 'none', 'OK', 0.0001);
  assert.equal(handed, 1, 'handed over at the bound, without a scrape');
  m.requestServed('Status', 'none', 'OK', 0.0001);
  const text = await m.registry.metrics();
  assert.equal(sample(text, 'crimux_cri_requests_total', 'method="Status",backend="none",code="OK"'), 10_001);
  assert.equal(sample(text, 'crimux_cri_request_duration_seconds_count', 'method="Status",backend="none"'), 10_001);
});

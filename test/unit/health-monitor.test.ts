/** The background health monitor behind Status and /readyz (issue #21). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackendHealth, CallContext } from '../../src/backends/backend';
import { nullLogger } from '../../src/log/logger';
import { HealthMonitor, reportingUnavailable } from '../../src/router/health-monitor';
import { FakeBackend } from '../helpers/fake-backend';

/** Counts probes and the most that ever ran at once. */
class CountingBackend extends FakeBackend {
  probes = 0;
  running = 0;
  maxRunning = 0;
  override async health(ctx: CallContext): Promise<BackendHealth> {
    this.probes++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      return await super.health(ctx);
    } finally {
      this.running--;
    }
  }
}

function monitorOf(backends: FakeBackend[], timeoutMs = 300): { monitor: HealthMonitor; results: [string, boolean][] } {
  const results: [string, boolean][] = [];
  const monitor = new HealthMonitor({
    backends: () => backends,
    log: nullLogger(),
    timeoutMs,
    onResult: (name, h) => results.push([name, h.ready]),
  });
  return { monitor, results };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('readers get the last-known health without probing per call', async () => {
  const runc = new CountingBackend('runc');
  const docker = new CountingBackend('docker');
  const { monitor, results } = monitorOf([runc, docker]);
  monitor.start(60_000);
  try {
    for (let i = 0; i < 100; i++) {
      const h = await monitor.snapshot();
      assert.equal(h.runc?.ready, true);
      assert.equal(h.docker?.ready, true);
    }
    assert.equal(runc.probes, 1, 'one probe for 100 reads');
    assert.equal(docker.probes, 1);
    assert.deepEqual(results.sort(), [
      ['docker', true],
      ['runc', true],
    ]);
  } finally {
    monitor.stop();
  }
});

test('the first read waits for the first probe, bounded by the probe timeout', async () => {
  const docker = new CountingBackend('docker');
  docker.mode = 'hang';
  const { monitor } = monitorOf([docker], 200);
  monitor.start(60_000);
  try {
    const started = Date.now();
    const h = await monitor.snapshot();
    assert.equal(h.docker?.ready, false);
    assert.equal(h.docker?.reason, 'HealthCheckFailed');
    assert.ok(Date.now() - started < 2000, 'bounded');
  } finally {
    monitor.stop();
  }
});

test('a call failing with Unavailable re-probes at once and the next read shows the outage', async () => {
  const docker = new CountingBackend('docker');
  const { monitor } = monitorOf([docker]);
  const routed = reportingUnavailable(docker, () => monitor);
  monitor.start(60_000);
  try {
    assert.equal((await monitor.snapshot()).docker?.ready, true);
    docker.mode = 'fail';
    // Not a failure a probe should follow: the backend's name and capabilities still read through the wrapper.
    assert.equal(routed.name, 'docker');
    await assert.rejects(
      routed.podSandboxStatus({ signal: AbortSignal.timeout(1000), log: nullLogger() }, 'x'.repeat(64), false),
    );
    const down = await monitor.snapshot();
    assert.equal(down.docker?.ready, false, 'outage visible without waiting for the next tick');
    assert.equal(docker.probes, 2);
    docker.mode = 'ok';
    await routed
      .podSandboxStatus({ signal: AbortSignal.timeout(1000), log: nullLogger() }, 'x'.repeat(64), false)
      .catch(() => undefined);
    assert.equal(docker.probes, 2, 'a call that succeeds (or fails otherwise) does not probe');
  } finally {
    monitor.stop();
  }
});

test('probes of one backend never overlap and stop with the monitor', async () => {
  const docker = new CountingBackend('docker');
  docker.mode = 'hang';
  const { monitor } = monitorOf([docker], 350);
  monitor.start(100);
  try {
    for (let i = 0; i < 5; i++) {
      monitor.reprobe('docker');
      await sleep(100);
    }
    assert.equal(docker.maxRunning, 1, 'never two probes at once');
  } finally {
    monitor.stop();
  }
  await sleep(50);
  const after = docker.probes;
  await sleep(300);
  assert.equal(docker.probes, after, 'no probe after stop');
  assert.equal(docker.running, 0, 'the running probe was aborted');
});

test('known() is one object while health is unchanged, none during a failure re-probe, a new one after a change', async () => {
  const runc = new CountingBackend('runc');
  const docker = new CountingBackend('docker');
  const { monitor } = monitorOf([runc, docker]);
  assert.equal(monitor.known(), undefined, 'nothing is known before the first probes');
  monitor.start(60_000);
  try {
    const first = await monitor.snapshot();
    assert.equal(monitor.known(), first, 'the snapshot is the known object');
    monitor.reprobe('runc'); // same answer: the probe finds nothing new
    await sleep(20);
    assert.equal(runc.probes, 2);
    const again = monitor.known();
    assert.ok(again);
    assert.deepEqual(again, first);
    assert.equal(monitor.known(), again, 'kept between reads');

    docker.mode = 'hang';
    monitor.reprobe('docker');
    assert.equal(monitor.known(), undefined, 'a failure re-probe is awaited, not answered from memory');
    const after = await monitor.snapshot();
    assert.equal(after.docker?.ready, false, 'the hung probe timed out');
    assert.notEqual(monitor.known(), again);
    assert.equal(monitor.known(), after);
  } finally {
    monitor.stop();
  }
});

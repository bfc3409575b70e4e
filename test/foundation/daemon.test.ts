/**
 * The foundation end to end: a real daemon process, a real gRPC client over its unix socket. No backend is
 * enabled here, so these checks hold whatever backends a build has: Version, Status, RuntimeConfig, UNIMPLEMENTED
 * for what nothing serves, bad input refused with no record left, metrics, socket mode, SIGTERM drain.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { grpc, rejectsWithCode } from '../helpers/cri-client';
import { SqliteOwnershipStore } from '../../src/state/sqlite-store';

let d: DaemonHandle;

before(async () => {
  d = await startDaemon({
    config: {
      handlers: { runc: { backend: 'runc' }, vm: { backend: 'vm' } },
      backends: { runc: { enabled: false }, vm: { enabled: false } },
    },
  });
});
after(async () => {
  await d?.cleanup();
});

const pod = (name: string, extra: Record<string, unknown> = {}) => ({
  config: { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, ...extra },
});

test('Version names crimux and CRI v1', async () => {
  const v = await d.rt('Version', { version: 'v1' });
  assert.equal(v.runtime_name, 'crimux');
  assert.equal(v.runtime_api_version, 'v1');
  assert.match(v.runtime_version ?? '', /^\d+\.\d+\.\d+/);
});

test('the socket is a 0660 unix socket', () => {
  const st = fs.statSync(d.socket);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
});

test('Status reports conditions and no ready runtime when no backend is enabled', async () => {
  const s = await d.rt('Status', { verbose: true });
  const ready = s.status?.conditions?.find((c) => c.type === 'RuntimeReady');
  assert.equal(ready?.status, false);
  assert.equal(ready?.reason, 'NoBackendEnabled');
  assert.ok(s.status?.conditions?.some((c) => c.type === 'NetworkReady'));
  assert.deepEqual(s.runtime_handlers, []);
  assert.ok(s.info?.routing, 'verbose info carries the routing table');
  // `crictl info` → .config.sandboxImage is what kubeadm's preflight compares with its pause image.
  const config = JSON.parse(s.info?.config ?? '{}') as {
    sandboxImage?: string;
    cni?: { confDir?: string };
    cgroupDriver?: string;
  };
  assert.match(config.sandboxImage ?? '', /pause/);
  assert.equal(config.cgroupDriver, 'cgroupfs');
  assert.ok(config.cni?.confDir);
});

test('RuntimeConfig reports the cgroupfs driver', async () => {
  const r = await d.rt('RuntimeConfig', {});
  assert.equal(r.linux?.cgroup_driver, 'CGROUPFS');
});

test('what nothing serves is UNIMPLEMENTED with a message naming it, never UNKNOWN', async () => {
  const e = await rejectsWithCode(d.rt('ListMetricDescriptors', {}), grpc.status.UNIMPLEMENTED);
  assert.match(e.details, /ListMetricDescriptors/);
  const s = await rejectsWithCode(d.rt('ListContainerStats', {}), grpc.status.UNIMPLEMENTED);
  assert.match(s.details, /ListContainerStats/);
});

test('unknown IDs: status NotFound, stop/remove succeed, lists empty', async () => {
  await rejectsWithCode(d.rt('PodSandboxStatus', { pod_sandbox_id: 'a'.repeat(64) }), grpc.status.NOT_FOUND);
  await rejectsWithCode(d.rt('ContainerStatus', { container_id: 'abc' }), grpc.status.NOT_FOUND);
  await d.rt('StopPodSandbox', { pod_sandbox_id: 'a'.repeat(64) });
  await d.rt('RemovePodSandbox', { pod_sandbox_id: 'a'.repeat(64) });
  await d.rt('StopContainer', { container_id: 'b'.repeat(64), timeout: 1 });
  await d.rt('RemoveContainer', { container_id: 'b'.repeat(64) });
  await rejectsWithCode(d.rt('StopPodSandbox', { pod_sandbox_id: '' }), grpc.status.INVALID_ARGUMENT);
  assert.deepEqual((await d.rt('ListPodSandbox', {})).items, []);
  assert.deepEqual((await d.rt('ListContainers', {})).containers, []);
});

test('bad RunPodSandbox input gets a clear error and leaves no record', async () => {
  const unknown = await rejectsWithCode(
    d.rt('RunPodSandbox', { ...pod('a'), runtime_handler: 'kata' }),
    grpc.status.INVALID_ARGUMENT,
  );
  assert.match(unknown.details, /unknown handler "kata"/);
  const disabled = await rejectsWithCode(
    d.rt('RunPodSandbox', { ...pod('a'), runtime_handler: 'vm' }),
    grpc.status.FAILED_PRECONDITION,
  );
  assert.match(disabled.details, /disabled vm backend/);
  await rejectsWithCode(
    d.rt('RunPodSandbox', { config: { metadata: { name: '', namespace: 'x' } } }),
    grpc.status.INVALID_ARGUMENT,
  );
  await rejectsWithCode(d.rt('RunPodSandbox', {}), grpc.status.INVALID_ARGUMENT);
  const huge = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`key-${i}`, 'x'.repeat(100)]));
  const big = await rejectsWithCode(
    d.rt('RunPodSandbox', pod('big', { annotations: huge })),
    grpc.status.INVALID_ARGUMENT,
  );
  assert.match(big.details, /over the .* limit/);
  const store = new SqliteOwnershipStore({ dir: d.stateDir, readonly: true });
  try {
    assert.equal(store.listSandboxes().length, 0);
  } finally {
    store.close();
  }
});

test('/metrics shows crimux metrics after calls; /healthz and /readyz answer', async () => {
  const base = `http://${d.metricsAddress}`;
  const m = await (await fetch(`${base}/metrics`)).text();
  assert.match(m, /crimux_cri_requests_total\{method="Version",backend="none",code="OK"\} \d+/);
  assert.match(m, /crimux_cri_requests_total\{method="RunPodSandbox",backend="none",code="INVALID_ARGUMENT"\}/);
  assert.match(m, /crimux_cri_request_duration_seconds_bucket\{/);
  assert.match(m, /process_resident_memory_bytes/);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 503, 'no backend is ready in this configuration');
  assert.equal(((await ready.json()) as { reconciled: boolean }).reconciled, true);
  assert.equal((await fetch(`${base}/nope`)).status, 404);
});

test('SIGTERM drains and exits 0, removing the socket; a restart replaces nothing stale', async () => {
  const code = await d.stop();
  assert.equal(code, 0);
  assert.equal(fs.existsSync(d.socket), false);
  await d.restart();
  const v = await d.rt('Version', {});
  assert.equal(v.runtime_name, 'crimux');
});

/**
 * The CRI rules the router applies to every backend's facts (src/router/shape-container.ts, shape-sandbox.ts):
 * one table, so a backend cannot answer a state, a reason or a timestamp its own way.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerFacts, SandboxFacts } from '../../src/backends/backend';
import { START_ERROR_EXIT_CODE, containerEntry, containerStatus } from '../../src/router/shape-container';
import { sandboxEntry, sandboxStatus } from '../../src/router/shape-sandbox';

const base: ContainerFacts = {
  id: 'c1',
  sandboxId: 'p1',
  metadata: { name: 'app', attempt: 2 },
  image: { image: 'busybox:1.36' },
  imageRef: 'registry/busybox@sha256:aa',
  imageId: 'sha256:bb',
  labels: { l: '1' },
  annotations: { a: '2' },
  createdAtNs: '100',
  phase: 'created',
};

describe('container facts → CRI', () => {
  const cases: [string, Partial<ContainerFacts>, [string, string, number, string, string]][] = [
    ['created', {}, ['CONTAINER_CREATED', '', 0, '0', '0']],
    ['running', { phase: 'running', startedAtNs: '200' }, ['CONTAINER_RUNNING', '', 0, '200', '0']],
    [
      'running hides a stale exit',
      { phase: 'running', startedAtNs: '200', exitCode: 3, finishedAtNs: '150' },
      ['CONTAINER_RUNNING', '', 0, '200', '0'],
    ],
    [
      'exit 0',
      { phase: 'exited', startedAtNs: '200', finishedAtNs: '300', exitCode: 0 },
      ['CONTAINER_EXITED', 'Completed', 0, '200', '300'],
    ],
    [
      'exit 3',
      { phase: 'exited', startedAtNs: '200', finishedAtNs: '300', exitCode: 3 },
      ['CONTAINER_EXITED', 'Error', 3, '200', '300'],
    ],
    [
      'OOM kill',
      { phase: 'exited', startedAtNs: '200', finishedAtNs: '300', exitCode: 137, oomKilled: true },
      ['CONTAINER_EXITED', 'OOMKilled', 137, '200', '300'],
    ],
    [
      'an end a clock tick before the start is the start',
      { phase: 'exited', startedAtNs: '200', finishedAtNs: '199', exitCode: 0 },
      ['CONTAINER_EXITED', 'Completed', 0, '200', '200'],
    ],
    [
      'killed before it ever started',
      { phase: 'exited', finishedAtNs: '300', exitCode: 137 },
      ['CONTAINER_EXITED', 'Error', 137, '0', '300'],
    ],
    [
      'a failed start, whatever the runtime says of its phase',
      { phase: 'created', exitCode: 127, startError: { message: 'exec: no such file', atNs: '250' } },
      ['CONTAINER_EXITED', 'StartError', START_ERROR_EXIT_CODE, '0', '250'],
    ],
    ['unknown', { phase: 'unknown', startedAtNs: '200' }, ['CONTAINER_UNKNOWN', '', 0, '200', '0']],
  ];
  for (const [what, facts, want] of cases) {
    it(what, () => {
      const f = { ...base, ...facts };
      const s = containerStatus(f);
      assert.deepEqual([s.state, s.reason, s.exit_code, s.started_at, s.finished_at], want);
      assert.equal(containerEntry(f).state, s.state, 'the list says what the status says');
    });
  }

  it('carries identity, message, mounts, log path, resources and user', () => {
    const s = containerStatus({
      ...base,
      phase: 'exited',
      exitCode: 255,
      message: 'the VM of the pod is gone',
      mounts: [{ container_path: '/data', host_path: '/srv/data', readonly: true }],
      logPath: '/var/log/pods/x/app/2.log',
      resources: { linux: { memory_limit_in_bytes: '1048576' } },
      user: { uid: 1000, gid: 1000, groups: [1000, 50] },
    });
    assert.equal(s.message, 'the VM of the pod is gone');
    assert.deepEqual(
      [s.id, s.metadata, s.image, s.image_ref, s.image_id, s.created_at, s.labels, s.annotations],
      [
        'c1',
        { name: 'app', attempt: 2 },
        { image: 'busybox:1.36' },
        'registry/busybox@sha256:aa',
        'sha256:bb',
        '100',
        { l: '1' },
        { a: '2' },
      ],
    );
    assert.deepEqual(s.mounts, [{ container_path: '/data', host_path: '/srv/data', readonly: true }]);
    assert.equal(s.log_path, '/var/log/pods/x/app/2.log');
    assert.equal(s.resources?.linux?.memory_limit_in_bytes, '1048576');
    assert.deepEqual(s.user, { linux: { uid: '1000', gid: '1000', supplemental_groups: ['1000', '50'] } });
    const e = containerEntry({ ...base });
    assert.deepEqual([e.pod_sandbox_id, e.image_ref, e.image_id], ['p1', 'registry/busybox@sha256:aa', 'sha256:bb']);
  });

  it('reports no user when the backend knows none', () => {
    assert.equal(containerStatus(base).user ?? undefined, undefined);
  });
});

describe('sandbox facts → CRI', () => {
  const pod: SandboxFacts = {
    id: 'p1',
    metadata: { name: 'web', uid: 'u', namespace: 'default', attempt: 0 },
    ready: true,
    createdAtNs: '100',
    labels: { l: '1' },
    annotations: { a: '2' },
    handler: 'runc',
  };

  it('READY while the backend says so, NOTREADY otherwise', () => {
    assert.equal(sandboxEntry(pod).state, 'SANDBOX_READY');
    assert.equal(sandboxStatus({ ...pod, ready: false }).state, 'SANDBOX_NOTREADY');
  });

  it('lists the primary IP first and the rest as additional IPs', () => {
    const s = sandboxStatus({ ...pod, ips: ['10.0.0.2', 'fd00::2'] });
    assert.deepEqual(s.network, { ip: '10.0.0.2', additional_ips: [{ ip: 'fd00::2' }] });
    assert.deepEqual(sandboxStatus(pod).network, { ip: '', additional_ips: [] });
  });

  it('reports the namespace modes given, POD where none are', () => {
    assert.deepEqual(sandboxStatus(pod).linux?.namespaces?.options, { network: 'POD', pid: 'POD', ipc: 'POD' });
    const host = sandboxStatus({ ...pod, namespaces: { network: 'NODE', pid: 'CONTAINER', ipc: 'NODE' } });
    assert.deepEqual(host.linux?.namespaces?.options, { network: 'NODE', pid: 'CONTAINER', ipc: 'NODE' });
  });

  it('list entry and status agree on identity', () => {
    const e = sandboxEntry(pod);
    const s = sandboxStatus(pod);
    for (const k of ['id', 'metadata', 'state', 'created_at', 'labels', 'annotations', 'runtime_handler'] as const)
      assert.deepEqual(s[k], e[k], k);
  });
});

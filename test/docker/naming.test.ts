/** Table tests of the docker backend's pure pieces: names, labels/records, timestamps, stream frames. */
import { criMount } from '../helpers/cri-mount';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerName, parseName, sandboxName, sanitizePart, selector, LABEL } from '../../src/backends/docker/naming';
import { containerLabels, readContainer, readSandbox, sandboxLabels } from '../../src/backends/docker/records';
import { dockerTimeToNs, nsToDockerSince, parseRfc3339Ns } from '../../src/backends/docker/timestamps';
import { FrameDecoder, encodeFrame } from '../../src/backends/docker/stream-frames';
import { compareApi, negotiateApi } from '../../src/backends/docker/engine-client';
import { parseHandlerOptions } from '../../src/backends/docker/options';
import { containerConfig, sandboxConfig, type TestEnv } from './env';

const env = { logDir: '/var/log/pods' } as TestEnv;

describe('docker names', () => {
  const pod = { name: 'web', namespace: 'prod', uid: '3f2a-11', attempt: 2 };
  const cases: [string, string, ReturnType<typeof parseName>][] = [
    ['sandbox', sandboxName(pod), { kind: 'sandbox', pod: 'web', namespace: 'prod', uid: '3f2a-11', attempt: 2 }],
    [
      'container',
      containerName({ name: 'nginx', attempt: 1 }, pod),
      { kind: 'container', container: 'nginx', pod: 'web', namespace: 'prod', uid: '3f2a-11', attempt: 1 },
    ],
  ];
  for (const [what, name, parsed] of cases) {
    it(`round-trips a ${what} name (${name})`, () => {
      assert.deepEqual(parseName(name), parsed);
      assert.deepEqual(parseName(`/${name}`), parsed, 'Docker prefixes names with a slash');
    });
  }

  it('follows the dockershim scheme', () => {
    assert.equal(sandboxName(pod), 'k8s_POD_web_prod_3f2a-11_2');
    assert.equal(containerName({ name: 'nginx', attempt: 0 }, pod), 'k8s_nginx_web_prod_3f2a-11_0');
  });

  const sanitize: [string, string][] = [
    ['plain-name.1', 'plain-name.1'],
    ['under_score', 'under-score'],
    ['sp ace/slash', 'sp-ace-slash'],
  ];
  for (const [input, want] of sanitize) {
    it(`sanitizes "${input}"`, () => assert.equal(sanitizePart(input), want));
  }

  it('keeps names parseable when parts held separators', () => {
    const name = sandboxName({ name: 'a_b', namespace: 'n s', uid: 'u', attempt: 0 });
    assert.equal(name, 'k8s_POD_a-b_n-s_u_0');
    assert.equal(parseName(name)?.pod, 'a-b');
  });

  for (const foreign of ['nginx', 'k8s_POD_a_b_c_x', 'k8s_a_b', 'other_POD_a_b_c_0']) {
    it(`does not parse foreign name "${foreign}"`, () => assert.equal(parseName(foreign), null));
  }

  it('builds label selectors', () => {
    assert.deepEqual(selector('sandbox'), [`${LABEL.kind}=sandbox`]);
    assert.deepEqual(selector('container', { sandboxId: 's1' }), [`${LABEL.kind}=container`, `${LABEL.sandboxId}=s1`]);
  });
});

describe('docker records', () => {
  it('rebuilds a sandbox from its labels alone', () => {
    const cfg = sandboxConfig(env, 'rec', { hostNetwork: true });
    const labels = sandboxLabels('sid', 'docker', '123', cfg);
    assert.equal(labels.app, 'rec', 'CRI labels are visible to docker tooling');
    const rec = readSandbox({ ...labels, 'image.label': 'merged-by-docker' });
    assert.ok(rec);
    assert.equal(rec.id, 'sid');
    assert.equal(rec.handler, 'docker');
    assert.equal(rec.createdAt, '123');
    assert.deepEqual(rec.metadata, cfg.metadata);
    assert.deepEqual(rec.labels, cfg.labels, 'image labels merged into Docker labels do not leak into CRI labels');
    assert.deepEqual(rec.annotations, cfg.annotations);
    assert.equal(rec.hostNetwork, true);
    assert.deepEqual(rec.namespaceOptions, { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' });
    assert.equal(rec.logDirectory, cfg.log_directory);
  });

  it('rebuilds a container from its labels alone', () => {
    const cfg = containerConfig('c', 'busybox:1.36', {
      mounts: [criMount({ container_path: '/d', readonly: true })],
    });
    const labels = containerLabels({
      id: 'cid',
      sandboxId: 'sid',
      createdAt: '9',
      config: cfg,
      imageRef: 'ref',
      logPath: '/l/c/0.log',
    });
    const rec = readContainer(labels);
    assert.ok(rec);
    assert.equal(rec.sandboxId, 'sid');
    assert.equal(rec.image, 'busybox:1.36');
    assert.equal(rec.imageRef, 'ref');
    assert.equal(rec.logPath, '/l/c/0.log');
    assert.deepEqual(rec.mounts, cfg.mounts);
    assert.deepEqual(rec.labels, cfg.labels);
  });

  it('ignores reserved crimux keys in CRI labels and foreign containers', () => {
    const cfg = containerConfig('c', 'busybox', { labels: { 'io.crimux.id': 'spoof', a: 'b' } });
    const labels = containerLabels({
      id: 'real',
      sandboxId: 's',
      createdAt: '1',
      config: cfg,
      imageRef: '',
      logPath: '',
    });
    assert.equal(labels[LABEL.id], 'real');
    assert.equal(readContainer({ foo: 'bar' }), undefined);
    assert.equal(readSandbox(labels), undefined, 'a container record is not a sandbox');
  });
});

describe('timestamps', () => {
  const cases: [string, string][] = [
    ['2026-11-28T15:02:33.757198605Z', '1795878153757198605'],
    ['2026-11-28T15:02:33Z', '1795878153000000000'],
    ['2026-11-28T15:02:33.5Z', '1795878153500000000'],
    ['2026-11-28T16:02:33.000000001+01:00', '1795878153000000001'],
    ['0001-01-01T00:00:00Z', '0'],
    ['garbage', '0'],
  ];
  for (const [input, want] of cases) it(`parses ${input}`, () => assert.equal(dockerTimeToNs(input), want));

  it('formats Docker since values with nanoseconds', () => {
    assert.equal(nsToDockerSince(1795878153000000001n), '1795878153.000000001');
    assert.equal(nsToDockerSince(parseRfc3339Ns('2026-11-28T15:02:33.757198605Z') ?? 0n), '1795878153.757198605');
  });
});

describe('multiplexed stream frames', () => {
  it('decodes frames split at any byte', () => {
    const wire = Buffer.concat([
      encodeFrame('stdout', 'hello\n'),
      encodeFrame('stderr', 'oops'),
      encodeFrame('stdout', ''),
    ]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new FrameDecoder();
      const frames = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      assert.deepEqual(
        frames.map((f) => [f.stream, f.data.toString()]),
        [
          ['stdout', 'hello\n'],
          ['stderr', 'oops'],
          ['stdout', ''],
        ],
      );
      assert.equal(d.leftover, 0);
    }
  });
});

describe('API version negotiation', () => {
  it('compares versions numerically', () => {
    assert.ok(compareApi('1.9', '1.41') < 0);
    assert.ok(compareApi('1.41', '1.41') === 0);
    assert.ok(compareApi('1.43', '1.41') > 0);
  });
  // [server max, server min, spoken]: the highest both sides speak (MAX_API is 1.47).
  const cases: [string, string | undefined, string][] = [
    ['1.41', '1.12', '1.41'],
    ['1.40', undefined, '1.40'],
    ['1.45', '1.24', '1.45'],
    ['1.52', '1.44', '1.47'],
    ['1.47', '1.47', '1.47'],
  ];
  for (const [server, min, want] of cases) {
    it(`speaks ${want} with a daemon of API ${min ?? '?'}–${server}`, () =>
      assert.equal(negotiateApi({ Version: 'x', ApiVersion: server, ...(min ? { MinAPIVersion: min } : {}) }), want));
  }
  it('refuses a daemon older than 1.40', () => {
    assert.throws(() => negotiateApi({ Version: '18.09', ApiVersion: '1.39' }), { name: 'FailedPreconditionError' });
  });
  it('refuses a daemon whose minimum is above what crimux speaks, naming both ranges', () => {
    assert.throws(() => negotiateApi({ Version: '40.0', ApiVersion: '1.60', MinAPIVersion: '1.50' }), {
      name: 'FailedPreconditionError',
      message: /dockerd 40\.0 accepts API 1\.50–1\.60, crimux speaks 1\.40–1\.47/,
    });
  });
});

describe('handler options', () => {
  const h = (options: Record<string, unknown>) => ({ name: 'dk', backend: 'docker' as const, options });
  it('accepts dockerRuntime', () =>
    assert.deepEqual(parseHandlerOptions(h({ dockerRuntime: 'runc' })), { dockerRuntime: 'runc' }));
  it("defaults to dockerd's runtime", () => assert.deepEqual(parseHandlerOptions(h({})), { dockerRuntime: '' }));
  it('names the bad key', () => {
    assert.throws(() => parseHandlerOptions(h({ runtime: 'x' })), /handlers\.dk\.options\.runtime/);
    assert.throws(() => parseHandlerOptions(h({ dockerRuntime: 'a b' })), /handlers\.dk\.options\.dockerRuntime/);
  });
});

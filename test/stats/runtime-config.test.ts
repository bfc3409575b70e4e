/**
 * UpdateRuntimeConfig through the real handler (src/cri/runtime-service.ts) with fake backends: the pod CIDR
 * reaches the shared pod network once and every backend, one failing backend does not keep the others from it, and
 * an empty CIDR changes nothing.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { CallContext, RuntimeConfigUpdate } from '../../src/backends/backend';
import { runtimeService } from '../../src/cri/runtime-service';
import { UnavailableError } from '../../src/errors';
import { nullLogger } from '../../src/log/logger';
import { PodNetworking } from '../../src/network';
import { FakeBackend } from '../helpers/fake-backend';
import { routerFixture } from '../helpers/router-fixture';

class CidrBackend extends FakeBackend {
  cidrs: string[] = [];
  fail = false;
  override async updateRuntimeConfig(_ctx: CallContext, update: RuntimeConfigUpdate): Promise<void> {
    this.cidrs.push(update.podCidr);
    if (this.fail) throw new UnavailableError(`${this.name} is down`);
  }
}

/** Calls the UpdateRuntimeConfig handler as grpc-js would and resolves with its error (null on success). */
function callHandler(f: ReturnType<typeof routerFixture>, podCidr: string): Promise<{ code?: number } | null> {
  const env = { log: nullLogger(), metrics: f.metrics, ready: () => true, backendOf: () => 'none' };
  const handler = runtimeService(env, f.router, () => undefined).UpdateRuntimeConfig as unknown as (
    call: unknown,
    cb: (err: { code?: number } | null) => void,
  ) => void;
  const call = Object.assign(new EventEmitter(), {
    request: { runtime_config: { network_config: { pod_cidr: podCidr } } },
    getDeadline: () => Infinity,
  });
  return new Promise((resolve) => handler(call, (err) => resolve(err)));
}

test('UpdateRuntimeConfig hands the pod CIDR to every backend', async () => {
  const runc = new CidrBackend('runc');
  const docker = new CidrBackend('docker');
  const f = routerFixture([runc, docker]);
  try {
    assert.equal(await callHandler(f, '10.244.1.0/24'), null);
    assert.deepEqual(runc.cidrs, ['10.244.1.0/24']);
    assert.deepEqual(docker.cidrs, ['10.244.1.0/24']);
  } finally {
    f.close();
  }
});

test('UpdateRuntimeConfig hands the pod CIDR to the shared pod network once; a bad CIDR is InvalidArgument', async () => {
  const cidrs: string[] = [];
  const podNetwork = new PodNetworking({
    confDir: '/nonexistent',
    binDirs: [],
    netnsDir: '/nonexistent',
    stateDir: '/nonexistent',
    logger: nullLogger(),
  });
  const spy = {
    updatePodCidr: (cidr: string) => {
      podNetwork.updatePodCidr(cidr); // the real check
      cidrs.push(cidr);
    },
  };
  const runc = new CidrBackend('runc');
  const f = routerFixture([runc, new CidrBackend('docker')], { podNetwork: spy });
  try {
    assert.equal(await callHandler(f, '10.244.3.0/24'), null);
    assert.deepEqual(cidrs, ['10.244.3.0/24']);
    assert.equal((await callHandler(f, 'not-a-cidr'))?.code, 3 /* INVALID_ARGUMENT */);
    assert.deepEqual(runc.cidrs, ['10.244.3.0/24'], 'a refused CIDR reaches no backend');
  } finally {
    f.close();
  }
});

test('a failing backend is reported, and the others still get the CIDR', async () => {
  const runc = new CidrBackend('runc');
  const docker = new CidrBackend('docker');
  runc.fail = true;
  const f = routerFixture([runc, docker]);
  try {
    const err = await callHandler(f, '10.244.2.0/24');
    assert.equal(err?.code, 14 /* UNAVAILABLE */);
    assert.deepEqual(docker.cidrs, ['10.244.2.0/24']);
  } finally {
    f.close();
  }
});

test('an empty pod CIDR reaches no backend', async () => {
  const runc = new CidrBackend('runc');
  const f = routerFixture([runc, new CidrBackend('docker')]);
  try {
    assert.equal(await callHandler(f, ''), null);
    assert.deepEqual(runc.cidrs, []);
  } finally {
    f.close();
  }
});

test('the base backend accepts the update as a no-op', async () => {
  await new FakeBackend('runc').updateRuntimeConfig(
    { signal: AbortSignal.timeout(1000), log: nullLogger() },
    { podCidr: '10.0.0.0/8' },
  );
});

/**
 * Engine API version negotiation of the real HTTP client against fake dockerds: Docker Engine 29+ announces
 * MinAPIVersion 1.44 and refuses older clients; dockerd 20.10 speaks at most 1.41. The client asks GET /version on
 * the unversioned path, then speaks the highest version both accept, and fails clearly when there is none.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpDockerEngine, MAX_API } from '../../src/backends/docker/engine-client';
import { startFakeHttpEngine, type FakeHttpEngine } from './fake-engine-http';

describe('docker API version negotiation over HTTP', () => {
  let fake: FakeHttpEngine | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  const client = (socket: string, apiVersion = ''): HttpDockerEngine =>
    new HttpDockerEngine({ socket, apiVersion, requestTimeoutMs: 5000 });

  it('speaks MAX_API to a daemon that refuses clients below 1.44 (Docker Engine 29)', async () => {
    fake = await startFakeHttpEngine('29.0.0', '1.52', '1.44');
    const info = await client(fake.socket).info();
    assert.equal(info.Driver, 'overlay2');
    assert.deepEqual(fake.paths, ['/version', `/v${MAX_API}/info`]);
  });

  it('speaks 1.41 to a daemon whose newest API is 1.41 (dockerd 20.10)', async () => {
    fake = await startFakeHttpEngine('20.10.24', '1.41', '1.12');
    const engine = client(fake.socket);
    await engine.info();
    await engine.info();
    assert.deepEqual(fake.paths, ['/version', '/v1.41/info', '/v1.41/info'], 'negotiated once');
  });

  it('fails every call clearly when the ranges do not overlap, and asks again on the next call', async () => {
    fake = await startFakeHttpEngine('40.0.0', '1.60', '1.50');
    const engine = client(fake.socket);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(engine.info(), {
        name: 'FailedPreconditionError',
        message: /negotiate docker API: dockerd 40\.0\.0 accepts API 1\.50–1\.60, crimux speaks 1\.40–1\.47/,
      });
    }
    assert.deepEqual(fake.paths, ['/version', '/version'], 'nothing was sent at a refused version');
  });

  it('uses a pinned version as is', async () => {
    fake = await startFakeHttpEngine('29.0.0', '1.52', '1.44');
    await client(fake.socket, '1.44').info();
    assert.deepEqual(fake.paths, ['/v1.44/info']);
  });
});

/**
 * The real daemon (its own process) serving CRI over its unix socket with each transport: the setting reaches
 * the server (CRIMUX_SERVER_TRANSPORT, or server.transport in the config file), and the hot-path reads, an
 * error status, image calls and the event stream answer the same way through both.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { rejectsWithCode } from '../helpers/cri-client';

async function walk(d: DaemonHandle): Promise<void> {
  const v = await d.rt('Version', { version: 'v1' });
  assert.equal(v.runtime_name, 'crimux');
  const status = await d.rt('Status', { verbose: true });
  assert.ok(status.status?.conditions.some((c) => c.type === 'RuntimeReady'));
  assert.ok(Object.keys(status.info).length > 0, 'verbose Status carries info');
  assert.deepEqual((await d.rt('ListPodSandbox', {})).items, []);
  assert.deepEqual((await d.rt('ListContainers', {})).containers, []);
  await d.img('ListImages', {});
  await d.img('ImageFsInfo', {});
  const err = await rejectsWithCode(d.rt('ContainerStatus', { container_id: 'nope' }), grpc.status.NOT_FOUND);
  assert.ok(err.details.length > 0);
  await rejectsWithCode(d.rt('ContainerStatus', { container_id: '' }), grpc.status.INVALID_ARGUMENT);

  // The event stream opens (HEADERS arrive only with the first event, so wait for nothing) and a client
  // cancel ends it; the daemon keeps serving.
  const events = d.cri.runtime.GetContainerEvents({});
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    events.on('error', (e: grpc.ServiceError) => resolve(e));
    events.on('end', () => resolve(undefined));
  });
  await new Promise((r) => setTimeout(r, 200));
  events.cancel();
  const e = await Promise.race([ended, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
  assert.notEqual(e, 'hung', 'the cancelled stream ended');
  assert.equal((e as grpc.ServiceError | undefined)?.code, grpc.status.CANCELLED);
  assert.equal((await d.rt('Version', {})).runtime_name, 'crimux');
}

describe('daemon over each CRI transport', { timeout: 300_000 }, () => {
  const daemons: DaemonHandle[] = [];
  after(async () => {
    for (const d of daemons) await d.cleanup();
  });

  it('lean, the default', async () => {
    const env: NodeJS.ProcessEnv = {};
    const d = await startDaemon({ env });
    daemons.push(d);
    if (process.env.CRIMUX_SERVER_TRANSPORT === undefined) {
      assert.match(d.logs(), /msg="CRI server listening".*transport=lean/);
    }
    await walk(d);
  });

  it('direct, from CRIMUX_SERVER_TRANSPORT', async () => {
    const d = await startDaemon({ env: { CRIMUX_SERVER_TRANSPORT: 'direct' } });
    daemons.push(d);
    assert.match(d.logs(), /msg="CRI server listening".*transport=direct/);
    await walk(d);
  });

  it('grpc-js, from server.transport in the config file', async () => {
    const env: NodeJS.ProcessEnv = {};
    // An inherited CRIMUX_SERVER_TRANSPORT (e.g. a whole suite run against one transport) would win over the file.
    const d = await startDaemon({ config: { server: { transport: 'grpc-js' } }, env });
    daemons.push(d);
    if (process.env.CRIMUX_SERVER_TRANSPORT === undefined) {
      assert.match(d.logs(), /msg="CRI server listening".*transport=grpc-js/);
    }
    await walk(d);
  });
});

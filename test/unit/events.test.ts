import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routerFixture, podConfig, containerConfig } from '../helpers/router-fixture';
import { EventBus } from '../../src/router/events';

test('a create/start/stop/remove cycle emits events in order, with pod and container statuses', async () => {
  const f = routerFixture();
  const sub = f.router.core.events.subscribe();
  try {
    const pod = await f.router.sandboxes.run(f.ctx(), podConfig('ev'), '');
    const ctr = await f.router.containers.create(f.ctx(), pod, containerConfig('c'), podConfig('ev'));
    await f.router.containers.start(f.ctx(), ctr);
    await f.router.containers.stop(f.ctx(), ctr, 0);
    await f.router.containers.remove(f.ctx(), ctr);
    await f.router.sandboxes.stop(f.ctx(), pod);
    await f.router.sandboxes.remove(f.ctx(), pod);
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const ev = await Promise.race([sub.next(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000))]);
      assert.ok(ev, `event ${i} arrived`);
      seen.push(`${ev.container_id === pod ? 'pod' : 'ctr'}:${String(ev.container_event_type)}`);
      if (ev.container_id === ctr && ev.container_event_type === 'CONTAINER_STARTED_EVENT') {
        assert.equal(ev.pod_sandbox_status?.id, pod);
        assert.equal(ev.containers_statuses?.[0]?.state, 'CONTAINER_RUNNING');
      }
    }
    assert.deepEqual(seen, [
      'pod:CONTAINER_CREATED_EVENT',
      'pod:CONTAINER_STARTED_EVENT',
      'ctr:CONTAINER_CREATED_EVENT',
      'ctr:CONTAINER_STARTED_EVENT',
      'ctr:CONTAINER_STOPPED_EVENT',
      'ctr:CONTAINER_DELETED_EVENT',
      'pod:CONTAINER_STOPPED_EVENT',
      'pod:CONTAINER_DELETED_EVENT',
    ]);
  } finally {
    sub.close();
    f.close();
  }
});

test('a subscriber that stops reading is dropped and never blocks emitters or other subscribers', async () => {
  const bus = new EventBus(async () => ({ podSandboxStatus: null, containersStatuses: [] }), 10);
  const slow = bus.subscribe();
  const fast = bus.subscribe();
  let got = 0;
  const reader = (async () => {
    while (await fast.next()) got++;
  })();
  // Events come a few at a time, as lifecycle calls do; the fast reader keeps up, the slow one never reads.
  for (let i = 0; i < 50; i++) {
    bus.emit('CONTAINER_STARTED_EVENT', `c${i}`, 'p');
    if (i % 5 === 4) await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.match(slow.dropped ?? '', /fell 10 events behind/);
  assert.equal(bus.subscribers, 1);
  assert.equal(got, 50);
  fast.close();
  await reader;
  assert.equal(bus.subscribers, 0);
});

/**
 * The event bus and exit watcher in isolation (src/router/events.ts, exit-watcher.ts): events reach subscribers
 * in emit order even when an earlier event's pod snapshot is slower; a container's STOPPED is delivered once
 * whoever reports it; the exit watcher reports a container that started and exited between two relists; a
 * dropped subscriber's queue is released.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BaseBackend } from '../../src/backends/base';
import type { ContainerFacts } from '../../src/backends/backend';
import { EventBus, type PodSnapshot, type Subscription } from '../../src/router/events';
import { ExitWatcher } from '../../src/router/exit-watcher';
import { nullLogger } from '../../src/log/logger';
import { FakeBackend } from '../helpers/fake-backend';

const EMPTY: PodSnapshot = { podSandboxStatus: null, containersStatuses: [] };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function take(sub: Subscription, n: number, timeoutMs = 2000): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const ev = await Promise.race([sub.next(), sleep(timeoutMs).then(() => undefined)]);
    if (!ev) break;
    out.push(`${ev.container_id}:${String(ev.container_event_type).replace(/^CONTAINER_|_EVENT$/g, '')}`);
  }
  return out;
}

test('events arrive in emit order even when an earlier snapshot is slower', async () => {
  let calls = 0;
  // The first snapshot (CREATED) takes 100 ms, the second (STARTED) is immediate.
  const bus = new EventBus(async () => {
    if (calls++ === 0) await sleep(100);
    return EMPTY;
  });
  const sub = bus.subscribe();
  bus.emit('CONTAINER_CREATED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STARTED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STOPPED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_DELETED_EVENT', 'c', 'p');
  assert.deepEqual(await take(sub, 4), ['c:CREATED', 'c:STARTED', 'c:STOPPED', 'c:DELETED']);
  sub.close();
});

test('a second STOPPED for the same container (stop twice, watcher and stop) is not delivered', async () => {
  const bus = new EventBus(async () => EMPTY);
  const sub = bus.subscribe();
  bus.emit('CONTAINER_CREATED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STARTED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STOPPED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STOPPED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_DELETED_EVENT', 'c', 'p');
  bus.emit('CONTAINER_STOPPED_EVENT', 'other', 'p');
  assert.deepEqual(await take(sub, 5, 300), ['c:CREATED', 'c:STARTED', 'c:STOPPED', 'c:DELETED', 'other:STOPPED']);
  sub.close();
});

test('the exit watcher reports a container that started and exited between two relists', async () => {
  class Listing extends FakeBackend {
    items: ContainerFacts[] = [];
    override async listContainers(): Promise<ContainerFacts[]> {
      return this.items;
    }
  }
  const b = new Listing('runc');
  const bus = new EventBus(async () => EMPTY);
  const sub = bus.subscribe();
  const w = new ExitWatcher(bus, () => [b as BaseBackend], nullLogger(), 50);
  w.start();
  try {
    bus.emit('CONTAINER_CREATED_EVENT', 'fast', 'p');
    bus.emit('CONTAINER_STARTED_EVENT', 'fast', 'p');
    // Never listed as running: the first relist already sees it exited.
    b.items = [{ id: 'fast', sandboxId: 'p', phase: 'exited' } as ContainerFacts];
    assert.deepEqual(await take(sub, 4, 500), ['fast:CREATED', 'fast:STARTED', 'fast:STOPPED']);
  } finally {
    w.stop();
    sub.close();
  }
});

test('a subscriber that falls behind is dropped with its queue released', async () => {
  const bus = new EventBus(async () => EMPTY, 10);
  const slow = bus.subscribe();
  const live = bus.subscribe();
  for (let i = 0; i < 30; i++) bus.emit('CONTAINER_CREATED_EVENT', `c${i}`, 'p');
  assert.equal((await take(live, 30)).length, 30, 'the reading subscriber got every event');
  assert.match(slow.dropped ?? '', /fell 10 events behind/);
  assert.equal(await slow.next(), undefined, 'nothing left queued for the dropped subscriber');
  assert.equal(bus.subscribers, 1);
  live.close();
});

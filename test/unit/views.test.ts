/**
 * The kept statuses of src/router/views.ts follow a state change the backend made on its own (an exit) even when
 * no client listed in between: a client that only polls ContainerStatus (as the conformance suite's waits do)
 * once saw a container stay RUNNING forever after it exited, because the refresh loop had no kept list to compare.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, ContainerFacts } from '../../src/backends/backend';
import type { CallContext } from '../../src/context';
import { nullLogger } from '../../src/log/logger';
import { BackendViews } from '../../src/router/views';
import { phaseOfState } from '../helpers/fake-backend';

function fakeBackend(state: { value: string }): Backend {
  return {
    name: 'fake',
    listPodSandboxes: async () => [],
    listContainers: async () => [{ id: 'c1', sandboxId: 'p1', phase: phaseOfState(state.value) } as ContainerFacts],
  } as unknown as Backend;
}

const ctx: CallContext = { signal: new AbortController().signal, log: nullLogger() };

function views(): BackendViews {
  return new BackendViews({
    fetchTimeoutMs: 5_000,
    shutdown: new AbortController().signal,
    statsTtlMs: 0,
    keep: true,
  });
}

test('a status kept while no list is kept is dropped by the next refresh, and the exit is seen', async () => {
  const state = { value: 'CONTAINER_RUNNING' };
  const b = fakeBackend(state);
  const v = views();
  const status = (): Promise<string> => v.status('fake', 'c/c1', ctx, async () => state.value);
  assert.equal(await status(), 'CONTAINER_RUNNING');
  state.value = 'CONTAINER_EXITED';
  assert.equal(await status(), 'CONTAINER_RUNNING', 'kept between refreshes');
  await v.refresh(b, ctx);
  assert.equal(await status(), 'CONTAINER_EXITED');
});

test('with both lists kept, a refresh that sees the same states keeps the statuses', async () => {
  const state = { value: 'CONTAINER_RUNNING' };
  const b = fakeBackend(state);
  const v = views();
  await v.refresh(b, ctx); // baseline lists
  let fetches = 0;
  const status = (): Promise<string> =>
    v.status('fake', 'c/c1', ctx, async () => {
      fetches++;
      return state.value;
    });
  await status();
  await v.refresh(b, ctx);
  await status();
  assert.equal(fetches, 1, 'no change, no refetch');
  state.value = 'CONTAINER_EXITED';
  await v.refresh(b, ctx);
  assert.equal(await status(), 'CONTAINER_EXITED');
  assert.equal(fetches, 2);
});

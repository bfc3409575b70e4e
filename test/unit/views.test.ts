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
import { InternalError, UnavailableError } from '../../src/errors';
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

/** A backend whose lists fail with Unavailable while `down` is set, counting the calls it gets; fresh views. */
function flaky(): { b: Backend; v: BackendViews; down: { value: boolean }; calls: { n: number } } {
  const down = { value: true };
  const calls = { n: 0 };
  const list = async (): Promise<never[]> => {
    calls.n++;
    if (down.value) throw new UnavailableError('fake: connection refused');
    return [];
  };
  const b = { name: 'fake', listPodSandboxes: list, listContainers: list } as unknown as Backend;
  return { b, v: views(), down, calls };
}

test('a backend found down is not asked again at every list until the refresh loop reaches it', async () => {
  const { b, v, down, calls } = flaky();
  await assert.rejects(v.listSandboxes(b, ctx), UnavailableError);
  assert.equal(calls.n, 1);
  const kept = v.keptFailure('fake', 'sandboxes');
  assert.ok(kept?.error instanceof UnavailableError, 'the failure is kept');
  assert.equal(v.keptFailure('fake', 'containers'), undefined, 'only for the list that failed');
  down.value = false;
  await v.refresh(b, ctx);
  assert.equal(v.keptFailure('fake', 'sandboxes'), undefined, 'an answer from the backend clears it');
  assert.deepEqual(v.kept('fake', 'sandboxes'), []);
});

test('a refresh that finds the backend down keeps the failure for both lists; a change notice drops it', async () => {
  const { b, v } = flaky();
  await assert.rejects(v.refresh(b, ctx), UnavailableError);
  assert.ok(v.keptFailure('fake', 'sandboxes'));
  assert.ok(v.keptFailure('fake', 'containers'));
  v.changed('fake');
  assert.equal(v.keptFailure('fake', 'sandboxes'), undefined);
});

test('a list that fails for another reason (not the backend being down) is not kept', async () => {
  const b = {
    name: 'fake',
    listPodSandboxes: async () => {
      throw new InternalError('fake: a bug');
    },
  } as unknown as Backend;
  const v = views();
  await assert.rejects(v.listSandboxes(b, ctx), InternalError);
  assert.equal(v.keptFailure('fake', 'sandboxes'), undefined);
});

test('a refresh that sees the same states leaves the kept lists and their snapshots as they are', async () => {
  const state = { value: 'CONTAINER_RUNNING' };
  const b = fakeBackend(state);
  const v = views();
  let shaped = 0;
  v.onContainers = () => shaped++;
  const first = await v.refresh(b, ctx);
  assert.equal(shaped, 1);
  const gen = v.generation('fake');
  const again = await v.refresh(b, ctx);
  assert.equal(again, first, 'the kept list itself is answered');
  assert.equal(shaped, 1, 'no entry shaped or snapshot recorded for an unchanged list');
  assert.equal(v.generation('fake'), gen);
  assert.equal(v.kept('fake', 'containers'), first);
  state.value = 'CONTAINER_EXITED';
  const changed = await v.refresh(b, ctx);
  assert.equal(shaped, 2, 'a change is shaped and its snapshot recorded');
  assert.equal(changed[0]?.state, 'CONTAINER_EXITED');
  assert.ok(v.generation('fake') > gen, 'and it is a change notice');
});

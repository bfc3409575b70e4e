/**
 * untilAbort (src/util/abort.ts): a caller that has already given up must not leave the shared work unobserved.
 * The image store's pull joins a flight this way after an await; when the kubelet's call was cancelled meanwhile
 * and the pull then failed, the failure was an unhandled rejection and the daemon exited (src/cli/crash.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { untilAbort } from '../../src/util/abort';

/** Collects unhandled rejections while `fn` runs and for a few loop turns after. */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    await fn();
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  return seen;
}

test('already aborted: rejects with the reason, and a later failure of the work is not unhandled', async () => {
  const seen = await unhandledDuring(async () => {
    let fail!: (err: Error) => void;
    const work = new Promise<string>((_, reject) => (fail = reject));
    const signal = AbortSignal.abort(new Error('caller went away'));
    await assert.rejects(untilAbort(signal, work), /caller went away/);
    fail(new Error('registry unreachable'));
  });
  assert.deepEqual(seen, []);
});

test('aborted while waiting: rejects with the reason, and a later failure of the work is not unhandled', async () => {
  const seen = await unhandledDuring(async () => {
    let fail!: (err: Error) => void;
    const work = new Promise<string>((_, reject) => (fail = reject));
    const ac = new AbortController();
    const waiting = untilAbort(ac.signal, work);
    ac.abort(new Error('deadline'));
    await assert.rejects(waiting, /deadline/);
    fail(new Error('registry unreachable'));
  });
  assert.deepEqual(seen, []);
});

test('not aborted: the work settles the wait', async () => {
  assert.equal(await untilAbort(new AbortController().signal, Promise.resolve('id')), 'id');
  await assert.rejects(untilAbort(new AbortController().signal, Promise.reject(new Error('nope'))), /nope/);
});

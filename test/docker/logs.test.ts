/**
 * CRI log copying against a real dockerd: every line is copied even where Docker's timestamps run out of order,
 * output written while crimux is down is copied after its restart with nothing lost or duplicated, and ReopenContainerLog (the kubelet's rotation) splits the output between the
 * rotated and the new file without losing or repeating a line — also across a restart right after rotating.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { createDockerBackend } from '../../src/backends/docker';
import type { Backend } from '../../src/backends/backend';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import {
  containerConfig,
  ctx,
  deps,
  eventually,
  handlerSpec,
  makeEnv,
  newId,
  sandboxConfig,
  testLogger,
  type TestEnv,
} from './env';
import { containerStatus } from '../../src/router/shape-container';
import { withLogPath } from '../helpers/create-request';

const log = testLogger();
const SLOT = 2;
const LINES = 60;
/** Prints seq-0 … seq-59, one line every 50 ms (about 3 s), on stdout, and every tenth also on stderr. */
const PRINTER = `i=0; while [ $i -lt ${LINES} ]; do echo seq-$i; [ $((i % 10)) -eq 0 ] && echo err-$i >&2; i=$((i+1)); sleep 0.05; done`;

/** The seq-N numbers of a CRI log text, in file order. */
function seqs(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => / stdout F seq-\d+$/.test(l))
    .map((l) => Number(l.split('seq-')[1]));
}

const ALL = Array.from({ length: LINES }, (_, i) => i);

describe('docker CRI log copying', { timeout: 180_000 }, () => {
  let env: TestEnv;
  let backend: Backend;
  const pods: string[] = [];

  before(async () => {
    await ensureDockerd();
    const { port } = await ensureTestRegistry();
    env = await makeEnv(port, SLOT);
    backend = createDockerBackend(deps(env, log));
    await backend.start(ctx(log));
    await backend.images.pull(ctx(log), { image: BUSYBOX.ref });
  });
  after(async () => {
    for (const id of pods) await backend?.removePodSandbox(ctx(log), id).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  const start = async (name: string, script = PRINTER): Promise<{ id: string; logPath: string }> => {
    const sid = newId();
    const sc = sandboxConfig(env, name, { hostNetwork: true });
    pods.push(sid);
    await backend.runPodSandbox(ctx(log), { id: sid, handler: handlerSpec(env.config), config: sc });
    const id = newId();
    await backend.createContainer(
      ctx(log),
      withLogPath({
        id,
        sandboxId: sid,
        config: containerConfig('printer', BUSYBOX.ref, { command: ['sh', '-c', script] }),
        sandboxConfig: sc,
      }),
    );
    await backend.startContainer(ctx(log), id);
    return { id, logPath: containerStatus((await backend.containerStatus(ctx(log), id, false)).facts).log_path ?? '' };
  };

  const restart = async (): Promise<void> => {
    await backend.close();
    backend = createDockerBackend(deps(env, log));
    await backend.start(ctx(log));
  };

  const waitExited = (id: string): Promise<unknown> =>
    eventually(
      async () =>
        containerStatus((await backend.containerStatus(ctx(log), id, false)).facts).state === 'CONTAINER_EXITED',
      30_000,
      'printer exits',
    );

  it('keeps every line when Docker stamps stdout and stderr out of order', async () => {
    // Docker stamps each stream in its own goroutine, so in its log a stderr line can carry an earlier timestamp
    // than the stdout line before it: about 2 in 1,000 of these lines, measured here.
    const n = 3000;
    const { id, logPath } = await start(
      'interleaved',
      `i=0; while [ $i -lt ${n} ]; do echo o-$i; echo e-$i >&2; i=$((i+1)); done`,
    );
    await waitExited(id);
    const lines = await eventually(
      async () => {
        const l = (await fs.readFile(logPath, 'utf8')).split('\n').filter((x) => x !== '');
        return l.length >= 2 * n && l;
      },
      30_000,
      'all lines copied',
    );
    const got = (stream: string, tag: string): number[] =>
      lines.filter((l) => l.includes(` ${stream} F ${tag}-`)).map((l) => Number(l.split(`${tag}-`)[1]));
    const want = Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(got('stdout', 'o'), want, 'every stdout line once, in order');
    assert.deepEqual(got('stderr', 'e'), want, 'every stderr line once, in order');
  });

  it('copies output produced while crimux was down, once, after a restart', async () => {
    const { id, logPath } = await start('resume');
    await eventually(async () => seqs(await fs.readFile(logPath, 'utf8')).length >= 5, 10_000, 'first lines copied');
    await backend.close(); // crimux goes away mid-output
    await new Promise((r) => setTimeout(r, 1000));
    const during = seqs(await fs.readFile(logPath, 'utf8')).length;
    await restart();
    await waitExited(id);
    const text = await eventually(
      async () => {
        const t = await fs.readFile(logPath, 'utf8');
        return seqs(t).length >= LINES && t;
      },
      // The copier resumes after the restart's reconcile; a loaded CI machine needed more than 15 s once.
      45_000,
      'all lines copied',
    );
    assert.ok(during < LINES, 'the container was still printing while crimux was down');
    assert.deepEqual(seqs(text), ALL, 'every line exactly once, in order');
    assert.equal(text.split('\n').filter((l) => / stderr F err-\d+$/.test(l)).length, LINES / 10);
  });

  it('splits output between the rotated and the reopened file, also across a restart', async () => {
    const { id, logPath } = await start('rotate');
    await eventually(async () => seqs(await fs.readFile(logPath, 'utf8')).length >= 10, 10_000, 'first lines copied');
    const rotated = `${logPath}.20260101-000000`;
    await fs.rename(logPath, rotated); // what the kubelet's log manager does before ReopenContainerLog
    await backend.reopenContainerLog(ctx(log), id);
    await eventually(
      async () => seqs(await fs.readFile(logPath, 'utf8').catch(() => '')).length >= 5,
      10_000,
      'new file written',
    );
    await restart(); // resumes from the reopened file's tail
    await waitExited(id);
    const [a, b] = await eventually(
      async () => {
        const r = seqs(await fs.readFile(rotated, 'utf8'));
        const n = seqs(await fs.readFile(logPath, 'utf8'));
        return r.length + n.length >= LINES && [r, n];
      },
      15_000,
      'all lines copied',
    );
    assert.ok(a.length > 0 && b.length > 0, `both files hold lines (${a.length} + ${b.length})`);
    assert.deepEqual([...a, ...b], ALL, 'no line lost or repeated across rotation and restart');
  });
});

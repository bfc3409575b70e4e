/**
 * The runc backend driven directly: Attach through conmon's attach socket (output, stdin round trip, leaving
 * keeps the container running) and Exec with a TTY through runc's console socket (output, resize, exit code),
 * both bridged by crimux-io; no helper process or socket outlives a session.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend, ProcessStreams } from '../../src/backends/backend';
import { BUSYBOX } from '../fixtures/images';
import { directEnv, RUNC, type DirectEnv } from './direct';
import * as e from './env';
import { containerStatus } from '../../src/router/shape-container';
import { withLogPath } from '../helpers/create-request';

const SLOT = 10;
const log = e.testLogger();
const ctx = (ms?: number) => e.ctx(log, ms);
const hex = (c: string) => c.repeat(64).slice(0, 64);
const POD = hex('a7');
const TICK = hex('c1');
const CAT = hex('c2');
const TTY = hex('c3');
const SHELL = hex('c4');

/** Collects a stream's text; `until` waits (bounded) for a pattern. */
function collect(ps: ProcessStreams, which: 'stdout' | 'stderr' = 'stdout') {
  let text = '';
  ps[which]?.on('data', (b: Buffer) => (text += b.toString()));
  return {
    text: () => text,
    until: (re: RegExp, ms = 20_000) =>
      e.waitFor(`output matching ${re}`, async () => (re.test(text) ? text : undefined), ms),
  };
}

const helpers = () => e.processesMentioning('crimux-io');

describe('runc backend (direct): attach and TTY exec', { timeout: 600_000 }, () => {
  let env: DirectEnv;
  let backend: Backend;
  const run = async (id: string, name: string, cmd: string[], extra = {}) => {
    const sandboxConfig = e.sandboxConfig('attach', env.logDir);
    await backend.createContainer(
      ctx(),
      withLogPath({
        id,
        sandboxId: POD,
        config: e.containerConfig(name, BUSYBOX.ref, cmd, extra),
        sandboxConfig,
      }),
    );
    await backend.startContainer(ctx(), id);
  };
  const execDir = () => path.join(env.config.runDir, 'runc', 'exec');

  before(async () => {
    env = await directEnv(SLOT, log);
    backend = env.backend();
    await backend.start(ctx());
    await backend.runPodSandbox(ctx(), { id: POD, handler: RUNC, config: e.sandboxConfig('attach', env.logDir) });
  });

  after(async () => {
    await backend?.removePodSandbox(ctx(), POD).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  it("attaches to a running container's output; leaving keeps it running", async () => {
    await run(TICK, 'tick', [
      'sh',
      '-c',
      'i=0; while :; do echo "tick $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.2; done',
    ]);
    const ps = await backend.attach(ctx(), TICK, { tty: false, stdin: false, stdout: true, stderr: true });
    const out = collect(ps);
    const err = collect(ps, 'stderr');
    await out.until(/tick \d+/);
    await err.until(/err \d+/);
    assert.doesNotMatch(out.text(), /err/, 'stderr stays apart from stdout');
    ps.close();
    assert.deepEqual(await ps.wait(), { exitCode: 0 });
    const st = await backend.containerStatus(ctx(), TICK, false);
    assert.equal(containerStatus(st.facts).state, 'CONTAINER_RUNNING');
  });

  it('attaches with stdin: a round trip through cat', async () => {
    await run(CAT, 'cat', ['cat'], { stdin: true });
    const ps = await backend.attach(ctx(), CAT, { tty: false, stdin: true, stdout: true, stderr: true });
    const out = collect(ps);
    ps.stdin?.write('first line\n');
    await out.until(/first line\n/);
    ps.stdin?.write('second line\n');
    await out.until(/second line\n/);
    ps.close();
    await ps.wait();
    // --leave-stdin-open: a second session still reaches the same cat.
    const again = await backend.attach(ctx(), CAT, { tty: false, stdin: true, stdout: true, stderr: false });
    const out2 = collect(again);
    again.stdin?.write('third line\n');
    await out2.until(/third line\n/);
    again.close();
    await again.wait();
  });

  it('attaches to a container with a terminal: input, output and a resize through conmon', async () => {
    await run(SHELL, 'shell', ['sh'], { stdin: true, tty: true });
    const ps = await backend.attach(ctx(), SHELL, { tty: true, stdin: true, stdout: true, stderr: false });
    assert.equal(ps.stderr, undefined, 'a terminal has one output stream');
    const out = collect(ps);
    ps.resize({ width: 91, height: 23 });
    // The resize reaches conmon through its ctl FIFO asynchronously: ask until the shell sees it.
    await e.waitFor(
      'the resize inside the container',
      async () => {
        ps.stdin?.write('echo "rows=$(stty size)"\n');
        await new Promise((r) => setTimeout(r, 200));
        return /rows=23 91/.test(out.text()) ? true : undefined;
      },
      20_000,
    );
    ps.close();
    await ps.wait();
    const st = await backend.containerStatus(ctx(), SHELL, false);
    assert.equal(containerStatus(st.facts).state, 'CONTAINER_RUNNING', 'leaving does not end the shell');
  });

  it('execs with a TTY: output, resize, exit code', async () => {
    await run(TTY, 'tty', ['sleep', '1000']);
    const script =
      'stty -echo; [ -t 0 ] && echo on-a-terminal; echo ready; i=0; while [ $i -lt 100 ]; do s=$(stty size); [ "$s" = "30 100" ] && break; sleep 0.1; i=$((i+1)); done; echo "size $s"; exit 7';
    const ps = await backend.exec(ctx(), TTY, ['sh', '-c', script], {
      tty: true,
      stdin: true,
      stdout: true,
      stderr: false,
    });
    assert.equal(ps.stderr, undefined, 'a terminal has one output stream');
    const out = collect(ps);
    await out.until(/ready/);
    ps.resize({ width: 100, height: 30 });
    assert.deepEqual(await ps.wait(), { exitCode: 7 });
    assert.match(out.text(), /on-a-terminal/);
    assert.match(out.text(), /size 30 100/);
    ps.close();
  });

  it('a TTY exec the client leaves is killed; stdin reaches it', async () => {
    const ps = await backend.exec(
      ctx(),
      TTY,
      ['sh', '-c', 'stty -echo; echo ready; read x; echo "got $x"; exec sleep 4343'],
      { tty: true, stdin: true, stdout: true, stderr: false },
    );
    const out = collect(ps);
    await out.until(/ready/);
    ps.stdin?.write('hello\n');
    await out.until(/got hello/);
    ps.close();
    await ps.wait();
    await e.waitFor(
      'sleep 4343 gone',
      async () => (e.processesMentioning('sleep 4343').length === 0 ? true : undefined),
      20_000,
    );
  });

  it('leaves no helper process or socket behind', async () => {
    await e.waitFor('crimux-io helpers gone', async () => (helpers().length === 0 ? true : undefined), 20_000);
    const left = await e.waitFor(
      'exec dir empty',
      async () => {
        const files = readdirSync(execDir());
        return files.length === 0 ? files : undefined;
      },
      20_000,
    );
    assert.deepEqual(left, []);
  });
});

/**
 * The runc engine's live state from conmon's files (engine.state): a verified monitor answers from signal 0 while
 * its directory watch has not seen the exit file, the exit is seen as the file appears (and at once by a caller
 * that looked for it, as StopContainer does), and a monitor that became a zombie is caught at its re-verification
 * by start time.
 * Stand-in processes play conmon (their command line carries the container ID, as conmon's does).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fsSync, { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../../src/backends/runc/engine';
import { Layout } from '../../src/backends/runc/layout';
import { processStartTime } from '../../src/host/conmon';

const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Runs `script` under sh with `marker` as $0 (so it is in the command line); resolves with its first output line. */
function run(script: string, marker: string): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn('sh', ['-c', script, marker], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', (b: Buffer) => resolve({ child, line: b.toString().trim() }));
  });
}

async function engineWith(dir: string): Promise<Engine> {
  // /bin/false as the OCI runtime: `state` fails, so a container whose monitor is gone reads as unknown.
  return new Engine(
    [{ name: 'runc', runtimePath: '/bin/false', runtimeRoot: path.join(dir, 'root'), runtimeArgs: [] }],
    'conmon',
    new Layout(path.join(dir, 'state'), path.join(dir, 'run')),
    0,
  );
}

/** Runs `fn` with a fresh temp dir and an engine keeping its state below it; the dir is removed afterwards. */
async function withEngine(fn: (engine: Engine, root: string) => Promise<void>): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-engine-'));
  try {
    await fn(await engineWith(root), root);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

/** A container directory whose stand-in conmon (also its init) runs; its state verified running once. */
async function runningContainer(engine: Engine, root: string, id: string): Promise<{ dir: string; pid: number }> {
  const { child } = await run('echo up; sleep 30; :', id);
  const dir = await containerDir(root, id, child.pid!, child.pid!);
  assert.deepEqual(await engine.state('runc', id, dir), { kind: 'running', pid: child.pid });
  return { dir, pid: child.pid! };
}

async function containerDir(root: string, id: string, conmonPid: number, initPid: number): Promise<string> {
  const dir = path.join(root, id);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'conmon.pid'), `${conmonPid}\n`);
  await fs.writeFile(path.join(dir, 'pidfile'), `${initPid}`);
  return dir;
}

describe('runc engine state', () => {
  it('processStartTime names a live process and nothing for a gone one', () => {
    const mine = processStartTime(process.pid);
    assert.match(mine ?? '', /^\d+$/);
    assert.equal(processStartTime(process.pid), mine);
    assert.equal(processStartTime(2 ** 22 + 1), undefined);
  });

  it('reports running from a verified monitor; a relist sees the exit through the watch', async () => {
    await withEngine(async (engine, root) => {
      const id = 'c0ffee01';
      const { dir, pid } = await runningContainer(engine, root, id);
      assert.deepEqual(engine.known(dir), { kind: 'running', pid });
      await fs.writeFile(path.join(dir, 'exit'), '3');
      // A relist's view (known) follows the monitor's watch: the inotify event, handled by the event loop.
      for (let i = 0; i < 100 && engine.known(dir)?.kind === 'running'; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.notEqual(engine.known(dir)?.kind, 'running');
      const st = await engine.state('runc', id, dir);
      assert.equal(st.kind, 'exited');
      assert.equal(st.kind === 'exited' && st.code, 3);
    });
  });

  it("answers one container's state exactly, whatever the watch has handled yet", async () => {
    await withEngine(async (engine, root) => {
      const id = 'c0ffee04';
      const { dir } = await runningContainer(engine, root, id);
      // No turn of the event loop between the write and the call: the watch's event cannot have been handled.
      fsSync.writeFileSync(path.join(dir, 'exit'), '1');
      assert.equal((await engine.state('runc', id, dir)).kind, 'exited');
    });
  });

  it('answers exited at once after exited() saw the exit file, whatever the watch has handled', async () => {
    await withEngine(async (engine, root) => {
      const id = 'c0ffee03';
      const { dir } = await runningContainer(engine, root, id);
      assert.equal(await engine.exited(dir), false);
      fsSync.writeFileSync(path.join(dir, 'exit'), '0');
      assert.equal(await engine.exited(dir), true);
      assert.equal((await engine.state('runc', id, dir)).kind, 'exited');
    });
  });

  it('catches a monitor that turned zombie at its re-verification', async () => {
    const realNow = Date.now;
    try {
      await withEngine(async (engine, root) => {
        const id = 'c0ffee02';
        // The inner shell plays conmon; the outer one turns into `sleep` and never reaps it, so it stays a zombie.
        const { line } = await run(`sh -c 'sleep 1; :' ${id} & echo $!; exec sleep 30`, 'outer');
        const pid = Number(line);
        // `$!` is printed as soon as the child is forked, maybe before it runs `sh … <id>`: wait for its command line.
        const args = (): string[] => fsSync.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        for (let i = 0; i < 100 && !args().includes(id); i++) await new Promise((r) => setTimeout(r, 10));
        const dir = await containerDir(root, id, pid, pid);
        assert.deepEqual(await engine.state('runc', id, dir), { kind: 'running', pid });
        for (let i = 0; i < 50 && processStartTime(pid) !== undefined; i++)
          await new Promise((r) => setTimeout(r, 100));
        assert.equal(processStartTime(pid), undefined, 'the stand-in monitor is a zombie now');
        // Signal 0 still reaches a zombie: trusted until the next re-verification…
        assert.deepEqual(await engine.state('runc', id, dir), { kind: 'running', pid });
        // …which reads its state and sees it dead.
        Date.now = () => realNow() + 11_000;
        assert.equal((await engine.state('runc', id, dir)).kind, 'unknown');
      });
    } finally {
      Date.now = realNow;
    }
  });
});

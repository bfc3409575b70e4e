/**
 * Exec, Attach and PortForward of the docker backend against a real dockerd, as the streaming server will use
 * them: plain stdin/stdout/stderr streams, exit codes, TTY, killing on close, and a TCP connection into the pod.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { createDockerBackend } from '../../src/backends/docker';
import type { Backend } from '../../src/backends/backend';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX, HTTP } from '../fixtures/images';
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
import { withLogPath } from '../helpers/create-request';

const log = testLogger();
const SLOT = 5;

function collect(r: Readable | undefined): Promise<string> {
  if (!r) return Promise.resolve('');
  return new Promise((resolve, reject) => {
    let s = '';
    r.on('data', (b: Buffer) => (s += b.toString()));
    r.on('end', () => resolve(s));
    r.on('error', reject);
  });
}

describe('docker exec, attach and port-forward streams', { timeout: 180_000 }, () => {
  let env: TestEnv;
  let backend: Backend;
  let sid = '';
  let sc: ReturnType<typeof sandboxConfig>;
  let shell = '';

  before(async () => {
    await ensureDockerd();
    const { port } = await ensureTestRegistry();
    env = await makeEnv(port, SLOT);
    backend = createDockerBackend(deps(env, log));
    await backend.start(ctx(log));
    await backend.images.pull(ctx(log), { image: BUSYBOX.ref });
    await backend.images.pull(ctx(log), { image: HTTP.ref });
    sid = newId();
    sc = sandboxConfig(env, 'streams');
    await backend.runPodSandbox(ctx(log), { id: sid, handler: handlerSpec(env.config), config: sc });
    shell = await start('shell', BUSYBOX.ref, { command: ['sleep', '1000'] });
  });
  after(async () => {
    if (sid) await backend?.removePodSandbox(ctx(log), sid).catch(() => undefined);
    await backend?.close();
    await env?.cleanup();
  });

  const start = async (name: string, image: string, o = {}): Promise<string> => {
    const id = newId();
    await backend.createContainer(
      ctx(log),
      withLogPath({
        id,
        sandboxId: sid,
        config: containerConfig(name, image, o),
        sandboxConfig: sc,
      }),
    );
    await backend.startContainer(ctx(log), id);
    return id;
  };

  it('execs with stdin, separate stdout/stderr and the exit code', async () => {
    const p = await backend.exec(ctx(log), shell, ['sh', '-c', 'read x; echo got-$x; echo e >&2; exit 3'], {
      tty: false,
      stdin: true,
      stdout: true,
      stderr: true,
    });
    const out = collect(p.stdout);
    const err = collect(p.stderr);
    p.stdin?.end('hello\n');
    assert.deepEqual(await p.wait(), { exitCode: 3 });
    assert.equal(await out, 'got-hello\n');
    assert.equal(await err, 'e\n');
  });

  it('execs with a TTY and resizes it', async () => {
    const p = await backend.exec(ctx(log), shell, ['sh', '-c', 'sleep 0.3; stty size'], {
      tty: true,
      stdin: false,
      stdout: true,
      stderr: false,
    });
    assert.equal(p.stderr, undefined, 'a TTY merges stderr into stdout');
    p.resize({ width: 91, height: 17 });
    const out = collect(p.stdout);
    assert.deepEqual(await p.wait(), { exitCode: 0 });
    assert.equal((await out).trim(), '17 91');
  });

  it('kills an exec session on close', async () => {
    const p = await backend.exec(ctx(log), shell, ['sleep', '31338'], {
      tty: false,
      stdin: false,
      stdout: true,
      stderr: true,
    });
    p.close();
    const { exitCode } = await p.wait();
    assert.notEqual(exitCode, 0);
    const r = await backend.execSync(ctx(log), shell, ['sh', '-c', 'ps | grep -c "sleep 3133[8]" || true'], 10);
    assert.equal(r.stdout.toString().trim(), '0');
  });

  it("attaches to a container's stdin and stdout", async () => {
    const id = await start('reader', BUSYBOX.ref, {
      command: ['sh', '-c', 'read x; echo att-$x; exit 4'],
      stdin: true,
      stdin_once: true,
    });
    const p = await backend.attach(ctx(log), id, { tty: false, stdin: true, stdout: true, stderr: true });
    const out = collect(p.stdout);
    p.stdin?.end('a\n');
    assert.equal(await out, 'att-a\n');
    assert.deepEqual(await p.wait(), { exitCode: 4 });
  });

  it('forwards a port into the pod network namespace', async () => {
    await start('http', HTTP.ref);
    const body = await eventually(
      async () => {
        const conn = await backend.portForward(ctx(log), sid, HTTP.port);
        const text = collect(conn);
        conn.end('GET / HTTP/1.0\r\n\r\n');
        const t = await text;
        return t.includes(HTTP.bodyPrefix) && t;
      },
      20_000,
      'http answers through port-forward',
    );
    assert.ok(body.includes(HTTP.body('streams')));
    await assert.rejects(backend.portForward(ctx(log), sid, 1), { name: 'UnavailableError' });
  });
});

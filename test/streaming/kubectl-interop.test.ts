/**
 * Interoperability with the real Kubernetes client: `kubectl` (client-go, moby/spdystream, gorilla/websocket)
 * runs exec, attach and port-forward against a fake API server that proxies to crimux's streaming server the
 * way the kubelet proxies CRI streaming URLs. Each runs twice: over SPDY (KUBECTL_*_WEBSOCKETS=false) and over
 * WebSocket (kubectl's default: v5.channel.k8s.io for exec/attach, SPDY tunneled in a WebSocket for
 * port-forward). Skipped when kubectl is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startHarness, type Harness } from './clients/harness';
import { CONTAINER, POD, kubeconfig, startFakeApiServer, type FakeApiServer } from './clients/fake-apiserver';

const HAVE_KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

let h: Harness;
let api: FakeApiServer;
let dir: string;
const children = new Set<ChildProcess>();

before(async () => {
  if (!HAVE_KUBECTL) return;
  h = await startHarness();
  api = await startFakeApiServer((r) =>
    r.kind === 'exec'
      ? h.server.exec({ backend: h.backend, containerId: CONTAINER, cmd: r.cmd, opts: r.opts })
      : r.kind === 'attach'
        ? h.server.attach({ backend: h.backend, containerId: CONTAINER, opts: r.opts })
        : h.server.portForward({ backend: h.backend, sandboxId: POD, ports: r.ports }),
  );
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-kubectl-'));
  fs.writeFileSync(path.join(dir, 'kubeconfig'), kubeconfig(api.url));
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await api?.close();
  await h?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const kubectlArgs = (): string[] => [
  '--kubeconfig',
  path.join(dir, 'kubeconfig'),
  '--cache-dir',
  path.join(dir, 'cache'),
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: Record<string, string>, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const p = execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0;
      resolve({ code: Number.isNaN(code) ? -1 : code, stdout, stderr });
    });
    p.stdin?.end(input ?? '');
  });
}

for (const transport of ['spdy', 'websocket'] as const) {
  const ws = transport === 'websocket' ? 'true' : 'false';
  const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: ws, KUBECTL_PORT_FORWARD_WEBSOCKETS: ws };

  describe(`kubectl over ${transport}`, { skip: !HAVE_KUBECTL && 'kubectl is not installed', timeout: 120_000 }, () => {
    test('exec: stdout, stderr and the exit code', async () => {
      const r = await run(
        'kubectl',
        [...kubectlArgs(), 'exec', POD, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'],
        env,
      );
      assert.equal(r.code, 3, r.stderr);
      assert.equal(r.stdout, 'out\n');
      assert.match(r.stderr, /err\n/);
      assert.match(r.stderr, /command terminated with exit code 3/);
    });

    test('exec -i: piped stdin reaches the process and its end ends it', async () => {
      const r = await run(
        'kubectl',
        [...kubectlArgs(), 'exec', '-i', POD, '--', 'sh', '-c', 'cat; echo done'],
        env,
        'piped data\n',
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'piped data\ndone\n');
    });

    test("exec -it: a TTY with kubectl's terminal size", async () => {
      // kubectl needs a terminal of its own: script(1) gives it one, sized with stty.
      const remote = `i=0; while [ "$(stty size)" = "0 0" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; stty size`;
      const cmd = `stty rows 33 cols 111; kubectl ${kubectlArgs().join(' ')} exec -it ${POD} -- sh -c '${remote}'`;
      const r = await run('script', ['-qefc', cmd, '/dev/null'], env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /33 111/);
    });

    test('attach: output of the running container until it exits', async () => {
      h.backend.runContainer(CONTAINER, 'sleep 1; echo attached output; sleep 0.5; exit 0');
      const r = await run('kubectl', [...kubectlArgs(), 'attach', POD], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /attached output/);
    });

    test('port-forward: two concurrent connections to a TCP server', async () => {
      const srv = net.createServer((s) => s.on('data', (d) => s.end(`echo:${d.toString()}`)));
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      try {
        const remotePort = (srv.address() as net.AddressInfo).port;
        const pf = spawn('kubectl', [...kubectlArgs(), 'port-forward', POD, `0:${remotePort}`], {
          env: { ...process.env, ...env },
        });
        children.add(pf);
        let out = '';
        pf.stdout.on('data', (d: Buffer) => (out += d.toString()));
        pf.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const until = Date.now() + 20_000;
        while (!/Forwarding from 127\.0\.0\.1:\d+/.test(out) && Date.now() < until)
          await new Promise((r) => setTimeout(r, 100));
        const localPort = Number(/Forwarding from 127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
        assert.ok(localPort > 0, `kubectl port-forward did not start: ${out}`);
        const roundTrip = (msg: string): Promise<string> =>
          new Promise((resolve, reject) => {
            const c = net.connect(localPort, '127.0.0.1');
            let got = '';
            c.setTimeout(10_000, () => c.destroy(new Error('timed out')));
            c.on('connect', () => c.write(msg));
            c.on('data', (d) => (got += d.toString()));
            c.on('close', () => resolve(got));
            c.on('error', reject);
          });
        assert.deepEqual(await Promise.all([roundTrip('one'), roundTrip('two')]), ['echo:one', 'echo:two']);
        pf.kill();
      } finally {
        srv.close();
      }
    });
  });
}

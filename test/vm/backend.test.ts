/**
 * The vm backend driven directly (createVmBackend(deps)), with real VMs under whatever accelerator the host has
 * (TCG here), the real OCI image store fed by the local test registry and a private CNI bridge. One pod VM is
 * shared by most assertions: a VM boot is seconds of CPU on a shared 2-core machine.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Backend } from '../../src/backends/backend';
import { BUSYBOX, BUSYBOX_USER, HTTP } from '../fixtures/images';
import { DirectEnv } from './direct';
import * as h from './helpers';
import { sandboxStatus } from '../../src/router/shape-sandbox';
import { withLogPath } from '../helpers/create-request';
import { select } from '../../src/router/select';
import { podFacts } from '../../src/router/table';

const SLOT = 1;
const env = new DirectEnv(SLOT);
const { dir, state, run, logDir } = env;
let backend: Backend;
const POD = 'a'.repeat(8) + '0123456789abcdef'.repeat(3) + 'b'.repeat(8);

const status = (id: string) => env.status(id);
const exited = (id: string) => env.exited(id);
const runContainer = (id: string, name: string, cmd: string[], image: string = BUSYBOX.ref, extra = {}) =>
  env.runContainer({ pod: POD, podName: 'web', id, name, cmd, image, extra });

describe('vm backend (direct)', { timeout: 900_000 }, () => {
  before(async () => {
    await env.prepare([BUSYBOX.ref, BUSYBOX_USER.ref, HTTP.ref]);
    backend = await env.start();
    const health = await backend.health(h.ctx());
    assert.equal(health.ready, true, health.message);
  });

  after(() => env.cleanup([POD]));

  it('refuses what a VM cannot honour, naming the field', async () => {
    const cfg = h.sandboxConfig('hostnet', logDir, {
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
    } as never);
    // Host namespaces are refused by the router's one check against this backend's own capabilities, before any
    // backend call (src/router/select.ts); end to end through the daemon: conformance namespace/host-network-true.
    const vm = { name: 'vm', backend: 'vm' as const, enabled: true, capabilities: backend.capabilities };
    const table = {
      handlers: new Map([['vm', vm]]),
      defaultHandler: 'vm',
      osContainerHandler: '',
      untrustedHandler: '',
      hostNamespaceHandler: '',
      rules: [],
      annotationPolicy: [],
    };
    assert.throws(
      () => select(podFacts(cfg, 'vm'), table),
      (err: Error) => {
        assert.equal((err as { kind?: string }).kind, 'InvalidArgument');
        assert.match(err.message, /namespace_options\.network/);
        return true;
      },
    );
    assert.equal(backend.capabilities.hostNetwork, false);
    assert.equal(backend.capabilities.privileged, true); // privileged inside the guest, never on the host
  });

  it('boots a pod VM with a CNI address and reports it READY', async () => {
    await backend.runPodSandbox(h.ctx(), {
      id: POD,
      handler: { name: 'vm', backend: 'vm', options: {} },
      config: h.sandboxConfig('web', logDir),
    });
    const st = await backend.podSandboxStatus(h.ctx(), POD, true);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    assert.match(String(sandboxStatus(st.facts).network?.ip), h.net(SLOT).ipPattern);
    const podRun = path.join(run, 'vm', POD.slice(0, 16));
    assert.equal(h.qemuProcesses(podRun).length, 1);
    // Repeating the create (a kubelet retry) keeps the VM.
    await backend.runPodSandbox(h.ctx(), {
      id: POD,
      handler: { name: 'vm', backend: 'vm', options: {} },
      config: h.sandboxConfig('web', logDir),
    });
    assert.equal(h.qemuProcesses(podRun).length, 1);
  });

  it('runs a container to completion: CRI logs with streams, exit code and reason', async () => {
    await runContainer('c1'.padEnd(64, '1'), 'once', ['sh', '-c', 'echo hello; echo oops >&2; printf partial; exit 3']);
    await exited('c1'.padEnd(64, '1'));
    const st = await status('c1'.padEnd(64, '1'));
    assert.equal(st.exit_code, 3);
    assert.equal(st.reason, 'Error');
    const lines = fs.readFileSync(path.join(logDir, 'once.log'), 'utf8').trim().split('\n');
    const parsed = lines.map((l) => /^(\S+) (stdout|stderr) ([PF]) (.*)$/.exec(l));
    assert.ok(
      parsed.every((m) => m && !Number.isNaN(Date.parse(m[1] ?? ''))),
      lines.join('\n'),
    );
    assert.deepEqual(parsed.map((m) => `${m?.[2]} ${m?.[4]}`).sort(), [
      'stderr oops',
      'stdout hello',
      'stdout partial',
    ]);
  });

  it('execs in a running container: the guest kernel, not the host one; copied mounts; ExecSync timeout', async () => {
    const conf = path.join(dir, 'config');
    fs.mkdirSync(conf, { recursive: true });
    fs.writeFileSync(path.join(conf, 'a.txt'), 'from the host\n');
    const mounts = [{ container_path: '/config', host_path: conf, readonly: true }];
    await runContainer('c2'.padEnd(64, '2'), 'sleeper', ['sleep', '1000'], BUSYBOX.ref, { mounts });
    const cat = await backend.execSync(h.ctx(), 'c2'.padEnd(64, '2'), ['cat', '/config/a.txt'], 30);
    assert.equal(cat.stdout.toString(), 'from the host\n', 'a small mount is copied into the VM');
    const r = await backend.execSync(h.ctx(), 'c2'.padEnd(64, '2'), ['uname', '-r'], 30);
    assert.equal(r.exitCode, 0);
    const guest = r.stdout.toString().trim();
    assert.match(guest, /cloud-amd64$/);
    assert.notEqual(guest, h.hostUname());
    const ps = await backend.execSync(h.ctx(), 'c2'.padEnd(64, '2'), ['sh', '-c', 'echo $$; hostname; exit 7'], 30);
    assert.equal(ps.exitCode, 7);
    assert.equal(ps.stdout.toString().split('\n')[1], 'web');
    const t0 = Date.now();
    await assert.rejects(backend.execSync(h.ctx(), 'c2'.padEnd(64, '2'), ['sleep', '30'], 2), {
      kind: 'DeadlineExceeded',
    } as never);
    assert.ok(Date.now() - t0 < 25_000);
  });

  it("applies the image's user and working dir, and a read-only rootfs", async () => {
    const id = 'c7'.padEnd(64, '7');
    await runContainer(
      id,
      'user',
      ['sh', '-c', 'id -u; id -g; pwd; touch /x 2>/dev/null && echo writable || echo readonly'],
      BUSYBOX_USER.ref,
      {
        linux: { security_context: { readonly_rootfs: true } },
      },
    );
    await exited(id);
    const lines = fs
      .readFileSync(path.join(logDir, 'user.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' ').slice(3).join(' '));
    assert.deepEqual(lines, [String(BUSYBOX_USER.uid), String(BUSYBOX_USER.gid), BUSYBOX_USER.workingDir, 'readonly']);
    await backend.removeContainer(h.ctx(), id);
  });

  it('enforces the memory limit in the guest: OOMKilled', async () => {
    const id = 'c8'.padEnd(64, '8');
    const hog = ['sh', '-c', 'x=$(head -c 100000000 /dev/zero | tr "\\0" a); echo ${#x}'];
    await runContainer(id, 'hog', hog, BUSYBOX.ref, {
      linux: { resources: { memory_limit_in_bytes: String(32 * 1048576) } },
    });
    await exited(id);
    const st = await status(id);
    assert.equal(st.reason, 'OOMKilled');
    assert.equal(st.exit_code, 137);
    await backend.removeContainer(h.ctx(), id);
  });

  it('shares the pod network between containers and is reachable at the pod IP', async () => {
    await runContainer('c3'.padEnd(64, '3'), 'http', [], HTTP.ref);
    const viaPeer = await h.waitFor('peer reaches http on localhost', async () => {
      const r = await backend.execSync(
        h.ctx(),
        'c2'.padEnd(64, '2'),
        ['wget', '-qO-', `http://127.0.0.1:${HTTP.port}/`],
        10,
      );
      return r.exitCode === 0 ? r.stdout.toString() : undefined;
    });
    assert.ok(viaPeer.startsWith(HTTP.bodyPrefix));
    const ip = String(sandboxStatus((await backend.podSandboxStatus(h.ctx(), POD, false)).facts).network?.ip);
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: ip, port: HTTP.port, path: '/', timeout: 10_000 }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve(b));
        })
        .on('error', reject);
    });
    assert.ok(body.startsWith(HTTP.bodyPrefix), body);
  });

  it('streams an interactive exec (stdin → stdout, stderr, exit code) and port-forwards into the guest', async () => {
    const ps = await backend.exec(h.ctx(), 'c2'.padEnd(64, '2'), ['sh', '-c', 'cat; echo err >&2; exit 4'], {
      stdin: true,
      stdout: true,
      stderr: true,
      tty: false,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    ps.stdout?.on('data', (b: Buffer) => out.push(b));
    ps.stderr?.on('data', (b: Buffer) => err.push(b));
    ps.stdin?.end('from stdin\n');
    assert.deepEqual(await ps.wait(), { exitCode: 4 });
    await new Promise((r) => setImmediate(r));
    assert.equal(Buffer.concat(out).toString(), 'from stdin\n');
    assert.equal(Buffer.concat(err).toString(), 'err\n');

    // With tty: a real pty in the guest, resized by the client.
    const tty = await backend.exec(h.ctx(), 'c2'.padEnd(64, '2'), ['sh'], {
      stdin: true,
      stdout: true,
      stderr: false,
      tty: true,
    });
    const screen: Buffer[] = [];
    tty.stdout?.on('data', (b: Buffer) => screen.push(b));
    tty.resize({ width: 120, height: 40 });
    await new Promise((r) => setTimeout(r, 500));
    tty.stdin?.end("stty size; tty; grep -E '^(CapEff|Seccomp):' /proc/self/status; exit 3\n");
    assert.deepEqual(await tty.wait(), { exitCode: 3 });
    // An interactive shell (prompt, CRLF line discipline) on a 40×120 terminal of the container's own devpts.
    const text = Buffer.concat(screen).toString();
    assert.match(text, /# .*stty size; tty; .*\r\n40 120\r\n\/dev\/pts\/\d+\r\n/);
    // The container's capabilities and seccomp filter, exactly as without a tty (runc exec both times).
    const plain = await backend.execSync(
      h.ctx(),
      'c2'.padEnd(64, '2'),
      ['grep', '-E', '^(CapEff|Seccomp):', '/proc/self/status'],
      10,
    );
    const lines = plain.stdout.toString().trim().split('\n');
    assert.equal(lines.length, 2, plain.stdout.toString());
    for (const line of lines) assert.ok(text.includes(`${line.trim()}\r\n`), `${line.trim()} in ${text}`);

    const sock = await backend.portForward(h.ctx(), POD, HTTP.port);
    const reply: Buffer[] = [];
    sock.on('data', (b: Buffer) => reply.push(b));
    sock.write('GET / HTTP/1.0\r\n\r\n');
    await h.waitFor(
      'port-forward reply',
      () => (Buffer.concat(reply).toString().includes(HTTP.bodyPrefix) ? true : undefined),
      20_000,
    );
    sock.destroy();
  });

  it('attaches to a container started with stdin', async () => {
    const id = 'c6'.padEnd(64, '6');
    await backend.createContainer(
      h.ctx(),
      withLogPath({
        id,
        sandboxId: POD,
        sandboxConfig: h.sandboxConfig('web', logDir),
        config: h.containerConfig('attach', BUSYBOX.ref, ['sh', '-c', 'read line; echo "got $line"; exit 0'], {
          stdin: true,
          stdin_once: true,
        }),
      }),
    );
    await backend.startContainer(h.ctx(), id);
    const ps = await backend.attach(h.ctx(), id, { stdin: true, stdout: true, stderr: true, tty: false });
    const out: Buffer[] = [];
    ps.stdout?.on('data', (b: Buffer) => out.push(b));
    ps.stdin?.end('hello\n');
    assert.deepEqual(await ps.wait(), { exitCode: 0 });
    assert.equal(Buffer.concat(out).toString(), 'got hello\n');
    await backend.removeContainer(h.ctx(), id);
  });

  it('stops with the grace period: SIGTERM ignored by a PID-1 sleep → SIGKILL (137); a trap exits 0', async () => {
    const t0 = Date.now();
    await backend.stopContainer(h.ctx(), 'c2'.padEnd(64, '2'), 2);
    const st = await status('c2'.padEnd(64, '2'));
    assert.equal(st.state, 'CONTAINER_EXITED');
    assert.equal(st.exit_code, 137);
    assert.ok(Date.now() - t0 >= 1900, 'waited for the grace period');
    await runContainer('c4'.padEnd(64, '4'), 'trap', [
      'sh',
      '-c',
      "trap 'exit 0' TERM; touch /tmp/trap-ready; while true; do sleep 0.2; done",
    ]);
    // PID 1 ignores a signal it has no handler for: stop only once the shell has installed its trap (under TCG
    // the shell can take a while to get there).
    await h.waitFor(
      'trap installed',
      async () =>
        (await backend.execSync(h.ctx(), 'c4'.padEnd(64, '4'), ['test', '-e', '/tmp/trap-ready'], 10)).exitCode === 0
          ? true
          : undefined,
      30_000,
    );
    await backend.stopContainer(h.ctx(), 'c4'.padEnd(64, '4'), 20);
    assert.equal((await status('c4'.padEnd(64, '4'))).exit_code, 0);
    await backend.stopContainer(h.ctx(), 'c4'.padEnd(64, '4'), 20); // idempotent
  });

  it('reports stats: guest numbers and the qemu process as overhead', async () => {
    const ps = await backend.podSandboxUsage(h.ctx(), POD);
    assert.ok(Number(ps.memory?.workingSetBytes) > 50 * 1024 * 1024, 'qemu RSS');
    const cs = await backend.containerUsage(h.ctx(), 'c3'.padEnd(64, '3'));
    assert.ok(Number(cs.writableLayer?.usedBytes) > 0);
  });

  it('survives a backend restart: the VM is found again and still manageable', async () => {
    await backend.close();
    backend = await env.start();
    const st = await backend.podSandboxStatus(h.ctx(), POD, false);
    assert.equal(sandboxStatus(st.facts).state, 'SANDBOX_READY');
    assert.equal((await status('c3'.padEnd(64, '3'))).state, 'CONTAINER_RUNNING');
    await runContainer('c5'.padEnd(64, '5'), 'after', ['sleep', '1000']);
    const r = await backend.execSync(h.ctx(), 'c5'.padEnd(64, '5'), ['sh', '-c', 'echo ok'], 30);
    assert.equal(r.stdout.toString(), 'ok\n');
  });

  it('removes containers and the pod without leftovers', async () => {
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) await backend.removeContainer(h.ctx(), id.padEnd(64, id[1]));
    await assert.rejects(backend.containerStatus(h.ctx(), 'c1'.padEnd(64, '1'), false), { kind: 'NotFound' } as never);
    await backend.stopPodSandbox(h.ctx(), POD);
    assert.equal(sandboxStatus((await backend.podSandboxStatus(h.ctx(), POD, false)).facts).state, 'SANDBOX_NOTREADY');
    await backend.stopPodSandbox(h.ctx(), POD);
    await backend.removePodSandbox(h.ctx(), POD);
    await backend.removePodSandbox(h.ctx(), POD);
    assert.deepEqual(h.qemuProcesses(path.join(run, 'vm', POD.slice(0, 16))), []);
    assert.deepEqual(fs.readdirSync(path.join(state, 'backends/vm/pods')), []);
    assert.ok(!fs.existsSync(path.join(run, 'netns', POD)));
    const left = fs.readdirSync(path.join(run, 'vm')).filter((d) => !d.startsWith('tmpl-'));
    assert.deepEqual(left, []);
    await assert.rejects(backend.podSandboxStatus(h.ctx(), POD, false), { kind: 'NotFound' } as never);
    // The cached ext4 disk of an image goes once the image is removed from the store.
    const disks = path.join(env.vmState, 'images');
    const httpId = (await backend.images.status(h.ctx(), HTTP.ref, false)).image?.id;
    assert.ok(httpId && fs.existsSync(path.join(disks, `${httpId.slice(7)}.ext4`)));
    await backend.images.remove(h.ctx(), HTTP.ref);
    await backend.removePodSandbox(h.ctx(), POD); // any removal runs the disk GC
    assert.ok(!fs.existsSync(path.join(disks, `${httpId.slice(7)}.ext4`)));
  });
});

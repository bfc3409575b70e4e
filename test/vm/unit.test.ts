/**
 * Pure parts of the vm backend (no VM): request conversions, VM sizing, handler options, the CRI log writer, and
 * a backend whose guest is missing (it must start, report unhealthy and refuse pods as UNAVAILABLE).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createVmBackend } from '../../src/backends/vm';
import { CriLogWriter } from '../../src/host/cri-log';
import { handlerOptions } from '../../src/backends/vm/options';
import { PROTOCOL_VERSION } from '../../src/backends/vm/protocol';
import { RECORD_VERSION, Store, type PodRecord } from '../../src/backends/vm/records';
import { VmRuntime } from '../../src/backends/vm/runtime';
import { nullLogger } from '../../src/log/logger';
import { securityPlan } from '../../src/host/container-policy';
import { guestOciSpec, vmSize } from '../../src/backends/vm/spec';
import { VM_CAPABILITIES } from '../../src/backends/vm/backend';
import { missingCapability } from '../../src/router/select';
import { processArgs, processEnv } from '../../src/host/container-process';
import { loadConfig } from '../../src/config/load';
import type { ResolvedImage } from '../../src/images/types';
import { Metrics } from '../../src/metrics/metrics';
import { NetnsManager } from '../../src/network';
import * as h from './helpers';
import { createBackendHost } from '../../src/backends/default-host';
import { sandboxEntry } from '../../src/router/shape-sandbox';

const image = (config: ResolvedImage['config']): ResolvedImage => ({ id: 'sha256:x', ref: 'r', config, layerDirs: [] });
const defaults = { memoryMiB: 512, memoryOverheadMiB: 192, maxMemoryMiB: 4096, vcpus: 1, maxVcpus: 4 };

/** A pod record as the vm backend stores it, with a VM of the given pid. */
function podRecord(dir: string, id: string, state: PodRecord['state'], pid: number, runDir: string): PodRecord {
  return {
    version: RECORD_VERSION,
    id,
    handler: 'vm',
    config: h.sandboxConfig(id.slice(0, 4), dir),
    createdAt: '1',
    state,
    vm: { runDir, pid, memMiB: 512, vcpus: 1, accel: 'tcg', cloned: false, bootMs: 0 },
    containers: {},
    nextLun: 1,
  };
}

describe('vm backend: pure parts', () => {
  it('sizes the VM from pod limits plus overhead, bounded by the config', () => {
    assert.deepEqual(vmSize(h.sandboxConfig('a', '/l'), defaults), { memMiB: 512, vcpus: 1 });
    const limited = h.sandboxConfig('a', '/l', {
      linux: {
        resources: { memory_limit_in_bytes: String(1024 * 1048576), cpu_quota: '250000', cpu_period: '100000' },
      },
    } as never);
    assert.deepEqual(vmSize(limited, defaults), { memMiB: 1024 + 192, vcpus: 3 });
    const huge = h.sandboxConfig('a', '/l', {
      linux: { resources: { memory_limit_in_bytes: String(8 * 1024 ** 3) } },
    } as never);
    assert.throws(() => vmSize(huge, defaults), { kind: 'InvalidArgument' } as never);
  });

  it('refuses host namespaces, naming the field; privilege stays inside the guest', () => {
    // The router's one check (src/router/select.ts) against the VM's capabilities, for pods and containers.
    const asks = { privileged: false, hostNetwork: false, hostPid: false, hostIpc: false };
    assert.equal(missingCapability({ ...asks, privileged: true }, VM_CAPABILITIES), undefined);
    assert.match(missingCapability({ ...asks, hostPid: true }, VM_CAPABILITIES) ?? '', /hostPID/);
  });

  it('derives the process like containerd: command/args over entrypoint/cmd, env merge', () => {
    const img = image({ entrypoint: ['/ep'], cmd: ['c1'], env: ['A=1', 'PATH=/p'], user: 'www-data:33' });
    assert.deepEqual(processArgs(h.containerConfig('x', 'i', []), img.config), ['/ep', 'c1']);
    assert.deepEqual(processArgs(h.containerConfig('x', 'i', ['/bin/x']), img.config), ['/bin/x']);
    assert.deepEqual(processArgs(h.containerConfig('x', 'i', [], { args: ['a'] }), img.config), ['/ep', 'a']);
    const cfg = h.containerConfig('x', 'i', [], { envs: [{ key: 'A', value: '2' }] });
    assert.deepEqual(processEnv(cfg, img.config, { hostname: 'host' }), ['HOSTNAME=host', 'A=2', 'PATH=/p']);
  });

  it("builds the guest's OCI spec from the shared security policy (caps, no_new_privs, masks, groups)", async () => {
    const sc = {
      capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'], add_ambient_capabilities: [] },
      no_new_privs: true,
      masked_paths: [],
      readonly_paths: [],
      seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' },
      seccomp_profile_path: '',
    };
    const profile = path.resolve(__dirname, '../../config/seccomp/runtime-default.json');
    const sec = await securityPlan(sc as never, { runtimeDefaultSeccomp: profile, sandboxPrivileged: false });
    const user = { uid: 7, gid: 8, additionalGids: [8, 50] };
    const spec = guestOciSpec({ args: ['/x'], env: [], cwd: '/', hostname: 'h', user, sec });
    assert.deepEqual(spec.process.capabilities?.bounding, ['CAP_NET_ADMIN']);
    assert.equal(spec.process.noNewPrivileges, true);
    assert.deepEqual(spec.process.user, { uid: 7, gid: 8, additionalGids: [8, 50] });
    assert.ok(spec.linux.maskedPaths?.includes('/proc/kcore'));
    assert.ok(spec.linux.readonlyPaths?.includes('/proc/sys'));
    assert.equal(spec.linux.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
    assert.ok(spec.mounts.some((m) => m.destination === '/sys' && m.options?.includes('ro')));
    // Privileged: everything the runtime holds, no filter, no masks, writable sysfs, every device allowed.
    const priv = await securityPlan({ ...sc, privileged: true } as never, {
      runtimeDefaultSeccomp: profile,
      sandboxPrivileged: true,
    });
    const p = guestOciSpec({ args: ['/x'], env: [], cwd: '/', hostname: 'h', user, sec: priv });
    assert.equal(p.linux.seccomp, undefined);
    assert.deepEqual(p.linux.maskedPaths, []);
    assert.deepEqual(p.linux.resources?.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(p.mounts.some((m) => m.destination === '/sys' && m.options?.includes('rw')));
  });

  it('a pod removed while a reader held it is not written back when its VM is found gone', () => {
    const dir = h.tempDir();
    const host = createBackendHost();
    const store = new Store(path.join(dir, 's'), host.files);
    const rt = new VmRuntime(store, nullLogger(), host);
    // A pid no qemu has: checkAlive finds the VM gone.
    const pod = podRecord(dir, 'd'.repeat(64), 'ready', 2 ** 22 + 1, path.join(dir, 'r'));
    rt.addPod(pod);
    store.save(pod);
    // RemovePodSandbox: records dropped while, say, a stats call still holds `pod` across an await.
    rt.dropPod(pod.id);
    store.delete(pod.id);
    assert.equal(rt.checkAlive(pod), false);
    assert.deepEqual(store.loadAll(), [], 'no record came back');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('validates handler options, naming the key', () => {
    const spec = (options: Record<string, unknown>) => ({ name: 'kata', backend: 'vm' as const, options });
    assert.deepEqual(handlerOptions(spec({ memoryMiB: 256, template: false })), {
      memoryMiB: 256,
      vcpus: undefined,
      template: false,
    });
    assert.throws(() => handlerOptions(spec({ memoryMiB: -1 })), /handlers\.kata\.options\.memoryMiB/);
    assert.throws(() => handlerOptions(spec({ bogus: 1 })), /handlers\.kata\.options\.bogus/);
  });

  it('writes CRI log lines: F for complete lines, P for long partial ones, split UTF-8 kept whole', () => {
    const dir = h.tempDir();
    try {
      const file = path.join(dir, 'c.log');
      const log = new CriLogWriter(file);
      const euro = Buffer.from('€\n');
      log.write('stdout', Buffer.concat([Buffer.from('a\nb'), euro.subarray(0, 1)]));
      log.write('stdout', euro.subarray(1));
      log.write('stderr', Buffer.from('x'.repeat(16 * 1024 + 3)));
      log.flush();
      log.close();
      const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
      const parsed = lines.map((l) => /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) (stdout|stderr) ([PF]) (.*)$/.exec(l));
      assert.ok(parsed.every(Boolean), lines.join('\n'));
      assert.deepEqual(
        parsed.map((m) => `${m?.[2]} ${m?.[3]} ${m?.[4]?.length}`),
        ['stdout F 1', 'stdout F 2', `stderr P ${16 * 1024}`, 'stderr F 3'],
      );
      assert.equal(parsed[1]?.[4], 'b€');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts without a guest, reports why, refuses new pods, still answers for others', async () => {
    const dir = h.tempDir();
    try {
      const overrides = {
        stateDir: path.join(dir, 's'),
        runDir: path.join(dir, 'r'),
        'backends.vm.guestDir': path.join(dir, 'none'),
      };
      const backend = createVmBackend({
        config: loadConfig({ env: {}, overrides }),
        handlers: [{ name: 'vm', backend: 'vm', options: {} }],
        log: h.testLogger(),
        stateDir: path.join(dir, 's'),
        runDir: path.join(dir, 'r'),
        sharedImages: {} as never,
        metrics: new Metrics({ processMetrics: false }),
        host: createBackendHost(),
      });
      await backend.start(h.ctx());
      const health = await backend.health(h.ctx());
      assert.equal(health.ready, false);
      assert.match(String(health.message), /build-vm-guest/);
      const req = {
        id: 'p'.repeat(64),
        handler: { name: 'vm', backend: 'vm' as const, options: {} },
        config: h.sandboxConfig('a', dir),
      };
      await assert.rejects(backend.runPodSandbox(h.ctx(), req), { kind: 'Unavailable' } as never);
      // Unknown pods: stop and remove succeed (CRI), status is NotFound — the backend still manages what it has.
      await backend.stopPodSandbox(h.ctx(), 'q'.repeat(64));
      await backend.removePodSandbox(h.ctx(), 'q'.repeat(64));
      await assert.rejects(backend.podSandboxStatus(h.ctx(), 'q'.repeat(64), false), { kind: 'NotFound' } as never);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A stand-in for qemu: a node process whose argv names its pidfile as qemu's does (`-pidfile <path>`). */
function fakeQemu(pidFile: string): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)', '--', '-pidfile', pidFile], { stdio: 'ignore' });
}

function exited(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

describe('vm backend: start-up after a crash (#24)', () => {
  it('kills a qemu whose pod record has no pid and a stale template VM (and its netns); keeps ready pods and other dirs', async () => {
    const dir = h.tempDir();
    const stateDir = path.join(dir, 's');
    const runDir = path.join(dir, 'r');
    const procs: ChildProcess[] = [];
    let agent: net.Server | undefined;
    try {
      const store = new Store(stateDir, createBackendHost().files);
      const record = (id: string, state: PodRecord['state'], pid: number): PodRecord =>
        podRecord(dir, id, state, pid, path.join(runDir, id.slice(0, 16)));
      // A create cut short between spawning qemu and recording its pid: the record says NOTREADY, pid 0.
      const half = record('a'.repeat(64), 'notready', 0);
      const halfVm = fakeQemu(path.join(half.vm.runDir, 'qemu.pid'));
      // A template build of the killed daemon, and a ready pod whose VM must survive (its agent answers pings).
      const tmplVm = fakeQemu(path.join(runDir, 'tmpl-0123abcd', 'qemu.pid'));
      const readyVm = fakeQemu(path.join(runDir, 'b'.repeat(16), 'qemu.pid'));
      // Another daemon's VM in a look-alike dir ("r2" is not below "r").
      const otherVm = fakeQemu(path.join(`${runDir}2`, 'c'.repeat(16), 'qemu.pid'));
      procs.push(halfVm, tmplVm, readyVm, otherVm);
      const ready = record('b'.repeat(64), 'ready', readyVm.pid!);
      store.save(half);
      store.save(ready);
      fs.mkdirSync(ready.vm.runDir, { recursive: true });
      agent = net.createServer((s) =>
        s.on('data', (b) => {
          for (const l of b.toString().split('\n').filter(Boolean)) {
            const m = JSON.parse(l) as { id: number };
            s.write(`${JSON.stringify({ id: m.id, ok: true, version: PROTOCOL_VERSION })}\n`);
          }
        }),
      );
      await new Promise<void>((r) => agent!.listen(path.join(ready.vm.runDir, 'agent.sock'), r));
      // The scratch netns of a template build killed after saving the template (never built, so never replaced).
      const netns = new NetnsManager({ dir: path.join(dir, 'netns') });
      const scratch = await netns.create('vmtmpl-0123abcd');
      // The argv is in /proc as soon as the process runs.
      for (const p of procs)
        while (!fs.readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').includes('-pidfile'))
          await new Promise((r) => setTimeout(r, 20));

      const backend = createVmBackend({
        config: loadConfig({
          env: {},
          overrides: {
            stateDir,
            runDir,
            'backends.vm.guestDir': path.join(dir, 'none'),
            'network.netnsDir': netns.dir,
          },
        }),
        handlers: [{ name: 'vm', backend: 'vm', options: {} }],
        log: h.testLogger(),
        stateDir,
        runDir,
        sharedImages: {} as never,
        metrics: new Metrics({ processMetrics: false }),
        host: createBackendHost(),
      });
      await backend.start(h.ctx());
      assert.ok(await exited(halfVm, 5000), 'the VM of the half-created pod is killed');
      assert.ok(await exited(tmplVm, 5000), 'the stale template VM is killed');
      assert.equal(await exited(readyVm, 300), false, 'the ready pod keeps its VM');
      assert.equal(await exited(otherVm, 0), false, "another daemon's VM is not touched");
      assert.equal(await netns.exists(scratch), false, 'the stale template netns is removed');
      assert.equal(fs.existsSync(scratch), false);
      const listed = (await backend.listPodSandboxes(h.ctx())).map(sandboxEntry);
      assert.deepEqual(listed.map((p) => [p.id, p.state]).sort(), [
        [half.id, 'SANDBOX_NOTREADY'],
        [ready.id, 'SANDBOX_READY'],
      ]);
      await backend.close();
    } finally {
      agent?.close();
      for (const p of procs) p.kill('SIGKILL');
      const netns = new NetnsManager({ dir: path.join(dir, 'netns') });
      for (const n of await netns.list()) await netns.remove(n).catch(() => undefined);
      await netns.releaseDir().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

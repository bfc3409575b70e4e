/**
 * The pod-manager contract, as one suite every implementation runs: the built-in stage1 (for real, as root), the
 * real-rkt manager against the fake rkt, and the real-rkt manager against crimux's own rkt-syntax CLI.
 * It checks what the CRI translation relies on: rkt api/v1 shapes, states, idempotent stop, and the error kinds
 * the translation maps (NotFound, AlreadyExists, FailedPrecondition).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../../src/errors';
import type { AppSpec, PodManager, SandboxNetwork } from '../../src/backends/rkt/pod-manager';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../src/host/oci-defaults';

export interface ContractTarget {
  readonly name: string;
  /** Builds the manager; cleanup() must leave nothing behind (processes, mounts, cgroups, files). */
  open(): Promise<{ pm: PodManager; image: string; network: SandboxNetwork; cleanup(): Promise<void> }>;
  /** Whether apps are real processes (exit codes from the app itself) or simulated (the fake). */
  readonly realApps: boolean;
}

export function appSpec(name: string, image: string, exec: string[], extra: Partial<AppSpec> = {}): AppSpec {
  return {
    name,
    image,
    exec,
    workingDir: '/',
    uid: 0,
    gid: 0,
    supplementaryGids: [0],
    environment: ['PATH=/bin:/usr/bin', 'HOME=/root'],
    readOnlyRootfs: false,
    mounts: [],
    resources: {},
    noNewPrivileges: false,
    pidNamespace: 'pod',
    maskedPaths: DEFAULT_MASKED_PATHS,
    readonlyPaths: DEFAULT_READONLY_PATHS,
    logPath: '',
    stdin: false,
    stdinOnce: false,
    tty: false,
    stopSignal: 'SIGTERM',
    userAnnotations: { 'test/app': name },
    userLabels: { tier: 'contract' },
    ...extra,
  };
}

/** Runs a child to its end: output and exit code. */
export function collect(
  child: ChildProcess,
  timeoutMs = 30_000,
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('exec timed out'));
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearTimeout(t);
      resolve({ stdout, stderr, code: code ?? (sig ? 137 : -1) });
    });
  });
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function podManagerContract(target: ContractTarget): void {
  describe(`pod-manager contract: ${target.name}`, () => {
    let pm: PodManager;
    let image = '';
    let network: SandboxNetwork;
    let cleanup: () => Promise<void> = async () => undefined;
    let uuid = '';
    const missing = '00000000-0000-4000-8000-000000000000';

    before(async () => {
      ({ pm, image, network, cleanup } = await target.open());
    });
    after(async () => {
      await cleanup();
    });

    it('info names the manager', async () => {
      const info = await pm.info();
      assert.ok(info.kind && info.version);
    });

    it('image fetch returns an ID that image list shows', async () => {
      const id = await pm.imageFetch(image);
      assert.ok(id.length > 0);
      assert.ok((await pm.imageList()).some((i) => i.id === id));
    });

    it('app sandbox: a running pod with its user annotations and labels, in list', async () => {
      uuid = await pm.sandbox({
        userAnnotations: { 'k8s.io/reserved/pod-name': 'contract', 'crimux.io/sandbox-id': 'sb1' },
        userLabels: { app: 'contract' },
        hostname: 'contract',
        network,
      });
      assert.match(uuid, /^[0-9a-f-]{36}$/);
      const pod = await pm.status(uuid);
      assert.equal(pod.name, uuid);
      assert.equal(pod.state, 'running');
      assert.equal(pod.user_annotations?.['crimux.io/sandbox-id'], 'sb1');
      assert.equal(pod.user_labels?.app, 'contract');
      assert.match(pod.created_at ?? '', /^\d{18,}$/);
      assert.ok((await pm.list()).some((p) => p.name === uuid));
    });

    it('status and stop of an unknown pod: NotFound, and success', async () => {
      await assert.rejects(pm.status(missing), NotFoundError);
      await pm.stop(missing, false);
    });

    it('app add: created, with annotations; a duplicate name is AlreadyExists', async () => {
      await pm.appAdd(uuid, appSpec('0-main', image, ['sleep', '1000']));
      const app = await pm.appStatus(uuid, '0-main');
      assert.equal(app.state, 'created');
      assert.equal(app.user_annotations?.['test/app'], '0-main');
      assert.match(app.created_at ?? '', /^\d{18,}$/);
      await assert.rejects(pm.appAdd(uuid, appSpec('0-main', image, ['sleep', '1'])), AlreadyExistsError);
    });

    it('app start: running, listed in the pod apps[] (no per-app call needed)', async () => {
      await pm.appStart(uuid, '0-main');
      assert.equal((await pm.appStatus(uuid, '0-main')).state, 'running');
      const pod = (await pm.list()).find((p) => p.name === uuid);
      assert.deepEqual(pod?.app_names, ['0-main']);
      assert.equal(pod?.apps?.[0]?.state, 'running');
    });

    it('app exec: output and exit code of the command', async () => {
      const child = await pm.appExec(uuid, '0-main', ['sh', '-c', 'echo out; echo err >&2; exit 5'], {
        tty: false,
        stdin: false,
      });
      const r = await collect(child);
      assert.equal(r.code, 5);
      assert.equal(r.stdout, 'out\n');
      assert.equal(r.stderr, 'err\n');
    });

    it('a second app runs beside the first; stopping one leaves the other running', async () => {
      await pm.appAdd(uuid, appSpec('0-side', image, ['sleep', '1000']));
      await pm.appStart(uuid, '0-side');
      await pm.appStop(uuid, '0-side', 5);
      const side = await pm.appStatus(uuid, '0-side');
      assert.equal(side.state, 'exited');
      assert.equal(typeof side.exit_code, 'number');
      assert.match(side.finished_at ?? '', /^\d{18,}$/);
      assert.equal((await pm.appStatus(uuid, '0-main')).state, 'running');
      await pm.appStop(uuid, '0-side', 5);
    });

    it('app rm: gone; status of it and rm again are NotFound', async () => {
      await pm.appRm(uuid, '0-side');
      await assert.rejects(pm.appStatus(uuid, '0-side'), NotFoundError);
      await assert.rejects(pm.appRm(uuid, '0-side'), NotFoundError);
      assert.deepEqual((await pm.status(uuid)).app_names, ['0-main']);
    });

    if (target.realApps) {
      it('an app exiting on its own reports its exit code', async () => {
        await pm.appAdd(uuid, appSpec('0-short', image, ['sh', '-c', 'exit 7']));
        await pm.appStart(uuid, '0-short');
        const app = await waitFor('exit', async () => {
          const a = await pm.appStatus(uuid, '0-short');
          return a.state === 'exited' ? a : undefined;
        });
        assert.equal(app.exit_code, 7);
      });
    }

    it('stop: the pod and its apps end; stopping again succeeds', async () => {
      await pm.stop(uuid, false);
      const pod = await pm.status(uuid);
      assert.notEqual(pod.state, 'running');
      assert.ok((pod.apps ?? []).filter((a) => a.started_at).every((a) => a.state === 'exited'));
      await pm.stop(uuid, false);
      await pm.stop(uuid, true);
    });

    it('app add on a stopped pod is FailedPrecondition', async () => {
      await assert.rejects(pm.appAdd(uuid, appSpec('0-late', image, ['true'])), FailedPreconditionError);
    });

    it('rm: the pod is gone; rm of an unknown pod is NotFound', async () => {
      await pm.rm(uuid);
      await assert.rejects(pm.status(uuid), NotFoundError);
      assert.ok(!(await pm.list()).some((p) => p.name === uuid));
      await assert.rejects(pm.rm(uuid), NotFoundError);
    });
  });
}

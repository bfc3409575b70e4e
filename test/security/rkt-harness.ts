/**
 * Shared scaffolding of the rkt security cases (not a test file): a real daemon with the rkt handler, host-network
 * pods (no CNI slot needed), containers created and started over the CRI socket, their logs, the "daemon still
 * serves" check, and the outcome record in bench/results/security/rkt.json (JSON lines {attack, backend, outcome}).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BUSYBOX } from '../fixtures/images';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureTestRegistry } from '../helpers/registry';
import { mountsUnder, unmountAll } from '../../src/backends/rkt/stage1/mounts';
import { removeParent } from '../rkt/helpers/stage1';
import { waitFor } from '../rkt/contract';

/** The hostile images of scripts/test-images.sh (its #19 block), each busybox plus what it says. */
export const HOSTILE = {
  /** No Env in the config: a request's env comes first, as in the #19 reproduction. */
  noEnv: 'docker.io/crimux/hostile-noenv:1',
  /** /etc/passwd, /etc/group and /etc/hosts are FIFOs. */
  fifoEtc: 'docker.io/crimux/hostile-fifo-etc:1',
  /** /etc/hosts -> /usr/bin/env. */
  hostsLink: 'docker.io/crimux/hostile-hosts-link:1',
  /** /disk-vda (b 254:0), /disk-sda (b 8:0) and /disk-zram (b 253:0), mode 0666. */
  blockdev: 'docker.io/crimux/hostile-blockdev:2',
} as const;

const RESULTS = path.resolve(__dirname, '..', '..', 'bench', 'results', 'security', 'rkt.json');

export interface RktSecurityEnv {
  readonly d: DaemonHandle;
  readonly dir: string;
  runPod(name: string): Promise<{ id: string; config: Record<string, unknown> }>;
  /** CreateContainer (+ StartContainer unless start is false); the container ID. */
  container(
    pod: { id: string; config: Record<string, unknown> },
    name: string,
    config: Record<string, unknown>,
    start?: boolean,
  ): Promise<string>;
  exited(id: string, timeoutMs?: number): Promise<{ exit_code: number; log_path: string }>;
  log(id: string): Promise<string>;
  /** The daemon answers Version (it kept serving through the attack). */
  serving(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function rktSecurityEnv(tag: string, images: readonly string[] = []): Promise<RktSecurityEnv> {
  await ensureTestRegistry();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `crimux-sec-${tag}-`));
  const cgroupParent = `crimux-sec-${tag}-${process.pid}`;
  const d = await startDaemon({
    config: {
      handlers: { rkt: { backend: 'rkt', options: {} } },
      defaultHandler: 'rkt',
      backends: { rkt: { enabled: true, stage1: { cgroupParent } } },
    },
  });
  for (const image of [BUSYBOX.ref, ...images])
    await d.img('PullImage', { image: { image, runtime_handler: 'rkt' } }, { deadlineMs: 120_000 });
  const pods: string[] = [];
  const status = async (id: string) => (await d.rt('ContainerStatus', { container_id: id })).status!;
  return {
    d,
    dir,
    async runPod(name) {
      const uid = `sec-${name}-${process.pid}`;
      const config = {
        metadata: { name, namespace: 'default', uid, attempt: 0 },
        hostname: name,
        log_directory: path.join(dir, 'pods', `default_${name}_${uid}`),
        linux: { security_context: { namespace_options: { network: 'NODE' as const } } },
      };
      const r = await d.rt('RunPodSandbox', { config, runtime_handler: 'rkt' }, { deadlineMs: 120_000 });
      pods.push(r.pod_sandbox_id);
      return { id: r.pod_sandbox_id, config };
    },
    async container(pod, name, config, start = true) {
      const full = { metadata: { name }, image: { image: BUSYBOX.ref }, log_path: `${name}/0.log`, ...config };
      const c = await d.rt(
        'CreateContainer',
        { pod_sandbox_id: pod.id, config: full, sandbox_config: pod.config },
        { deadlineMs: 120_000 },
      );
      if (start) await d.rt('StartContainer', { container_id: c.container_id }, { deadlineMs: 60_000 });
      return c.container_id;
    },
    async exited(id, timeoutMs = 30_000) {
      const st = await waitFor(
        `${id} exited`,
        async () => ((await status(id)).state === 'CONTAINER_EXITED' ? status(id) : undefined),
        timeoutMs,
      );
      return { exit_code: st.exit_code, log_path: st.log_path };
    },
    async log(id) {
      return fs.readFile((await status(id)).log_path, 'utf8').catch(() => '');
    },
    async serving() {
      const v = await d.rt('Version', { version: '0.1.0' }, { deadlineMs: 10_000 });
      assert.ok(v.runtime_name);
    },
    async cleanup() {
      for (const id of pods)
        await d.rt('RemovePodSandbox', { pod_sandbox_id: id }, { deadlineMs: 60_000 }).catch(() => undefined);
      await d.stop().catch(() => d.kill9());
      await unmountAll(d.dir).catch(() => undefined);
      await removeParent(cgroupParent);
      if ((await mountsUnder(d.dir)).length === 0) await d.cleanup();
      if ((await mountsUnder(dir)).length === 0) await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Records one case's outcome (replacing an earlier record of the same attack): one JSON object per line. */
export async function record(attack: string, outcome: string): Promise<void> {
  await fs.mkdir(path.dirname(RESULTS), { recursive: true });
  const text = await fs.readFile(RESULTS, 'utf8').catch(() => '');
  const lines = text
    .split('\n')
    .filter(Boolean)
    .filter((l) => (JSON.parse(l) as { attack: string }).attack !== attack);
  lines.push(JSON.stringify({ attack, backend: 'rkt', outcome }));
  const tmp = `${RESULTS}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${lines.join('\n')}\n`);
  await fs.rename(tmp, RESULTS);
}

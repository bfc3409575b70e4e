/**
 * What the side-by-side benchmarks share: crimux started as deployed with all four backends up, and the same
 * host-network pods of running busybox containers grown on crimux and on containerd (no CNI on either side).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { CriClient } from '../test/helpers/cri-client';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import { DOCKER_SOCKET, ensureDockerd } from '../test/helpers/dockerd';
import { GUEST_DIR } from '../test/vm/helpers';
import { pool } from './lib';

export const PER_POD = 10;

export interface Runtime {
  name: 'crimux' | 'containerd';
  cri: CriClient;
  socket: string;
  busybox: string;
  logRoot: string;
  pods: number;
}

/**
 * crimux as deployed (the compiled dist/, built first, not the sources through tsx, whose loader and compile
 * cache would add ~40-60 MiB to any RSS measured) with all four backends enabled and up: a backend that is down
 * is answered from snapshots, a different path. Pods go to runc.
 */
export async function startAllBackends(name: string, logRoot: string): Promise<DaemonHandle> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
  await ensureDockerd();
  return startDaemon({
    built: true,
    config: {
      logLevel: 'error',
      handlers: {
        runc: { backend: 'runc', options: {} },
        vm: { backend: 'vm', options: {} },
        docker: { backend: 'docker', options: {} },
        rkt: { backend: 'rkt', options: {} },
      },
      defaultHandler: 'runc',
      backends: {
        runc: { enabled: true, cgroupParent: `/crimux-bench-${name}-${process.pid}` },
        vm: { enabled: true, guestDir: GUEST_DIR },
        docker: { enabled: true, socket: DOCKER_SOCKET },
        rkt: { enabled: true },
      },
      security: { logRoot },
    },
  });
}

async function addPod(r: Runtime, n: number): Promise<void> {
  const uid = `bench-${r.name}-${n}-${process.pid}`;
  const config = {
    metadata: { name: `bench-${n}`, namespace: 'bench', uid, attempt: 0 },
    // No hostname: a host-network pod shares the host's UTS namespace (containerd's runc refuses one).
    log_directory: path.join(r.logRoot, uid),
    linux: { security_context: { namespace_options: { network: 'NODE' as const } } },
  };
  const pod = (await r.cri.rt('RunPodSandbox', { config }, { deadlineMs: 120_000 })).pod_sandbox_id;
  for (let i = 0; i < PER_POD; i++) {
    const c = {
      metadata: { name: `c${i}` },
      image: { image: r.busybox },
      command: ['sleep', '36000'],
      log_path: `c${i}.log`,
    };
    const id = (
      await r.cri.rt(
        'CreateContainer',
        { pod_sandbox_id: pod, config: c, sandbox_config: config },
        { deadlineMs: 120_000 },
      )
    ).container_id;
    await r.cri.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
  }
}

/** Adds pods of PER_POD running containers until the runtime holds at least `containers`. */
export async function grow(r: Runtime, containers: number): Promise<void> {
  const want = Math.ceil(containers / PER_POD);
  const tasks: (() => Promise<void>)[] = [];
  for (let n = r.pods; n < want; n++) tasks.push(() => addPod(r, n));
  await pool(2, tasks);
  r.pods = Math.max(r.pods, want);
}

export async function removeAll(r: Runtime): Promise<void> {
  const pods = (await r.cri.rt('ListPodSandbox', {})).items ?? [];
  await pool(
    2,
    pods.map((p) => async () => {
      await r.cri.rt('StopPodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 120_000 });
      await r.cri.rt('RemovePodSandbox', { pod_sandbox_id: p.id ?? '' }, { deadlineMs: 120_000 });
    }),
  );
}

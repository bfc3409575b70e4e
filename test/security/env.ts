/**
 * Shared set-up of the security corpus (not a test file): a crimux daemon serving the runc and docker backends on
 * the file's own CNI slot, small CRI wrappers, the "daemon keeps serving" check every case ends with, and the
 * result log: each case appends {attack, backend, outcome} to bench/results/security/<area>.json (JSON lines),
 * which scripts/security-table.ts renders for the README.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { BUSYBOX } from '../fixtures/images';
import { cleanupNetwork, mountsMentioning, run, writeCniConf } from '../runc/env';

export const RESULTS_DIR = path.resolve(__dirname, '..', '..', 'bench', 'results', 'security');

export interface SecurityResult {
  readonly attack: string;
  readonly backend: string;
  /** What happened, in a few words: "refused: InvalidArgument …", "contained: …". */
  readonly outcome: string;
}

/** One results file per area; starting a test file starts its file afresh. */
export class ResultLog {
  private readonly file: string;
  constructor(area: string) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    this.file = path.join(RESULTS_DIR, `${area}.json`);
    fs.writeFileSync(this.file, '');
  }
  record(r: SecurityResult): void {
    fs.appendFileSync(this.file, `${JSON.stringify(r)}\n`);
  }
}

export const BACKENDS = ['runc', 'docker'] as const;
export type HostBackend = (typeof BACKENDS)[number];

export interface SecEnv {
  readonly d: DaemonHandle;
  readonly logRoot: string;
  readonly dir: string;
  cleanup(): Promise<void>;
}

/** A daemon with runc (default handler) and docker handlers on CNI slot `slot`. */
export async function startSecDaemon(slot: number, extra: Record<string, unknown> = {}): Promise<SecEnv> {
  await ensureDockerd();
  await ensureTestRegistry();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-sec-'));
  const logRoot = path.join(dir, 'pods');
  const cgroupParent = `/crimux-sec-${process.pid}-${slot}`;
  const d = await startDaemon({
    config: {
      handlers: {
        runc: { backend: 'runc', options: {} },
        docker: { backend: 'docker', options: { dockerRuntime: 'runc' } },
      },
      backends: { runc: { enabled: true, cgroupParent }, docker: { enabled: true } },
      network: { confDir: await writeCniConf(dir, slot) },
      security: { logRoot },
      ...extra,
    },
  });
  for (const backend of BACKENDS) {
    await d.img('PullImage', { image: { image: BUSYBOX.ref, runtime_handler: backend } }, { deadlineMs: 120_000 });
  }
  return {
    d,
    logRoot,
    dir,
    async cleanup() {
      const pods = (await d.rt('ListPodSandbox', {}).catch(() => ({ items: [] }))).items ?? [];
      for (const p of pods) await d.rt('RemovePodSandbox', { pod_sandbox_id: p.id }).catch(() => undefined);
      await d.stop().catch(() => d.kill9());
      await cleanupNetwork(path.join(d.runDir, 'netns'), slot);
      for (const m of mountsMentioning(d.dir)) await run('umount', ['--lazy', m]).catch(() => undefined);
      await d.cleanup();
      await removeCgroupV1(cgroupParent).catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

let seq = 0;

export function podConfig(env: SecEnv, name: string, extra: Record<string, unknown> = {}) {
  const uid = `sec-${name}-${process.pid}-${++seq}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: 'sec',
    log_directory: path.join(env.logRoot, uid),
    labels: {},
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  } as const;
}

export type Pod = { id: string; config: ReturnType<typeof podConfig> };

export async function runPod(
  env: SecEnv,
  backend: HostBackend,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<Pod> {
  const config = podConfig(env, name, extra);
  const r = await env.d.rt('RunPodSandbox', { config, runtime_handler: backend }, { deadlineMs: 120_000 });
  return { id: r.pod_sandbox_id, config };
}

export function containerConfig(name: string, command: string[], extra: Record<string, unknown> = {}) {
  return { metadata: { name }, image: { image: BUSYBOX.ref }, command, log_path: `${name}.log`, ...extra };
}

export async function createContainer(
  env: SecEnv,
  pod: Pod,
  config: Record<string, unknown>,
  deadlineMs = 60_000,
): Promise<string> {
  const c = await env.d.rt(
    'CreateContainer',
    { pod_sandbox_id: pod.id, config, sandbox_config: pod.config },
    { deadlineMs },
  );
  return c.container_id;
}

/** Runs a container to completion and returns its CRI log. */
export async function runToExit(env: SecEnv, pod: Pod, config: Record<string, unknown>): Promise<string> {
  const id = await createContainer(env, pod, config);
  await env.d.rt('StartContainer', { container_id: id }, { deadlineMs: 60_000 });
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    const st = (await env.d.rt('ContainerStatus', { container_id: id })).status!;
    if (st.state === 'CONTAINER_EXITED') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return fs.readFileSync(path.join(pod.config.log_directory, String(config.log_path)), 'utf8');
}

/** The end of every case: the daemon answers Version and a normal call, promptly. */
export async function assertServing(env: SecEnv): Promise<void> {
  const v = await env.d.rt('Version', { version: 'v1' }, { deadlineMs: 5000 });
  assert.equal(v.runtime_name, 'crimux');
  await env.d.rt('ListPodSandbox', {}, { deadlineMs: 5000 });
  await env.d.img('ListImages', {}, { deadlineMs: 5000 });
}

/** "refused: <code> <first words of the message>" for a gRPC error, for the results table. */
export function refusal(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string };
  const codes: Record<number, string> = {
    3: 'InvalidArgument',
    9: 'FailedPrecondition',
    4: 'DeadlineExceeded',
    13: 'Internal',
    2: 'Unknown',
  };
  const code = e.code !== undefined ? (codes[e.code] ?? `code ${e.code}`) : 'error';
  return `refused: ${code}`;
}

/**
 * Pods and containers of one spec on one handler (not a test file), on top of the harness's CRI building blocks
 * (../cri.ts): what the security, namespace, mount, sysctl, device, volume and streaming specs need beyond
 * them — pods with a log directory, pods several specs share, containers run to completion and their CRI log,
 * ExecSync results with the exit code. Each spec reads like its upstream counterpart through this.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { criLogLines, parseCriLog, type CriStream } from '../../../src/host/cri-log';
import {
  containerConfig,
  containerStatus,
  createContainer,
  execSync,
  podConfig,
  runPodSandbox,
  startContainer,
  waitContainerState,
  type ContainerState,
  type PodConfig,
} from '../cri';
import type { Spec as HarnessSpec, SpecContext } from '../harness';

export type Json = Record<string, unknown>;

export interface Pod {
  readonly id: string;
  readonly config: PodConfig & { log_directory: string };
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A spec written against a Workload; `specs()` turns a list of them into harness specs. */
export interface Spec {
  readonly id: string;
  readonly title: string;
  readonly timeoutMs?: number;
  run(w: Workload): Promise<void>;
}

export function specs(list: readonly Spec[]): HarnessSpec[] {
  return list.map((s) => ({
    id: s.id,
    title: s.title,
    timeoutMs: s.timeoutMs,
    run: (c: SpecContext) => s.run(new Workload(c)),
  }));
}

export class Workload {
  constructor(readonly c: SpecContext) {}

  get handler(): string {
    return this.c.handler.name;
  }

  /** A host directory for volumes and seccomp profiles (outside crimux's own directories). */
  get hostDir(): string {
    return this.c.env.dir;
  }

  /** upstream's pod config plus a log directory (the kubelet always gives one); `extra` is merged in. */
  podConfig(prefix: string, extra: Json = {}): Pod['config'] {
    const base = podConfig(this.c, prefix);
    const { name, namespace, uid } = base.metadata;
    const log_directory = path.join(this.hostDir, 'pods', `${namespace}_${name}_${uid}`);
    return { ...base, log_directory, ...extra };
  }

  /** RunPodSandbox on the spec's handler; stopped and removed after the spec. */
  async runPod(prefix: string, extra: Json = {}): Promise<Pod> {
    const config = this.podConfig(prefix, extra);
    return { id: await runPodSandbox(this.c, config), config };
  }

  /**
   * A pod the specs of this handler share (created on first use, removed when the file ends). Only for specs
   * whose checks do not depend on anything another spec may do to the pod.
   */
  sharedPod(key: string, prefix: string, extra: Json = {}): Promise<Pod> {
    return this.c.shared(
      key,
      async () => {
        const config = this.podConfig(prefix, extra);
        const r = await this.c.rt('RunPodSandbox', { config, runtime_handler: this.handler }, { deadlineMs: 240_000 });
        return { id: r.pod_sandbox_id, config };
      },
      async (pod) => {
        await this.c.rt('StopPodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
        await this.c.rt('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
      },
    );
  }

  /** CreateContainer with upstream's default image and command unless `extra` says otherwise; logs to `<name>.log`. */
  async create(pod: Pod, prefix: string, extra: Json = {}): Promise<{ id: string; name: string; logPath: string }> {
    const config = containerConfig(this.c, prefix);
    const name = config.metadata.name;
    const logPath = `${name}.log`;
    const id = await createContainer(this.c, pod.id, pod.config, { ...config, log_path: logPath, ...extra });
    return { id, name, logPath };
  }

  /** Create, start and wait for CONTAINER_RUNNING (upstream's testStartContainer). */
  async run(pod: Pod, prefix: string, extra: Json = {}): Promise<string> {
    const { id } = await this.create(pod, prefix, extra);
    await startContainer(this.c, id);
    await this.waitState(id, 'CONTAINER_RUNNING');
    return id;
  }

  /** Create and start a container that runs to completion; resolves once it exited. */
  async runToExit(pod: Pod, prefix: string, extra: Json): Promise<{ id: string; logPath: string }> {
    const c = await this.create(pod, prefix, extra);
    await startContainer(this.c, c.id);
    await this.waitState(c.id, 'CONTAINER_EXITED');
    return c;
  }

  start(id: string): Promise<void> {
    return startContainer(this.c, id);
  }

  status(id: string) {
    return containerStatus(this.c, id);
  }

  waitState(id: string, state: ContainerState): Promise<void> {
    return waitContainerState(this.c, id, state);
  }

  /** ExecSync; a non-zero exit is a result, not an error (the CRI reports it as exit_code). */
  async exec(id: string, cmd: string[]): Promise<ExecResult> {
    const r = await execSync(this.c, id, cmd);
    return { code: r.exit_code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  }

  /** ExecSync that must exit 0 with an empty stderr (upstream's execSyncContainer); returns stdout. */
  async execOk(id: string, cmd: string[]): Promise<string> {
    const r = await this.exec(id, cmd);
    assert.equal(r.code, 0, `${cmd.join(' ')} exited ${r.code}: ${r.stderr}`);
    assert.equal(r.stderr, '', `${cmd.join(' ')} wrote to stderr`);
    return r.stdout;
  }

  /** The lines a container wrote to one stream of its CRI log (waits up to 30 s for the first). */
  async logLines(pod: Pod, logPath: string, stream: CriStream, timeoutMs = 30_000): Promise<string[]> {
    const file = path.join(pod.config.log_directory, logPath);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const text = await fs.readFile(file, 'utf8').catch(() => '');
      const lines = criLogLines(parseCriLog(text), stream);
      if (lines.length > 0 || Date.now() >= until) return lines;
      await sleep(200);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A linux.security_context for a ContainerConfig. */
export function containerSecurity(sc: Json): Json {
  return { linux: { security_context: sc } };
}

/** A linux section for a PodSandboxConfig. */
export function podLinux(linux: Json): Json {
  return { linux };
}

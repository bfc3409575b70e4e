/**
 * Pod networking of docker sandboxes, on src/network's CNI client.
 *
 * Docker cannot put a container into a namespace given by path, so the pause container is created with network
 * mode `none` (Docker makes it an empty netns with loopback) and its namespace is pinned by a bind mount of
 * /proc/<pause pid>/ns/net at <network.netnsDir>/<sandbox id> before CNI ADD runs against that path. The pin
 * keeps DEL pointed at the right namespace after the pause process died (dockerd restart) or its PID was reused,
 * and gives port-forward and stats a stable path.
 * NOTE: the pin repeats what NetnsManager does for namespaces it creates (shared dir, bind mount); an
 * `adopt(name, pid)` there would remove this copy — TODO(#5) once src/network offers it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CniClient, NetnsManager, isNetnsMount, podNetworkFromCri, runCommand } from '../../network';
import type { CniStatus, PodNetworkStatus } from '../../network';
import type { Config } from '../../config/types';
import type * as cri from '../../cri/types';
import type { CallContext } from '../backend';
import { InternalError } from '../../errors';

const CMD_TIMEOUT_MS = 30_000;

export class DockerPodNetwork {
  private readonly cni: CniClient;
  private readonly netns: NetnsManager;
  private dirReady = false;

  constructor(config: Config, ctxLog: CallContext['log']) {
    this.cni = new CniClient({
      confDir: config.network.confDir,
      binDirs: config.network.binDirs,
      stateDir: path.join(config.stateDir, 'cni'),
      logger: ctxLog,
    });
    this.netns = new NetnsManager({ dir: config.network.netnsDir, logger: ctxLog });
  }

  status(): Promise<CniStatus> {
    return this.cni.status();
  }

  updatePodCidr(cidr: string): void {
    this.cni.updatePodCidr(cidr);
  }

  /** Path where a sandbox's namespace is pinned. */
  netnsPath(sandboxId: string): string {
    return this.netns.pathOf(sandboxId);
  }

  /** Pins the pause container's netns and attaches the pod to the CNI network; returns its IPs. */
  async setUp(
    ctx: CallContext,
    sandboxId: string,
    pausePid: number,
    config: cri.PodSandboxConfig,
  ): Promise<PodNetworkStatus> {
    const file = this.netnsPath(sandboxId);
    await this.pin(file, pausePid, ctx.signal);
    ctx.log.info('pinned sandbox netns', { netns: file, pid: pausePid });
    return this.cni.add(podNetworkFromCri(sandboxId, config, file), { signal: ctx.signal });
  }

  /** CNI DEL (idempotent, works from the cache after restarts) and unpin. `meta` may be unknown (empty). */
  async tearDown(ctx: CallContext, sandboxId: string, meta?: cri.PodSandboxMetadata | null): Promise<void> {
    const file = this.netnsPath(sandboxId);
    await this.cni.del(
      { id: sandboxId, name: meta?.name ?? '', namespace: meta?.namespace ?? '', uid: meta?.uid ?? '', netns: file },
      { signal: ctx.signal },
    );
    await this.netns.remove(file, { signal: ctx.signal });
  }

  /** Whether anything of a sandbox's network may be left to release (a pin or a completed ADD). */
  async hasState(sandboxId: string): Promise<boolean> {
    return (await isNetnsMount(this.netnsPath(sandboxId))) || (await this.cni.cachedStatus(sandboxId)) !== undefined;
  }

  /** The pod IPs recorded by the last successful ADD (survives restarts: CNI result cache on disk). */
  async ips(sandboxId: string): Promise<string[]> {
    return [...((await this.cni.cachedStatus(sandboxId))?.ips ?? [])];
  }

  private async pin(file: string, pid: number, signal?: AbortSignal): Promise<void> {
    await this.prepareDir(signal);
    // A pin left by a crashed attempt of the same sandbox ID is replaced.
    if (await isNetnsMount(file)) await this.netns.remove(file, { signal });
    await fs.writeFile(file, '', { mode: 0o444 });
    await must('mount', ['--bind', `/proc/${pid}/ns/net`, file], `pin netns of pid ${pid}`, signal);
  }

  /** mkdir -p and make the dir a shared mount, so an unpin propagates to mount namespaces made meanwhile. */
  private async prepareDir(signal?: AbortSignal): Promise<void> {
    if (this.dirReady) return;
    const dir = this.netns.dir;
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
    const mounted = mountinfo.split('\n').some((l) => l.split(' ')[4] === dir);
    if (!mounted) await must('mount', ['--bind', dir, dir], `prepare netns dir ${dir}`, signal);
    await must('mount', ['--make-shared', dir], `prepare netns dir ${dir}`, signal);
    this.dirReady = true;
  }
}

async function must(file: string, args: string[], what: string, signal?: AbortSignal): Promise<void> {
  const res = await runCommand(file, args, { signal, timeoutMs: CMD_TIMEOUT_MS });
  if (res.code !== 0) throw new InternalError(`${what}: ${file}: ${res.stderr.trim() || `exit ${res.code}`}`);
}

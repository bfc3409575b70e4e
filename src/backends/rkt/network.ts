/**
 * Pod networking of built-in-stage1 pods, on src/network: crimux creates the pod's network namespace, attaches it
 * with CNI, and nspawn joins it by path (--network-namespace-path), so the stage1 never runs CNI itself (rkt did,
 * from /etc/rkt/net.d). The CNI result cache on disk keeps DEL and the pod IPs working across restarts.
 */
import path from 'node:path';
import { CniClient, NetnsManager, execInNetns, isNetnsMount, podNetworkFromCri } from '../../network';
import type { CniStatus } from '../../network';
import type { Config } from '../../config/types';
import type * as cri from '../../cri/types';
import type { CallContext } from '../backend';
import { InternalError } from '../../errors';
import type { Logger } from '../../log/logger';

export class RktPodNetwork {
  private readonly cni: CniClient;
  private readonly netns: NetnsManager;

  constructor(config: Config, log: Logger) {
    this.cni = new CniClient({
      confDir: config.network.confDir,
      binDirs: config.network.binDirs,
      stateDir: path.join(config.stateDir, 'cni'),
      logger: log,
    });
    this.netns = new NetnsManager({ dir: config.network.netnsDir, logger: log });
  }

  status(): Promise<CniStatus> {
    return this.cni.status();
  }

  updatePodCidr(cidr: string): void {
    this.cni.updatePodCidr(cidr);
  }

  netnsPath(sandboxId: string): string {
    return this.netns.pathOf(sandboxId);
  }

  /** Creates the namespace, applies net.* sysctls, attaches the pod; returns the namespace path and IPs. */
  async setUp(
    ctx: CallContext,
    sandboxId: string,
    config: cri.PodSandboxConfig,
  ): Promise<{ netns: string; ips: string[] }> {
    const file = this.netnsPath(sandboxId);
    // A namespace left by a crashed attempt of the same sandbox ID is replaced.
    if (await isNetnsMount(file)) await this.netns.remove(file, { signal: ctx.signal });
    await this.netns.create(sandboxId, { signal: ctx.signal });
    try {
      for (const [key, value] of Object.entries(config.linux?.sysctls ?? {})) {
        if (!key.startsWith('net.')) continue; // IPC ones are the stage1's (SandboxOptions.ipcSysctls)
        const res = await execInNetns(file, ['sysctl', '-w', `${key}=${value}`], {
          signal: ctx.signal,
          timeoutMs: 10_000,
        });
        if (res.code !== 0) throw new InternalError(`set sysctl ${key}: ${res.stderr.trim()}`);
      }
      const status = await this.cni.add(podNetworkFromCri(sandboxId, config, file), { signal: ctx.signal });
      return { netns: file, ips: [...status.ips] };
    } catch (err) {
      await this.netns
        .remove(file)
        .catch((e: unknown) => ctx.log.warn('remove netns after failed setup', { error: e }));
      throw err;
    }
  }

  /** CNI DEL and namespace removal; idempotent, works after restarts from the CNI cache. */
  async tearDown(ctx: CallContext, sandboxId: string, meta?: cri.PodSandboxMetadata | null): Promise<void> {
    const file = this.netnsPath(sandboxId);
    const has = (await isNetnsMount(file)) || (await this.cni.cachedStatus(sandboxId)) !== undefined;
    if (!has) return;
    await this.cni.del(
      { id: sandboxId, name: meta?.name ?? '', namespace: meta?.namespace ?? '', uid: meta?.uid ?? '', netns: file },
      { signal: ctx.signal },
    );
    await this.netns.remove(file, { signal: ctx.signal });
  }

  async ips(sandboxId: string): Promise<string[]> {
    return [...((await this.cni.cachedStatus(sandboxId))?.ips ?? [])];
  }
}

/**
 * Pod networking, one instance for the whole daemon (issue #22): every backend's pods go through the same CNI client
 * (one result cache, one lock per pod, the egress guard ensured once, one pod CIDR from UpdateRuntimeConfig) and
 * the same namespace dir. Backends differ only in how the namespace comes to be and what they wire into it:
 *   runc  createNetns → attach (in parallel with the pause container)
 *   rkt   setUp (namespace, net.* sysctls, ADD), nspawn joins it by path
 *   docker adoptNetns(pause pid) → attach (Docker cannot join a namespace by path)
 *   vm    createNetns + its tap → attach → its tc wiring
 * and all of them tear down with tearDown (CNI DEL from the cache, then the namespace).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type * as cri from '../cri/types';
import { InternalError } from '../errors';
import type { Logger } from '../log/logger';
import { CniClient } from './cni';
import { podNetworkFromCri, type CniStatus, type PodNetworkStatus } from './cni-types';
import { NetnsManager, execInNetns, isNetnsMount } from './netns';

export interface PodNetworkingOptions {
  readonly confDir: string;
  readonly binDirs: readonly string[];
  /** The daemon's state dir: the CNI result cache lives in <stateDir>/cni. */
  readonly stateDir: string;
  readonly netnsDir: string;
  readonly logger: Logger;
}

export class PodNetworking {
  readonly cni: CniClient;
  readonly netns: NetnsManager;
  private readonly cniStateDir: string;

  constructor(o: PodNetworkingOptions) {
    this.cniStateDir = path.join(o.stateDir, 'cni');
    this.cni = new CniClient({
      confDir: o.confDir,
      binDirs: o.binDirs,
      stateDir: this.cniStateDir,
      logger: o.logger,
    });
    this.netns = new NetnsManager({ dir: o.netnsDir, logger: o.logger });
  }

  /**
   * Moves the CNI results an older crimux cached in a backend's own CNI state dir (runc kept one) into the shared
   * cache, so the pods attached before the upgrade are still detached with their ADD result. Entries already in
   * the shared cache win.
   */
  async importCache(oldCniStateDir: string): Promise<void> {
    const from = path.join(oldCniStateDir, 'results');
    const to = path.join(this.cniStateDir, 'results');
    let names: string[];
    try {
      names = (await fs.readdir(from)).filter((n) => n.endsWith('.json'));
    } catch {
      return; // nothing cached there
    }
    await fs.mkdir(to, { recursive: true, mode: 0o700 });
    for (const name of names) {
      // link() fails with EEXIST instead of overwriting; the old name goes either way.
      await fs.link(path.join(from, name), path.join(to, name)).catch(() => undefined);
      await fs.rm(path.join(from, name), { force: true });
    }
  }

  /** The CRI NetworkReady condition. */
  status(): Promise<CniStatus> {
    return this.cni.status();
  }

  updatePodCidr(cidr: string): void {
    this.cni.updatePodCidr(cidr);
  }

  /** Where a sandbox's namespace is (or would be) mounted. */
  netnsPath(sandboxId: string): string {
    return this.netns.pathOf(sandboxId);
  }

  /** A fresh namespace for the sandbox; one left by a crashed attempt of the same ID is replaced. */
  async createNetns(sandboxId: string, signal?: AbortSignal): Promise<string> {
    if (await this.netns.exists(sandboxId)) await this.netns.remove(sandboxId, { signal });
    return this.netns.create(sandboxId, { signal });
  }

  /** Pins a running process's namespace (Docker's pause container) as the sandbox's. */
  adoptNetns(sandboxId: string, pid: number, signal?: AbortSignal): Promise<string> {
    return this.netns.adopt(sandboxId, pid, { signal });
  }

  /** CNI ADD of the sandbox in `netns`; a failed ADD is rolled back by the client. */
  attach(
    sandboxId: string,
    config: cri.PodSandboxConfig,
    netns: string,
    signal?: AbortSignal,
  ): Promise<PodNetworkStatus> {
    return this.cni.add(podNetworkFromCri(sandboxId, config, netns), { signal });
  }

  /**
   * Namespace, the pod's net.* sysctls in it (IPC ones belong to whoever makes the IPC namespace), CNI ADD. On a
   * failure nothing is left behind.
   */
  async setUp(
    sandboxId: string,
    config: cri.PodSandboxConfig,
    signal?: AbortSignal,
  ): Promise<{ netns: string; status: PodNetworkStatus }> {
    const netns = await this.createNetns(sandboxId, signal);
    try {
      for (const [key, value] of Object.entries(config.linux?.sysctls ?? {})) {
        if (!key.startsWith('net.')) continue;
        // `--` keeps a key that starts with a dash from being read as an option of sysctl.
        const res = await execInNetns(netns, ['sysctl', '-w', '--', `${key}=${value}`], { signal, timeoutMs: 10_000 });
        if (res.code !== 0) throw new InternalError(`set sysctl ${key}: ${res.stderr.trim()}`);
      }
      return { netns, status: await this.attach(sandboxId, config, netns, signal) };
    } catch (err) {
      await this.netns.remove(netns).catch(() => undefined);
      throw err;
    }
  }

  /**
   * CNI DEL (from the cached ADD when there is one, so it works after restarts and config changes) and removal of
   * the namespace; idempotent. `meta` only fills CNI_ARGS and may be unknown.
   */
  async tearDown(sandboxId: string, meta?: cri.PodSandboxMetadata | null, signal?: AbortSignal): Promise<void> {
    const netns = this.netnsPath(sandboxId);
    await this.cni.del(
      { id: sandboxId, name: meta?.name ?? '', namespace: meta?.namespace ?? '', uid: meta?.uid ?? '', netns },
      { signal },
    );
    await this.netns.remove(netns, { signal });
  }

  /** Whether anything of a sandbox's network may be left to release (a namespace or a completed ADD). */
  async hasState(sandboxId: string): Promise<boolean> {
    return (await isNetnsMount(this.netnsPath(sandboxId))) || (await this.cni.cachedStatus(sandboxId)) !== undefined;
  }

  /** The pod IPs of the last successful ADD (the result cache survives restarts). */
  async ips(sandboxId: string): Promise<string[]> {
    return [...((await this.cni.cachedStatus(sandboxId))?.ips ?? [])];
  }
}

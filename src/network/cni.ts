/**
 * A CNI client (runtime side of the CNI spec, 0.3.0–1.0.0) for the pod network, shared by all backends.
 *
 * ADD runs the list's plugins in order, each getting the previous Result as prevResult; DEL runs them in reverse
 * with the cached ADD Result; CHECK runs them in order with it. Each call carries CNI_COMMAND, CNI_CONTAINERID,
 * CNI_NETNS, CNI_IFNAME, CNI_ARGS (Kubernetes keys) and CNI_PATH, and the runtimeConfig capabilities a plugin
 * declares (portMappings, dns, ipRanges). Results are cached under the state dir before and after ADD, so DEL
 * works after a restart or a config change. Operations on one pod are serialised, as the spec requires.
 */
import path from 'node:path';
import {
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  errorMessage,
} from '../errors';
import type { Logger } from '../log/logger';
import { nullLogger } from '../log/logger';
import {
  compareVersions,
  findPlugin,
  ipamSubnets,
  isObject,
  loadNetworkList,
  type CniNetworkList,
  type CniPluginConf,
} from './cni-config';
import { CniResultCache, cachedConfig, type CniCacheEntry } from './cni-cache';
import {
  capabilityArgsOf,
  cniArgsOf,
  statusFromResult,
  validatePodNetwork,
  type CniResult,
  type CniStatus,
  type PodNetwork,
  type PodNetworkStatus,
} from './cni-types';
import { runCommand } from '../host/process';
import { ensureEgressGuard } from './guard';
import { binariesOf, isNetns, pluginConf, pluginError, type Invocation } from './cni-plugin';

export const DEFAULT_CNI_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_CNI_BIN_DIRS: readonly string[] = ['/usr/lib/cni', '/opt/cni/bin'];
export const DEFAULT_CNI_STATE_DIR = '/var/lib/crimux/cni';

export interface CniClientOptions {
  readonly confDir?: string;
  readonly binDirs?: readonly string[];
  /** Result cache lives in <stateDir>/results. */
  readonly stateDir?: string;
  /** Bound on one plugin invocation (default 60 s). */
  readonly pluginTimeoutMs?: number;
  /** Install the FORWARD egress guard for the pod CIDRs on the first ADD (default true). */
  readonly egressGuard?: boolean;
  readonly logger?: Logger;
}

export interface CallOptions {
  readonly signal?: AbortSignal;
}

type Command = 'ADD' | 'DEL' | 'CHECK';

export class CniClient {
  readonly confDir: string;
  readonly binDirs: readonly string[];
  private readonly cache: CniResultCache;
  private readonly timeoutMs: number;
  private readonly guard: boolean;
  private readonly log: Logger;
  private readonly guarded = new Set<string>();
  private readonly locks = new Map<string, Promise<void>>();
  private podCidr: string | undefined;

  constructor(options: CniClientOptions = {}) {
    this.confDir = options.confDir ?? DEFAULT_CNI_CONF_DIR;
    this.binDirs = options.binDirs ?? DEFAULT_CNI_BIN_DIRS;
    this.timeoutMs = options.pluginTimeoutMs ?? 60_000;
    this.guard = options.egressGuard ?? true;
    this.log = (options.logger ?? nullLogger()).child({ component: 'cni' });
    this.cache = new CniResultCache(path.join(options.stateDir ?? DEFAULT_CNI_STATE_DIR, 'results'), this.log);
  }

  /** Whether a valid network config and every binary it names exist (the CRI NetworkReady condition). */
  async status(): Promise<CniStatus> {
    let list: CniNetworkList;
    try {
      list = await loadNetworkList(this.confDir, this.log);
    } catch (err) {
      return {
        ready: false,
        reason: 'NetworkPluginNotReady',
        message: `cni config uninitialized: ${errorMessage(err)}`,
      };
    }
    const missing: string[] = [];
    for (const type of binariesOf(list)) {
      if (!(await findPlugin(type, this.binDirs))) missing.push(type);
    }
    if (missing.length > 0) {
      return {
        ready: false,
        reason: 'NetworkPluginNotReady',
        message: `cni plugins ${missing.join(', ')} of ${list.file} not found in ${this.binDirs.join(':')}`,
        networkName: list.name,
        file: list.file,
        missingPlugins: missing,
      };
    }
    return { ready: true, networkName: list.name, file: list.file, missingPlugins: [] };
  }

  /**
   * The node's pod CIDR (CRI UpdateRuntimeConfig): offered to plugins declaring the ipRanges capability (e.g.
   * host-local with "subnet": "usePodCidr") and guarded like the config's own subnets.
   */
  updatePodCidr(cidr: string): void {
    if (!/^[0-9a-fA-F.:]+\/\d{1,3}$/.test(cidr))
      throw new InvalidArgumentError(`update pod CIDR: "${cidr}" is not a CIDR`);
    if (cidr !== this.podCidr) this.log.info('pod CIDR updated', { cidr, previous: this.podCidr });
    this.podCidr = cidr;
  }

  /** Attach the pod to the network; returns its IPs (IPv4 first). A failed ADD is rolled back with DEL. */
  async add(pod: PodNetwork, options: CallOptions = {}): Promise<PodNetworkStatus> {
    validatePodNetwork(pod);
    if (!(await isNetns(pod.netns))) {
      throw new InvalidArgumentError(`add pod network ${pod.id}: ${pod.netns || '(empty)'} is not a network namespace`);
    }
    return this.locked(pod.id, async () => {
      const list = await loadNetworkList(this.confDir, this.log);
      await this.ensureGuards(list, options.signal);
      const inv: Invocation = {
        pod,
        ifName: pod.ifName ?? 'eth0',
        netns: pod.netns,
        list: cachedConfig(list),
        cniArgs: cniArgsOf(pod),
        capabilityArgs: capabilityArgsOf(pod, this.podCidr),
      };
      const entry: CniCacheEntry = {
        kind: 'crimuxCniCacheV1',
        containerId: pod.id,
        ifName: inv.ifName,
        netns: pod.netns,
        config: inv.list,
        cniArgs: inv.cniArgs,
        capabilityArgs: inv.capabilityArgs,
      };
      // Cached before the first plugin runs, so a DEL after a crash mid-ADD still has the config and args.
      await this.cache.put(entry);
      const log = this.log.child({ pod: `${pod.namespace}/${pod.name}`, sandbox: pod.id, network: list.name });
      log.info('cni add', { netns: pod.netns, file: list.file });
      let prev: CniResult | undefined;
      try {
        for (const plugin of list.plugins) prev = await this.invoke('ADD', inv, plugin, prev, options.signal);
        if (!prev) throw new InternalError(`add pod network ${pod.id}: plugins returned no result`);
      } catch (err) {
        await this.rollback(inv, prev, log);
        throw err;
      }
      await this.cache.put({ ...entry, result: prev });
      const status = statusFromResult(list.name, inv.ifName, prev);
      log.info('cni add done', { ips: status.ips.join(',') });
      return status;
    });
  }

  /** Check the pod's network against its cached ADD Result (skipped when the config disables CHECK or is < 0.4.0). */
  async check(pod: PodNetwork, options: CallOptions = {}): Promise<void> {
    validatePodNetwork(pod);
    const ifName = pod.ifName ?? 'eth0';
    return this.locked(pod.id, async () => {
      const entry = await this.cache.get(pod.id, ifName);
      if (!entry?.result) throw new NotFoundError(`check pod network ${pod.id}: no completed ADD is recorded`);
      if (entry.config.disableCheck || compareVersions(entry.config.cniVersion, '0.4.0') < 0) return;
      const netns = pod.netns || entry.netns;
      if (!(await isNetns(netns))) {
        throw new FailedPreconditionError(`check pod network ${pod.id}: network namespace ${netns} is gone`);
      }
      const inv: Invocation = {
        pod,
        ifName,
        netns,
        list: entry.config,
        cniArgs: entry.cniArgs,
        capabilityArgs: entry.capabilityArgs,
      };
      for (const plugin of entry.config.plugins) await this.invoke('CHECK', inv, plugin, entry.result, options.signal);
    });
  }

  /**
   * Detach the pod; idempotent. Uses the cached config and Result when there are any, else the current config
   * without prevResult. A netns that is gone is passed as empty CNI_NETNS, which plugins accept on DEL.
   */
  async del(pod: PodNetwork, options: CallOptions = {}): Promise<void> {
    validatePodNetwork(pod);
    const ifName = pod.ifName ?? 'eth0';
    return this.locked(pod.id, async () => {
      const entry = await this.cache.get(pod.id, ifName);
      let list = entry?.config;
      if (!list) {
        try {
          list = cachedConfig(await loadNetworkList(this.confDir, this.log));
        } catch (err) {
          // No record of an ADD and no config to DEL with: nothing crimux attached can be released.
          this.log.warn('cni del skipped: no cached config and no network config', { sandbox: pod.id, error: err });
          return;
        }
      }
      const wanted = pod.netns || entry?.netns || '';
      const netns = (await isNetns(wanted)) ? wanted : '';
      const inv: Invocation = {
        pod,
        ifName,
        netns,
        list,
        cniArgs: entry?.cniArgs ?? cniArgsOf(pod),
        capabilityArgs: entry?.capabilityArgs ?? capabilityArgsOf(pod, this.podCidr),
      };
      const log = this.log.child({ pod: `${pod.namespace}/${pod.name}`, sandbox: pod.id, network: list.name });
      log.info('cni del', { netns: netns || '(gone)', cached: entry !== undefined });
      await this.delChain(inv, entry?.result, options.signal);
      await this.cache.delete(pod.id, ifName);
      log.info('cni del done');
    });
  }

  /** The cached ADD Result of a pod, if any (e.g. to report IPs after a restart without calling plugins). */
  async cachedStatus(podId: string, ifName = 'eth0'): Promise<PodNetworkStatus | undefined> {
    const entry = await this.cache.get(podId, ifName);
    return entry?.result ? statusFromResult(entry.config.name, ifName, entry.result) : undefined;
  }

  private async delChain(inv: Invocation, result: CniResult | undefined, signal?: AbortSignal): Promise<void> {
    // prevResult on DEL arrived with spec 0.4.0; older plugins must not get it.
    const prev = compareVersions(inv.list.cniVersion, '0.4.0') >= 0 ? result : undefined;
    for (const plugin of [...inv.list.plugins].reverse()) await this.invoke('DEL', inv, plugin, prev, signal);
  }

  private async rollback(inv: Invocation, prev: CniResult | undefined, log: Logger): Promise<void> {
    try {
      await this.delChain(inv, prev, AbortSignal.timeout(this.timeoutMs * inv.list.plugins.length));
      await this.cache.delete(inv.pod.id, inv.ifName);
    } catch (err) {
      // The cache entry stays, so the caller's DEL (the spec's "ADD is eventually followed by DEL") retries.
      log.warn('cni rollback of failed add failed', { error: err });
    }
  }

  private async invoke(
    cmd: Command,
    inv: Invocation,
    plugin: CniPluginConf,
    prev: CniResult | undefined,
    signal?: AbortSignal,
  ): Promise<CniResult | undefined> {
    const what = `cni ${cmd} ${plugin.type} for pod ${inv.pod.namespace}/${inv.pod.name} (${inv.pod.id})`;
    const bin = await findPlugin(plugin.type, this.binDirs);
    if (!bin) throw new UnavailableError(`${what}: plugin not found in ${this.binDirs.join(':')}`);
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
    Object.assign(env, {
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: inv.pod.id,
      CNI_NETNS: inv.netns,
      CNI_IFNAME: inv.ifName,
      CNI_ARGS: inv.cniArgs.map(([k, v]) => `${k}=${v}`).join(';'),
      CNI_PATH: this.binDirs.join(':'),
    });
    const stdin = JSON.stringify(pluginConf(inv, plugin, prev));
    this.log.debug('cni invoke', { command: cmd, plugin: plugin.type, sandbox: inv.pod.id });
    let res;
    try {
      res = await runCommand(bin, [], { input: stdin, env, signal, timeoutMs: this.timeoutMs });
    } catch (err) {
      if (err instanceof DeadlineExceededError)
        throw new DeadlineExceededError(`${what}: ${err.message}`, { cause: err });
      throw err;
    }
    if (res.code !== 0) throw pluginError(what, res.code, res.stdout, res.stderr);
    if (cmd !== 'ADD') return undefined;
    try {
      const result = JSON.parse(res.stdout) as unknown;
      if (!isObject(result)) throw new Error('not a JSON object');
      return result as CniResult;
    } catch (err) {
      throw new InternalError(`${what}: unparsable result: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async ensureGuards(list: CniNetworkList, signal?: AbortSignal): Promise<void> {
    if (!this.guard) return;
    const cidrs = [...ipamSubnets(list), ...(this.podCidr ? [this.podCidr] : [])].filter((c) => c.includes('/'));
    for (const cidr of cidrs) {
      if (this.guarded.has(cidr)) continue;
      await ensureEgressGuard(cidr, { logger: this.log, signal });
      this.guarded.add(cidr);
    }
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(id) ?? Promise.resolve();
    const run = before.then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }
}

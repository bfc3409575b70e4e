/**
 * A real OciImageStore in a temp dir for one test file, with a logger whose lines are captured (to check what
 * pulls log and that secrets never appear), and a cleanup that unmounts anything left under the dir first.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CallContext } from '../../src/backends/backend';
import { createLogger, type Logger } from '../../src/log/logger';
import { Metrics } from '../../src/metrics/metrics';
import { OciImageStore } from '../../src/images/store';
import type { RegistriesConfig } from '../../src/images/hosts';
import type { PullLimits } from '../../src/images/limits';
import { proxyFromEnv, type ProxyConfig } from '../../src/images/proxy';

export interface StoreHarness {
  readonly dir: string;
  readonly root: string;
  readonly store: OciImageStore;
  readonly metrics: Metrics;
  readonly lines: string[];
  readonly log: Logger;
  ctx(timeoutMs?: number): CallContext;
  /** Files under a store subdir (blobs/sha256, layers, tmp, snapshots, metadata/images). */
  list(sub: string): string[];
  cleanup(): Promise<void>;
}

/** Mount points under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** The crimux-layer helper as scripts/build-native.sh installs it (CRIMUX_UNPACK_HELPER overrides). */
export const LAYER_HELPER = process.env.CRIMUX_UNPACK_HELPER || '/usr/local/libexec/crimux/crimux-layer';

/**
 * The places a layer is unpacked (src/images/layer-unpack.ts): in this process, and in the crimux-layer helper
 * (native-unpack.ts). The tests of limits, faults and the pipeline run on each, so each rule holds on either.
 */
export const UNPACK_PATHS = [
  { where: 'in the daemon', unpackHelper: '' },
  { where: 'in the crimux-layer helper', unpackHelper: LAYER_HELPER },
] as const;

export function newStore(
  opts: {
    registries?: RegistriesConfig;
    sandboxImage?: string;
    pullTimeoutSeconds?: number;
    root?: string;
    maxConcurrentDownloads?: number;
    limits?: PullLimits;
    /** images.platform ("" or unset: the node's own). */
    platform?: string;
    /** Proxy settings (proxyFromEnv of a test environment); unset: none, whatever this process's env says. */
    proxy?: ProxyConfig;
    /** The crimux-layer helper (see UNPACK_PATHS); unset or empty: layers unpack in this process. */
    unpackHelper?: string;
  } = {},
): StoreHarness {
  const dir = opts.root ?? mkdtempSync(path.join(os.tmpdir(), 'crimux-images-'));
  const root = path.join(dir, 'images');
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', write: (l) => lines.push(l) });
  const metrics = new Metrics({ processMetrics: false });
  const store = new OciImageStore({
    root,
    registries: opts.registries ?? {},
    pullTimeoutSeconds: opts.pullTimeoutSeconds ?? 120,
    log,
    metrics,
    ...(opts.sandboxImage ? { sandboxImage: opts.sandboxImage } : {}),
    ...(opts.maxConcurrentDownloads ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.unpackHelper ? { unpackHelper: opts.unpackHelper } : {}),
    // Tests never inherit a proxy from the shell that runs them: each says which one it wants.
    proxy: opts.proxy ?? proxyFromEnv({}),
  });
  return {
    dir,
    root,
    store,
    metrics,
    lines,
    log,
    ctx: (timeoutMs = 120_000) => ({ signal: AbortSignal.timeout(timeoutMs), log }),
    list: (sub) => {
      try {
        return readdirSync(path.join(root, sub)).sort();
      } catch {
        return [];
      }
    },
    cleanup: async () => {
      await store.close();
      for (const mp of mountsUnder(dir)) {
        try {
          execFileSync('umount', ['--lazy', mp]);
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Maps every registry host to the local test registry (what the daemon's test config does). */
export function localRegistries(port: number): RegistriesConfig {
  return { '*': { endpoints: [{ url: `http://127.0.0.1:${port}` }] } };
}

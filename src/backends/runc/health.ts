/**
 * Health of the runc backend: ready when conmon and every handler's runtime binary answer `--version`;
 * networkReady when the CNI client finds a usable network config and its plugins. Binary checks are cached for a
 * while because the kubelet asks for Status every few seconds and the answer rarely changes.
 */
import type { BackendHealth } from '../backend';
import { errorMessage } from '../../errors';
import { runCommand } from '../../host/process';
import type { RuncShared } from './context';

const CACHE_MS = 15_000;

export class HealthChecker {
  private cached: { at: number; problem?: string } | undefined;

  constructor(private readonly s: RuncShared) {}

  async check(): Promise<BackendHealth> {
    const problem = await this.binaries();
    const net = await this.s.network
      .status()
      .catch((err: unknown) => ({ ready: false, reason: 'NetworkPluginNotReady', message: errorMessage(err) }));
    if (problem) return { ready: false, networkReady: net.ready, reason: 'RuntimeBinaryUnavailable', message: problem };
    return net.ready
      ? { ready: true, networkReady: true }
      : { ready: true, networkReady: false, reason: net.reason ?? 'NetworkPluginNotReady', message: net.message };
  }

  private async binaries(): Promise<string | undefined> {
    if (this.cached && Date.now() - this.cached.at < CACHE_MS) return this.cached.problem;
    const bins = new Set([
      this.s.runc.conmonPath,
      ...this.s.engine.handlerNames().map((h) => this.s.engine.options(h).runtimePath),
    ]);
    const problems: string[] = [];
    for (const bin of bins) {
      try {
        const r = await runCommand(bin, ['--version'], { timeoutMs: 5000 });
        if (r.code !== 0) problems.push(`${bin} --version exited ${r.code}`);
      } catch (err) {
        problems.push(`${bin}: ${errorMessage(err)}`);
      }
    }
    const problem = problems.length > 0 ? problems.join('; ') : undefined;
    // Cache only success: a missing binary that gets installed should be noticed at the next call.
    this.cached = problem ? undefined : { at: Date.now() };
    return problem;
  }
}

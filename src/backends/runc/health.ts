/**
 * Health of the runc backend: ready when conmon and every handler's runtime binary answer `--version`;
 * networkReady when the CNI client finds a usable network config and its plugins. A binary is asked again only
 * when it changed (host/binary-probe.ts): the health loop probes every couple of seconds.
 */
import type { BackendHealth } from '../backend';
import { errorMessage } from '../../errors';
import { BinaryProbe } from '../../host/binary-probe';
import { runCommand } from '../../host/process';
import type { RuncShared } from './context';

export class HealthChecker {
  private readonly probes = new Map<string, BinaryProbe<void>>();

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
    const bins = new Set([
      this.s.runc.conmonPath,
      ...this.s.engine.handlerNames().map((h) => this.s.engine.options(h).runtimePath),
    ]);
    const problems: string[] = [];
    for (const bin of bins) {
      let probe = this.probes.get(bin);
      if (!probe) {
        probe = new BinaryProbe(bin, async () => {
          const r = await runCommand(bin, ['--version'], { timeoutMs: 5000 });
          if (r.code !== 0) throw new Error(`--version exited ${r.code}`);
        });
        this.probes.set(bin, probe);
      }
      await probe.get().catch((err: unknown) => {
        const message = errorMessage(err);
        problems.push(message.includes(bin) ? message : `${bin}: ${message}`);
      });
    }
    return problems.length > 0 ? problems.join('; ') : undefined;
  }
}

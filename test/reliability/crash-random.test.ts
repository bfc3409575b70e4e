/**
 * The crash harness's random mode, small and seeded (issue #24; the full run is bench/crash.ts): concurrent
 * kubelet-like clients cycle pods and containers on runc (8 kills) and docker (3 kills) while the daemon is
 * SIGKILLed at random moments and restarted; then one kubelet-style cleanup pass must leave no pod, no container
 * and nothing on the host (processes, mounts, netns, IPs, cgroups, runtime state, snapshots, records), and no
 * StopPodSandbox may stall. Seeds via CRIMUX_CRASH_SEED to replay a failure.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backendUnavailable, crashRandom, STOP_BOUND_MS, type CrashBackend } from './crash-random';

const SEED = Number(process.env.CRIMUX_CRASH_SEED ?? 24);
const RUNS: { backend: CrashBackend; kills: number; slot: number }[] = [
  { backend: 'runc', kills: 8, slot: 30 },
  { backend: 'docker', kills: 3, slot: 31 },
];

for (const r of RUNS) {
  const skip = backendUnavailable(r.backend);
  test(
    `${r.backend}: ${r.kills} random kills under load, one cleanup pass, no leaks, no stalls`,
    { skip },
    async () => {
      const clients = 2;
      const fig = await crashRandom({ ...r, seed: SEED, clients, gapMs: [300, 1500] });
      const summary = JSON.stringify(fig, null, 2);
      assert.equal(fig.kills, r.kills, summary);
      assert.ok(fig.cycles.completed > 0, `some cycles completed:\n${summary}`);
      assert.ok(
        fig.cycles.completedAfterLastKill >= clients,
        `each client ran a whole cycle on the daemon after its last restart:\n${summary}`,
      );
      assert.deepEqual(fig.unexpectedErrors, [], summary);
      assert.equal(fig.selfCrashes, 0, summary);
      assert.deepEqual(fig.firstPass.failedCalls, [], summary);
      assert.equal(fig.firstPass.leftoverPods + fig.firstPass.leftoverContainers, 0, summary);
      assert.deepEqual(fig.finalLeaks, [], summary);
      assert.deepEqual(fig.slowStops, [], `no StopPodSandbox over ${STOP_BOUND_MS} ms:\n${summary}`);
    },
  );
}

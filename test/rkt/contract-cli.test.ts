/**
 * The pod-manager contract through crimux's own rkt-syntax CLI: the real-rkt manager runs
 * test/rkt/fixtures/rkt-compat (runRktCli over the built-in stage1) with exactly the command lines it would give
 * rkt — so the CLI speaks rkt, and both implementations meet the same contract the same way. Slow-ish: one Node
 * start per command.
 */
import path from 'node:path';
import { RktCliPodManager } from '../../src/backends/rkt/rkt-cli/manager';
import { RktRunner } from '../../src/backends/rkt/rkt-cli/runner';
import { nullLogger } from '../../src/log/logger';
import { podManagerContract } from './contract';
import { TEST_IMAGE } from './helpers/rootfs';
import { stage1Fixture } from './helpers/stage1';

const COMPAT = path.resolve(__dirname, 'fixtures', 'rkt-compat');

podManagerContract({
  name: 'real-rkt manager against `crimux rkt` (rkt-compat over the built-in stage1)',
  realApps: true,
  open: async () => {
    const fx = await stage1Fixture('cli');
    process.env.RKT_COMPAT_BASE = fx.base;
    process.env.RKT_COMPAT_CGROUP = fx.cgroupParent;
    const runner = new RktRunner({ path: COMPAT, dataDir: fx.root, timeoutMs: 60_000 });
    const pm = new RktCliPodManager(runner, {
      stage1Name: '',
      sandboxDir: path.join(fx.dir, 'sandbox'),
      readyTimeoutMs: 30_000,
      log: nullLogger(),
    });
    return { pm, image: TEST_IMAGE, network: { kind: 'host' }, cleanup: fx.cleanup };
  },
});

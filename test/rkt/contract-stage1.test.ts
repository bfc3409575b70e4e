/** The pod-manager contract against the built-in stage1, for real (root, systemd-nspawn, conmon). */
import { podManagerContract } from './contract';
import { stage1Fixture } from './helpers/stage1';
import { TEST_IMAGE } from './helpers/rootfs';

podManagerContract({
  name: 'built-in stage1 (systemd-nspawn)',
  realApps: true,
  open: async () => {
    const fx = await stage1Fixture('contract');
    return { pm: await fx.open(), image: TEST_IMAGE, network: { kind: 'host' }, cleanup: fx.cleanup };
  },
});

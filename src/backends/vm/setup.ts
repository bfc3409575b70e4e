/**
 * Backend start-up: guest artefacts, accelerator choice (with the log line the issue asks for), records and live
 * VMs recovered, and the default-size template built in the background.
 */
import fs from 'node:fs';
import type { Logger } from '../../log/logger';
import type { BackendDeps } from '../registry';
import { chooseAccel } from './accel';
import type { VmShared } from './context';
import { Disks } from './disks';
import { loadGuest, type GuestArtefacts } from './guest';
import { errorMessage } from '../../errors';
import { VmNetwork } from './net';
import { handlerOptions } from './options';
import { VmRuntime } from './runtime';
import { Semaphore } from './semaphore';
import { Store } from './records';
import { SCRATCH_NETNS_PREFIX, Templates } from './template';

export async function setupVmShared(deps: BackendDeps, log: Logger): Promise<VmShared> {
  const cfg = deps.config.backends.vm;
  const opts = new Map(deps.handlers.map((h) => [h.name, handlerOptions(h)]));
  fs.mkdirSync(deps.stateDir, { recursive: true });
  fs.mkdirSync(deps.runDir, { recursive: true });
  // Without a guest no new pod can start, but pods already running must stay manageable (status, stop, remove).
  let guest: GuestArtefacts | undefined;
  let guestError: string | undefined;
  try {
    guest = loadGuest(cfg.guestDir);
  } catch (err) {
    guestError = errorMessage(err);
    log.error('vm: no usable guest; new pods are refused, running ones stay manageable', { error: err });
  }
  const choice = guest
    ? await chooseAccel(cfg.accelerator, cfg.qemuPath, guest, deps.stateDir, deps.host.files, log)
    : { accel: 'tcg' as const, reason: 'no guest to probe with' };
  log.info(`vm: accelerator ${choice.accel}`, {
    reason: choice.reason,
    probeBootMs: 'probeBootMs' in choice ? choice.probeBootMs : undefined,
    note: choice.accel === 'tcg' ? 'software emulation: cold boots take seconds, template clones ≈0.5 s' : undefined,
  });
  const boots = new Semaphore(Math.max(1, cfg.maxConcurrentBoots));
  const rt = new VmRuntime(new Store(deps.stateDir, deps.host.files), log, deps.host);
  const net = new VmNetwork(deps.host.podNetwork(deps.config, deps.log));
  const templates =
    cfg.template && guest
      ? new Templates({
          scratchNetns: (name) => net.scratch(name),
          stateDir: deps.stateDir,
          runDir: deps.runDir,
          qemu: cfg.qemuPath,
          accel: choice.accel,
          guest,
          bootTimeoutMs: cfg.bootTimeoutSeconds * 1000,
          boots,
          log,
        })
      : undefined;
  const shared: VmShared = {
    cfg,
    rt,
    guest,
    guestError,
    boots,
    templates,
    accel: choice.accel,
    runDir: deps.runDir,
    images: deps.sharedImages,
    net,
    disks: new Disks({
      dir: deps.stateDir,
      qemuImg: cfg.qemuImgPath,
      headroomMiB: cfg.rootfsHeadroomMiB,
      snapshots: deps.sharedImages,
    }),
    handlerSize: (h) => {
      const o = opts.get(h);
      return { ...(o?.memoryMiB ? { memoryMiB: o.memoryMiB } : {}), ...(o?.vcpus ? { vcpus: o.vcpus } : {}) };
    },
    templatesFor: (h) => opts.get(h)?.template ?? true,
  };
  rt.recover(deps.runDir);
  await removeScratchNetns(net, log);
  if (templates) {
    const sizes = [{ memMiB: cfg.memoryMiB, vcpus: cfg.vcpus }];
    for (const o of opts.values()) sizes.push({ memMiB: o.memoryMiB ?? cfg.memoryMiB, vcpus: o.vcpus ?? cfg.vcpus });
    templates.pruneExcept(sizes);
    for (const s of sizes) void templates.ensure(s.memMiB, s.vcpus);
  }
  return shared;
}

/**
 * Scratch netns of template builds a crash cut short. A build removes its own when it ends, but a crimux killed
 * between saving the template and that removal left it behind, and a saved template is never built again, so no
 * later build would replace it (#24). Start-up only: no build runs yet.
 */
async function removeScratchNetns(net: VmNetwork, log: Logger): Promise<void> {
  let names: string[];
  try {
    names = fs.readdirSync(net.netns.dir).filter((n) => n.startsWith(SCRATCH_NETNS_PREFIX));
  } catch {
    return; // no netns dir yet
  }
  for (const n of names) {
    await net.netns.remove(n).catch((err: unknown) => log.warn('vm: stale template netns', { netns: n, error: err }));
  }
}

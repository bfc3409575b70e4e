/**
 * Pod sandbox operations: RunPodSandbox boots (or clones) a VM inside the pod's network namespace and hands it to
 * the pod; Stop tears the VM and the network down; Remove deletes everything. Every creation step registers its
 * undo, run in reverse if a later step fails (containerd's sandbox_run.go), so a failed run leaves nothing behind.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CallContext, RunSandboxRequest } from '../backend';
import { UnavailableError } from '../../errors';
import { bootVm } from './boot';
import { gcImageDisks } from './containers';
import type { VmShared } from './context';
import { TAP } from './net';
import { TEMPLATE_MAC, vmPaths } from './qemu';
import { vmSize } from './spec';
import { podHostname } from '../../host/pod-etc';
import type { PodRecord } from './records';

export async function runPodSandbox(s: VmShared, ctx: CallContext, req: RunSandboxRequest): Promise<void> {
  // Host namespaces never reach here: the router routes or refuses such pods by VmBackend.capabilities.
  const guest = s.guest;
  if (!guest) throw new UnavailableError(`run pod sandbox: vm guest unavailable: ${s.guestError ?? 'not loaded'}`);
  const size = vmSize(req.config, { ...s.cfg, ...s.handlerSize(req.handler.name) });
  await s.rt.withLock(req.id, async () => {
    const existing = s.rt.pods.get(req.id);
    if (existing?.state === 'ready' && s.rt.checkAlive(existing)) return; // a retried create: keep the result
    if (existing) await removeSandboxLocked(s, ctx, existing);
    const undo = s.rt.host.undoStack(ctx.log);
    try {
      ctx.log.info('vm: run pod sandbox', { memMiB: size.memMiB, vcpus: size.vcpus });
      const runDir = path.join(s.runDir, req.id.slice(0, 16));
      const podDir = s.rt.store.podDir(req.id);
      const template = s.templatesFor(req.handler.name) ? s.templates?.lookup(size.memMiB, size.vcpus) : undefined;
      // Saved before any host resource exists, NOTREADY: a crash mid-create leaves a record that Remove can clean.
      const pod: PodRecord = {
        version: 1,
        id: req.id,
        handler: req.handler.name,
        config: req.config,
        createdAt: s.rt.host.clock.nowNs().toString(),
        state: 'notready',
        vm: { runDir, pid: 0, ...size, accel: s.accel, cloned: template !== undefined, bootMs: 0 },
        containers: {},
        nextLun: 1,
      };
      s.rt.store.save(pod);
      undo.push('pod record', async () => s.rt.store.delete(req.id));
      const t0 = Date.now();
      const netns = await s.net.prepare(req.id, req.config, ctx.signal);
      undo.push('network', () => s.net.teardown(req.id, req.config));
      const tNetns = Date.now() - t0;
      const spec = {
        qemu: s.cfg.qemuPath,
        accel: s.accel,
        guest,
        ...size,
        tap: TAP,
        incoming: template?.state,
        memFile: template ? { path: template.mem, share: false } : undefined,
        paths: vmPaths(runDir, path.join(podDir, 'console.log')),
      };
      const boot = () =>
        bootVm(
          spec,
          netns,
          s.cfg.bootTimeoutSeconds * 1000,
          {
            onEvent: (e) => s.rt.onEvent(req.id, e),
            onConnect: () => s.rt.syncState(req.id),
            log: ctx.log,
          },
          ctx.signal,
        );
      // The VM boots while CNI attaches the netns (both take hundreds of ms). Clones are cheap; only cold boots queue
      // behind the boot limiter. allSettled: a failed half must not leave the other half unregistered for undo.
      const [booted, attached] = await Promise.allSettled([
        template ? boot() : s.boots.run(boot),
        s.net.attach(req.id, netns, req.config, ctx.signal),
      ]);
      if (booted.status === 'fulfilled') undo.push('vm', () => booted.value.vm.destroy());
      if (booted.status === 'rejected') throw booted.reason;
      if (attached.status === 'rejected') throw attached.reason;
      const { vm, ms, cloned } = booted.value;
      const net = attached.value;
      pod.net = { ...net };
      const tBoot = Date.now() - t0;
      pod.vm.pid = vm.pid;
      pod.vm.bootMs = ms;
      s.rt.vms.set(req.id, vm);
      const hostname = podHostname(req.config, false);
      // Clock, entropy, hostname and NIC in one request (one guest process).
      const seed = crypto.randomBytes(64).toString('base64');
      const nic =
        net.cidr && net.mac ? { mac: TEMPLATE_MAC, newMac: net.mac, cidr: net.cidr, gateway: net.gateway } : undefined;
      const sysctls = req.config.linux?.sysctls ?? {};
      await vm.request(
        {
          op: 'claim',
          timeMs: Date.now(),
          seed,
          hostname,
          net: nic,
          ...(Object.keys(sysctls).length > 0 ? { sysctls } : {}),
        },
        15_000,
      );
      pod.state = 'ready';
      s.rt.store.save(pod);
      s.rt.addPod(pod);
      const timing = { netnsMs: tNetns, bootAndCniMs: tBoot, totalMs: Date.now() - t0 };
      ctx.log.info('vm: pod sandbox ready', { ip: net.ip, bootMs: ms, cloned, pid: vm.pid, ...timing });
    } catch (err) {
      ctx.log.warn('vm: run pod sandbox failed, undoing', { error: err });
      s.rt.vms.delete(req.id);
      await undo.run();
      throw err;
    }
  });
}

/** Idempotent: stops every container (by stopping the VM), tears the network down. */
export async function stopPodSandbox(s: VmShared, ctx: CallContext, id: string): Promise<void> {
  await s.rt.withLock(id, async () => {
    const pod = s.rt.pods.get(id);
    if (!pod) return;
    ctx.log.info('vm: stop pod sandbox');
    const vm = s.rt.vmFor(pod);
    // Give the containers their stop signal and a short grace inside the guest, then power off.
    if (s.rt.checkAlive(pod)) {
      for (const c of Object.values(pod.containers)) {
        if (c.state !== 'running') continue;
        await vm
          .request({ op: 'stop', cid: c.id, signal: c.stopSignal, timeoutMs: 2_000 }, 15_000)
          .catch(() => undefined);
      }
    }
    await vm.destroy();
    s.rt.markDead(pod, 'pod sandbox stopped');
    await s.net.teardown(id, pod.config, ctx.signal);
    s.rt.vms.delete(id);
    ctx.log.info('vm: pod sandbox stopped');
  });
}

/** Idempotent; unknown ID is success. */
export async function removePodSandbox(s: VmShared, ctx: CallContext, id: string): Promise<void> {
  await s.rt.withLock(id, async () => {
    const pod = s.rt.pods.get(id);
    if (!pod) {
      // Unknown: success (CRI). Records are saved before any resource exists, so there is nothing to clean.
      return;
    }
    await removeSandboxLocked(s, ctx, pod);
  });
  await gcImageDisks(s, ctx);
}

async function removeSandboxLocked(s: VmShared, ctx: CallContext, pod: PodRecord): Promise<void> {
  ctx.log.info('vm: remove pod sandbox');
  await s.rt.vmFor(pod).destroy();
  await s.net.teardown(pod.id, pod.config, ctx.signal);
  s.rt.dropPod(pod.id);
  s.rt.store.delete(pod.id);
  fs.rmSync(pod.vm.runDir, { recursive: true, force: true });
  ctx.log.info('vm: pod sandbox removed');
}

/**
 * Pod sandbox RPCs in rkt terms (rktlet runtime/pod_sandbox.go, ported without its bugs):
 *   RunPodSandbox    → [netns + CNI] → `rkt app sandbox`     (undo on failure; a retried create replaces leftovers)
 *   StopPodSandbox   → `rkt stop --force` → CNI DEL           (idempotent: unknown or stopped is success)
 *   RemovePodSandbox → `rkt stop --force` → `rkt rm` → index  (idempotent; rktlet always returned an error here)
 *   PodSandboxStatus → `rkt status`;  ListPodSandbox → one `rkt list`
 * NOTE: StopPodSandbox kills at once, as containerd does: the kubelet has already stopped each container with
 * its own grace period, and rktlet's graceful `--force=false` would only add the stage1's stop timeout.
 */
import { stage1CgroupParent } from './cgroup-parent';
import { podHostname } from '../../host/pod-etc';
import { NotFoundError } from '../../errors';
import type { CallContext, ContainerFacts, RunSandboxRequest, SandboxFacts, SandboxStatusResult } from '../backend';
import type * as cri from '../../cri/types';
import { appFactsOf } from './containers';
import type { RktShared } from './context';
import {
  HANDLER_ANNOTATION,
  POD_ATTEMPT,
  POD_NAME,
  POD_NAMESPACE,
  POD_UID,
  podIps,
  podFacts,
  podStatusFacts,
  sandboxMetadata,
} from './convert';
import { CONTAINER_ID_ANNOTATION, SANDBOX_ID_ANNOTATION, rktAppId } from './records';
import { crimuxPods, findSandbox } from './lookup';
import type { SandboxNetwork, SandboxOptions } from './pod-manager';
import { isIpcSysctl } from '../../host/sysctls';
import { enforce, sandboxViolations } from './security';

function hostNetwork(config: cri.PodSandboxConfig): boolean {
  return config.linux?.security_context?.namespace_options?.network === 'NODE';
}

export async function runPodSandbox(s: RktShared, ctx: CallContext, req: RunSandboxRequest): Promise<void> {
  const { id, config } = req;
  enforce(`run pod sandbox ${id}`, sandboxViolations(config, s.info.enforces), s.config.securityPolicy, ctx.log);
  // The router repeats a create after a crash with the same ID: whatever the first attempt left goes first.
  if ((await s.index.getSandbox(id)) || (await findSandbox(s, id, ctx.signal))) {
    ctx.log.info('removing leftovers of an earlier attempt', { sandbox: id });
    await removePodSandbox(s, ctx, id);
  }
  const md = config.metadata;
  const host = hostNetwork(config);
  const cgroupParent = stage1CgroupParent(config.linux?.cgroup_parent ?? ''); // refused before anything is made
  await s.index.putSandbox({ version: 1, id, state: 'creating', handler: req.handler.name });
  await s.host.withUndo(ctx.log, async (undo) => {
    undo.push('index', () => s.index.deleteSandbox(id));
    let network: SandboxNetwork = host ? { kind: 'host' } : { kind: 'rkt', name: s.config.rkt.net };
    let netns = '';
    if (s.network && !host) {
      const net = await s.network.setUp(id, config, ctx.signal);
      netns = net.netns;
      network = { kind: 'netns', path: net.netns, ips: [...net.status.ips] };
      undo.push('network', (signal) => s.network!.tearDown(id, md, signal));
    }
    const opts: SandboxOptions = {
      userAnnotations: {
        ...config.annotations,
        [POD_UID]: md?.uid ?? '',
        [POD_NAME]: md?.name ?? '',
        [POD_NAMESPACE]: md?.namespace ?? '',
        [POD_ATTEMPT]: String(md?.attempt ?? 0),
        [SANDBOX_ID_ANNOTATION]: id,
        [HANDLER_ANNOTATION]: req.handler.name,
      },
      userLabels: { ...config.labels },
      hostname: podHostname(config, host),
      dns: config.dns_config ?? undefined,
      network,
      ports: host
        ? []
        : config.port_mappings
            .filter((p) => p.host_port > 0 && p.container_port > 0)
            .map((p) => ({
              name: `${(p.protocol || 'TCP').toLowerCase()}-${p.container_port}`,
              hostPort: p.host_port,
              hostIp: p.host_ip || undefined,
            })),
      logDirectory: config.log_directory,
      cgroupParent,
      ipcSysctls: Object.fromEntries(Object.entries(config.linux?.sysctls ?? {}).filter(([k]) => isIpcSysctl(k))),
    };
    ctx.log.info('rkt app sandbox', { handler: req.handler.name, network: network.kind });
    const uuid = await s.pm.sandbox(opts, ctx.signal);
    undo.push('pod', async (signal) => {
      await s.pm.stop(uuid, true, signal);
      await s.pm.rm(uuid, signal);
    });
    await s.index.putSandbox({ version: 1, id, state: 'created', uuid, netns, handler: req.handler.name });
    ctx.log.info('pod sandbox running', { uuid });
  });
}

export async function stopPodSandbox(s: RktShared, ctx: CallContext, id: string): Promise<void> {
  const rec = await findSandbox(s, id, ctx.signal);
  // CRI: stopping an unknown sandbox succeeds (it may have been removed already).
  if (!rec) return;
  if (rec.uuid) {
    ctx.log.info('rkt stop', { uuid: rec.uuid });
    await s.pm.stop(rec.uuid, true, ctx.signal);
  }
  if (s.network) await s.network.tearDown(id, await metadataOf(s, rec.uuid, ctx.signal), ctx.signal);
}

export async function removePodSandbox(s: RktShared, ctx: CallContext, id: string): Promise<void> {
  const rec = await findSandbox(s, id, ctx.signal);
  const uuids = new Set<string>(rec?.uuid ? [rec.uuid] : []);
  for (const { id: sid, pod } of crimuxPods(await s.pm.list(ctx.signal))) if (sid === id) uuids.add(pod.name);
  const meta = await metadataOf(s, [...uuids][0], ctx.signal);
  for (const uuid of uuids) {
    ctx.log.info('rkt rm', { uuid });
    await s.pm.stop(uuid, true, ctx.signal);
    await s.pm.rm(uuid, ctx.signal).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw err;
    });
  }
  if (s.network) await s.network.tearDown(id, meta, ctx.signal);
  for (const c of await s.index.containers()) if (c.sandboxId === id) await s.index.deleteContainer(c.id);
  await s.index.deleteSandbox(id);
}

async function metadataOf(
  s: RktShared,
  uuid: string | undefined,
  signal: AbortSignal,
): Promise<cri.PodSandboxMetadata | null> {
  if (!uuid) return null;
  const pod = await s.pm.status(uuid, signal).catch(() => undefined);
  return pod ? sandboxMetadata(pod) : null;
}

export async function podSandboxStatus(
  s: RktShared,
  ctx: CallContext,
  id: string,
  verbose: boolean,
): Promise<SandboxStatusResult> {
  const rec = await findSandbox(s, id, ctx.signal);
  if (!rec?.uuid) throw new NotFoundError(`pod sandbox status ${id}: not found`);
  const pod = await s.pm.status(rec.uuid, ctx.signal).catch((err: unknown) => {
    throw err instanceof NotFoundError ? new NotFoundError(`pod sandbox status ${id}: not found`, { cause: err }) : err;
  });
  const host = !rec.netns && s.network !== undefined;
  const ips = podIps(pod, s.network ? await s.network.ips(id) : []);
  const facts = podStatusFacts(id, pod, rec.handler, ips, host);
  const containers: ContainerFacts[] = [];
  for (const app of pod.apps ?? []) {
    const cid = app.user_annotations?.[CONTAINER_ID_ANNOTATION];
    if (cid) containers.push(await appFactsOf(s, cid, id, app));
  }
  const info: Record<string, string> = {};
  if (verbose) {
    info.info = JSON.stringify({
      podManager: s.info.kind,
      uuid: rec.uuid,
      rktState: pod.state,
      netns: rec.netns ?? '',
      apps: (pod.app_names ?? []).map((a) => rktAppId(rec.uuid as string, a)),
    });
  }
  return { facts, info, containers };
}

export async function listPodSandboxes(s: RktShared, ctx: CallContext): Promise<SandboxFacts[]> {
  return crimuxPods(await s.pm.list(ctx.signal)).map(({ id, pod }) =>
    podFacts(id, pod, pod.user_annotations?.[HANDLER_ANNOTATION] ?? 'rkt'),
  );
}

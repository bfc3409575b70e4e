/**
 * RuntimeService handlers: each turns a request into router calls and shapes the reply. Validation of shared
 * fields, ownership and CRI semantics live in the router; logging, metrics and status codes in instrument.ts.
 */
import { nowNsString } from '../util/clock';
import type { RuntimeServiceHandlers } from './generated/runtime/v1/RuntimeService';
import type { Router } from '../router/router';
import { containerFilterSpec, sandboxFilterSpec } from '../router/filters';
import { InvalidArgumentError, ResourceExhaustedError, UnimplementedError } from '../errors';
import type { StreamingUrls } from '../streaming/types';
import { serverStream, unary, type RpcEnv } from './instrument';
import { pages } from './paging';
import { VERSION } from '../version';
import { metricDescriptors } from '../router/pod-metrics';

export const RUNTIME_NAME = 'crimux';
/** StatusResponse.features: neither is supported (see the README's feature table). */
const FEATURES = Object.freeze({ supplemental_groups_policy: false, user_namespaces_host_network: false });

export const RUNTIME_API_VERSION = 'v1';

/**
 * configInfo: the effective settings `crictl info` shows under "config" (verbose Status), shaped like containerd's
 * where tools read them — kubeadm's preflight compares `config.sandboxImage` with the pause image it expects.
 */
export function runtimeService(
  env: RpcEnv,
  router: Router,
  streaming: () => StreamingUrls | undefined,
  configInfo: () => Record<string, unknown> = () => ({}),
  cgroupDriver: () => 'cgroupfs' | 'systemd' = () => 'cgroupfs',
): RuntimeServiceHandlers {
  const { sandboxes, containers, lists, stats, status } = router;
  const streamUrls = (rpc: string): StreamingUrls => {
    const s = streaming();
    if (!s) throw new UnimplementedError(`${rpc}: the streaming server is not enabled in this build (TODO(#8))`);
    return s;
  };
  const streamOpts = (r: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }) => {
    if (!r.stdin && !r.stdout && !r.stderr) {
      throw new InvalidArgumentError('one of stdin, stdout or stderr must be set');
    }
    if (r.tty && r.stderr) throw new InvalidArgumentError('tty and stderr cannot both be true');
    return { tty: r.tty, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr };
  };

  return {
    Version: unary(env, 'Version', async () => ({
      version: '0.1.0',
      runtime_name: RUNTIME_NAME,
      runtime_version: VERSION,
      runtime_api_version: RUNTIME_API_VERSION,
    })),

    Status: unary(env, 'Status', async (req, ctx) => {
      const s = await status.status(ctx);
      const info: Record<string, string> = {};
      if (req.verbose) {
        info.config = JSON.stringify(configInfo());
        info.backends = JSON.stringify(s.health);
        info.routing = JSON.stringify(router.routingInfo());
      }
      // The parts are the memoised aggregate's own objects (and a constant): their encodings are kept.
      return { status: s.status, info, runtime_handlers: s.handlers, features: FEATURES };
    }),

    // The kubelet (≥ 1.28, KubeletCgroupDriverFromCRI) takes its cgroupDriver from here.
    RuntimeConfig: unary(env, 'RuntimeConfig', async () => ({
      linux: { cgroup_driver: cgroupDriver() === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' },
    })),

    UpdateRuntimeConfig: unary(env, 'UpdateRuntimeConfig', async (req, ctx) => {
      const podCidr = req.runtime_config?.network_config?.pod_cidr ?? '';
      ctx.log.info('runtime config update received', { podCidr });
      // An empty CIDR means "no change" (the kubelet sends what it has); the conflist's own subnet stays in force.
      if (podCidr) await router.updateRuntimeConfig(ctx, { podCidr });
      return {};
    }),

    RunPodSandbox: unary(env, 'RunPodSandbox', async (req, ctx) => ({
      pod_sandbox_id: await sandboxes.run(ctx, req.config, req.runtime_handler),
    })),
    StopPodSandbox: unary(env, 'StopPodSandbox', async (req, ctx) => {
      await sandboxes.stop(ctx, requireId('pod_sandbox_id', req.pod_sandbox_id));
      return {};
    }),
    RemovePodSandbox: unary(env, 'RemovePodSandbox', async (req, ctx) => {
      await sandboxes.remove(ctx, requireId('pod_sandbox_id', req.pod_sandbox_id));
      return {};
    }),
    PodSandboxStatus: unary(env, 'PodSandboxStatus', async (req, ctx) => {
      const r = await sandboxes.status(ctx, requireId('pod_sandbox_id', req.pod_sandbox_id), req.verbose);
      return {
        status: r.status,
        info: r.info,
        containers_statuses: r.containersStatuses,
        timestamp: nowNsString(),
      };
    }),
    ListPodSandbox: unary(env, 'ListPodSandbox', async (req, ctx) => ({
      items: await lists.sandboxes(ctx, sandboxFilterSpec(req.filter)),
    })),
    StreamPodSandboxes: serverStream(env, 'StreamPodSandboxes', async (req, ctx, write) => {
      for (const page of pages(await lists.sandboxes(ctx, sandboxFilterSpec(req.filter)))) {
        await write({ pod_sandboxes: page });
      }
    }),

    CreateContainer: unary(env, 'CreateContainer', async (req, ctx) => ({
      container_id: await containers.create(
        ctx,
        requireId('pod_sandbox_id', req.pod_sandbox_id),
        req.config,
        req.sandbox_config,
      ),
    })),
    StartContainer: unary(env, 'StartContainer', async (req, ctx) => {
      await containers.start(ctx, requireId('container_id', req.container_id));
      return {};
    }),
    StopContainer: unary(env, 'StopContainer', async (req, ctx) => {
      await containers.stop(ctx, requireId('container_id', req.container_id), Number(req.timeout));
      return {};
    }),
    RemoveContainer: unary(env, 'RemoveContainer', async (req, ctx) => {
      await containers.remove(ctx, requireId('container_id', req.container_id));
      return {};
    }),
    ContainerStatus: unary(env, 'ContainerStatus', async (req, ctx) => {
      const r = await containers.status(ctx, requireId('container_id', req.container_id), req.verbose);
      return { status: r.status, info: r.info };
    }),
    ListContainers: unary(env, 'ListContainers', async (req, ctx) => ({
      containers: await lists.containers(ctx, containerFilterSpec(req.filter)),
    })),
    StreamContainers: serverStream(env, 'StreamContainers', async (req, ctx, write) => {
      for (const page of pages(await lists.containers(ctx, containerFilterSpec(req.filter)))) {
        await write({ containers: page });
      }
    }),
    UpdateContainerResources: unary(env, 'UpdateContainerResources', async (req, ctx) => {
      await containers.updateResources(ctx, requireId('container_id', req.container_id), {
        linux: req.linux,
        windows: req.windows,
      } as never);
      return {};
    }),
    ReopenContainerLog: unary(env, 'ReopenContainerLog', async (req, ctx) => {
      await containers.reopenLog(ctx, requireId('container_id', req.container_id));
      return {};
    }),
    ExecSync: unary(env, 'ExecSync', async (req, ctx) => {
      const r = await containers.execSync(
        ctx,
        requireId('container_id', req.container_id),
        req.cmd,
        Number(req.timeout),
      );
      return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    }),
    Exec: unary(env, 'Exec', async (req) => {
      const target = containers.execTarget(requireId('container_id', req.container_id), req.cmd);
      const opts = streamOpts(req);
      return { url: streamUrls('Exec').exec({ ...target, cmd: req.cmd, opts }) };
    }),
    Attach: unary(env, 'Attach', async (req) => {
      const target = containers.streamTarget(requireId('container_id', req.container_id));
      const opts = streamOpts(req);
      return { url: streamUrls('Attach').attach({ ...target, opts }) };
    }),
    PortForward: unary(env, 'PortForward', async (req) => {
      const target = sandboxes.streamTarget(requireId('pod_sandbox_id', req.pod_sandbox_id));
      for (const p of req.port)
        if (p <= 0 || p > 65535) throw new InvalidArgumentError(`port forward: invalid port ${p}`);
      return { url: streamUrls('PortForward').portForward({ ...target, ports: req.port }) };
    }),

    ContainerStats: unary(env, 'ContainerStats', async (req, ctx) => ({
      stats: await stats.container(ctx, requireId('container_id', req.container_id)),
    })),
    ListContainerStats: unary(env, 'ListContainerStats', async (req, ctx) => ({
      stats: await stats.listContainers(ctx, statsFilter(req.filter)),
    })),
    StreamContainerStats: serverStream(env, 'StreamContainerStats', async (req, ctx, write) => {
      for (const page of pages(await stats.listContainers(ctx, statsFilter(req.filter)))) {
        await write({ container_stats: page });
      }
    }),
    PodSandboxStats: unary(env, 'PodSandboxStats', async (req, ctx) => ({
      stats: await stats.podSandbox(ctx, requireId('pod_sandbox_id', req.pod_sandbox_id)),
    })),
    ListPodSandboxStats: unary(env, 'ListPodSandboxStats', async (req, ctx) => ({
      stats: await stats.listPodSandboxes(ctx, statsFilter(req.filter)),
    })),
    StreamPodSandboxStats: serverStream(env, 'StreamPodSandboxStats', async (req, ctx, write) => {
      for (const page of pages(await stats.listPodSandboxes(ctx, statsFilter(req.filter)))) {
        await write({ pod_sandbox_stats: page });
      }
    }),

    CheckpointContainer: unary(env, 'CheckpointContainer', async (req, ctx) => {
      await containers.checkpoint(ctx, requireId('container_id', req.container_id), req);
      return {};
    }),
    GetContainerEvents: serverStream(env, 'GetContainerEvents', async (_req, ctx, write) => {
      const sub = router.subscribeEvents();
      const onAbort = (): void => sub.close();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        for (let ev = await sub.next(); ev; ev = await sub.next()) await write(ev);
        if (sub.dropped) throw new ResourceExhaustedError(`GetContainerEvents: ${sub.dropped}; relist and resubscribe`);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
        sub.close();
      }
    }),
    ListMetricDescriptors: unary(env, 'ListMetricDescriptors', async () => {
      stats.requireAny('ListMetricDescriptors');
      return { descriptors: metricDescriptors() };
    }),
    ListPodSandboxMetrics: unary(env, 'ListPodSandboxMetrics', async (_req, ctx) => ({
      pod_metrics: await stats.podMetrics(ctx),
    })),
    StreamPodSandboxMetrics: serverStream(env, 'StreamPodSandboxMetrics', async (_req, ctx, write) => {
      for (const page of pages(await stats.podMetrics(ctx))) await write({ pod_sandbox_metrics: page });
    }),
    UpdatePodSandboxResources: unary(env, 'UpdatePodSandboxResources', async (req, ctx) => {
      await sandboxes.updateResources(ctx, requireId('pod_sandbox_id', req.pod_sandbox_id), {
        overhead: req.overhead,
        resources: req.resources,
      });
      return {};
    }),
  };
}

function requireId(field: string, id: string): string {
  if (!id) throw new InvalidArgumentError(`${field} must not be empty`);
  return id;
}

function statsFilter(f: { id: string; pod_sandbox_id?: string; label_selector: Record<string, string> } | null) {
  if (!f) return {};
  return {
    ...(f.id ? { id: f.id } : {}),
    ...(f.pod_sandbox_id ? { podSandboxId: f.pod_sandbox_id } : {}),
    ...(Object.keys(f.label_selector).length ? { labelSelector: f.label_selector } : {}),
  };
}

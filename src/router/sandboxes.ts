/**
 * Pod sandbox lifecycle through the router: route new pods (select → intent → backend → ready), and send every
 * later call to the backend the record names.
 *
 * CRI rules honoured here, once for all backends:
 *  - StopPodSandbox and RemovePodSandbox of an unknown ID succeed (the kubelet retries them after restarts).
 *  - PodSandboxStatus of an unknown ID is NotFound.
 *  - RemovePodSandbox removes the pod's containers too; their records go with the sandbox's.
 */
import type { Backend, CallContext } from '../backends/backend';
import { errorMessage } from '../errors';
import { failpoint } from '../failpoints';
import type * as cri from '../cri/types';
import type { RouterCore } from './core';
import { newId } from './ids';
import { select, type Selection } from './select';
import { podFacts } from './table';
import { UndoStack } from '../util/undo';
import { nowNsString } from '../util/clock';
import { withPodDefaults } from './pod-defaults';
import { checkResources, validateSandboxConfig } from './validate';
import { containerStatus } from './shape-container';
import { sandboxStatus } from './shape-sandbox';

/** PodSandboxStatus as the router answers it: the backend's pod status and its containers' statuses, shaped. */
export interface SandboxStatusReply {
  readonly status: cri.PodSandboxStatus;
  readonly info: Record<string, string>;
  readonly containersStatuses: cri.ContainerStatus[];
}

export class SandboxRouter {
  constructor(private readonly core: RouterCore) {}

  /** The routing decision for a pod, without creating anything (also used by `crimux route --explain`). */
  explain(config: cri.PodSandboxConfig, runtimeHandler: string): Selection {
    const cfg = validateSandboxConfig(config, this.core.settings.validation);
    return select(podFacts(cfg, runtimeHandler), this.core.table);
  }

  async run(ctx: CallContext, config: cri.PodSandboxConfig | null, runtimeHandler: string): Promise<string> {
    const core = this.core;
    const cfg = withPodDefaults(validateSandboxConfig(config, core.settings.validation));
    const md = cfg.metadata as cri.PodSandboxMetadata;
    const key = `sandbox/${md.namespace}/${md.name}/${md.uid}/${md.attempt}`;
    return core.pending.once(key, ctx.signal, ctx.log, () => this.create(ctx, cfg, md, runtimeHandler));
  }

  private async create(
    ctx: CallContext,
    cfg: cri.PodSandboxConfig,
    md: cri.PodSandboxMetadata,
    runtimeHandler: string,
  ): Promise<string> {
    const core = this.core;
    const sel = select(podFacts(cfg, runtimeHandler), core.table);
    const backend = core.backend(sel.backend);
    const handler = core.handlers.get(sel.handler);
    if (!handler) throw new Error(`route pod sandbox: handler ${sel.handler} has no spec`); // table and specs are built together
    const id = newId();
    const log = ctx.log.child({
      pod: `${md.namespace}/${md.name}`,
      sandbox: id,
      backend: backend.name,
      handler: sel.handler,
    });
    core.store.insertSandbox({
      id,
      backend: backend.name,
      handler: sel.handler,
      reason: sel.reason,
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      attempt: md.attempt,
      labels: cfg.labels,
      annotations: cfg.annotations,
      createdAt: nowNsString(),
    });
    core.metrics.routingDecisions.inc({ backend: backend.name, handler: sel.handler, reason: sel.reason });
    log.info('routed pod sandbox', { reason: sel.reason });

    // The backend create runs on its own deadline so a slow boot can finish for the kubelet's retry.
    const signal = AbortSignal.any([core.shutdown, AbortSignal.timeout(core.settings.createTimeoutMs)]);
    return core.lock.run(id, async () => {
      const undo = new UndoStack(log, core.settings.undoTimeoutMs);
      undo.push('forget sandbox record', async () => core.store.deleteSandbox(id));
      undo.push('remove sandbox from backend', (s) => backend.removePodSandbox({ signal: s, log }, id));
      try {
        log.info('creating pod sandbox');
        failpoint('sandbox.run.before-backend');
        await backend.runPodSandbox({ signal, log }, { id, handler, config: cfg });
        failpoint('sandbox.run.after-backend');
        core.store.updateSandbox(id, { phase: 'ready' });
        log.info('created pod sandbox');
        core.events.emit('CONTAINER_CREATED_EVENT', id, id);
        core.events.emit('CONTAINER_STARTED_EVENT', id, id);
        return id;
      } catch (err) {
        log.warn('create pod sandbox failed; undoing', { error: errorMessage(err) });
        await undo.run();
        throw err;
      }
    });
  }

  async stop(ctx: CallContext, idOrPrefix: string): Promise<void> {
    const rec = this.core.findSandbox(idOrPrefix);
    if (!rec) return; // CRI: stopping an unknown sandbox succeeds.
    const backend = this.core.backend(rec.backend);
    const c = this.core.ctxFor(ctx, { sandbox: rec.id, backend: rec.backend });
    await this.core.lock.run(rec.id, async () => {
      c.log.info('stopping pod sandbox');
      failpoint('sandbox.stop.before-backend');
      await backend.stopPodSandbox(c, rec.id);
      failpoint('sandbox.stop.after-backend');
      c.log.info('stopped pod sandbox');
      this.core.events.emit('CONTAINER_STOPPED_EVENT', rec.id, rec.id);
    });
  }

  async remove(ctx: CallContext, idOrPrefix: string): Promise<void> {
    const core = this.core;
    const rec = core.findSandbox(idOrPrefix);
    if (!rec) return; // CRI: removing an unknown sandbox succeeds.
    const backend = core.backend(rec.backend);
    const c = core.ctxFor(ctx, { sandbox: rec.id, backend: rec.backend });
    await core.lock.run(rec.id, async () => {
      if (!core.store.getSandbox(rec.id)) return; // removed while we waited for the lock
      core.store.updateSandbox(rec.id, { phase: 'removing' });
      c.log.info('removing pod sandbox');
      failpoint('sandbox.remove.before-backend');
      await backend.removePodSandbox(c, rec.id);
      failpoint('sandbox.remove.after-backend');
      for (const ctr of core.store.listContainers({ sandboxId: rec.id })) {
        core.store.deleteContainer(ctr.id);
        core.events.emit('CONTAINER_DELETED_EVENT', ctr.id, rec.id);
      }
      core.store.deleteSandbox(rec.id);
      c.log.info('removed pod sandbox');
      core.events.emit('CONTAINER_DELETED_EVENT', rec.id, rec.id);
    });
  }

  /** The backend and full ID behind a PortForward request; the session runs later on the streaming server. */
  streamTarget(idOrPrefix: string): { backend: Backend; sandboxId: string } {
    const rec = this.core.mustFindSandbox(idOrPrefix);
    return { backend: this.core.backend(rec.backend), sandboxId: rec.id };
  }

  /** UpdatePodSandboxResources, serialised with the pod's lifecycle. */
  async updateResources(
    ctx: CallContext,
    idOrPrefix: string,
    update: { overhead: cri.LinuxContainerResources | null; resources: cri.LinuxContainerResources | null },
  ): Promise<void> {
    const rec = this.core.mustFindSandbox(idOrPrefix);
    checkResources(update.resources, 'resources');
    checkResources(update.overhead, 'overhead');
    const c = this.core.ctxFor(ctx, { sandbox: rec.id, backend: rec.backend });
    await this.core.lock.run(rec.id, async () => {
      try {
        await this.core.backend(rec.backend).updatePodSandboxResources(c, rec.id, update);
      } finally {
        this.core.views.changed(rec.backend); // kept statuses may report the old resources
      }
    });
  }

  async status(ctx: CallContext, idOrPrefix: string, verbose: boolean): Promise<SandboxStatusReply> {
    const rec = this.core.mustFindSandbox(idOrPrefix);
    const backend = this.core.backend(rec.backend);
    const fetch = async (c: CallContext, v: boolean): Promise<SandboxStatusReply> => {
      const res = await backend.podSandboxStatus(this.core.ctxFor(c, { sandbox: rec.id }), rec.id, v);
      return {
        status: { ...sandboxStatus(res.facts), runtime_handler: rec.handler },
        info: res.info,
        containersStatuses: (res.containers ?? []).map(containerStatus),
      };
    };
    // Non-verbose statuses (the kubelet's) are kept, shaped, until the backend's next change notice (./views.ts).
    if (!verbose) {
      const kept = await this.core.views.status(rec.backend, `s/${rec.id}`, ctx, (c) => fetch(c, false));
      return { ...kept, info: {} };
    }
    const res = await fetch(ctx, true);
    const routing = { backend: rec.backend, handler: rec.handler, reason: rec.reason, recordPhase: rec.phase };
    return { ...res, info: { ...res.info, crimux: JSON.stringify(routing) } };
  }
}

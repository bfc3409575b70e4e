/**
 * Container lifecycle through the router. A container belongs to the backend of its sandbox; its record is
 * written before the backend call (intent) and removed after the backend's remove.
 *
 * CRI rules honoured here: StopContainer and RemoveContainer of an unknown ID succeed; ContainerStatus of one
 * is NotFound; creating a container in an unknown sandbox is NotFound.
 */
import type { Backend, BackendCapabilities, CallContext, ExecSyncResult } from '../backends/backend';
import { InvalidArgumentError, NotFoundError, errorMessage } from '../errors';
import { failpoint } from '../failpoints';
import type * as cri from '../cri/types';
import type { RouterCore } from './core';
import type { ContainerRecord, SandboxRecord } from '../state/types';
import { newId } from './ids';
import { nowNsString } from '../util/clock';
import { UndoStack } from '../util/undo';
import { withPodDefaults } from './pod-defaults';
import { checkResources, containerLogPath, validateContainerConfig } from './validate';
import { explainMissingImage } from './images';
import { containerStatus } from './shape-container';
import { capabilityAsks, missingCapability } from './select';

/** ContainerStatus as the router answers it: shaped from the backend's facts, plus verbose diagnostics. */
export interface ContainerStatusReply {
  readonly status: cri.ContainerStatus;
  readonly info: Record<string, string>;
}

/**
 * A container's own host namespaces, privilege and user namespace, held to its backend's capabilities by the rule
 * select() holds its pod to, and its PID namespace target (only Docker joins one), so that no backend re-checks
 * them (a VM has no host namespaces; rkt's stage1 gives no privilege; no backend maps user namespaces yet).
 */
export function checkContainerCapabilities(cfg: cri.ContainerConfig, caps: BackendCapabilities): void {
  const sc = cfg.linux?.security_context;
  const missing = missingCapability(
    { ...capabilityAsks(sc), targetPid: sc?.namespace_options?.pid === 'TARGET' },
    caps,
  );
  if (missing) {
    throw new InvalidArgumentError(`create container: the sandbox's backend cannot honour config.${missing}`, {
      context: { field: `config.${missing}` },
    });
  }
}

/**
 * pid=TARGET joins another container's PID namespace (an ephemeral debug container's target): only a container of
 * the same pod may be that target, or one pod's container could see and signal another pod's processes.
 */
export function checkPidTarget(
  cfg: cri.ContainerConfig,
  sandboxId: string,
  find: (idOrPrefix: string) => ContainerRecord | undefined,
): void {
  const ns = cfg.linux?.security_context?.namespace_options;
  if (ns?.pid !== 'TARGET') return;
  const target = ns.target_id ? find(ns.target_id) : undefined;
  if (!target) throw new NotFoundError(`create container: PID namespace target "${ns.target_id}" not found`);
  if (target.sandboxId !== sandboxId) {
    throw new InvalidArgumentError(
      `create container: PID namespace target ${target.id} is a container of another pod sandbox`,
      { context: { field: 'config.linux.security_context.namespace_options.target_id' } },
    );
  }
}

export class ContainerRouter {
  constructor(private readonly core: RouterCore) {}

  async create(
    ctx: CallContext,
    sandboxIdOrPrefix: string,
    config: cri.ContainerConfig | null,
    sandboxConfig: cri.PodSandboxConfig | null,
  ): Promise<string> {
    const core = this.core;
    const sandbox = core.mustFindSandbox(sandboxIdOrPrefix);
    const cfg = validateContainerConfig(config, sandboxConfig, core.settings.validation);
    checkContainerCapabilities(cfg, core.backend(sandbox.backend).capabilities);
    checkPidTarget(cfg, sandbox.id, (id) => core.findContainer(id));
    const md = cfg.metadata as cri.ContainerMetadata;
    const key = `container/${sandbox.id}/${md.name}/${md.attempt}`;
    return core.pending.once(key, ctx.signal, ctx.log, () => this.createOnce(ctx, sandbox, cfg, md, sandboxConfig));
  }

  private createOnce(
    ctx: CallContext,
    sandbox: SandboxRecord,
    cfg: cri.ContainerConfig,
    md: cri.ContainerMetadata,
    sandboxConfig: cri.PodSandboxConfig | null,
  ): Promise<string> {
    const core = this.core;
    const backend = core.backend(sandbox.backend);
    const id = newId();
    const log = ctx.log.child({ sandbox: sandbox.id, container: id, name: md.name, backend: backend.name });
    const signal = AbortSignal.any([core.shutdown, AbortSignal.timeout(core.settings.createTimeoutMs)]);
    return core.lock.run(sandbox.id, async () => {
      core.store.insertContainer({
        id,
        sandboxId: sandbox.id,
        backend: backend.name,
        name: md.name,
        attempt: md.attempt,
        image: cfg.image?.image ?? '',
        labels: cfg.labels,
        annotations: cfg.annotations,
        createdAt: nowNsString(),
      });
      const undo = new UndoStack(log, core.settings.undoTimeoutMs);
      undo.push('forget container record', async () => core.store.deleteContainer(id));
      undo.push('remove container from backend', (s) => backend.removeContainer({ signal: s, log }, id));
      try {
        log.info('creating container');
        failpoint('container.create.before-backend');
        const podConfig = withPodDefaults(sandboxConfig ?? emptySandboxConfig(sandbox));
        await backend.createContainer(
          { signal, log },
          {
            id,
            sandboxId: sandbox.id,
            config: cfg,
            sandboxConfig: podConfig,
            logPath: containerLogPath(cfg, podConfig),
          },
        );
        failpoint('container.create.after-backend');
        core.store.updateContainer(id, { phase: 'ready' });
        log.info('created container');
        core.events.emit('CONTAINER_CREATED_EVENT', id, sandbox.id);
        return id;
      } catch (err) {
        log.warn('create container failed; undoing', { error: errorMessage(err) });
        await undo.run();
        throw await explainMissingImage(core, { signal, log }, backend, cfg.image?.image ?? '', err);
      }
    });
  }

  async start(ctx: CallContext, idOrPrefix: string): Promise<void> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    const c = this.core.ctxFor(ctx, { container: rec.id, sandbox: rec.sandboxId, backend: rec.backend });
    await this.core.lock.run(rec.sandboxId, async () => {
      c.log.info('starting container');
      failpoint('container.start.before-backend');
      await this.core.backend(rec.backend).startContainer(c, rec.id);
      failpoint('container.start.after-backend');
      c.log.info('started container');
      this.core.events.emit('CONTAINER_STARTED_EVENT', rec.id, rec.sandboxId);
    });
  }

  async stop(ctx: CallContext, idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    const rec = this.core.findContainer(idOrPrefix);
    if (!rec) return; // CRI: stopping an unknown container succeeds.
    const c = this.core.ctxFor(ctx, { container: rec.id, sandbox: rec.sandboxId, backend: rec.backend });
    await this.core.lock.run(rec.sandboxId, async () => {
      c.log.info('stopping container', { timeout: timeoutSeconds });
      failpoint('container.stop.before-backend');
      await this.core.backend(rec.backend).stopContainer(c, rec.id, Math.max(0, timeoutSeconds));
      failpoint('container.stop.after-backend');
      c.log.info('stopped container');
      this.core.events.emit('CONTAINER_STOPPED_EVENT', rec.id, rec.sandboxId);
    });
  }

  async remove(ctx: CallContext, idOrPrefix: string): Promise<void> {
    const core = this.core;
    const rec = core.findContainer(idOrPrefix);
    if (!rec) return; // CRI: removing an unknown container succeeds.
    const c = core.ctxFor(ctx, { container: rec.id, sandbox: rec.sandboxId, backend: rec.backend });
    await core.lock.run(rec.sandboxId, async () => {
      if (!core.store.getContainer(rec.id)) return;
      core.store.updateContainer(rec.id, { phase: 'removing' });
      c.log.info('removing container');
      failpoint('container.remove.before-backend');
      await core.backend(rec.backend).removeContainer(c, rec.id);
      failpoint('container.remove.after-backend');
      core.store.deleteContainer(rec.id);
      c.log.info('removed container');
      core.events.emit('CONTAINER_DELETED_EVENT', rec.id, rec.sandboxId);
    });
  }

  async status(ctx: CallContext, idOrPrefix: string, verbose: boolean): Promise<ContainerStatusReply> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    const backend = this.core.backend(rec.backend);
    const fetch = async (c: CallContext, v: boolean): Promise<ContainerStatusReply> => {
      const res = await backend.containerStatus(this.core.ctxFor(c, { container: rec.id }), rec.id, v);
      return { status: containerStatus(res.facts), info: res.info };
    };
    // Non-verbose statuses (the kubelet's) are kept, shaped, until the backend's next change notice (./views.ts).
    if (!verbose) {
      const kept = await this.core.views.status(rec.backend, `c/${rec.id}`, ctx, (c) => fetch(c, false));
      return { status: kept.status, info: {} };
    }
    const res = await fetch(ctx, true);
    const owner = { backend: rec.backend, sandbox: rec.sandboxId, recordPhase: rec.phase };
    return { status: res.status, info: { ...res.info, crimux: JSON.stringify(owner) } };
  }

  async updateResources(ctx: CallContext, idOrPrefix: string, resources: cri.ContainerResources): Promise<void> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    checkResources(resources.linux, 'linux');
    const c = this.core.ctxFor(ctx, { container: rec.id, backend: rec.backend });
    await this.core.lock.run(rec.sandboxId, async () => {
      try {
        await this.core.backend(rec.backend).updateContainerResources(c, rec.id, resources);
      } finally {
        this.core.views.changed(rec.backend); // the status reports resources; even a failed update may apply part
      }
    });
  }

  async reopenLog(ctx: CallContext, idOrPrefix: string): Promise<void> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    await this.core.backend(rec.backend).reopenContainerLog(this.core.ctxFor(ctx, { container: rec.id }), rec.id);
  }

  /**
   * The backend and full ID behind a streaming request (Exec, Attach). Only the URL is made now; the session runs
   * later on the streaming server, not under the pod's lock (a shell may stay open for hours).
   */
  streamTarget(idOrPrefix: string): { backend: Backend; containerId: string } {
    const rec = this.core.mustFindContainer(idOrPrefix);
    return { backend: this.core.backend(rec.backend), containerId: rec.id };
  }

  /** Exec's target: the container, and a command every backend can run (checked here, once). */
  execTarget(idOrPrefix: string, cmd: readonly string[]): { backend: Backend; containerId: string } {
    const target = this.streamTarget(idOrPrefix);
    checkCmd('exec', cmd);
    return target;
  }

  /** CheckpointContainer, serialised with the pod's lifecycle like every other change to a container. */
  async checkpoint(ctx: CallContext, idOrPrefix: string, req: cri.CheckpointContainerRequest): Promise<void> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    const c = this.core.ctxFor(ctx, { container: rec.id, backend: rec.backend });
    await this.core.lock.run(rec.sandboxId, () =>
      this.core.backend(rec.backend).checkpointContainer(c, { ...req, container_id: rec.id }),
    );
  }

  /** Not serialised with the pod's lifecycle: probes run ExecSync often and may take long. */
  async execSync(ctx: CallContext, idOrPrefix: string, cmd: string[], timeoutSeconds: number): Promise<ExecSyncResult> {
    const rec = this.core.mustFindContainer(idOrPrefix);
    checkCmd('exec sync', cmd);
    return this.core
      .backend(rec.backend)
      .execSync(this.core.ctxFor(ctx, { container: rec.id }), rec.id, cmd, Math.max(0, timeoutSeconds));
  }
}

/** When a client omits sandbox_config (crictl may), backends still get the pod's identity from the record. */
function emptySandboxConfig(rec: {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
}): cri.PodSandboxConfig {
  return {
    metadata: { name: rec.name, namespace: rec.namespace, uid: rec.uid, attempt: rec.attempt },
    hostname: '',
    log_directory: '',
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: null,
    windows: null,
  } as unknown as cri.PodSandboxConfig;
}

/** A command is an argv whose first word names the program: empty, or an empty program name, is the request's fault. */
function checkCmd(what: string, cmd: readonly string[]): void {
  if (cmd.length === 0 || cmd[0] === '') throw new InvalidArgumentError(`${what}: cmd must not be empty`);
}

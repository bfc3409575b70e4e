/**
 * Containers of docker sandboxes. CRI semantics honoured here: CreateContainer is safe to repeat for the same ID;
 * StopContainer and RemoveContainer of an unknown ID succeed (the kubelet retries them after crashes); status of
 * an unknown ID is NotFound; the CRI log is written by a log copier started with the container.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { CallContext, ContainerFacts, ContainerStatusResult, CreateContainerRequest } from '../backend';
import type * as cri from '../../cri/types';
import {
  AlreadyExistsError,
  errorMessage,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../../errors';
import type { DockerShared } from './context';
import { containerCreateBody, seccompProfilePath } from './convert-container';
import { toDockerResources } from './convert-resources';
import { toContainerFacts, toListFacts } from './convert-status';
import { dockerStatusOf } from './engine-http';
import { containerIdentity } from './identity';
import type { ContainerInspect, CreateContainerBody } from './engine-types';
import { containerName, selector } from './naming';
import { readContainer } from './records';

/**
 * How long StopContainer and the status of an exited container wait for the log copier to drain, so logs are
 * complete when the kubelet reads them.
 */
const DRAIN_WAIT_MS = 5000;

export class ContainerOps {
  constructor(private readonly s: DockerShared) {}

  async create(ctx: CallContext, req: CreateContainerRequest): Promise<void> {
    const md = req.config.metadata;
    const pod = req.sandboxConfig.metadata;
    if (!md?.name || !pod) throw new InvalidArgumentError(`create container ${req.id}: metadata name is required`);
    const pause = await this.s.lookup.inspect('sandbox', req.sandboxId, ctx.signal);
    if (!pause) throw new NotFoundError(`create container ${req.id}: sandbox ${req.sandboxId} not found in docker`);
    if (!pause.State.Running) {
      throw new FailedPreconditionError(`create container ${req.id}: sandbox ${req.sandboxId} is not ready`);
    }
    await this.removeLeftovers(ctx, req.id);
    const spec = req.config.image?.image ?? '';
    if (!spec) throw new InvalidArgumentError(`create container ${req.id}: image is required`);
    // The kubelet names the image by ID and says what the user wrote in user_specified_image (a tag, usually).
    const names = [spec, req.config.image?.user_specified_image ?? ''];
    const { inspect: img, imageRef } = await this.s.transfer.resolve(ctx, spec, names);
    // Resolved here, not by Docker at start: labels are fixed at create, and ContainerStatus.user must follow the
    // rule the other backends follow (Docker resolves the process's own user and groups the same way).
    const user = await containerIdentity(ctx, this.s.layers, img.Id, req.config);
    const logPath = req.logPath;
    const { body, oomClamped } = containerCreateBody({
      id: req.id,
      sandboxId: req.sandboxId,
      pauseId: pause.Id,
      pidTargetId: await this.pidTarget(ctx, req.config),
      config: req.config,
      sandboxConfig: req.sandboxConfig,
      imageId: img.Id,
      imageRef,
      createdAt: this.s.host.clock.nowNs().toString(),
      logPath,
      dockerRuntime: pause.HostConfig.Runtime ?? '',
      logConfig: {
        Type: this.s.docker.logDriver,
        Config: { 'max-size': `${this.s.docker.logMaxSizeMb}m`, 'max-file': String(this.s.docker.logMaxFiles) },
      },
      seccompProfile: await readSeccomp(req.config),
      oomScoreAdjFloor: this.s.oomScoreAdjFloor,
      user,
    });
    if (oomClamped) {
      ctx.log.info('oom_score_adj clamped to crimux own value: runc cannot lower it here', {
        requested: req.config.linux?.resources?.oom_score_adj,
        applied: body.HostConfig.OomScoreAdj,
      });
    }
    const name = containerName(md, pod);
    ctx.log.info('create docker container', { name, image: img.Id });
    let dockerId: string;
    try {
      const askedAll = (req.config.linux?.security_context?.capabilities?.add_capabilities ?? []).some(
        (c) => c.toUpperCase() === 'ALL',
      );
      dockerId = await createDroppingUnknownCaps(
        (b) => this.s.engine.createContainer(name, b, ctx.signal),
        body,
        askedAll,
      );
    } catch (err) {
      if (dockerStatusOf(err) === 409) {
        throw new AlreadyExistsError(`create container ${req.id}: docker name ${name} is taken by another attempt`, {
          cause: err,
        });
      }
      throw err;
    }
    this.s.lookup.remember('container', req.id, dockerId);
    ctx.log.info('created docker container', { name, dockerId });
  }

  private async pidTarget(ctx: CallContext, config: cri.ContainerConfig): Promise<string | undefined> {
    const ns = config.linux?.security_context?.namespace_options;
    if (ns?.pid !== 'TARGET') return undefined;
    const target = await this.s.lookup.dockerId('container', ns.target_id, ctx.signal);
    if (!target) throw new NotFoundError(`create container: PID namespace target ${ns.target_id} not found`);
    return target;
  }

  private async removeLeftovers(ctx: CallContext, id: string): Promise<void> {
    const old = await this.s.lookup.dockerId('container', id, ctx.signal);
    if (!old) return;
    ctx.log.warn('removing leftovers of an earlier attempt of this container', { dockerId: old });
    await this.remove(ctx, id);
  }

  async start(ctx: CallContext, id: string): Promise<void> {
    const c = await this.s.lookup.mustInspect('container', id, ctx.signal);
    const rec = readContainer(c.Config.Labels);
    // The log file exists from the start, as the kubelet (and `crictl logs`) expect even before any output.
    if (rec?.logPath) {
      await fs.mkdir(path.dirname(rec.logPath), { recursive: true });
      await fs.appendFile(rec.logPath, '');
    }
    ctx.log.info('start container', { dockerId: c.Id });
    await this.s.engine.startContainer(c.Id, ctx.signal);
    await this.follow(c, true);
    ctx.log.info('started container', { dockerId: c.Id });
  }

  /** Starts (or resumes) copying a container's output into its CRI log. */
  async follow(c: ContainerInspect, running: boolean): Promise<void> {
    const rec = readContainer(c.Config.Labels);
    if (!rec?.logPath) return;
    await this.s.copiers.ensure({ id: rec.id, dockerId: c.Id, logPath: rec.logPath, tty: c.Config.Tty }, running);
  }

  async stop(ctx: CallContext, id: string, timeoutSeconds: number): Promise<void> {
    const dockerId = await this.s.lookup.dockerId('container', id, ctx.signal);
    if (!dockerId) return; // CRI: stopping an unknown container succeeds
    ctx.log.info('stop container', { dockerId, timeoutSeconds });
    try {
      await this.s.engine.stopContainer(dockerId, timeoutSeconds, ctx.signal);
    } catch (err) {
      if (err instanceof NotFoundError) return;
      throw err;
    }
    await this.s.copiers.drained(id, AbortSignal.any([ctx.signal, AbortSignal.timeout(DRAIN_WAIT_MS)]));
    ctx.log.info('stopped container', { dockerId });
  }

  async remove(ctx: CallContext, id: string): Promise<void> {
    const dockerId = await this.s.lookup.dockerId('container', id, ctx.signal);
    if (dockerId) {
      ctx.log.info('remove container', { dockerId });
      await this.s.engine.removeContainer(dockerId, ctx.signal).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
    }
    // Only once Docker has let go: a failed remove (dockerd down) keeps copying until the kubelet retries.
    await this.s.copiers.forget(id);
    this.s.lookup.forget('container', id);
    if (!dockerId) return; // CRI: removing an unknown container succeeds
    ctx.log.info('removed container', { dockerId });
  }

  async status(ctx: CallContext, id: string, verbose: boolean): Promise<ContainerStatusResult> {
    const c = await this.s.lookup.mustInspect('container', id, ctx.signal);
    const facts = toContainerFacts(c);
    if (!facts) throw new NotFoundError(`container status ${id}: docker container ${c.Id} is not a crimux container`);
    if ((facts.phase === 'exited' || facts.startError) && this.s.copiers.has(id)) {
      // The kubelet (and critest) read the CRI log as soon as a container is reported exited: let the copier
      // drain Docker's last output into it first, bounded so a stuck copy cannot hold the status.
      await this.s.copiers.drained(id, AbortSignal.any([ctx.signal, AbortSignal.timeout(DRAIN_WAIT_MS)]));
    }
    const info: Record<string, string> = {};
    if (verbose) {
      info.info = JSON.stringify({
        dockerId: c.Id,
        name: c.Name.replace(/^\//, ''),
        pid: c.State.Pid,
        runtime: c.HostConfig.Runtime ?? '',
        networkMode: c.HostConfig.NetworkMode ?? '',
      });
    }
    return { facts, info };
  }

  async list(ctx: CallContext): Promise<ContainerFacts[]> {
    const all = await this.s.engine.listContainers(selector('container'), ctx.signal);
    const out: ContainerFacts[] = [];
    for (const summary of all) {
      let entry = toListFacts(summary);
      if (!entry) continue;
      // `docker ps` says "created" also for a failed start; only inspect tells them apart (rare, so cheap).
      if (entry.phase === 'created') {
        const c = await this.s.engine.inspectContainer(summary.Id, { signal: ctx.signal }).catch(() => undefined);
        const full = c ? toContainerFacts(c) : undefined;
        if (full) entry = { ...entry, phase: full.phase, ...(full.startError ? { startError: full.startError } : {}) };
      }
      out.push(entry);
    }
    return out;
  }

  async updateResources(ctx: CallContext, id: string, resources: cri.ContainerResources): Promise<void> {
    const dockerId = await this.s.lookup.dockerId('container', id, ctx.signal);
    if (!dockerId) throw new NotFoundError(`update container ${id}: not found in docker`);
    const update = toDockerResources(resources.linux);
    ctx.log.info('update container resources', { dockerId, ...update });
    await this.s.engine.updateContainer(dockerId, update, ctx.signal);
  }

  async reopenLog(ctx: CallContext, id: string): Promise<void> {
    const c = await this.s.lookup.mustInspect('container', id, ctx.signal);
    if (!c.State.Running) throw new FailedPreconditionError(`reopen log of container ${id}: container is not running`);
    if (await this.s.copiers.reopen(id)) return;
    // No copier (it stopped after a hiccup): starting one opens the file afresh, resuming where copying stood.
    await this.follow(c, true);
  }
}

/**
 * Docker checks CapAdd against the capabilities its own build knows (Engine 20.10 predates CAP_PERFMON, CAP_BPF and
 * CAP_CHECKPOINT_RESTORE). "ALL", expanded to the node's set (convert-container.ts), may name one it does not: drop
 * exactly that one and ask again, which is all "ALL" can mean through that engine. A capability the request named
 * itself stays an error.
 */
async function createDroppingUnknownCaps(
  create: (body: CreateContainerBody) => Promise<string>,
  body: CreateContainerBody,
  askedAll: boolean,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await create(body);
    } catch (err) {
      const unknown = /unknown capability: "?([A-Z_]+)"?/.exec(errorMessage(err))?.[1];
      const caps = body.HostConfig.CapAdd ?? [];
      if (!askedAll || !unknown || !caps.includes(unknown) || attempt >= 8) throw err;
      body = { ...body, HostConfig: { ...body.HostConfig, CapAdd: caps.filter((c) => c !== unknown) } };
    }
  }
}

async function readSeccomp(config: cri.ContainerConfig): Promise<string | undefined> {
  const file = seccompProfilePath(config.linux?.security_context);
  if (file === undefined) return undefined;
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`create container: read seccomp profile ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Pod sandboxes as pause containers in Docker. Creation is transactional: every step registers its undo, and a
 * failure runs the undos in reverse (on their own deadline, since the caller's may be what expired).
 *
 * CRI semantics honoured here: RunPodSandbox is safe to repeat for the same ID (leftovers are removed first);
 * StopPodSandbox stops every container, tears the network down and is idempotent; RemovePodSandbox removes every
 * container first, and an unknown ID is success; PodSandboxStatus of an unknown ID is NotFound.
 */
import type { CallContext, RunSandboxRequest, SandboxFacts, SandboxStatusResult } from '../backend';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, errorMessage } from '../../errors';
import type { DockerShared } from './context';
import { isHostNetwork, sandboxCreateBody, toSandboxFacts, toSandboxListFacts } from './convert-sandbox';
import { LABEL, sandboxName, selector } from './naming';
import { dockerStatusOf } from './engine-http';
import type { CreateContainerBody } from './engine-types';
import { readSandbox } from './records';

// Docker can be slow to remove a container under load; each undo step gets this long on its own deadline.
const UNDO_TIMEOUT_MS = 60_000;

export class SandboxOps {
  constructor(private readonly s: DockerShared) {}

  async run(ctx: CallContext, req: RunSandboxRequest): Promise<void> {
    const md = req.config.metadata;
    if (!md?.name || !md.namespace)
      throw new InvalidArgumentError(`run sandbox ${req.id}: metadata name and namespace are required`);
    await this.cleanLeftovers(ctx, req.id);
    const imageId = await this.sandboxImage(ctx);
    const body = sandboxCreateBody({
      id: req.id,
      handler: req.handler.name,
      dockerRuntime: this.s.runtimes.get(req.handler.name) ?? '',
      imageId,
      createdAt: this.s.host.clock.nowNs().toString(),
      config: req.config,
    });
    const name = sandboxName(md);
    const undo = this.s.host.undoStack(ctx.log, UNDO_TIMEOUT_MS);
    undo.push('forget docker id', async () => this.s.lookup.forget('sandbox', req.id));
    try {
      ctx.log.info('create pause container', { name, image: imageId });
      const dockerId = await this.create(ctx, req.id, name, body);
      undo.push('pause container', () => this.s.engine.removeContainer(dockerId).catch(ignoreNotFound));
      this.s.lookup.remember('sandbox', req.id, dockerId);
      await this.s.engine.startContainer(dockerId, ctx.signal);
      if (!isHostNetwork(req.config)) {
        const c = await this.s.engine.inspectContainer(dockerId, { signal: ctx.signal });
        undo.push('network', (signal) => this.s.network.tearDown(req.id, md, signal));
        // Docker cannot join a namespace by path: the pause container (network mode none) made one, which is
        // pinned under the sandbox ID before CNI ADD runs against it.
        const netns = await this.s.network.adoptNetns(req.id, c.State.Pid, ctx.signal);
        const net = await this.s.network.attach(req.id, req.config, netns, ctx.signal);
        ctx.log.info('sandbox network ready', { ips: net.ips.join(',') });
      }
      ctx.log.info('sandbox running', { dockerId, name });
    } catch (err) {
      ctx.log.warn('run sandbox failed, undoing', { error: errorMessage(err) });
      await undo.run();
      throw err;
    }
  }

  private async create(ctx: CallContext, id: string, name: string, body: CreateContainerBody): Promise<string> {
    try {
      return await this.s.engine.createContainer(name, body, ctx.signal);
    } catch (err) {
      if (dockerStatusOf(err) === 409) {
        throw new AlreadyExistsError(`run sandbox ${id}: docker name ${name} is taken by another pod attempt`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * The sandbox image's ID: Docker's own, else the shared store's (transferred), else pulled into Docker's store
   * (through the registry configuration).
   */
  private async sandboxImage(ctx: CallContext): Promise<string> {
    const ref = this.s.config.images.sandboxImage;
    try {
      return (await this.s.transfer.resolve(ctx, ref, [ref])).inspect.Id;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    ctx.log.info('pull sandbox image', { image: ref });
    return this.s.images.pull(ctx, { image: ref });
  }

  /** A repeated RunPodSandbox after a crash: whatever the same ID left in Docker or the network goes first. */
  private async cleanLeftovers(ctx: CallContext, id: string): Promise<void> {
    const old = await this.s.lookup.inspect('sandbox', id, ctx.signal);
    if (!old) return;
    ctx.log.warn('removing leftovers of an earlier attempt of this sandbox', { dockerId: old.Id });
    await this.remove(ctx, id);
  }

  async stop(ctx: CallContext, id: string): Promise<void> {
    const pause = await this.s.lookup.inspect('sandbox', id, ctx.signal);
    // CRI: stopping an unknown sandbox succeeds; a pinned netns without a pause container is still released.
    const rec = pause ? readSandbox(pause.Config.Labels) : undefined;
    ctx.log.info('stop sandbox', { dockerId: pause?.Id });
    for (const c of await this.s.lookup.containersOf(id, ctx.signal)) {
      if (c.State === 'running' || c.State === 'restarting' || c.State === 'paused') {
        await this.s.engine.stopContainer(c.Id, 0, ctx.signal).catch(ignoreNotFound);
      }
    }
    if (!rec?.hostNetwork && (pause || (await this.s.network.hasState(id)))) {
      await this.s.network.tearDown(id, rec?.metadata, ctx.signal);
    }
    if (pause?.State.Running) await this.s.engine.stopContainer(pause.Id, 0, ctx.signal).catch(ignoreNotFound);
    ctx.log.info('stopped sandbox', { dockerId: pause?.Id });
  }

  async remove(ctx: CallContext, id: string): Promise<void> {
    const pause = await this.s.lookup.inspect('sandbox', id, ctx.signal);
    const rec = pause ? readSandbox(pause.Config.Labels) : undefined;
    ctx.log.info('remove sandbox', { dockerId: pause?.Id });
    for (const c of await this.s.lookup.containersOf(id, ctx.signal)) {
      const cid = c.Labels?.[LABEL.id];
      await this.s.engine.removeContainer(c.Id, ctx.signal).catch(ignoreNotFound);
      if (cid) {
        await this.s.copiers.forget(cid);
        this.s.lookup.forget('container', cid);
      }
    }
    if (!rec?.hostNetwork && (pause || (await this.s.network.hasState(id)))) {
      await this.s.network.tearDown(id, rec?.metadata, ctx.signal);
    }
    if (pause) await this.s.engine.removeContainer(pause.Id, ctx.signal).catch(ignoreNotFound);
    this.s.lookup.forget('sandbox', id);
    ctx.log.info('removed sandbox', { dockerId: pause?.Id });
  }

  async status(ctx: CallContext, id: string, verbose: boolean): Promise<SandboxStatusResult> {
    const pause = await this.s.lookup.mustInspect('sandbox', id, ctx.signal);
    const rec = readSandbox(pause.Config.Labels);
    const ips = rec && !rec.hostNetwork ? await this.s.network.ips(id) : [];
    const facts = toSandboxFacts(pause, ips);
    if (!facts) throw new NotFoundError(`sandbox status ${id}: docker container ${pause.Id} is not a crimux sandbox`);
    const info: Record<string, string> = {};
    if (verbose) {
      info.info = JSON.stringify({
        dockerId: pause.Id,
        name: pause.Name.replace(/^\//, ''),
        pid: pause.State.Pid,
        image: pause.Image,
        runtime: pause.HostConfig.Runtime ?? '',
        netns: rec?.hostNetwork ? '' : this.s.network.netnsPath(id),
      });
    }
    return { facts, info };
  }

  async list(ctx: CallContext): Promise<SandboxFacts[]> {
    const all = await this.s.engine.listContainers(selector('sandbox'), ctx.signal);
    return all.map(toSandboxListFacts).filter((p): p is SandboxFacts => p !== undefined);
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof NotFoundError)) throw err;
}

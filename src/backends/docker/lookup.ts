/**
 * Finds the Docker container behind a crimux ID by label filter (`io.crimux.id`). The crimux→Docker ID map kept
 * here is only a cache of what Docker says (Docker IDs are never reused); a miss or a 404 goes back to Docker.
 */
import { NotFoundError } from '../../errors';
import type { DockerEngine } from './engine-client';
import type { ContainerInspect, ContainerSummary } from './engine-types';
import { selector, type ObjectKind } from './naming';

export class Lookup {
  private readonly ids = new Map<string, string>();

  constructor(private readonly engine: DockerEngine) {}

  private key(kind: ObjectKind, id: string): string {
    return `${kind}/${id}`;
  }

  /** Docker ID of a crimux object, or undefined when Docker has none. */
  async dockerId(kind: ObjectKind, id: string, signal?: AbortSignal): Promise<string | undefined> {
    const cached = this.ids.get(this.key(kind, id));
    if (cached) return cached;
    const found = await this.engine.listContainers(selector(kind, { id }), signal);
    const first = found[0];
    if (!first) return undefined;
    this.ids.set(this.key(kind, id), first.Id);
    return first.Id;
  }

  /** Inspect of a crimux object, or undefined when Docker has none. */
  async inspect(
    kind: ObjectKind,
    id: string,
    signal?: AbortSignal,
    size = false,
  ): Promise<ContainerInspect | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const dockerId = await this.dockerId(kind, id, signal);
      if (!dockerId) return undefined;
      try {
        return await this.engine.inspectContainer(dockerId, { signal, size });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        // Removed behind our back (docker rm): forget and ask Docker once more.
        this.forget(kind, id);
      }
    }
    return undefined;
  }

  /** Inspect, or NotFoundError naming the object (CRI: status of an unknown ID). */
  async mustInspect(kind: ObjectKind, id: string, signal?: AbortSignal, size = false): Promise<ContainerInspect> {
    const c = await this.inspect(kind, id, signal, size);
    if (!c) throw new NotFoundError(`find ${kind} ${id}: not found in docker`, { context: { [kind]: id } });
    return c;
  }

  /** Containers of a sandbox (all states). */
  containersOf(sandboxId: string, signal?: AbortSignal): Promise<ContainerSummary[]> {
    return this.engine.listContainers(selector('container', { sandboxId }), signal);
  }

  remember(kind: ObjectKind, id: string, dockerId: string): void {
    this.ids.set(this.key(kind, id), dockerId);
  }

  forget(kind: ObjectKind, id: string): void {
    this.ids.delete(this.key(kind, id));
  }
}

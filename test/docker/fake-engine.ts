/**
 * An in-memory DockerEngine for unit tests: containers with labels and states, images with tags, and a switch
 * that makes every call fail like an unreachable dockerd. Only the seam is faked; everything above it is real.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FailedPreconditionError, NotFoundError, UnavailableError } from '../../src/errors';
import type { DockerEngine, ExecCreate, LogsOptions } from '../../src/backends/docker/engine-client';
import type {
  ContainerInspect,
  ContainerSummary,
  CreateContainerBody,
  DockerInfo,
  DockerResources,
  DockerStats,
  DockerVersion,
  ExecInspect,
  ImageInspect,
  ImageSummary,
  RegistryAuth,
  SystemDf,
} from '../../src/backends/docker/engine-types';

interface FakeContainer {
  id: string;
  name: string;
  body: CreateContainerBody;
  status: 'created' | 'running' | 'exited';
  exitCode: number;
}

interface FakeImage {
  id: string;
  tags: Set<string>;
  digests: Set<string>;
}

let counter = 0;
const hex = (n: number): string => n.toString(16).padStart(64, '0');

export class FakeEngine implements DockerEngine {
  down = false;
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, FakeImage>();
  readonly pulls: { repo: string; tag: string; auth?: RegistryAuth }[] = [];
  /** Repositories (host/path) the fake registry serves. */
  readonly registry = new Set<string>();

  private check(): void {
    if (this.down)
      throw new UnavailableError('docker daemon unreachable (fake)', {
        context: { reason: 'DockerDaemonUnavailable' },
      });
  }
  private get(id: string): FakeContainer {
    this.check();
    const c = this.containers.get(id) ?? [...this.containers.values()].find((x) => x.name === id);
    if (!c) throw new NotFoundError(`No such container: ${id}`, { context: { dockerStatus: 404 } });
    return c;
  }
  private image(ref: string): FakeImage {
    this.check();
    const full = ref.includes(':') || ref.includes('@') ? ref : `${ref}:latest`;
    for (const img of this.images.values()) {
      if (img.id === ref || img.tags.has(full) || img.digests.has(ref)) return img;
    }
    throw new NotFoundError(`No such image: ${ref}`, { context: { dockerStatus: 404 } });
  }

  async ping(): Promise<void> {
    this.check();
  }
  async version(): Promise<DockerVersion> {
    this.check();
    return { Version: '20.10-fake', ApiVersion: '1.41' };
  }
  async info(): Promise<DockerInfo> {
    this.check();
    return { DockerRootDir: '/var/lib/docker', Driver: 'overlay2' };
  }
  async createContainer(name: string, body: CreateContainerBody): Promise<string> {
    this.check();
    if ([...this.containers.values()].some((c) => c.name === name)) {
      throw new FailedPreconditionError(`Conflict. The container name "/${name}" is already in use`, {
        context: { dockerStatus: 409 },
      });
    }
    this.image(body.Image);
    const id = hex(++counter);
    this.containers.set(id, { id, name, body, status: 'created', exitCode: 0 });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    this.get(id).status = 'running';
  }
  async stopContainer(id: string): Promise<void> {
    const c = this.get(id);
    if (c.status === 'running') c.status = 'exited';
  }
  async killContainer(id: string): Promise<void> {
    this.get(id).status = 'exited';
  }
  async removeContainer(id: string): Promise<void> {
    this.containers.delete(this.get(id).id);
  }
  async inspectContainer(id: string): Promise<ContainerInspect> {
    const c = this.get(id);
    const t = '2026-01-01T00:00:00Z';
    return {
      Id: c.id,
      Name: `/${c.name}`,
      Created: t,
      Image: this.image(c.body.Image).id,
      State: {
        Status: c.status,
        Running: c.status === 'running',
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: c.status === 'running' ? 4242 : 0,
        ExitCode: c.exitCode,
        Error: '',
        StartedAt: t,
        FinishedAt: c.status === 'exited' ? t : '0001-01-01T00:00:00Z',
      },
      Config: {
        Image: c.body.Image,
        Labels: c.body.Labels,
        User: c.body.User ?? '',
        Tty: c.body.Tty ?? false,
        Hostname: c.body.Hostname ?? '',
      },
      HostConfig: c.body.HostConfig,
      Mounts: [],
    };
  }
  async listContainers(labels: string[]): Promise<ContainerSummary[]> {
    this.check();
    const match = (c: FakeContainer): boolean =>
      labels.every((l) => {
        const [k, v] = l.split('=') as [string, string];
        return c.body.Labels[k] === v;
      });
    return [...this.containers.values()].filter(match).map((c) => ({
      Id: c.id,
      Names: [`/${c.name}`],
      Image: c.body.Image,
      ImageID: c.body.Image,
      Created: 0,
      State: c.status,
      Status: c.status,
      Labels: c.body.Labels,
    }));
  }
  async updateContainer(id: string, r: DockerResources): Promise<void> {
    Object.assign(this.get(id).body.HostConfig, r);
  }
  async stats(id: string): Promise<DockerStats> {
    this.get(id);
    return { read: '2026-01-01T00:00:00Z', cpu_stats: { cpu_usage: { total_usage: 1 } }, memory_stats: { usage: 1 } };
  }
  async logs(id: string, _o: LogsOptions): Promise<Readable> {
    this.get(id);
    return Readable.from([]);
  }
  async createExec(id: string, _o: ExecCreate): Promise<string> {
    this.get(id);
    throw new Error('exec is not faked');
  }
  async startExec(): Promise<never> {
    throw new Error('exec is not faked');
  }
  async inspectExec(): Promise<ExecInspect> {
    throw new Error('exec is not faked');
  }
  async resizeExec(): Promise<void> {
    throw new Error('exec is not faked');
  }
  async attach(): Promise<never> {
    throw new Error('attach is not faked');
  }
  async resizeContainer(id: string): Promise<void> {
    this.get(id);
  }
  async pullImage(repo: string, tag: string, auth: RegistryAuth | undefined): Promise<void> {
    this.check();
    this.pulls.push({ repo, tag, auth });
    if (!this.registry.has(repo)) throw new NotFoundError(`pull ${repo}:${tag}: manifest unknown`);
    const img = this.images.get(repo) ?? {
      id: `sha256:${hex(++counter)}`,
      tags: new Set<string>(),
      digests: new Set<string>(),
    };
    img.tags.add(`${repo}:${tag}`);
    img.digests.add(`${repo}@sha256:${'d'.repeat(64)}`);
    this.images.set(repo, img);
  }
  /** What each POST /images/load received: the image ID Docker would compute, its tags and layer files. */
  readonly loads: { id: string; tags: string[]; layers: string[]; files: string[] }[] = [];
  /** Every file of every loaded archive, by name. */
  readonly loadedFiles = new Map<string, Buffer>();
  /** Makes loads take this long, so tests can overlap them. */
  loadDelayMs = 0;
  async loadImage(archive: Readable): Promise<void> {
    this.check();
    const chunks: Buffer[] = [];
    for await (const c of archive) chunks.push(c as Buffer);
    const files = untar(Buffer.concat(chunks));
    const manifest = JSON.parse((files.get('manifest.json') ?? Buffer.from('[]')).toString()) as {
      Config: string;
      RepoTags: string[];
      Layers: string[];
    }[];
    const entry = manifest[0];
    const config = entry && files.get(entry.Config);
    if (!entry || !config || entry.Layers.some((l) => !files.has(l)))
      throw new Error('load image: not a docker-archive (fake)');
    await new Promise((r) => setTimeout(r, this.loadDelayMs));
    // Like Docker: the image ID is the digest of the config bytes.
    const id = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    this.loads.push({ id, tags: entry.RepoTags, layers: entry.Layers, files: [...files.keys()] });
    for (const [name, body] of files) this.loadedFiles.set(name, Buffer.from(body));
    const img = this.images.get(`load:${id}`) ?? { id, tags: new Set<string>(), digests: new Set<string>() };
    for (const t of entry.RepoTags) img.tags.add(t);
    this.images.set(`load:${id}`, img);
  }
  async tagImage(source: string, repo: string, tag: string): Promise<void> {
    this.image(source).tags.add(`${repo}:${tag}`);
  }
  async inspectImage(ref: string): Promise<ImageInspect> {
    const img = this.image(ref);
    return { Id: img.id, RepoTags: [...img.tags], RepoDigests: [...img.digests], Size: 100, Config: { User: '' } };
  }
  async listImages(): Promise<ImageSummary[]> {
    this.check();
    return [...this.images.values()].map((i) => ({
      Id: i.id,
      RepoTags: [...i.tags],
      RepoDigests: [...i.digests],
      Size: 100,
    }));
  }
  async removeImage(ref: string): Promise<void> {
    const img = this.image(ref);
    for (const [k, v] of this.images) if (v === img) this.images.delete(k);
  }
  async systemDf(): Promise<SystemDf> {
    this.check();
    return { LayersSize: 100 };
  }
}

/** The regular files of a ustar archive by name (enough for the archives crimux writes). */
function untar(buf: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    files.set(name, buf.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

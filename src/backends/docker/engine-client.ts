/**
 * DockerEngine: the one narrow seam between the docker backend and dockerd. Everything the backend asks of Docker
 * goes through this interface, so unit tests fake it and e2e tests use the real HttpDockerEngine below.
 *
 * The API version is negotiated on first use (GET /version on the unversioned path, then min(server, MAX_API), never
 * below the server's MinAPIVersion), like the docker CLI does, unless `backends.docker.apiVersion` pins it. A missing or refusing socket surfaces as UnavailableError, which the
 * backend turns into "not ready" health and the CRI layer into UNAVAILABLE.
 */
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { DockerHttp, type HttpCall } from './engine-http';
import { FailedPreconditionError, InternalError, NotFoundError } from '../../errors';
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
} from './engine-types';

/** Oldest API with everything we use (MaskedPaths/ReadonlyPaths, one-shot stats: 1.40+/1.41). */
export const MIN_API = '1.40';
/**
 * Newest API whose changes were checked against what this client sends and reads. Docker Engine 29+ refuses
 * clients below 1.44, so the client must speak up to here; the fields used are unchanged through 1.47
 * (1.44 drops VirtualSize, 1.45 drops image Container/ContainerConfig: neither is read).
 */
export const MAX_API = '1.47';

export interface LogsOptions {
  /** Unix time with nanoseconds ("1700000000.123456789"); Docker's `since` is inclusive. */
  readonly since?: string;
  readonly follow: boolean;
  readonly signal?: AbortSignal;
}

export interface ExecCreate {
  readonly cmd: string[];
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

export interface TtySize {
  readonly width: number;
  readonly height: number;
}

export interface AttachOptions {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
}

/** The operations the docker backend needs from dockerd. `signal` bounds each call. */
export interface DockerEngine {
  ping(signal?: AbortSignal): Promise<void>;
  version(signal?: AbortSignal): Promise<DockerVersion>;
  info(signal?: AbortSignal): Promise<DockerInfo>;

  createContainer(name: string, body: CreateContainerBody, signal?: AbortSignal): Promise<string>;
  startContainer(id: string, signal?: AbortSignal): Promise<void>;
  /** Stop signal, wait timeoutSeconds, then SIGKILL; already stopped is success. */
  stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void>;
  killContainer(id: string, sig: string, signal?: AbortSignal): Promise<void>;
  /** Force-removes (and its anonymous volumes); NotFoundError when absent. */
  removeContainer(id: string, signal?: AbortSignal): Promise<void>;
  inspectContainer(id: string, opts: { size?: boolean; signal?: AbortSignal }): Promise<ContainerInspect>;
  /** Containers (all states) carrying every `key=value` label given. */
  listContainers(labels: string[], signal?: AbortSignal): Promise<ContainerSummary[]>;
  updateContainer(id: string, resources: DockerResources, signal?: AbortSignal): Promise<void>;
  stats(id: string, signal?: AbortSignal): Promise<DockerStats>;
  /** The raw logs stream with RFC3339Nano timestamps (multiplexed frames unless the container has a TTY). */
  logs(id: string, opts: LogsOptions): Promise<Readable>;

  createExec(id: string, opts: ExecCreate, signal?: AbortSignal): Promise<string>;
  /** Starts an exec on a hijacked connection: the socket carries the raw (or multiplexed) stream both ways. */
  startExec(execId: string, tty: boolean, signal?: AbortSignal): Promise<{ socket: Socket; head: Buffer }>;
  inspectExec(execId: string, signal?: AbortSignal): Promise<ExecInspect>;
  resizeExec(execId: string, size: TtySize, signal?: AbortSignal): Promise<void>;
  /** Attaches to a container's main process on a hijacked connection (the streams given in `opts`). */
  attach(id: string, opts: AttachOptions, signal?: AbortSignal): Promise<{ socket: Socket; head: Buffer }>;
  resizeContainer(id: string, size: TtySize, signal?: AbortSignal): Promise<void>;

  /** Pulls `repo` at `tagOrDigest`; progress errors inside the 200 stream are thrown. */
  pullImage(repo: string, tagOrDigest: string, auth: RegistryAuth | undefined, signal?: AbortSignal): Promise<void>;
  tagImage(source: string, repo: string, tag: string, signal?: AbortSignal): Promise<void>;
  /** Loads an image archive (docker-archive, plus OCI layout on dockerd 25+); errors inside the 200 stream are thrown. */
  loadImage(archive: Readable, signal?: AbortSignal): Promise<void>;
  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageInspect>;
  listImages(signal?: AbortSignal): Promise<ImageSummary[]>;
  removeImage(ref: string, signal?: AbortSignal): Promise<void>;
  systemDf(signal?: AbortSignal): Promise<SystemDf>;
}

export interface EngineOptions {
  readonly socket: string;
  /** Pinned API version; empty negotiates. */
  readonly apiVersion: string;
  readonly requestTimeoutMs: number;
}

/** Compares dotted API versions numerically ("1.9" < "1.41"). */
export function compareApi(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The version to speak with a daemon that reports `server`: the highest both sides speak. FailedPrecondition when
 * the ranges do not overlap (a daemon older than MIN_API, or one whose MinAPIVersion is above MAX_API).
 */
export function negotiateApi(server: DockerVersion): string {
  const chosen = compareApi(server.ApiVersion, MAX_API) < 0 ? server.ApiVersion : MAX_API;
  const serverMin = server.MinAPIVersion ?? '';
  const floor = serverMin !== '' && compareApi(serverMin, MIN_API) > 0 ? serverMin : MIN_API;
  if (compareApi(chosen, floor) < 0) {
    const serverRange = serverMin ? `${serverMin}–${server.ApiVersion}` : `up to ${server.ApiVersion}`;
    throw new FailedPreconditionError(
      `negotiate docker API: dockerd ${server.Version} accepts API ${serverRange}, crimux speaks ${MIN_API}–${MAX_API}` +
        ' (set backends.docker.apiVersion only if you know both sides accept it)',
      { context: { serverApi: server.ApiVersion, serverMinApi: serverMin } },
    );
  }
  return chosen;
}

const enc = (s: string): string => encodeURI(s);

/** The real client over dockerd's unix socket. */
export class HttpDockerEngine implements DockerEngine {
  private readonly http: DockerHttp;
  private negotiation?: Promise<void>;

  constructor(private readonly opts: EngineOptions) {
    this.http = new DockerHttp(opts.socket);
    if (opts.apiVersion) this.http.version = opts.apiVersion;
  }

  /** Negotiates once; a failed attempt (dockerd down) is retried on the next call. */
  private ready(signal?: AbortSignal): Promise<void> {
    if (this.http.version) return Promise.resolve();
    this.negotiation ??= this.version(signal).then((v) => {
      this.http.version = negotiateApi(v);
    });
    const p = this.negotiation;
    p.catch(() => (this.negotiation = undefined));
    return p;
  }

  private async call<T>(c: HttpCall): Promise<T> {
    await this.ready(c.signal);
    return this.http.json<T>({ timeoutMs: this.opts.requestTimeoutMs, ...c });
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.http.call({ method: 'GET', path: '/_ping', unversioned: true, signal, timeoutMs: 5000 });
  }
  version(signal?: AbortSignal): Promise<DockerVersion> {
    return this.http.json<DockerVersion>({
      method: 'GET',
      path: '/version',
      unversioned: true,
      signal,
      timeoutMs: 10_000,
    });
  }
  info(signal?: AbortSignal): Promise<DockerInfo> {
    return this.call({ method: 'GET', path: '/info', signal });
  }

  async createContainer(name: string, body: CreateContainerBody, signal?: AbortSignal): Promise<string> {
    const r = await this.call<{ Id: string }>({
      method: 'POST',
      path: '/containers/create',
      query: { name },
      body,
      signal,
    });
    return r.Id;
  }
  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: `/containers/${enc(id)}/start`, signal });
  }
  async stopContainer(id: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    // Docker waits `t` seconds itself; our own bound must outlast it.
    const timeoutMs = timeoutSeconds * 1000 + this.opts.requestTimeoutMs;
    await this.call({
      method: 'POST',
      path: `/containers/${enc(id)}/stop`,
      query: { t: timeoutSeconds },
      signal,
      timeoutMs,
    });
  }
  async killContainer(id: string, sig: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: `/containers/${enc(id)}/kill`, query: { signal: sig }, signal });
  }
  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'DELETE', path: `/containers/${enc(id)}`, query: { force: 1, v: 1 }, signal });
  }
  inspectContainer(id: string, o: { size?: boolean; signal?: AbortSignal }): Promise<ContainerInspect> {
    return this.call({
      method: 'GET',
      path: `/containers/${enc(id)}/json`,
      query: { size: o.size ? 1 : undefined },
      signal: o.signal,
    });
  }
  listContainers(labels: string[], signal?: AbortSignal): Promise<ContainerSummary[]> {
    const filters = JSON.stringify({ label: labels });
    return this.call({ method: 'GET', path: '/containers/json', query: { all: 1, filters }, signal });
  }
  async updateContainer(id: string, resources: DockerResources, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: `/containers/${enc(id)}/update`, body: resources, signal });
  }
  stats(id: string, signal?: AbortSignal): Promise<DockerStats> {
    const query = { stream: 0, 'one-shot': 1 };
    return this.call({ method: 'GET', path: `/containers/${enc(id)}/stats`, query, signal });
  }
  async logs(id: string, o: LogsOptions): Promise<Readable> {
    await this.ready(o.signal);
    const query = { follow: o.follow ? 1 : 0, stdout: 1, stderr: 1, timestamps: 1, since: o.since };
    return this.http.stream({ method: 'GET', path: `/containers/${enc(id)}/logs`, query, signal: o.signal });
  }

  async createExec(id: string, o: ExecCreate, signal?: AbortSignal): Promise<string> {
    const body = { Cmd: o.cmd, Tty: o.tty, AttachStdin: o.stdin, AttachStdout: o.stdout, AttachStderr: o.stderr };
    const r = await this.call<{ Id: string }>({ method: 'POST', path: `/containers/${enc(id)}/exec`, body, signal });
    return r.Id;
  }
  async startExec(execId: string, tty: boolean, signal?: AbortSignal): Promise<{ socket: Socket; head: Buffer }> {
    await this.ready(signal);
    return this.http.upgrade({
      method: 'POST',
      path: `/exec/${enc(execId)}/start`,
      body: { Detach: false, Tty: tty },
      signal,
    });
  }
  inspectExec(execId: string, signal?: AbortSignal): Promise<ExecInspect> {
    return this.call({ method: 'GET', path: `/exec/${enc(execId)}/json`, signal });
  }
  async resizeExec(execId: string, size: TtySize, signal?: AbortSignal): Promise<void> {
    const query = { h: size.height, w: size.width };
    await this.call({ method: 'POST', path: `/exec/${enc(execId)}/resize`, query, signal });
  }
  async attach(id: string, o: AttachOptions, signal?: AbortSignal): Promise<{ socket: Socket; head: Buffer }> {
    await this.ready(signal);
    const query = { stream: 1, stdin: o.stdin ? 1 : 0, stdout: o.stdout ? 1 : 0, stderr: o.stderr ? 1 : 0 };
    return this.http.upgrade({ method: 'POST', path: `/containers/${enc(id)}/attach`, query, signal });
  }
  async resizeContainer(id: string, size: TtySize, signal?: AbortSignal): Promise<void> {
    const query = { h: size.height, w: size.width };
    await this.call({ method: 'POST', path: `/containers/${enc(id)}/resize`, query, signal });
  }

  async pullImage(
    repo: string,
    tagOrDigest: string,
    auth: RegistryAuth | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.ready(signal);
    const headers: Record<string, string> = {};
    if (auth) headers['X-Registry-Auth'] = Buffer.from(JSON.stringify(auth)).toString('base64url');
    const res = await this.http.stream({
      method: 'POST',
      path: '/images/create',
      query: { fromImage: repo, tag: tagOrDigest },
      headers,
      signal,
    });
    await consumeProgress(res, `pull image ${repo}:${tagOrDigest}`);
  }
  async tagImage(source: string, repo: string, tag: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'POST', path: `/images/${enc(source)}/tag`, query: { repo, tag }, signal });
  }
  async loadImage(archive: Readable, signal?: AbortSignal): Promise<void> {
    await this.ready(signal);
    const res = await this.http.stream({
      method: 'POST',
      path: '/images/load',
      query: { quiet: 1 },
      upload: { stream: archive, contentType: 'application/x-tar' },
      signal,
    });
    await consumeProgress(res, 'load image');
  }
  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageInspect> {
    return this.call({ method: 'GET', path: `/images/${enc(ref)}/json`, signal });
  }
  listImages(signal?: AbortSignal): Promise<ImageSummary[]> {
    return this.call({ method: 'GET', path: '/images/json', signal });
  }
  async removeImage(ref: string, signal?: AbortSignal): Promise<void> {
    await this.call({ method: 'DELETE', path: `/images/${enc(ref)}`, query: { force: 1 }, signal });
  }
  systemDf(signal?: AbortSignal): Promise<SystemDf> {
    return this.call({ method: 'GET', path: '/system/df', signal });
  }
}

/** Reads pull progress (JSON objects, one per line) and throws the first {"error": …} Docker reports in it. */
async function consumeProgress(res: Readable, what: string): Promise<void> {
  let buf = '';
  let failure: string | undefined;
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        const msg = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        failure ??= msg.errorDetail?.message ?? msg.error;
      } catch {
        // A progress line we cannot parse carries no error; keep reading.
      }
    }
  }
  if (!failure) return;
  // The registry said the repository or tag does not exist: the kubelet reports ErrImagePull either way, but
  // NotFound tells the operator it is the name, not the network.
  const notFound = /manifest unknown|not found|repository does not exist/i.test(failure);
  const Kind = notFound ? NotFoundError : InternalError;
  throw new Kind(`${what}: ${failure}`, { context: { pullError: failure } });
}

/**
 * HTTP over dockerd's unix socket, with Docker's status codes and connection failures turned into crimux error
 * kinds. Used only by engine-client.ts.
 *
 * Why Node's http and not dockerode: the backend needs about twenty endpoints, each with a deadline, typed errors
 * and (for logs/exec) raw stream access; dockerode would add docker-modem, ssh2 and split2 for that, hide the
 * status codes we classify on, and still need our own types. A thin client keeps the seam narrow and dependency-free.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { handleErrors } from '../../util/streams';
import type { Readable } from 'node:stream';
import {
  CrimuxError,
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '../../errors';

export interface HttpCall {
  readonly method: 'GET' | 'POST' | 'DELETE' | 'HEAD';
  /** Path below the version prefix, e.g. "/containers/json"; `unversioned` skips the prefix. */
  readonly path: string;
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  /** A raw request body streamed as-is (image archives); excludes `body`. */
  readonly upload?: { readonly stream: Readable; readonly contentType: string };
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Overall bound for non-streaming calls (headers and body). */
  readonly timeoutMs?: number;
  readonly unversioned?: boolean;
}

export interface HttpResult {
  readonly status: number;
  readonly body: Buffer;
}

/** Connection errors that mean "dockerd is not there right now" (socket missing, refused, dropped). */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'EACCES', 'ENOTSOCK']);

/** Unix-socket HTTP to dockerd; `version` is set after negotiation (engine-client.ts). */
export class DockerHttp {
  version = '';

  constructor(readonly socketPath: string) {}

  /** A whole request; non-2xx statuses (except 304) become errors. */
  async call(c: HttpCall): Promise<HttpResult> {
    const res = await this.open(c, false);
    const body = await readAll(res, c.signal);
    const status = res.statusCode ?? 0;
    if (status >= 300 && status !== 304) throw statusError(c, status, body);
    return { status, body };
  }

  /** A request whose JSON reply is returned. */
  async json<T>(c: HttpCall): Promise<T> {
    const { body } = await this.call(c);
    return (body.length ? JSON.parse(body.toString('utf8')) : null) as T;
  }

  /** A streaming response (logs, pull progress): resolves once headers arrived with a 2xx status. */
  async stream(c: HttpCall): Promise<http.IncomingMessage> {
    const res = handleErrors(await this.open(c, true), what(c));
    const status = res.statusCode ?? 0;
    if (status >= 300) throw statusError(c, status, await readAll(res, c.signal));
    return res;
  }

  /**
   * A hijacked connection (exec start, attach): Docker answers 101 and the socket carries the raw stream.
   * The caller's signal bounds only the handshake: the session outlives the call that opened it.
   */
  upgrade(c: HttpCall): Promise<{ socket: Socket; head: Buffer }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const req = this.request({ ...c, signal: undefined }, { Connection: 'Upgrade', Upgrade: 'tcp' }, (err) => {
        if (!settled) reject(err);
      });
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(new DeadlineExceededError(`${what(c)}: aborted before the stream opened`));
      };
      c.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        settled = true;
        c.signal?.removeEventListener('abort', onAbort);
      };
      req.on('upgrade', (_res, socket, head) => {
        handleErrors(socket, what(c));
        done();
        resolve({ socket, head });
      });
      req.on('response', (res) => {
        done();
        readAll(res).then((body) => reject(statusError(c, res.statusCode ?? 0, body)), reject);
      });
      req.end(encodeBody(c.body));
    });
  }

  private open(c: HttpCall, streaming: boolean): Promise<http.IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = this.request(c, {}, reject, streaming);
      req.on('response', resolve);
      if (!c.upload) {
        req.end(encodeBody(c.body));
        return;
      }
      // A failing source (a blob file gone) aborts the request, so dockerd never sees a truncated archive as whole.
      c.upload.stream.on('error', (err) => req.destroy(err));
      c.upload.stream.pipe(req);
    });
  }

  private request(
    c: HttpCall,
    extra: Record<string, string>,
    reject: (err: unknown) => void,
    streaming = false,
  ): http.ClientRequest {
    const path = (c.unversioned || !this.version ? '' : `/v${this.version}`) + c.path + queryString(c.query);
    const headers: Record<string, string> = { ...extra, ...(c.headers ?? {}) };
    if (c.body !== undefined) headers['Content-Type'] = 'application/json';
    if (c.upload) headers['Content-Type'] = c.upload.contentType;
    const signals = [c.signal, !streaming && c.timeoutMs ? AbortSignal.timeout(c.timeoutMs) : undefined].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal = signals.length ? AbortSignal.any(signals) : undefined;
    const req = http.request({ socketPath: this.socketPath, method: c.method, path, headers, signal });
    req.on('error', (err) => reject(transportError(c, err, signal)));
    return req;
  }
}

function encodeBody(body: unknown): string | undefined {
  return body === undefined ? undefined : JSON.stringify(body);
}

function queryString(q: HttpCall['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function readAll(res: http.IncomingMessage, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onAbort = (): void => {
      res.destroy();
      reject(new DeadlineExceededError('read docker reply: aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      signal?.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks));
    });
    res.on('error', (err) => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

function what(c: HttpCall): string {
  return `docker ${c.method} ${c.path}`;
}

/** Docker's JSON error body is {"message": "..."}; fall back to the raw text. */
function dockerMessage(body: Buffer): string {
  const text = body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: use the text
  }
  return text || '(empty reply)';
}

/** Docker status → error kind; `context.dockerStatus` lets callers tell a 409 name conflict from other conflicts. */
export function statusError(c: HttpCall, status: number, body: Buffer): CrimuxError {
  const msg = `${what(c)}: ${dockerMessage(body)}`;
  const opts = { context: { dockerStatus: status } };
  if (status === 404) return new NotFoundError(msg, opts);
  if (status === 409) return new FailedPreconditionError(msg, opts);
  if (status === 400) return new InvalidArgumentError(msg, opts);
  return new InternalError(msg, opts);
}

/** The Docker HTTP status an error came from, if it came from a Docker reply. */
export function dockerStatusOf(err: unknown): number | undefined {
  if (!(err instanceof CrimuxError)) return undefined;
  const st = err.context.dockerStatus;
  return typeof st === 'number' ? st : undefined;
}

function transportError(c: HttpCall, err: Error & { code?: string }, signal?: AbortSignal): CrimuxError {
  if (signal?.aborted || err.name === 'AbortError') {
    return new DeadlineExceededError(`${what(c)}: deadline exceeded`, { cause: err });
  }
  if (err.code && UNREACHABLE.has(err.code)) {
    return new UnavailableError(`${what(c)}: docker daemon unreachable: ${err.message}`, {
      cause: err,
      context: { reason: 'DockerDaemonUnavailable' },
    });
  }
  return new InternalError(`${what(c)}: ${err.message}`, { cause: err });
}

/**
 * Port forwarding over SPDY (portforward.k8s.io), as the kubelet serves it: for every forwarded connection the
 * client opens two streams with the same `requestID` header — `streamType: error` and `streamType: data` — both
 * naming the `port`. When the pair is complete we ask the backend for a connection to that port inside the
 * pod's network namespace and splice it with the data stream; failures are written as text on the error
 * stream. Any number of ports and concurrent connections share one session.
 */
import type { Duplex } from 'node:stream';
import { errorMessage } from '../../errors';
import type { Logger } from '../../log/logger';
import type { StreamRequest } from '../requests';
import { RstStatus } from '../spdy/frames';
import type { SpdySession } from '../spdy/session';
import type { SpdyStream } from '../spdy/stream';
import { destroyQuietly, handleErrors } from '../../util/streams';
import { splice } from './splice';

export const PORTFORWARD_PROTOCOLS = ['portforward.k8s.io'] as const;

type PortForwardRequest = Extract<StreamRequest, { kind: 'portforward' }>;

interface Pair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export interface PortForwardDeps {
  readonly log: Logger;
  /** How long the second stream of a pair may take (kubelet: streamCreationTimeout). */
  readonly pairTimeoutMs: number;
  /** Opens the backend connection; aborted when the session ends. */
  readonly connect: (port: number, signal: AbortSignal) => Promise<Duplex>;
}

/** Serves one port-forward session; resolves when the session closed and every forward finished. */
export async function serveSpdyPortForward(
  session: SpdySession,
  req: PortForwardRequest,
  deps: PortForwardDeps,
): Promise<void> {
  const pairs = new Map<string, Pair>();
  const forwards = new Set<Promise<void>>();
  const abort = new AbortController();

  const onStream = (s: SpdyStream): void => {
    const port = Number(s.header('port'));
    const type = s.header('streamtype');
    if (!Number.isInteger(port) || port < 1 || port > 65535 || (type !== 'data' && type !== 'error')) {
      deps.log.debug('port forward: refusing stream', { port: s.header('port'), streamType: type });
      s.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    // Clients before Kubernetes 1.6 send no requestID: their error stream is opened right before the data one.
    const requestId = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
    let pair = pairs.get(requestId);
    if (pair?.[type]) {
      s.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    s.accept();
    if (!pair) {
      const p: Pair = {
        timer: setTimeout(() => {
          pairs.delete(requestId);
          p.error?.end(`timed out waiting for the ${p.data ? 'error' : 'data'} stream of request ${requestId}`);
          p.data?.end();
        }, deps.pairTimeoutMs),
      };
      pair = p;
      pairs.set(requestId, p);
    }
    pair[type] = s;
    const { data, error } = pair;
    if (data && error) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      const f = forward(req, port, data, error, deps, abort.signal).finally(() => forwards.delete(f));
      forwards.add(f);
    }
  };
  session.on('stream', onStream);
  await new Promise<void>((resolve) => (session.isClosed ? resolve() : session.once('close', () => resolve())));
  session.off('stream', onStream);
  abort.abort(new Error('port forward session closed'));
  for (const p of pairs.values()) clearTimeout(p.timer);
  await Promise.allSettled([...forwards]);
}

async function forward(
  req: PortForwardRequest,
  port: number,
  data: SpdyStream,
  error: SpdyStream,
  deps: PortForwardDeps,
  signal: AbortSignal,
): Promise<void> {
  error.resume(); // the client never writes on it; keep it from holding the socket
  const fail = (message: string): void => {
    deps.log.info('port forward failed', { port, error: message });
    error.end(`error forwarding port ${port} to pod ${req.sandboxId}: ${message}`);
    data.end();
  };
  if (req.ports.length > 0 && !req.ports.includes(port))
    return fail(`port ${port} is not one of the ports this URL forwards`);
  let conn: Duplex;
  try {
    conn = handleErrors(await deps.connect(port, signal), 'port forward backend connection', deps.log);
  } catch (err) {
    return fail(errorMessage(err));
  }
  const started = Date.now();
  deps.log.debug('port forward connection opened', { port });
  // The backend's connection is ours from here: destroyed on every path, quietly (a Duplex.from relay emits
  // AbortError when destroyed — issue #27).
  const err = await splice(data, conn).finally(() => destroyQuietly(conn, 'port forward backend connection', deps.log));
  if (err) fail(err.message);
  else {
    error.end();
    if (!data.writableEnded) data.end();
  }
  deps.log.debug('port forward connection closed', { port, durationMs: Date.now() - started });
}

/**
 * Serves one used streaming URL on its upgraded connection: picks the transport (SPDY/3.1 or WebSocket, as the
 * kubelet's streaming server does: WebSocket when the request is a WebSocket upgrade, SPDY otherwise),
 * negotiates the protocol version, then runs exec/attach (remotecommand/) or port forwarding (portforward/).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { errorMessage } from '../errors';
import { refuseSocket } from './http-reply';
import { serveSpdyPortForward, PORTFORWARD_PROTOCOLS } from './portforward/spdy';
import { serveWsPortForward, WS_PORTFORWARD_PROTOCOLS } from './portforward/ws';
import { SPDY_REMOTECOMMAND_PROTOCOLS, WS_REMOTECOMMAND_PROTOCOLS } from './remotecommand/protocols';
import { runRemoteCommand, type ClientStreams } from './remotecommand/run';
import { collectSpdyStreams } from './remotecommand/spdy-io';
import { wsClientStreams } from './remotecommand/ws-io';
import type { StreamRequest } from './requests';
import type { SessionHandle, SessionTracker } from './sessions';
import { SpdySession } from './spdy/session';
import { acceptSpdyUpgrade, isSpdyUpgrade, negotiateSpdyProtocol } from './spdy/upgrade';
import { isWebSocketUpgrade, negotiateWsProtocol, type WsAcceptor } from './ws/upgrade';
import { handleErrors } from '../util/streams';

/** kubectl ≥ 1.30 tunnels SPDY port forwarding through a WebSocket with this subprotocol (client-go). */
export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';

export interface ServeDeps {
  readonly tracker: SessionTracker;
  readonly acceptor: WsAcceptor;
  /** How long a client may take to open its streams (kubelet: 30 s). */
  readonly streamCreationTimeoutMs: number;
  /** A connection with no traffic this long is closed (kubelet: 4 h). */
  readonly idleTimeoutMs: number;
}

export async function serveUpgrade(
  req: StreamRequest,
  http: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  deps: ServeDeps,
): Promise<void> {
  const s = socket as Partial<Socket>;
  const remote = `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
  if (isWebSocketUpgrade(http)) return serveWebSocket(req, http, socket, head, remote, deps);
  if (isSpdyUpgrade(http)) return serveSpdy(req, http, socket, head, remote, deps);
  refuseSocket(socket, 400, 'unable to upgrade: Upgrade must be SPDY/3.1 or websocket');
}

async function serveSpdy(
  req: StreamRequest,
  http: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  remote: string,
  deps: ServeDeps,
): Promise<void> {
  const protocols = req.kind === 'portforward' ? PORTFORWARD_PROTOCOLS : SPDY_REMOTECOMMAND_PROTOCOLS;
  const protocol = negotiateSpdyProtocol(http, socket, protocols);
  if (protocol === undefined) return;
  const session = acceptSpdyUpgrade(socket, head, protocol);
  (socket as Partial<Socket>).setTimeout?.(deps.idleTimeoutMs, () => session.destroy(new Error('idle timeout')));
  const handle = deps.tracker.begin(req, { remote, transport: 'spdy', protocol }, () => session.destroy());
  await runSession(
    req,
    handle,
    session,
    async () => {
      if (req.kind === 'portforward') return undefined;
      const io = await collectSpdyStreams(session, protocol, req.opts, deps.streamCreationTimeoutMs);
      if ('error' in io) {
        session.close();
        throw new Error(io.error);
      }
      return io;
    },
    deps,
  );
}

async function serveWebSocket(
  req: StreamRequest,
  http: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  remote: string,
  deps: ServeDeps,
): Promise<void> {
  const protocols: readonly string[] =
    req.kind === 'portforward' ? [SPDY_TUNNEL_PROTOCOL, ...WS_PORTFORWARD_PROTOCOLS] : WS_REMOTECOMMAND_PROTOCOLS;
  const protocol = negotiateWsProtocol(http, socket, protocols);
  if (protocol === undefined) return;
  let ports: readonly number[] = [];
  if (req.kind === 'portforward' && protocol !== SPDY_TUNNEL_PROTOCOL) {
    ports = req.ports.length ? req.ports : queryPorts(http);
    if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
      return refuseSocket(
        socket,
        400,
        'unable to upgrade: query parameter "port" is required (1-65535) when the URL names no ports',
      );
    }
  }
  const ws = await deps.acceptor.accept(http, socket, head, protocol);
  if (!ws) return;
  idleGuard(ws, deps.idleTimeoutMs);
  const handle = deps.tracker.begin(req, { remote, transport: 'websocket', protocol }, () => ws.terminate());
  handleErrors(ws, 'websocket', handle.log); // a broken connection ends the session through 'close'

  if (req.kind === 'portforward' && protocol === SPDY_TUNNEL_PROTOCOL) {
    const session = new SpdySession(handleErrors(createWebSocketStream(ws), 'spdy tunnel', handle.log), {
      role: 'server',
    });
    return runSession(req, handle, session, async () => undefined, deps);
  }
  try {
    if (req.kind === 'portforward') {
      await serveWsPortForward(ws, protocol, ports, req.sandboxId, {
        log: handle.log,
        connect: (port, signal) => req.backend.portForward({ signal, log: handle.log }, req.sandboxId, port),
      });
      handle.end();
    } else {
      const outcome = await runRemoteCommand(req, wsClientStreams(ws, protocol, req.opts), handle.log);
      handle.end({
        exitCode: outcome.exitCode,
        status: outcome.status.reason ?? outcome.status.status,
        clientGone: outcome.clientGone,
      });
    }
  } catch (err) {
    ws.terminate();
    handle.end({ error: errorMessage(err) });
  }
}

/** Exec/attach or port forwarding on a SPDY session (upgraded socket or WebSocket tunnel). */
async function runSession(
  req: StreamRequest,
  handle: SessionHandle,
  session: SpdySession,
  clientStreams: () => Promise<ClientStreams | undefined>,
  deps: ServeDeps,
): Promise<void> {
  try {
    if (req.kind === 'portforward') {
      await serveSpdyPortForward(session, req, {
        log: handle.log,
        pairTimeoutMs: deps.streamCreationTimeoutMs,
        connect: (port, signal) => req.backend.portForward({ signal, log: handle.log }, req.sandboxId, port),
      });
      handle.end();
      return;
    }
    const io = await clientStreams();
    if (!io) throw new Error('no client streams');
    const outcome = await runRemoteCommand(req, io, handle.log);
    handle.end({
      exitCode: outcome.exitCode,
      status: outcome.status.reason ?? outcome.status.status,
      clientGone: outcome.clientGone,
    });
  } catch (err) {
    session.destroy();
    handle.end({ error: errorMessage(err) });
  }
}

function queryPorts(http: IncomingMessage): number[] {
  const url = new URL(http.url ?? '/', 'http://streaming.invalid');
  return url.searchParams
    .getAll('port')
    .flatMap((v) => v.split(','))
    .map((v) => Number(v.trim()));
}

/** Close a WebSocket the client has not used for `ms` (frames or pings from the client reset the clock). */
function idleGuard(ws: WebSocket, ms: number): void {
  if (ms <= 0) return; // 0 disables, as socket.setTimeout(0) does for SPDY
  let timer = setTimeout(() => ws.terminate(), ms).unref();
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ws.terminate(), ms).unref();
  };
  ws.on('message', touch).on('ping', touch).on('pong', touch);
  ws.once('close', () => clearTimeout(timer));
}

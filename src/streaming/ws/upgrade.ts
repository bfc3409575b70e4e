/**
 * WebSocket upgrades (the `ws` package): detection, subprotocol choice (first of the client's list that we
 * serve, as apimachinery wsstream does; no Sec-WebSocket-Protocol header selects the legacy "" protocol), and
 * the handshake itself, which `ws` validates (a bad key or version is answered 400 by `ws`, never a crash).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { headerList, refuseSocket } from '../http-reply';

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const connection = headerList(req.headers.connection).map((c) => c.toLowerCase());
  return connection.includes('upgrade') && (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** The chosen subprotocol ('' when the client offered none and '' is served), or undefined after a 403. */
export function negotiateWsProtocol(
  req: IncomingMessage,
  socket: Duplex,
  server: readonly string[],
): string | undefined {
  const offered = headerList(req.headers['sec-websocket-protocol']);
  if (offered.length === 0) {
    if (server.includes('')) return '';
  } else {
    const chosen = offered.find((p) => server.includes(p));
    if (chosen !== undefined) return chosen;
  }
  const served = server.filter(Boolean).join(', ');
  refuseSocket(
    socket,
    403,
    `unable to upgrade: requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${served}]`,
  );
  return undefined;
}

/**
 * Completes WebSocket handshakes for the streaming server with an already negotiated subprotocol. `ws` is kept
 * out of subprotocol handling: it rejects names outside the RFC 7230 token alphabet, and client-go's tunneling
 * protocol "SPDY/3.1+portforward.k8s.io" has a '/'. So the request header is removed before `ws` sees it and
 * the chosen protocol is added to the 101 response here. A handshake `ws` rejects (bad key, version, method)
 * is answered with a 400 and resolves to undefined, so no caller waits on a connection never upgraded.
 */
export class WsAcceptor {
  private readonly chosen = new WeakMap<IncomingMessage, string>();
  private readonly pending = new Map<IncomingMessage, (ws: WebSocket | undefined) => void>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    // Every message is one frame of a stream; 16 MiB covers the largest SPDY frame a tunnel can carry.
    maxPayload: 16 * 1024 * 1024,
    perMessageDeflate: false,
  });

  constructor() {
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const protocol = this.chosen.get(req);
      if (protocol) headers.push(`Sec-WebSocket-Protocol: ${protocol}`);
    });
    this.wss.on('wsClientError', (err: Error, socket: Duplex, req: IncomingMessage) => {
      refuseSocket(socket, 400, `unable to upgrade: ${err.message}`);
      this.settle(req, undefined);
    });
  }

  accept(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): Promise<WebSocket | undefined> {
    this.chosen.set(req, protocol);
    delete req.headers['sec-websocket-protocol'];
    return new Promise((resolve) => {
      this.pending.set(req, resolve);
      socket.once('close', () => this.settle(req, undefined));
      this.wss.handleUpgrade(req, socket, head, (ws) => this.settle(req, ws));
    });
  }

  close(): void {
    this.wss.close();
  }

  private settle(req: IncomingMessage, ws: WebSocket | undefined): void {
    const resolve = this.pending.get(req);
    this.pending.delete(req);
    resolve?.(ws);
  }
}

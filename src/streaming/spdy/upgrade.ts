/**
 * The HTTP/1.1 → SPDY/3.1 upgrade as Kubernetes does it (apimachinery httpstream.Handshake + spdy
 * ResponseUpgrader): the client lists protocols in X-Stream-Protocol-Version (in preference order), we pick the
 * first we support, and answer 101 with `Upgrade: SPDY/3.1` and the chosen protocol. A missing header is a 400,
 * no common protocol a 403 that lists what we accept.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { headerList, refuseSocket } from '../http-reply';
import { SpdySession } from './session';

export const HEADER_PROTOCOL_VERSION = 'X-Stream-Protocol-Version';
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return headerList(req.headers.upgrade).some((u) => u.toLowerCase() === 'spdy/3.1');
}

/** The negotiated protocol, or undefined after the refusal was written. */
export function negotiateSpdyProtocol(
  req: IncomingMessage,
  socket: Duplex,
  server: readonly string[],
): string | undefined {
  const client = headerList(req.headers['x-stream-protocol-version']);
  if (client.length === 0) {
    refuseSocket(socket, 400, `unable to upgrade: ${HEADER_PROTOCOL_VERSION} is required`);
    return undefined;
  }
  const chosen = client.find((p) => server.includes(p));
  if (!chosen) {
    refuseSocket(
      socket,
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]`,
      { [HEADER_ACCEPTED_PROTOCOL_VERSIONS]: [...server] },
    );
    return undefined;
  }
  return chosen;
}

/** Answer 101 and run a server-side SPDY session on the socket (`head` is what Node read past the request). */
export function acceptSpdyUpgrade(socket: Duplex, head: Buffer, protocol: string, maxStreams?: number): SpdySession {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Connection: Upgrade\r\n' +
      'Upgrade: SPDY/3.1\r\n' +
      `${HEADER_PROTOCOL_VERSION}: ${protocol}\r\n\r\n`,
  );
  const session = new SpdySession(socket, { role: 'server', maxStreams });
  if (head.length) socket.unshift(head);
  return session;
}

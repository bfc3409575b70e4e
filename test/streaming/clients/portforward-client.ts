/**
 * Port-forward clients for tests, shaped like client-go's: over SPDY (directly or tunneled through a WebSocket
 * with the SPDY/3.1+portforward.k8s.io subprotocol, as kubectl ≥ 1.30 does) each connection is a pair of streams
 * sharing a requestID — the error stream, half-closed at once, and the data stream; over plain WebSocket each
 * port has a data and an error channel whose first message is the port number.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { SpdySession } from '../../../src/streaming/spdy/session';
import type { SpdyStream } from '../../../src/streaming/spdy/stream';
import { spdyUpgrade } from './spdy-client';

export async function spdyPortForwardSession(url: string): Promise<SpdySession> {
  const up = await spdyUpgrade(url, { protocols: ['portforward.k8s.io'] });
  if (!up.session) throw new Error(`upgrade refused: ${up.status} ${up.body}`);
  return up.session;
}

/**
 * SPDY through a WebSocket with client-go's subprotocol "SPDY/3.1+portforward.k8s.io". The `ws` client refuses
 * that name (a '/' is not a token character), so the handshake is a plain HTTP upgrade and the frames are
 * read and written with ws's own Receiver and Sender; each SPDY write is one binary message, as client-go's
 * TunnelingConnection does.
 */
export async function tunneledPortForwardSession(url: string): Promise<SpdySession> {
  const u = new URL(url);
  const socket = await new Promise<Socket>((resolve, reject) => {
    const req = http.request(u, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-protocol': 'SPDY/3.1+portforward.k8s.io',
      },
    });
    req.on('upgrade', (res, sock: Socket, head) => {
      if (res.headers['sec-websocket-protocol'] !== 'SPDY/3.1+portforward.k8s.io')
        return reject(new Error('tunnel protocol not accepted'));
      if (head.length) sock.unshift(head);
      resolve(sock);
    });
    req.on('response', (res) => reject(new Error(`tunnel upgrade refused: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  const { Receiver, Sender } = WebSocket as unknown as WsInternals;
  const receiver = new Receiver({ isServer: false });
  const tunnel = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _enc, cb) => {
      socket.write(
        Buffer.concat(Sender.frame(chunk, { fin: true, opcode: 2, mask: true, readOnly: false, rsv1: false })),
        cb,
      );
    },
    final: (cb) => {
      socket.end();
      cb();
    },
    destroy: (err, cb) => {
      socket.destroy();
      cb(err);
    },
  });
  receiver.on('message', (data: Buffer) => tunnel.push(data));
  receiver.on('conclude', () => tunnel.push(null));
  socket.on('end', () => tunnel.push(null));
  socket.on('close', () => tunnel.destroy());
  socket.on('error', () => tunnel.destroy());
  socket.pipe(receiver);
  return new SpdySession(tunnel, { role: 'client', headerCompression: 'zlib' });
}

/** The parts of ws's (untyped) frame codec used above. */
interface WsInternals {
  Receiver: new (opts: {
    isServer: boolean;
  }) => NodeJS.WritableStream & { on(e: string, f: (...a: never[]) => void): unknown };
  Sender: { frame(data: Buffer, opts: Record<string, unknown>): Buffer[] };
}

export interface ForwardedConnection {
  data: SpdyStream;
  /** Everything the server wrote on the error stream, once it ended. */
  error: Promise<string>;
  /** Everything received on the data stream, once it ended. */
  received: Promise<string>;
}

export async function openForward(session: SpdySession, port: number, requestId: number): Promise<ForwardedConnection> {
  const headers = { port: String(port), requestID: String(requestId) };
  const error = await session.openStream({ ...headers, streamType: 'error' });
  error.end(); // client-go: "we're not writing to this stream"
  const data = await session.openStream({ ...headers, streamType: 'data' });
  return { data, error: readAll(error), received: readAll(data) };
}

export function readAll(s: NodeJS.ReadableStream & { on(e: 'close', f: () => void): unknown }): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
  });
}

/** Plain WebSocket port forwarding: per port, channel 2i (data) and 2i+1 (error). */
export async function wsPortForward(url: string, protocol: string, nPorts: number) {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocol ? [protocol] : []);
  const channels = new Map<number, Buffer[]>();
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    const ch = data[0] ?? 0;
    channels.set(ch, [...(channels.get(ch) ?? []), data.subarray(1)]);
    waiters.forEach((w) => w());
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_r, res) => reject(new Error(`websocket upgrade refused: ${res.statusCode}`)));
  });
  const messages = (ch: number): Buffer[] => channels.get(ch) ?? [];
  return {
    ws,
    messages,
    send: (ch: number, data: string) => ws.send(Buffer.concat([Buffer.of(ch), Buffer.from(data)])),
    /** Wait until the concatenated payloads of a channel (after its first, port-number message) match. */
    waitFor: (ch: number, pattern: RegExp, timeoutMs = 10_000): Promise<string> =>
      new Promise((resolve, reject) => {
        const text = (): string => Buffer.concat(messages(ch).slice(1)).toString();
        const check = (): void => {
          if (!pattern.test(text())) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(text());
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`channel ${ch} did not match ${pattern}: ${JSON.stringify(text())}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    nPorts,
  };
}

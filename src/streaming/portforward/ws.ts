/**
 * Port forwarding over WebSocket, as the kubelet serves it (portforward/websocket.go): the ports are fixed for
 * the connection; port i has channel 2i for data (both ways) and 2i+1 for errors (to the client). The first
 * message on each of them carries the port as 2 bytes, little-endian, so the client can match channels to
 * ports. Each port gets one backend connection; the WebSocket closes when all of them ended.
 */
import { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import { errorMessage } from '../../errors';
import type { Logger } from '../../log/logger';
import { WsChannels } from '../ws/channels';
import { destroyQuietly, handleErrors } from '../../util/streams';
import { splice } from './splice';

/** "" (no subprotocol) and v4.channel.k8s.io are binary; portforward.k8s.io is accepted as a binary alias. */
export const WS_PORTFORWARD_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'portforward.k8s.io',
  '',
] as const;

export async function serveWsPortForward(
  ws: WebSocket,
  protocol: string,
  ports: readonly number[],
  sandboxId: string,
  deps: { log: Logger; connect: (port: number, signal: AbortSignal) => Promise<Duplex> },
): Promise<void> {
  const channels = new WsChannels(ws, protocol.includes('base64') ? 'base64' : 'binary', {
    readable: ports.map((_, i) => 2 * i),
    closeSignal: false,
  });
  const abort = new AbortController();
  ws.once('close', () => abort.abort(new Error('port forward websocket closed')));
  const prefix = (port: number): Buffer => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(port);
    return b;
  };
  ports.forEach((port, i) => {
    channels.send(2 * i, prefix(port));
    channels.send(2 * i + 1, prefix(port));
  });

  await Promise.allSettled(
    ports.map(async (port, i) => {
      const fail = (message: string): void => {
        deps.log.info('port forward failed', { port, error: message });
        channels.send(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${sandboxId}: ${message}`));
      };
      let conn: Duplex;
      try {
        conn = handleErrors(await deps.connect(port, abort.signal), 'port forward backend connection', deps.log);
      } catch (err) {
        return fail(errorMessage(err));
      }
      const reader = channels.reader(2 * i);
      if (!reader) return destroyQuietly(conn);
      const client = handleErrors(
        Duplex.from({ readable: reader, writable: channels.writer(2 * i) }),
        'port forward websocket channel',
        deps.log,
      );
      const err = await splice(client, conn).finally(() =>
        destroyQuietly(conn, 'port forward backend connection', deps.log),
      );
      if (err) fail(err.message);
    }),
  );
  channels.close(1000);
}

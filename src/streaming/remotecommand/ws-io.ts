/**
 * The client side of an exec/attach session over WebSocket: fixed channels 0 stdin, 1 stdout, 2 stderr,
 * 3 error, 4 resize (apimachinery's remotecommand websocket.go). As the kubelet does, an empty message on the
 * lowest writable channel tells the client the session is set up.
 */
import type WebSocket from 'ws';
import type { StreamOptions } from '../../backends/backend';
import { WsChannels } from '../ws/channels';
import { protocolTraits } from './protocols';
import type { ClientStreams } from './run';
import { encodeStatus, type K8sStatus } from './status';

export const CHANNEL = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

export function wsClientStreams(ws: WebSocket, protocol: string, opts: StreamOptions): ClientStreams {
  const traits = protocolTraits(protocol);
  const readable: number[] = [];
  if (opts.stdin) readable.push(CHANNEL.stdin);
  if (opts.tty) readable.push(CHANNEL.resize);
  const channels = new WsChannels(ws, traits.base64 ? 'base64' : 'binary', {
    readable,
    closeSignal: traits.closeSignal,
  });

  let closed = ws.readyState !== ws.OPEN;
  const gone = new Promise<void>((resolve) => {
    if (closed) return resolve();
    ws.once('close', () => {
      closed = true;
      resolve();
    });
  });

  channels.send(opts.stdout ? CHANNEL.stdout : opts.stderr ? CHANNEL.stderr : CHANNEL.error, Buffer.alloc(0));
  return {
    stdin: channels.reader(CHANNEL.stdin),
    stdout: opts.stdout ? channels.writer(CHANNEL.stdout) : undefined,
    stderr: opts.stderr && !opts.tty ? channels.writer(CHANNEL.stderr) : undefined,
    resize: channels.reader(CHANNEL.resize),
    gone,
    isGone: () => closed,
    writeStatus: (status: K8sStatus) =>
      new Promise<void>((resolve) => {
        const bytes = encodeStatus(status, traits.statusJson);
        if (!bytes || closed) return resolve();
        channels.send(CHANNEL.error, bytes, () => resolve());
      }),
    finish: () => channels.close(1000),
  };
}

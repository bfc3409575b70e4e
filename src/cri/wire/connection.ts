/**
 * How one accepted CRI connection reaches grpc-js: through the authority filter only when it has to.
 *
 * A gRPC channel sends one authority for all its calls, so the first request decides:
 * - its `:authority` is acceptable to nghttp2 (kubelet >= 1.31, grpc-js, crictl >= 1.31: "localhost") → the
 *   native socket itself goes to grpc-js, with the bytes read so far put back in front (Node's HTTP/2 session reads
 *   a socket's buffered data first). No JS touches the connection afterwards: no cost per call.
 * - it had to be rewritten (kubelet <= 1.30: the socket path) → the connection stays behind an
 *   AuthorityFilterSocket for its whole life, since later header blocks can carry the literal again (after the
 *   HPACK table evicted it).
 *
 * grpc-go does not send a request before the server's SETTINGS arrive, and grpc-js's session only exists once
 * the connection is handed over. So crimux first writes an empty SETTINGS frame itself (legal: a peer may send
 * SETTINGS any time; empty means "defaults", which nghttp2's own SETTINGS then refine), and drops the client's
 * ACK for it, so nghttp2 never sees an ACK for a SETTINGS it did not send. The native hand-over waits for that ACK
 * (a correct client sends it at once; after ACK_WAIT_MS the connection is filtered instead, which drops the ACK
 * whenever it comes).
 *
 * NOTE: a client that changes the authority between calls of one connection to one nghttp2 refuses, after a first
 * acceptable one, gets those calls refused as before; no gRPC channel does that.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { AuthorityFilterSocket } from './authority-filter';
import { FrameFilter } from './frame-filter';
import { EMPTY_SETTINGS } from './frames';

/** How long a connection whose first request needs no rewrite waits for the ACK of crimux's SETTINGS. */
export const ACK_WAIT_MS = 1000;
/** Bytes read before the first request beyond which the connection is simply filtered (no unbounded buffer). */
export const PEEK_LIMIT = 1024 * 1024;

/**
 * Reads the connection until its first request is complete, then calls `handOver` with the native socket or
 * with an AuthorityFilterSocket around it. Errors end this connection only and are reported to `onError`.
 */
export function adoptConnection(
  socket: net.Socket,
  handOver: (conn: Duplex) => void,
  onError: (err: Error) => void,
): void {
  const filter = new FrameFilter({ dropFirstSettingsAck: true });
  const out: Buffer[] = [];
  let read = 0;
  let ackTimer: NodeJS.Timeout | undefined;
  let decided = false;

  const onSocketError = (err: Error): void => {
    onError(err);
    socket.destroy();
  };
  const finish = (): void => {
    decided = true;
    clearTimeout(ackTimer);
    socket.off('data', onData);
    socket.off('error', onSocketError);
    socket.off('close', onClose);
  };
  const filtered = (): void => {
    finish();
    handOver(new AuthorityFilterSocket(socket, onError, filter, out));
  };
  const native = (): void => {
    finish();
    socket.pause();
    const bytes = Buffer.concat([...out, ...filter.takeUnprocessed()]);
    if (bytes.length) socket.unshift(bytes);
    socket.on('error', onError);
    handOver(socket);
  };
  const onClose = (): void => clearTimeout(ackTimer);
  const onData = (chunk: Buffer): void => {
    try {
      out.push(...filter.push(chunk));
    } catch (err) {
      onSocketError(err as Error);
      return;
    }
    read += chunk.length;
    if (filter.rewrittenBlocks > 0 || read > PEEK_LIMIT) {
      filtered();
    } else if (filter.headerBlocks > 0) {
      if (filter.settingsAckDropped) native();
      else ackTimer ??= setTimeout(() => decided || filtered(), ACK_WAIT_MS);
    }
  };

  socket.on('data', onData);
  socket.on('error', onSocketError);
  socket.on('close', onClose);
  socket.write(EMPTY_SETTINGS);
}

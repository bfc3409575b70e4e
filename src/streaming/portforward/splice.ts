/**
 * Copies bytes both ways between a client's data stream and a backend connection, with TCP-like half-close:
 * the client's end (SPDY FIN) half-closes the backend connection, the backend's EOF ends the client's stream.
 * Done when both directions ended, when the backend connection closed for good (its peer is gone: what the
 * client still sends is discarded), on an error or reset on either side, or — as containerd does — one second
 * after the backend's EOF if the client has not finished by then (some backends' relays end their output but
 * never close, and a client may wait for the error stream before closing its side). The caller then destroys
 * the backend connection, so no socket outlives its forward.
 */
import type { Duplex } from 'node:stream';

/** After the backend's EOF, how long the client's direction may still run (containerd: 1 s). */
const AFTER_EOF_MS = 1000;

export function splice(client: Duplex, backend: Duplex): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let up = false; // client → backend finished
    let down = false; // backend → client finished
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.unpipe(backend);
      backend.unpipe(client);
      client.off('end', onClientEnd).off('close', onClientClose).off('error', onClientError);
      backend.off('end', onBackendEnd).off('close', onBackendClose).off('error', onBackendError);
      if (!client.readableEnded) client.resume();
      resolve(error);
    };
    const onClientEnd = (): void => {
      up = true;
      if (down) settle();
    };
    const onBackendEnd = (): void => {
      down = true;
      if (up) settle();
      else timer = setTimeout(settle, AFTER_EOF_MS);
    };
    const onClientClose = (): void => settle();
    const onBackendClose = (): void => {
      // Give the piped EOF a chance to reach the client before we stop.
      if (!client.writableEnded) client.end();
      settle();
    };
    const onClientError = (): void => settle();
    const onBackendError = (err: Error): void => {
      error ??= err;
      settle();
    };
    client.on('end', onClientEnd).on('close', onClientClose).on('error', onClientError);
    backend.on('end', onBackendEnd).on('close', onBackendClose).on('error', onBackendError);
    // Either side may be gone already (the client left while the backend connected): its 'close' will not
    // come again, so waiting for it would hold the forward — and the backend connection — forever.
    if (isGone(client) || isGone(backend)) return settle();
    client.pipe(backend);
    backend.pipe(client);
  });
}

function isGone(s: Duplex): boolean {
  return s.destroyed || s.closed;
}

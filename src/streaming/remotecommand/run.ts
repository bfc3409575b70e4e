/**
 * Runs one exec or attach session between a client's streams (SPDY or WebSocket, already set up) and the
 * backend's ProcessStreams — the same code for both transports and every backend.
 *
 * Order of events, as the kubelet does it: start the process; copy stdin in and stdout/stderr out; apply TTY
 * resizes; when the process exits, let its output drain (bounded), then write the final status and close the
 * connection. If the client goes away first, ProcessStreams.close() kills the exec'd process (or detaches an
 * attach) so nothing outlives the session.
 */
import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { CallContext, ProcessStreams } from '../../backends/backend';
import { errorMessage } from '../../errors';
import type { Logger } from '../../log/logger';
import { handleErrors } from '../../util/streams';
import type { StreamRequest } from '../requests';
import { ResizeDecoder } from './resize';
import { exitCodeStatus, internalErrorStatus, successStatus, type K8sStatus } from './status';

/** The client's side of a session, whatever the transport. */
export interface ClientStreams {
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly stderr?: Writable;
  readonly resize?: Readable;
  /** Resolves once the client connection is gone (closed by either side). Never rejects. */
  readonly gone: Promise<void>;
  isGone(): boolean;
  /** Send the final status in the negotiated protocol's form; resolves when written (or the client is gone). */
  writeStatus(status: K8sStatus): Promise<void>;
  /** Close the connection after the status. */
  finish(): void;
}

export interface SessionOutcome {
  readonly exitCode?: number;
  readonly status: K8sStatus;
  readonly clientGone: boolean;
}

/** After the process exited, how long its output may keep flowing (a daemonized grandchild can hold the pipe). */
const OUTPUT_DRAIN_MS = 10_000;

export async function runRemoteCommand(
  req: Extract<StreamRequest, { kind: 'exec' | 'attach' }>,
  client: ClientStreams,
  log: Logger,
): Promise<SessionOutcome> {
  const abort = new AbortController();
  void client.gone.then(() => abort.abort(new Error('streaming client went away')));
  const ctx: CallContext = { signal: abort.signal, log };

  let ps: ProcessStreams;
  try {
    ps =
      req.kind === 'exec'
        ? await req.backend.exec(ctx, req.containerId, [...req.cmd], req.opts)
        : await req.backend.attach(ctx, req.containerId, req.opts);
  } catch (err) {
    const what = req.kind === 'exec' ? 'executing command in' : 'attaching to';
    return finish(client, internalErrorStatus(`error ${what} container ${req.containerId}: ${errorMessage(err)}`));
  }

  // What a backend hands over is guarded here too, whatever it did itself (issue #27): an 'error' on a process
  // pipe ends that direction of the copy, never the daemon. close() must not throw into a floating promise.
  for (const [name, s] of Object.entries({ stdin: ps.stdin, stdout: ps.stdout, stderr: ps.stderr }))
    handleErrors(s, `${req.kind} process ${name}`, log);
  for (const [name, s] of Object.entries({
    stdin: client.stdin,
    stdout: client.stdout,
    stderr: client.stderr,
    resize: client.resize,
  })) {
    handleErrors(s, `${req.kind} client ${name}`, log);
  }
  const close = (): void => {
    try {
      ps.close();
    } catch (err) {
      log.debug(`${req.kind}: closing the process streams failed`, { error: errorMessage(err) });
    }
  };
  void client.gone.then(close);
  if (client.isGone()) close();
  try {
    wireStdin(client.stdin, ps.stdin);
    wireResize(client.resize, ps, log);
    const outputs = Promise.all([copyOut(ps.stdout, client.stdout), copyOut(ps.stderr, client.stderr)]);

    let exitCode: number;
    try {
      ({ exitCode } = await ps.wait());
    } catch (err) {
      return await finish(
        client,
        internalErrorStatus(`wait for ${req.kind} in container ${req.containerId}: ${errorMessage(err)}`),
      );
    }
    if (!client.isGone()) await drain(outputs, client.gone);

    // Attach reports success when the session ends, as the kubelet does: the exit code belongs to the
    // container's status, not to whoever was attached.
    const status = req.kind === 'exec' && exitCode !== 0 ? exitCodeStatus(exitCode, req.cmd) : successStatus();
    const outcome = await finish(client, status);
    return { ...outcome, exitCode };
  } finally {
    client.stdin?.unpipe();
    close();
  }
}

async function finish(client: ClientStreams, status: K8sStatus): Promise<SessionOutcome> {
  const clientGone = client.isGone();
  if (!clientGone) await client.writeStatus(status);
  client.finish();
  return { status, clientGone };
}

/** Client stdin → process stdin; the client's end (FIN / v5 close) closes the process's stdin. */
function wireStdin(from: Readable | undefined, to: Writable | undefined): void {
  if (!from) return;
  if (!to) {
    from.resume(); // nothing reads it: discard rather than stall the connection
    return;
  }
  from.pipe(to); // EPIPE once the process exited is expected, not a session failure (guarded by the caller)
}

function wireResize(from: Readable | undefined, ps: ProcessStreams, log: Logger): void {
  if (!from) return;
  const decoder = new ResizeDecoder();
  from.on('data', (chunk: Buffer) => {
    for (const size of decoder.push(chunk)) {
      try {
        ps.resize(size);
      } catch (err) {
        log.debug('terminal resize failed', { error: errorMessage(err) });
      }
    }
  });
}

/** Process output → client; resolves when the output ended (and the client's stream was ended) or failed. */
async function copyOut(from: Readable | undefined, to: Writable | undefined): Promise<void> {
  if (!from) {
    to?.end();
    return;
  }
  if (!to) {
    from.resume();
    await finished(from, { writable: false }).catch(() => undefined);
    return;
  }
  from.pipe(to);
  // Only the directions that matter: the client's stream may stay readable until the connection closes.
  const toDone = finished(to, { readable: false });
  await Promise.race([finished(from, { writable: false }).then(() => toDone), toDone]).catch(() => undefined);
}

async function drain(outputs: Promise<unknown>, gone: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([outputs, gone, new Promise((r) => (timer = setTimeout(r, OUTPUT_DRAIN_MS)))]);
  clearTimeout(timer);
}

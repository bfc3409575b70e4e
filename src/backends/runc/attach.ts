/**
 * Attach for runc containers: the container's stdio is held by its conmon, which serves it on the bundle's
 * attach socket (SOCK_SEQPACKET, reached through crimux-io). Leaving only disconnects from conmon: the container
 * keeps running. Resizes go to conmon's ctl FIFO. stdin is relayed only when the container was created with
 * stdin (conmon -i; without it conmon has no pipe to write to).
 */
import type { CallContext, ProcessStreams, StreamOptions } from '../backend';
import { FailedPreconditionError, UnavailableError } from '../../errors';
import { attachSocketPath, readExitFile, resizeTerminal } from '../../host/conmon';
import { attachSocket, requireHelper } from '../../host/crimux-io';
import type { RuncShared } from './context';
import { mustRecord } from './containers';

/** How long the helper gets to connect before a session counts as failed (it either connects or exits at once). */
const CONNECT_GRACE_MS = 300;

export async function attachStream(
  s: RuncShared,
  ctx: CallContext,
  id: string,
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const rec = mustRecord(s, id);
  const sandbox = s.records.sandbox(rec.sandboxId);
  const dir = s.layout.containerDir(id);
  const live = sandbox && rec.startedAt ? await s.engine.state(sandbox.handler, id, dir) : undefined;
  if (!sandbox || live?.kind !== 'running')
    throw new FailedPreconditionError(`attach to container ${id}: container is not running`);
  await requireHelper(s.runc.ioHelperPath);
  ctx.log.info('attach', { stdin: opts.stdin && rec.stdin, tty: rec.tty });
  const h = attachSocket(s.runc.ioHelperPath, attachSocketPath(dir), {
    stdin: opts.stdin && rec.stdin,
    stdout: opts.stdout,
    // With a terminal conmon sends everything as stdout.
    stderr: opts.stderr && !rec.tty,
  });
  // A helper that cannot connect (conmon gone, socket missing) exits at once: report that as the call's error.
  const early = await Promise.race([
    h.exited.then(
      (code) => ({ code }),
      (e: unknown) => ({ error: e }),
    ),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), CONNECT_GRACE_MS)),
  ]);
  if (early && ('error' in early || early.code !== 0)) {
    const why = 'error' in early ? String(early.error) : h.diagnostics() || `crimux-io exited with ${early.code}`;
    throw new UnavailableError(`attach to container ${id}: ${why}`);
  }
  let closed = false;
  return {
    stdin: h.stdin,
    stdout: h.stdout,
    stderr: h.stderr,
    resize: (size) => {
      if (rec.tty) void resizeTerminal(dir, size.width, size.height).catch(() => undefined);
    },
    // The session ends when conmon closes the socket (container exited) or close() ended the helper.
    wait: async () => {
      await h.exited.catch(() => undefined);
      return { exitCode: (await readExitFile(dir))?.code ?? 0 };
    },
    close: () => {
      if (closed) return;
      closed = true;
      h.child.kill('SIGKILL');
    },
  };
}

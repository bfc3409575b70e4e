/**
 * ExecSync through Docker's exec API: create, start on a hijacked connection, collect the demultiplexed output,
 * then read the exit code from exec inspect.
 *
 * Docker has no "kill exec" call, so a timeout kills the exec'd process (and its descendants) by the host PID that
 * exec inspect reports — crimux runs as root on the same host as dockerd — then throws DeadlineExceededError.
 */
import type { CallContext, ExecSyncResult } from '../backend';
import { DeadlineExceededError, FailedPreconditionError, InternalError } from '../../errors';
import type { DockerShared } from './context';
import { FrameDecoder } from './stream-frames';
import { ExecSyncOutput } from '../../host/exec-output';
import { processTree } from '../../host/proc-tree';
import { pollUntil } from '../../host/wait';

/** How long dockerd gets to record an exec's exit code after its stream closed. */
const EXIT_CODE_WAIT_MS = 5000;
/** Exec inspect polls at a fixed 20 ms: both waits are short, so no backoff. */
const INSPECT_POLL = { intervalMs: 20, maxIntervalMs: 20 };

export async function execSync(
  s: DockerShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<ExecSyncResult> {
  const c = await s.lookup.mustInspect('container', id, ctx.signal);
  if (!c.State.Running) throw new FailedPreconditionError(`exec in container ${id}: container is not running`);
  const execId = await s.engine.createExec(
    c.Id,
    { cmd, tty: false, stdin: false, stdout: true, stderr: true },
    ctx.signal,
  );
  ctx.log.debug('exec sync', { dockerId: c.Id, execId, cmd: cmd[0] });
  const { socket, head } = await s.engine.startExec(execId, false, ctx.signal);
  const output = new ExecSyncOutput();
  const decoder = new FrameDecoder();
  const take = (chunk: Buffer): void => {
    for (const f of decoder.push(chunk))
      if (f.stream === 'stdout' || f.stream === 'stderr') output.take(f.stream, f.data);
  };
  if (head.length) take(head);

  let timedOut = false;
  const ended = new Promise<void>((resolve, reject) => {
    socket.on('data', take);
    socket.on('end', () => resolve());
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  const deadline =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          void killExec(s, execId).finally(() => socket.destroy());
        }, timeoutSeconds * 1000)
      : undefined;
  const onAbort = (): void => {
    void killExec(s, execId).finally(() => socket.destroy());
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await ended;
  } finally {
    if (deadline) clearTimeout(deadline);
    ctx.signal.removeEventListener('abort', onAbort);
    socket.destroy();
  }
  if (timedOut) {
    throw new DeadlineExceededError(`exec in container ${id}: command timed out after ${timeoutSeconds}s`);
  }
  return { stdout: output.stdout, stderr: output.stderr, exitCode: await exitCode(s, execId, ctx.signal) };
}

/** Docker records the exit code a moment after the stream closes; poll briefly for it. */
async function exitCode(s: DockerShared, execId: string, signal: AbortSignal): Promise<number> {
  // The signal goes to inspect, not to pollUntil: an abort surfaces as inspect's error, not an AbortError.
  const code = await pollUntil(
    async () => {
      const st = await s.engine.inspectExec(execId, signal);
      return !st.Running && st.ExitCode !== null ? st.ExitCode : undefined;
    },
    { timeoutMs: EXIT_CODE_WAIT_MS, ...INSPECT_POLL },
  );
  if (code === undefined) throw new InternalError(`exec ${execId}: no exit code after the stream ended`);
  return code;
}

/**
 * Kills an exec'd process tree by host PID. An exec that was just started may not have a PID yet, so Docker is
 * asked again briefly; one that already exited needs nothing. Errors are swallowed on purpose: dockerd gone or
 * the process finished both mean nothing is left to kill.
 */
export async function killExec(s: DockerShared, execId: string): Promise<void> {
  try {
    // The PID to kill, or 0 once the exec has exited (nothing to kill).
    const pid = await pollUntil(
      async () => {
        const st = await s.engine.inspectExec(execId);
        if (st.Running && st.Pid > 0) return st.Pid;
        return !st.Running && st.ExitCode !== null ? 0 : undefined;
      },
      { timeoutMs: 2000, ...INSPECT_POLL },
    );
    if (pid) await killTree(pid);
  } catch {
    // nothing left to kill
  }
}

/** SIGKILL a process and every descendant /proc shows for it (host/proc-tree). */
export async function killTree(pid: number): Promise<void> {
  for (const p of await processTree(pid)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

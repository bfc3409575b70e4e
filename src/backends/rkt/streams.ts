/**
 * ExecSync and Exec: `rkt app exec` (pod-manager appExec) as a child process. Unlike rktlet, ExecSync honours its
 * timeout (the whole process tree is killed, then DeadlineExceeded), and on the built-in stage1 the command runs as
 * the container's user in its working dir (rkt's enterexec ran it as root in "/").
 */
import type { ChildProcess } from 'node:child_process';
import { DeadlineExceededError, NotFoundError } from '../../errors';
import { ExecSyncOutput, exitCodeOf } from '../../host/exec-output';
import { sleep } from '../../host/wait';
import type { CallContext, ExecSyncResult, ProcessStreams, StreamOptions } from '../backend';
import type { RktShared } from './context';
import { findContainer } from './lookup';
import { processTree } from '../../host/proc-tree';
import { processStartTime } from './stage1/liveness';
import { terminalResizer } from './tty-resize';
import { handleChildErrors } from '../../util/streams';

async function spawnExec(
  s: RktShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  opts: { tty: boolean; stdin: boolean },
): Promise<ChildProcess> {
  const rec = await findContainer(s, id, ctx.signal);
  if (!rec) throw new NotFoundError(`exec in container ${id}: container not found`);
  ctx.log.debug('rkt app exec', { app: rec.app, cmd: cmd[0] });
  return handleChildErrors(await s.pm.appExec(rec.uuid, rec.app, cmd, opts), 'rkt app exec', ctx.log);
}

/** Bound of killTree: the exec's processes get this long to be killed and reaped. */
const KILL_WAIT_MS = 5000;
/** A root with no process below it for this long is not about to fork its command: it is killed itself. */
const CHILDLESS_MS = 150;
const POLL_MS = 30;

function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/**
 * Ends an exec: SIGKILLs every process below the child and waits (bounded) until they are gone, zombies included.
 * The child is the host side of nsenter (or the sh before it); the command runs below it in the pod's PID
 * namespace. The processes below are killed and the child is left to reap its own and exit: had the child died
 * first, the command would be re-parented to its namespace's reaper (the pod's stub init; for pid=CONTAINER the
 * app's main process, which may never reap it) and could still be listed when ExecSync returned (issue #20).
 * Scans repeat until the child exits, so a process forked after one scan (nsenter's child, script's command)
 * is caught by the next; the child itself is killed only when nothing is below it or at the bound.
 */
export async function killTree(child: ChildProcess, waitMs = KILL_WAIT_MS): Promise<void> {
  const root = child.pid;
  if (root === undefined) return;
  let exited = child.exitCode !== null || child.signalCode !== null;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  const killed = new Map<number, string>();
  const deadline = Date.now() + waitMs;
  try {
    let childlessSince: number | undefined;
    while (!exited && Date.now() < deadline) {
      const below = (await processTree(root)).slice(1);
      if (below.length > 0) childlessSince = undefined;
      else if (childlessSince === undefined) childlessSince = Date.now();
      else if (Date.now() - childlessSince >= CHILDLESS_MS) break;
      for (const pid of below.reverse()) {
        const start = killed.get(pid) ?? (await processStartTime(pid));
        if (start === undefined) continue;
        killed.set(pid, start);
        sigkill(pid);
      }
      await sleep(POLL_MS);
    }
    if (!exited) sigkill(root);
    // Orphans (the command's own children, whose parent died with them) are reaped by their namespace's init.
    for (const [pid, start] of killed) {
      while (Date.now() < deadline && (await processStartTime(pid)) === start) await sleep(POLL_MS);
    }
  } finally {
    child.off('exit', onExit);
  }
}

export async function execSync(
  s: RktShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<ExecSyncResult> {
  const child = await spawnExec(s, ctx, id, cmd, { tty: false, stdin: false });
  const output = new ExecSyncOutput();
  // A killed exec is reported only once its processes are gone (killTree), not as soon as the child closes.
  let killing: Promise<void> | undefined;
  const kill = (): void => {
    killing ??= killTree(child);
  };
  child.stdout?.on('data', (b: Buffer) => output.take('stdout', b));
  child.stderr?.on('data', (b: Buffer) => output.take('stderr', b));
  let timedOut = false;
  const timer =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, timeoutSeconds * 1000)
      : undefined;
  const onAbort = (): void => kill();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => resolve(exitCodeOf(code, sig)));
  }).finally(() => {
    if (timer) clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  });
  await killing;
  if (timedOut) throw new DeadlineExceededError(`exec in container ${id}: timed out after ${timeoutSeconds} s`);
  return { stdout: output.stdout, stderr: output.stderr, exitCode };
}

export async function exec(
  s: RktShared,
  ctx: CallContext,
  id: string,
  cmd: string[],
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const child = await spawnExec(s, ctx, id, cmd, { tty: opts.tty, stdin: opts.stdin });
  const exited = new Promise<{ exitCode: number }>((resolve) => {
    child.on('error', () => resolve({ exitCode: 127 }));
    child.on('close', (code, sig) => resolve({ exitCode: exitCodeOf(code, sig) }));
  });
  let closed = false;
  return {
    stdin: child.stdin ?? undefined,
    stdout: opts.stdout ? (child.stdout ?? undefined) : undefined,
    stderr: opts.stderr && !opts.tty ? (child.stderr ?? undefined) : undefined,
    // script(1) owns the terminal inside the pod; tty-resize.ts reaches it through /proc.
    resize: opts.tty ? terminalResizer(child.pid, exited) : () => undefined,
    wait: () => exited,
    close: () => {
      if (closed) return;
      closed = true;
      void killTree(child);
    },
  };
}

/**
 * ExecSync and Exec: `rkt app exec` (pod-manager appExec) as a child process. Unlike rktlet, ExecSync honours its
 * timeout (the whole process tree is killed, then DeadlineExceeded), and on the built-in stage1 the command runs as
 * the container's user in its working dir (rkt's enterexec ran it as root in "/").
 */
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { DeadlineExceededError, NotFoundError, ResourceExhaustedError } from '../../errors';
import type { CallContext, ExecSyncResult, ProcessStreams, StreamOptions } from '../backend';
import type { RktContext } from './context';
import { findContainer } from './lookup';
import { processTree } from './stage1/liveness';
import { terminalResizer } from './tty-resize';
import { handleChildErrors } from '../../util/streams';

/** ExecSync output is held in memory; bound it like the kubelet's 16 MiB message limit. */
const MAX_OUTPUT = 16 * 1024 * 1024;

async function spawnExec(
  ctx: RktContext,
  cc: CallContext,
  id: string,
  cmd: string[],
  opts: { tty: boolean; stdin: boolean },
): Promise<ChildProcess> {
  const rec = await findContainer(ctx, id, cc.signal);
  if (!rec) throw new NotFoundError(`exec in container ${id}: container not found`);
  cc.log.debug('rkt app exec', { app: rec.app, cmd: cmd[0] });
  return handleChildErrors(await ctx.pm.appExec(rec.uuid, rec.app, cmd, opts), 'rkt app exec', cc.log);
}

/** SIGKILL the child and everything below it (the command runs as a grandchild, inside the pod). */
export async function killTree(child: ChildProcess): Promise<void> {
  if (child.pid === undefined) return;
  const pids = await processTree(child.pid);
  for (const pid of pids.reverse()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? os.constants.signals[signal] : undefined;
  return 128 + (n ?? 9);
}

export async function execSync(
  ctx: RktContext,
  cc: CallContext,
  id: string,
  cmd: string[],
  timeoutSeconds: number,
): Promise<ExecSyncResult> {
  const child = await spawnExec(ctx, cc, id, cmd, { tty: false, stdin: false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  let overflow = false;
  const collect = (into: Buffer[]) => (b: Buffer) => {
    size += b.length;
    if (size > MAX_OUTPUT) {
      overflow = true;
      void killTree(child);
      return;
    }
    into.push(b);
  };
  child.stdout?.on('data', collect(out));
  child.stderr?.on('data', collect(err));
  let timedOut = false;
  const timer =
    timeoutSeconds > 0
      ? setTimeout(() => {
          timedOut = true;
          void killTree(child);
        }, timeoutSeconds * 1000)
      : undefined;
  const onAbort = (): void => void killTree(child);
  cc.signal.addEventListener('abort', onAbort, { once: true });
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, sig) => resolve(exitCodeOf(code, sig)));
  }).finally(() => {
    if (timer) clearTimeout(timer);
    cc.signal.removeEventListener('abort', onAbort);
  });
  if (timedOut) throw new DeadlineExceededError(`exec in container ${id}: timed out after ${timeoutSeconds} s`);
  if (overflow) throw new ResourceExhaustedError(`exec in container ${id}: output exceeds ${MAX_OUTPUT} bytes`);
  return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), exitCode };
}

export async function exec(
  ctx: RktContext,
  cc: CallContext,
  id: string,
  cmd: string[],
  opts: StreamOptions,
): Promise<ProcessStreams> {
  const child = await spawnExec(ctx, cc, id, cmd, { tty: opts.tty, stdin: opts.stdin });
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

/**
 * Terminal resizes for a TTY exec on the built-in stage1. The terminal is allocated by script(1) inside the pod
 * (it must come from the pod's devpts), so crimux holds no pty handle of its own. The slave is reachable from the
 * host anyway: /proc/PID/fd/N of any process in the exec's tree that has it open is a magic link to that very
 * terminal, whatever mount namespace it lives in. TIOCSWINSZ on it (stty) makes the kernel send SIGWINCH to the
 * terminal's foreground process group itself.
 */
import { promises as fs } from 'node:fs';
import { runCommand } from '../../host/process';
import { processTree } from '../../host/proc-tree';

/** How long to look for the terminal after the exec started (script forks its child a moment later). */
const FIND_TRIES = 100;
const FIND_INTERVAL_MS = 50;
const STTY_TIMEOUT_MS = 10_000;

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** /proc/PID/fd/N of a process under root that has a devpts terminal open, or undefined (none yet / gone). */
export async function findTerminal(root: number): Promise<string | undefined> {
  for (const pid of await processTree(root)) {
    for (const fd of [0, 1, 2]) {
      const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (/\/pts\/\d+$/.test(link)) return `/proc/${pid}/fd/${fd}`;
    }
  }
  return undefined;
}

/**
 * Returns a resize function for the exec whose host-side process is root. Resizes are applied in order, one at a
 * time; the ones that arrive before the terminal exists wait (bounded) for it, and only the latest pending one is
 * applied. Failures are dropped: a resize is advisory, and the process may have exited meanwhile.
 */
export function terminalResizer(root: number | undefined, done: Promise<unknown>): (size: Size) => void {
  let pending: Size | undefined;
  let running = false;
  let exited = false;
  void done.then(() => (exited = true));
  const apply = async (size: Size): Promise<void> => {
    for (let i = 0; i < FIND_TRIES && !exited; i++) {
      const tty = await findTerminal(root as number);
      if (tty) {
        await runCommand('stty', ['-F', tty, 'rows', String(size.height), 'cols', String(size.width)], {
          timeoutMs: STTY_TIMEOUT_MS,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, FIND_INTERVAL_MS));
    }
  };
  const drain = async (): Promise<void> => {
    running = true;
    while (pending) {
      const size = pending;
      pending = undefined;
      await apply(size).catch(() => undefined);
    }
    running = false;
  };
  return (size) => {
    if (root === undefined || exited) return;
    if (!Number.isInteger(size.width) || !Number.isInteger(size.height) || size.width <= 0 || size.height <= 0) return;
    pending = { width: Math.min(size.width, 65535), height: Math.min(size.height, 65535) };
    if (!running) void drain();
  };
}

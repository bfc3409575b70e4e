/**
 * Ending an exec session: the runtime's exec (or crimux-io) is only a proxy, so the exec'd process itself is
 * killed by the PID the runtime wrote to --pid-file. The runtime writes that file only after the process started
 * — the process may already have printed something and the client left before it exists — so it is polled for a
 * bounded time instead of read once; the proxy is killed last in case it lingers.
 */
import type { ChildProcess } from 'node:child_process';
import { readPidFile } from '../../host/conmon';
import { pollUntil } from '../../host/wait';

const PID_FILE_WAIT_MS = 5000;
const PROXY_GRACE_MS = 2000;

export function killExec(pidFile: string, proxy: ChildProcess): void {
  const running = (): boolean => proxy.exitCode === null && proxy.signalCode === null;
  // The proxy exits only after the process did: nothing to kill, and the PID may already be someone else's.
  if (!running()) return;
  void (async () => {
    // The PID, or 0 once the proxy has exited: so has the process, nothing to kill.
    const pid = await pollUntil(async () => (await readPidFile(pidFile)) ?? (running() ? undefined : 0), {
      timeoutMs: PID_FILE_WAIT_MS,
      intervalMs: 50,
      maxIntervalMs: 50,
    });
    if (pid && running()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already exited */
      }
    }
    setTimeout(() => proxy.kill('SIGKILL'), PROXY_GRACE_MS).unref();
  })();
}

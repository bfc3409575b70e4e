/**
 * Tells systemd the daemon is ready (Type=notify), so `Before=kubelet.service` really waits for a serving CRI
 * socket and not just for a started process. Node cannot send the AF_UNIX datagram itself, so systemd's own
 * `systemd-notify` sends it on our behalf; MAINPID names this process and the unit sets NotifyAccess=all, because
 * the message then comes from a child. Without NOTIFY_SOCKET (not under systemd, or Type=simple) it does nothing.
 * NOTE: a notification lost to systemd-notify's exit race (systemd < 254) leaves the unit "activating" until
 * TimeoutStartSec; the unit sets that generously and the daemon serves regardless.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../log/logger';

export function notifySystemd(
  state: 'ready' | 'stopping',
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve();
  const args = state === 'ready' ? [`--pid=${process.pid}`, '--ready'] : [`--pid=${process.pid}`, 'STOPPING=1'];
  return new Promise((resolve) => {
    execFile(env.CRIMUX_SYSTEMD_NOTIFY ?? 'systemd-notify', args, { env, timeout: 5_000 }, (err) => {
      if (err) log.warn('could not notify systemd', { state, error: err.message });
      else log.debug('notified systemd', { state });
      resolve();
    });
  });
}

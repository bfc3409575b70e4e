/** `crimux serve`: load config, start the daemon, handle signals. Resolves with the exit code after shutdown. */
import { loadConfig, type ConfigOverrides } from '../config/load';
import { Daemon } from '../daemon';
import { createLogger, isLogLevel } from '../log/logger';
import { errorMessage } from '../errors';
import { installCrashHandlers } from './crash';

export async function serve(flags: Record<string, string | undefined>): Promise<number> {
  // First thing, before the config is read: a crash at any point is logged with its stack (error level is shown
  // at every configured level, so this logger needs no config).
  installCrashHandlers(createLogger());
  const overrides: ConfigOverrides = {
    'socket.path': flags.socket,
    stateDir: flags['state-dir'],
    'metrics.address': flags['metrics-address'],
    logLevel: flags['log-level'],
  };
  const load = () => loadConfig({ ...(flags.config ? { file: flags.config } : {}), overrides });
  const config = load();
  const log = createLogger({ level: isLogLevel(config.logLevel) ? config.logLevel : 'info', format: config.logFormat });
  // Signal handlers come before start-up: a SIGTERM during reconcile must drain, not kill the process half-way.
  // A signal that arrives while starting is kept and acted on once start-up has finished (reconcile is bounded).
  const running: { daemon?: Daemon } = {};
  let pendingStop: string | undefined;
  let stopRequested: (signal: string) => void = (signal) => {
    pendingStop ??= signal;
  };
  process.on('SIGTERM', () => stopRequested('SIGTERM'));
  process.on('SIGINT', () => stopRequested('SIGINT'));
  process.on('SIGHUP', () => {
    const daemon = running.daemon;
    if (!daemon) {
      log.warn('SIGHUP during start-up ignored; send it again once ready');
      return;
    }
    try {
      const next = load();
      daemon.reload(next);
      // The log level applies at once; the format is fixed for the process (a switch mid-stream breaks parsers).
      if (next.logLevel !== log.level) {
        log.setLevel(next.logLevel);
        log.info('log level changed', { level: next.logLevel });
      }
    } catch (err) {
      log.error('reload refused; keeping the running configuration', { error: errorMessage(err) });
    }
  });
  const started = await Daemon.start({ config, log });
  running.daemon = started;

  return new Promise<number>((resolve) => {
    let stopping = false;
    stopRequested = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('signal received; draining', { signal });
      started.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: errorMessage(err) });
          resolve(1);
        },
      );
    };
    if (pendingStop) stopRequested(pendingStop);
  });
}

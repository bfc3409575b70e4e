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
  const log = createLogger({ level: isLogLevel(config.logLevel) ? config.logLevel : 'info' });
  const daemon = await Daemon.start({ config, log });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info('signal received; draining', { signal });
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error('shutdown failed', { error: errorMessage(err) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      try {
        daemon.reload(load());
      } catch (err) {
        log.error('reload refused; keeping the running configuration', { error: errorMessage(err) });
      }
    });
  });
}

/**
 * `crimux rkt …`: rkt-syntax debugging commands (list, status, app list, …) over the rkt backend's built-in
 * stage1 and the shared image store, read from disk like rkt itself — usable while the daemon runs.
 */
import path from 'node:path';
import { defaultConfigFile, loadConfig } from '../config/load';
import { OciImageStore } from '../images/store';
import { nullLogger } from '../log/logger';
import { Metrics } from '../metrics/metrics';
import { runRktCli } from '../backends/rkt/cli';
import { rktCliDeps } from '../backends/rkt/cli-deps';

export async function rkt(argv: string[]): Promise<number> {
  // --config may come first; everything else is rkt's own syntax.
  let configFile: string | undefined;
  if (argv[0] === '--config') {
    configFile = argv[1];
    argv = argv.slice(2);
  }
  configFile ??= defaultConfigFile();
  const config = loadConfig(configFile ? { file: configFile } : {});
  const images = new OciImageStore({
    root: path.join(config.stateDir, 'images'),
    registries: config.images.registries,
    pullTimeoutSeconds: config.images.pullTimeoutSeconds,
    platform: config.images.platform,
    log: nullLogger(),
    metrics: new Metrics({ processMetrics: false }),
  });
  return runRktCli(argv, rktCliDeps(config, images));
}

/** Builds and starts the streaming server from the `streaming` config section (the daemon's one entry point). */
import fs from 'node:fs';
import type { Config } from '../config/types';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { StreamingServer } from './server';

export { StreamingServer } from './server';

export async function startStreamingServer(config: Config['streaming'], deps: { log: Logger; metrics: Metrics }): Promise<StreamingServer> {
  const { tlsCertFile, tlsKeyFile } = config;
  if (Boolean(tlsCertFile) !== Boolean(tlsKeyFile)) {
    throw new InvalidArgumentError('streaming: tlsCertFile and tlsKeyFile must be set together');
  }
  const read = (key: string, file: string): Buffer => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      throw new InvalidArgumentError(`streaming: read ${key} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const server = new StreamingServer({
    address: config.address,
    tokenTtlSeconds: config.tokenTtlSeconds,
    tls: tlsCertFile && tlsKeyFile ? { cert: read('tlsCertFile', tlsCertFile), key: read('tlsKeyFile', tlsKeyFile) } : undefined,
    log: deps.log,
    metrics: deps.metrics,
  });
  await server.listen();
  return server;
}

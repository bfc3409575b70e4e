/** Builds and starts the streaming server from the `streaming` config section (the daemon's one entry point). */
import fs from 'node:fs';
import type { Config } from '../config/types';
import { InvalidArgumentError } from '../errors';
import type { Logger } from '../log/logger';
import type { Metrics } from '../metrics/metrics';
import { StreamingServer } from './server';

export { StreamingServer } from './server';

/** The timeouts are optional here (tests build the section by hand); the config schema always fills them in. */
type StreamingSection = Omit<Config['streaming'], 'idleTimeoutSeconds' | 'streamCreationTimeoutSeconds'> &
  Partial<Pick<Config['streaming'], 'idleTimeoutSeconds' | 'streamCreationTimeoutSeconds'>>;

export async function startStreamingServer(
  config: StreamingSection,
  deps: { log: Logger; metrics: Metrics },
): Promise<StreamingServer> {
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
    tls:
      tlsCertFile && tlsKeyFile
        ? { cert: read('tlsCertFile', tlsCertFile), key: read('tlsKeyFile', tlsKeyFile) }
        : undefined,
    log: deps.log,
    metrics: deps.metrics,
    idleTimeoutMs: config.idleTimeoutSeconds === undefined ? undefined : config.idleTimeoutSeconds * 1000,
    streamCreationTimeoutMs:
      config.streamCreationTimeoutSeconds === undefined ? undefined : config.streamCreationTimeoutSeconds * 1000,
  });
  await server.listen();
  return server;
}

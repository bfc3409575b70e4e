/**
 * Child process of registry-transport.test.ts: pulls one image with an OciImageStore in a fresh process, so the
 * process-wide roots (Node's, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE) are read from the environment the test gives it.
 * argv[2]: JSON { root, registries, image }. Prints "ok <image id>" or "error <kind> <message>"; exit code 0 either way.
 */
import { OciImageStore } from '../../src/images/store';
import { nullLogger } from '../../src/log/logger';
import { Metrics } from '../../src/metrics/metrics';
import { errorKind } from '../../src/errors';

async function main(): Promise<void> {
  const { root, registries, image } = JSON.parse(process.argv[2] ?? '{}') as {
    root: string;
    registries: ConstructorParameters<typeof OciImageStore>[0]['registries'];
    image: string;
  };
  const store = new OciImageStore({
    root,
    registries,
    pullTimeoutSeconds: 60,
    log: nullLogger(),
    metrics: new Metrics({ processMetrics: false }),
  });
  await store.start();
  try {
    const id = await store.pull({ signal: AbortSignal.timeout(60_000), log: nullLogger() }, { image });
    process.stdout.write(`ok ${id}\n`);
  } catch (err) {
    process.stdout.write(`error ${errorKind(err)} ${(err as Error).message}\n`);
  } finally {
    await store.close();
  }
}

void main();

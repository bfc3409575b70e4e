/**
 * Streaming end to end on the docker backend: a real daemon with a docker pod (busybox + the HTTP image from
 * the local registry, dockerd from test/helpers/dockerd.ts) and the shared suite in e2e.ts. Docker offers TTY
 * exec with resize and attach, so the whole suite runs for real.
 */
import { after, before } from 'node:test';
import { streamingE2E } from './e2e';
import { startStreamingEnv, type StreamingEnv } from './envs';

let s: StreamingEnv | undefined;

before(
  async () => {
    s = await startStreamingEnv('docker');
  },
  { timeout: 300_000 },
);

after(
  async () => {
    await s?.stop();
  },
  { timeout: 120_000 },
);

streamingE2E('docker', () => {
  if (!s) throw new Error('docker streaming environment did not start');
  return s.env;
});

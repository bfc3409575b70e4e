/**
 * Streaming end to end on the runc backend: a real daemon with runc pods (busybox + the HTTP image from the
 * local registry) and the shared suite in e2e.ts. TTY exec (with resizes) and attach go through crimux-io.
 */
import { after, before } from 'node:test';
import { streamingE2E } from './e2e';
import { startStreamingEnv, type StreamingEnv } from './envs';

let s: StreamingEnv | undefined;

before(
  async () => {
    s = await startStreamingEnv('runc');
  },
  { timeout: 300_000 },
);

after(
  async () => {
    await s?.stop();
  },
  { timeout: 120_000 },
);

streamingE2E('runc', () => {
  if (!s) throw new Error('runc streaming environment did not start');
  return s.env;
});

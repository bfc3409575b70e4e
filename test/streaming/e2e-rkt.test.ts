/**
 * Streaming end to end on the rkt backend: a real daemon with an rkt (built-in stage1, systemd-nspawn) pod,
 * busybox + the HTTP image from the local registry, and the shared suite in e2e.ts. rkt runs TTY exec under
 * script(1) (resizes applied through /proc, tty-resize.ts), and attaches by following the CRI log (no TTY attach).
 */
import { after, before } from 'node:test';
import { streamingE2E } from './e2e';
import { startStreamingEnv, type StreamingEnv } from './envs';

let s: StreamingEnv | undefined;

before(
  async () => {
    s = await startStreamingEnv('rkt');
  },
  { timeout: 300_000 },
);

after(
  async () => {
    await s?.stop();
  },
  { timeout: 120_000 },
);

streamingE2E('rkt', () => {
  if (!s) throw new Error('rkt streaming environment did not start');
  return s.env;
});

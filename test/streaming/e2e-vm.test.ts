/**
 * Streaming end to end on the vm backend: a real daemon booting a VM pod (guest from scripts/build-vm-guest.sh,
 * busybox + the HTTP image from the local registry) and the shared suite in e2e.ts: exec and attach go through
 * the guest agent, port forwarding reaches the HTTP server inside the VM.
 */
import { after, before } from 'node:test';
import { streamingE2E } from './e2e';
import { startStreamingEnv, type StreamingEnv } from './envs';

let s: StreamingEnv | undefined;

before(
  async () => {
    s = await startStreamingEnv('vm');
  },
  { timeout: 900_000 },
);

after(
  async () => {
    await s?.stop();
  },
  { timeout: 120_000 },
);

streamingE2E('vm', () => {
  if (!s) throw new Error('vm streaming environment did not start');
  return s.env;
});

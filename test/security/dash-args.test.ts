/**
 * Request values that look like options, through the daemon's socket on runc and docker: the issue #19 rkt
 * reproduction (an env entry `--split-string` whose value runs a shell) and its relatives — args, container and
 * pod names beginning with `-` (a hostname may not begin with `-`: refused as an invalid host name). None may be read as an option by a host
 * command: the container runs exactly what it was given and nothing of the attacker's appears. Pod metadata
 * with CNI_ARGS separators (`;`, `=`) is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as s from './env';

const SLOT = 42;
const log = new s.ResultLog('dash-args');
const PAYLOAD = "A=1 /bin/sh -c 'echo PWNED; id' x";

describe('option-like request values', { timeout: 600_000 }, () => {
  let env: s.SecEnv;
  before(async () => {
    env = await s.startSecDaemon(SLOT);
  });
  after(() => env?.cleanup());

  for (const backend of s.BACKENDS) {
    it(`${backend}: env, args and names beginning with "-" stay data`, async () => {
      const pod = await s.runPod(env, backend, `--privileged-${backend}`, { hostname: 'h-host' });
      const out = await s.runToExit(
        env,
        pod,
        s.containerConfig(
          '-rf',
          [
            'sh',
            '-c',
            'echo "args=$*"; tr "\\0" "\\n" </proc/1/environ | grep -- "^--split-string=" | cut -c1-20; hostname',
            'sh',
          ],
          {
            metadata: { name: '--volume=host' },
            args: ['--split-string', '--help', '-e'],
            envs: [
              { key: '--split-string', value: PAYLOAD },
              { key: '-S', value: PAYLOAD },
            ],
            working_dir: '/tmp',
            log_path: 'dash.log',
          },
        ),
      );
      // The payload's text is in the env dump; what must never appear is its output: a log line that is just PWNED.
      assert.doesNotMatch(out, / (stdout|stderr) F PWNED$/m, out);
      assert.match(out, /F --split-string=A=1/);
      assert.match(out, /args=--split-string --help -e/);
      assert.match(out, /h-host/);
      await s.assertServing(env);
      log.record({
        attack: 'env keys, args, container and pod names beginning with "-" (#19 reproduction)',
        backend,
        outcome: 'contained: passed as data, no attacker output; daemon serving',
      });
    });

    it(`${backend}: pod metadata with CNI_ARGS separators is refused`, async () => {
      const config = s.podConfig(env, `web;IP=10.89.92.7`);
      await assert.rejects(
        env.d.rt('RunPodSandbox', { config, runtime_handler: backend }),
        (e: { code?: number; details?: string }) => e.code === 3 && /CNI_ARGS separators/.test(e.details ?? ''),
      );
      await s.assertServing(env);
      log.record({
        attack: 'pod name "web;IP=…" (CNI_ARGS injection)',
        backend,
        outcome: 'refused: InvalidArgument; daemon serving',
      });
    });
  }
});

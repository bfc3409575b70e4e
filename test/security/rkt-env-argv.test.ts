/**
 * Issue #19's verified escape and its class, through the daemon's socket on the rkt handler: request values that
 * begin with "-" (env keys and values, args, command, working dir) never become an option of a program of the
 * stage1's enter chain. Before the fix the env entry "--split-string=…" was read by `env` as its -S option and ran a
 * root shell with every capability in the stage1. Each case asserts the attacker's text never runs, the app runs
 * as asked instead, and the daemon keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HOSTILE, record, rktSecurityEnv, type RktSecurityEnv } from './rkt-harness';

const PAYLOAD = "A=1 /bin/sh -c 'echo PWNED; id; grep Cap /proc/self/status; ls /' x";

describe('rkt: request values beginning with "-" never become options', { timeout: 300_000 }, () => {
  let env: RktSecurityEnv;
  let pod: { id: string; config: Record<string, unknown> };

  before(async () => {
    env = await rktSecurityEnv('env-argv', [HOSTILE.noEnv]);
    pod = await env.runPod('envargv');
  });
  after(async () => {
    await env?.cleanup();
  });

  it('the #19 reproduction: env key --split-string runs nothing of the attacker', async () => {
    const id = await env.container(pod, 'split', {
      image: { image: HOSTILE.noEnv },
      command: ['/bin/sh', '-c', 'echo app-ran; id -u; tr "\\0" "\\n" < /proc/$$/environ; echo end'],
      envs: [{ key: '--split-string', value: PAYLOAD }],
      linux: { security_context: { run_as_user: { value: 1000 } } },
    });
    const st = await env.exited(id);
    const log = await env.log(id);
    // What the payload would print: its own PWNED line, `id` of root, the capability sets, the stage1's root.
    assert.doesNotMatch(log, /stdout F (PWNED|uid=0|CapEff|init)$/m);
    assert.match(log, /app-ran/);
    assert.match(log, / 1000$/m);
    // The entry reached the app as an environment variable, exactly as given.
    assert.ok(log.includes(`--split-string=${PAYLOAD}`), log);
    assert.equal(st.exit_code, 0);
    await env.serving();
    await record(
      'env key "--split-string" (env -S) in the stage1 enter chain',
      'refused: env never on a command line; the app ran as uid 1000 with the entry as a variable',
    );
  });

  it('other option-like env keys and values, and LD_PRELOAD, reach only the app', async () => {
    const id = await env.container(pod, 'opts', {
      image: { image: HOSTILE.noEnv },
      command: ['/bin/sh', '-c', 'echo app-ran; tr "\\0" "\\n" < /proc/$$/environ; echo end'],
      envs: [
        { key: '-i', value: '/bin/sh -c "echo PWNED"' },
        { key: '-u', value: 'PATH' },
        { key: '-C', value: '/' },
        { key: 'V', value: '--help' },
        { key: 'LD_PRELOAD', value: '/nonexistent-preload.so' },
        { key: 'MULTI', value: 'a\nPWNED=1' },
      ],
    });
    const st = await env.exited(id);
    const log = await env.log(id);
    assert.doesNotMatch(log, /^\S+ \S+ \S PWNED$/m);
    assert.match(log, /app-ran/);
    assert.match(log, /^\S+ stdout F -i=\/bin\/sh -c "echo PWNED"$/m);
    assert.match(log, /LD_PRELOAD=\/nonexistent-preload\.so/);
    assert.equal(st.exit_code, 0);
    await env.serving();
    await record(
      'env keys "-i", "-u", "-C", LD_PRELOAD, multi-line values',
      'passed to the app only; setpriv and the stage1 never see them',
    );
  });

  it('args, command and working dir beginning with "-" are the app\'s, never the chain\'s', async () => {
    const id = await env.container(pod, 'args', {
      command: ['/bin/sh', '-c', 'echo "args:$*"; pwd', '--split-string=echo PWNED', '-S', 'echo PWNED'],
      working_dir: '/--split-string=x',
    });
    const st = await env.exited(id);
    const log = await env.log(id);
    assert.match(log, /args:-S echo PWNED$/m);
    assert.match(log, /stdout F \/--split-string=x$/m);
    assert.equal(st.exit_code, 0);
    const dash = await env.container(pod, 'dash', {
      command: ['--split-string=/bin/sh -c "echo PWNED"'],
      args: ['-i'],
    });
    const failed = await env.exited(dash);
    assert.equal(failed.exit_code, 127);
    assert.doesNotMatch(await env.log(dash), /PWNED\n|stdout F PWNED/);
    await env.serving();
    await record(
      'command/args/working_dir beginning with "-"',
      'after "--": run (or not found, 127) as the app, never parsed as options',
    );
  });

  it('ExecSync with option-like argv and the container env runs as the app', async () => {
    const id = await env.container(pod, 'exec', {
      image: { image: HOSTILE.noEnv },
      command: ['sleep', '300'],
      envs: [{ key: '--split-string', value: PAYLOAD }],
      linux: { security_context: { run_as_user: { value: 1000 } } },
    });
    const r = await env.d.rt(
      'ExecSync',
      { container_id: id, cmd: ['/bin/sh', '-c', 'id -u; echo "$0"', '--split-string=x'], timeout: 20 },
      { deadlineMs: 60_000 },
    );
    assert.equal(r.exit_code, 0);
    assert.equal(r.stdout.toString(), '1000\n--split-string=x\n');
    const bad = await env.d.rt(
      'ExecSync',
      { container_id: id, cmd: ['--split-string=/bin/sh -c "echo PWNED"'], timeout: 20 },
      { deadlineMs: 60_000 },
    );
    assert.notEqual(bad.exit_code, 0);
    assert.doesNotMatch(bad.stdout.toString(), /PWNED/);
    await env.serving();
    await record(
      'ExecSync argv "--split-string=…" with the hostile env',
      'runs as the app user (1000); an option-like argv[0] is a missing command',
    );
  });
});

/**
 * The container log path, one rule for every backend (src/router/validate.ts): CreateContainer's sandbox_config
 * names the directory the log is written to, so it is held to the rule RunPodSandbox's config is — absolute, no
 * "..", under the operator's log root — before any backend writes there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/errors';
import { containerLogPath, validateContainerConfig } from '../../src/router/validate';

type Config = Parameters<typeof validateContainerConfig>[0];
type Sandbox = NonNullable<Parameters<typeof validateContainerConfig>[1]>;

const policy = { logRoot: '/var/log/pods', mountSourceDenyList: [] };

function container(logPath: string): NonNullable<Config> {
  return {
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'busybox' },
    labels: {},
    annotations: {},
    command: [],
    args: [],
    envs: [],
    mounts: [],
    log_path: logPath,
  } as unknown as NonNullable<Config>;
}

const sandbox = (logDirectory: string): Sandbox => ({ log_directory: logDirectory }) as unknown as Sandbox;

test("a sandbox_config whose log_directory leaves the log root, or is relative or has '..', is refused", () => {
  for (const dir of ['/etc', '/var/log/pods-evil', 'var/log/pods/x', '/var/log/pods/../../etc']) {
    assert.throws(
      () => validateContainerConfig(container('cron.d/evil'), sandbox(dir), policy),
      (e: unknown) => e instanceof InvalidArgumentError && /sandbox_config\.log_directory/.test(e.message),
      dir,
    );
  }
});

test('a log under the root is joined as containerd joins it; no log_path means no log file', () => {
  const cfg = validateContainerConfig(container('app/0.log'), sandbox('/var/log/pods/ns_pod_uid'), policy);
  assert.equal(containerLogPath(cfg, sandbox('/var/log/pods/ns_pod_uid')), '/var/log/pods/ns_pod_uid/app/0.log');
  const none = validateContainerConfig(container(''), sandbox('/elsewhere'), policy);
  assert.equal(containerLogPath(none, sandbox('/elsewhere')), '', 'unused, so not checked either');
  assert.equal(containerLogPath(container('a.log'), sandbox('')), '');
});

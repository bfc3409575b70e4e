/**
 * The pod's /etc texts and the container process, one rule for every backend (src/host/pod-etc.ts,
 * src/host/container-process.ts), and the request checks the router makes for them once (src/router/validate.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { hostsFile, podHostname, resolvConf } from '../../src/host/pod-etc';
import { normaliseSignal, processEnv } from '../../src/host/container-process';
import { validateSandboxConfig } from '../../src/router/validate';
import { InvalidArgumentError } from '../../src/errors';
import type * as cri from '../../src/cri/types';

const policy = { logRoot: '', mountSourceDenyList: [] };

function pod(extra: Record<string, unknown>): cri.PodSandboxConfig {
  return {
    metadata: { name: 'web', namespace: 'default', uid: 'u1', attempt: 0 },
    labels: {},
    annotations: {},
    hostname: '',
    ...extra,
  } as never;
}

const dns = (servers: string[], searches: string[] = [], options: string[] = []) => ({ servers, searches, options });

test('hosts: localhost entries, then each pod IP under the hostname, then extra lines', () => {
  const text = hostsFile('web-0', ['10.88.0.5', 'fd00::5'], ['10.0.0.9\tdb']);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], '127.0.0.1\tlocalhost');
  assert.deepEqual(lines.slice(-3), ['10.88.0.5\tweb-0', 'fd00::5\tweb-0', '10.0.0.9\tdb']);
  assert.ok(text.endsWith('\n'));
});

test('resolv.conf: search, nameservers, options; null when the DNSConfig says nothing', () => {
  assert.equal(
    resolvConf(dns(['10.96.0.10'], ['ns.svc.cluster.local', 'svc.cluster.local'], ['ndots:5'])),
    'search ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n',
  );
  assert.equal(resolvConf(dns([])), null);
  assert.equal(resolvConf(null), null);
});

test("hostname: the requested one, the node's for host-network pods", () => {
  assert.equal(podHostname(pod({ hostname: 'web-0' }), false), 'web-0');
  assert.equal(podHostname(pod({ hostname: 'web-0' }), true), os.hostname());
  assert.equal(podHostname(pod({}), false), os.hostname());
});

test("env in containerd's order: HOSTNAME, image env, CRI envs; PATH defaulted; HOME only when asked and unset", () => {
  const config = { envs: [{ key: 'A', value: '2' }] } as never;
  assert.deepEqual(processEnv(config, { env: ['A=1', 'HOSTNAME=img'] }, { hostname: 'pod' }), [
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'HOSTNAME=img',
    'A=2',
  ]);
  assert.deepEqual(processEnv(config, { env: ['PATH=/p', 'HOME=/h'] }, { home: '/root' }), [
    'PATH=/p',
    'HOME=/h',
    'A=2',
  ]);
});

test('signals: names, bare names, numbers and the CRI enum spelling', () => {
  assert.equal(normaliseSignal('term'), 'SIGTERM');
  assert.equal(normaliseSignal('9'), 'SIGKILL');
  assert.equal(normaliseSignal('SIGRTMINPLUS3'), 'SIGRTMIN+3');
  assert.equal(normaliseSignal('SIGRTMAXMINUS1'), 'SIGRTMAX-1');
});

test('the router refuses a bad hostname or a DNS server that is not an IP, naming the field, for every backend', () => {
  const refused = (cfg: cri.PodSandboxConfig, field: string) =>
    assert.throws(
      () => validateSandboxConfig(cfg, policy),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(field),
    );
  refused(pod({ hostname: '-rf' }), 'config.hostname');
  refused(pod({ hostname: 'a'.repeat(64) }), 'config.hostname');
  refused(pod({ hostname: 'web_0' }), 'config.hostname');
  refused(pod({ dns_config: dns(['10.96.0.10', 'dns.example']) }), 'config.dns_config.servers[1]');
  assert.doesNotThrow(() => validateSandboxConfig(pod({ hostname: 'Web-0.example' }), policy));
  assert.doesNotThrow(() =>
    validateSandboxConfig(pod({ hostname: 'a'.repeat(63), dns_config: dns(['fd00::a']) }), policy),
  );
  const hostNet = { security_context: { namespace_options: { network: 'NODE' } } };
  assert.doesNotThrow(
    () => validateSandboxConfig(pod({ hostname: 'x_y', linux: hostNet }), policy),
    "keeps the node's",
  );
});

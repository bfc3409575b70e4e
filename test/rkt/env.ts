/**
 * Shared setup of the rkt backend tests that go through CRI shapes (not a test file): a CNI conflist on the rkt
 * tests' own bridge and subnet (a copy of config/cni/10-crimux.conflist), CRI request builders in the `__Output`
 * shape backends receive, and host leak checks.
 */
import { execFile } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CallContext } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import type { Logger } from '../../src/log/logger';
import { removeEgressGuard } from '../../src/network';

export const run = promisify(execFile);
const SHIPPED_CONFLIST = path.resolve(__dirname, '../../config/cni/10-crimux.conflist');

/** Each rkt test file takes its own slot: bridge crimuxk<slot>, subnet 10.89.<80+slot>.0/24. */
export function netSlot(slot: number): { bridge: string; subnet: string; network: string } {
  return { bridge: `crimuxk${slot}`, subnet: `10.89.${80 + slot}.0/24`, network: `crimux-rkt-test-${slot}` };
}

export async function writeCniConf(dir: string, slot: number): Promise<string> {
  const { bridge, subnet, network } = netSlot(slot);
  const conf = JSON.parse(readFileSync(SHIPPED_CONFLIST, 'utf8')) as {
    name: string;
    plugins: Record<string, unknown>[];
  };
  conf.name = network;
  const b = conf.plugins[0] as { bridge: string; ipam: Record<string, unknown> };
  b.bridge = bridge;
  b.ipam.ranges = [[{ subnet }]];
  b.ipam.dataDir = path.join(dir, 'ipam');
  const confDir = path.join(dir, 'cni');
  await fs.mkdir(confDir, { recursive: true });
  await fs.writeFile(path.join(confDir, '10-crimux.conflist'), JSON.stringify(conf, null, 2));
  return confDir;
}

/** What pods leave on the host by design: the netns dir's self bind mount, the bridge, the egress guard. */
export async function cleanupNetwork(netnsDir: string, slot: number): Promise<void> {
  const { bridge, subnet } = netSlot(slot);
  await run('umount', ['--lazy', netnsDir]).catch(() => undefined);
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  await removeEgressGuard(subnet).catch(() => undefined);
}

export function ctx(log: Logger, timeoutMs = 120_000): CallContext {
  return { signal: AbortSignal.timeout(timeoutMs), log };
}

export function sandboxConfig(
  name: string,
  logDir: string,
  extra: Partial<cri.PodSandboxConfig> = {},
): cri.PodSandboxConfig {
  const uid = `uid-${name}-${process.pid}`;
  return {
    metadata: { name, namespace: 'default', uid, attempt: 0 },
    hostname: name,
    log_directory: path.join(logDir, `default_${name}_${uid}`),
    dns_config: null,
    port_mappings: [],
    labels: { app: name },
    annotations: {},
    linux: { cgroup_parent: '', security_context: null, sysctls: {}, overhead: null, resources: null },
    windows: null,
    ...extra,
  } as cri.PodSandboxConfig;
}

type SecurityContext = NonNullable<NonNullable<cri.ContainerConfig['linux']>['security_context']>;

export function securityContext(extra: Partial<SecurityContext> = {}): SecurityContext {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', target_id: '', userns_options: null },
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...extra,
  } as SecurityContext;
}

export function containerConfig(
  name: string,
  image: string,
  command: string[],
  extra: Partial<cri.ContainerConfig> = {},
): cri.ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image, annotations: {}, user_specified_image: image, runtime_handler: '', image_ref: '' },
    command,
    args: [],
    working_dir: '',
    envs: [{ key: 'CRIMUX_TEST', value: name }],
    mounts: [],
    devices: [],
    labels: { container: name },
    annotations: {},
    log_path: `${name}/0.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: { resources: null, security_context: securityContext() },
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...extra,
  } as cri.ContainerConfig;
}

/** PIDs whose command line mentions needle. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Mount points of this mount namespace whose path mentions needle. */
export function mountsMentioning(needle: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.includes(needle));
}

/** CRI log lines' content, F and P merged, of one stream. */
export function logContent(text: string, stream: 'stdout' | 'stderr'): string {
  let out = '';
  for (const line of text.split('\n')) {
    const m = /^\S+ (stdout|stderr) ([PF]) (.*)$/.exec(line);
    if (m && m[1] === stream) out += m[2] === 'F' ? `${m[3]}\n` : m[3];
  }
  return out;
}

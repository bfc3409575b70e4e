/**
 * Shared setup of the runc backend tests (not a test file): a temp dir with a config whose registries map to the
 * local test registry and whose CNI conflist (a copy of config/cni/10-crimux.conflist) sits on the runc tests' own
 * bridge and subnet, so test files running in parallel — and other backends' tests — never share a network.
 * Also CRI request builders in the `__Output` shape the backends receive, and host leak checks.
 */
import { execFile } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CallContext } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import { createLogger, nullLogger, type Logger } from '../../src/log/logger';
import { removeEgressGuard } from '../../src/network';

export const run = promisify(execFile);
const SHIPPED_CONFLIST = path.resolve(__dirname, '../../config/cni/10-crimux.conflist');

/** Each test file takes its own slot: bridge crimuxr<slot>, subnet 10.89.<50+slot>.0/24. */
export function netSlot(slot: number): { bridge: string; subnet: string; network: string } {
  return { bridge: `crimuxr${slot}`, subnet: `10.89.${50 + slot}.0/24`, network: `crimux-runc-test-${slot}` };
}

/** Copies the shipped conflist into <dir>/cni with the slot's bridge, subnet and IPAM dir; returns the conf dir. */
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

/** Releases what pods leave on the host by design: the netns dir's self bind mount, the bridge, the egress guard. */
export async function cleanupNetwork(netnsDir: string, slot: number): Promise<void> {
  const { bridge, subnet } = netSlot(slot);
  await run('umount', ['--lazy', netnsDir]).catch(() => undefined);
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  await removeEgressGuard(subnet).catch(() => undefined);
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export function testLogger(): Logger {
  return process.env.CRIMUX_TEST_LOG ? createLogger({ level: 'debug' }) : nullLogger();
}

export function ctx(log: Logger, timeoutMs = 120_000): CallContext {
  return { signal: AbortSignal.timeout(timeoutMs), log };
}

/** A PodSandboxConfig as the CRI server hands it to backends (every field present). */
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
    linux: {
      cgroup_parent: '',
      security_context: null,
      sysctls: {},
      overhead: null,
      resources: null,
    },
    windows: null,
    ...extra,
  } as cri.PodSandboxConfig;
}

type SecurityContext = NonNullable<NonNullable<cri.ContainerConfig['linux']>['security_context']>;

/** A LinuxContainerSecurityContext with every field at its proto default, then `extra`. */
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

/** Bounded wait for `check` to return something other than undefined. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** PIDs whose command line mentions `needle` (conmon and runc processes carry the container ID). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSafe('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.includes(needle)) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** Mount points (this mount namespace) whose path mentions `needle`. */
export function mountsMentioning(needle: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.includes(needle));
}

/** cgroup v1 directories (any controller) whose path mentions `needle` below `parent`. */
export function cgroupsMentioning(parent: string, needle: string): string[] {
  const out: string[] = [];
  for (const ctl of readdirSafe('/sys/fs/cgroup')) {
    const base = path.join('/sys/fs/cgroup', ctl, parent);
    const walk = (dir: string, depth: number): void => {
      if (depth > 3) return;
      for (const e of readdirSafe(dir)) {
        const p = path.join(dir, e);
        try {
          if (!statSync(p).isDirectory()) continue;
        } catch {
          continue;
        }
        if (e.includes(needle)) out.push(p);
        walk(p, depth + 1);
      }
    };
    walk(base, 0);
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

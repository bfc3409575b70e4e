/**
 * Shared set-up of the vm tests: the guest artefacts (scripts/build-vm-guest.sh, cached), a private CNI network
 * (own bridge and subnet, so runc tests on the same machine are not disturbed), the real OCI image store fed from
 * the local test registry, and CRI request builders.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CallContext } from '../../src/backends/backend';
import type * as cri from '../../src/cri/types';
import { createLogger, nullLogger, type Logger } from '../../src/log/logger';

export const ROOT = path.resolve(__dirname, '..', '..');
export const GUEST_DIR = process.env.CRIMUX_VM_GUEST_DIR ?? '/var/lib/crimux/vm/guest';
/**
 * Test pods live on their own bridge and /24, one per test file (slot), so files running in parallel never share
 * an IPAM range or tear down each other's bridge.
 */
export function net(slot: number): { bridge: string; subnet: string; ipPattern: RegExp } {
  return {
    bridge: `crimuxvmt${slot}`,
    subnet: `10.99.${70 + slot}.0/24`,
    ipPattern: new RegExp(`^10\\.99\\.${70 + slot}\\.\\d+$`),
  };
}

/** Build (or reuse) the guest kernel, initramfs and tools disk; bounded because apt may download. */
export function ensureGuest(): void {
  execFileSync('bash', [path.join(ROOT, 'scripts/build-vm-guest.sh'), GUEST_DIR], {
    stdio: 'inherit',
    timeout: 600_000,
  });
}

export function testLogger(): Logger {
  return process.env.CRIMUX_TEST_LOG ? createLogger({ level: 'debug' }) : nullLogger();
}

export function ctx(signalMs = 300_000, log: Logger = testLogger()): CallContext {
  return { signal: AbortSignal.timeout(signalMs), log };
}

/** A temp dir with a short path (unix socket paths are limited to 108 bytes). */
export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'cvm-'));
}

/** A CNI conf dir with one bridge network for the tests. */
export function writeCniConf(dir: string, slot: number): string {
  const conf = path.join(dir, 'cni');
  fs.mkdirSync(conf, { recursive: true });
  fs.writeFileSync(
    path.join(conf, '10-vmtest.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'crimux-vmtest',
      plugins: [
        {
          type: 'bridge',
          bridge: net(slot).bridge,
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: net(slot).subnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: path.join(dir, 'ipam'),
          },
        },
      ],
    }),
  );
  return conf;
}

/** Remove the test bridge once no pod uses it. */
export function removeBridge(slot: number): void {
  try {
    execFileSync('ip', ['link', 'del', net(slot).bridge], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

export function sandboxConfig(
  name: string,
  logDir: string,
  extra: Partial<cri.PodSandboxConfig> = {},
): cri.PodSandboxConfig {
  return {
    metadata: { name, namespace: 'vmtest', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    log_directory: logDir,
    dns_config: null,
    port_mappings: [],
    labels: { app: name },
    annotations: {},
    linux: null,
    windows: null,
    ...extra,
  } as unknown as cri.PodSandboxConfig;
}

export function containerConfig(
  name: string,
  image: string,
  command: string[],
  extra: Record<string, unknown> = {},
): cri.ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image, annotations: {}, user_specified_image: '', runtime_handler: '' },
    command,
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: 'RUNTIME_DEFAULT',
    ...extra,
  } as unknown as cri.ContainerConfig;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function hostUname(): string {
  return execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
}

/** Lazily unmount a dir the netns manager bind-mounted onto itself (best effort, for cleanup). */
export function releaseMount(dir: string): void {
  // The dir can be mounted more than once (a restarted backend, propagation from a parallel test): unmount all.
  for (let i = 0; i < 8; i++) {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    } catch {
      return; // not (or no longer) mounted
    }
  }
}

/** qemu processes whose command line mentions `needle` (a run dir): leak checks. */
export function qemuProcesses(needle: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(needle)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

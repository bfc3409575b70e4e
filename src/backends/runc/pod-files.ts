/**
 * Per-pod files and mounts every container of a pod shares, as containerd's sandbox setup makes them:
 * /etc/hostname, /etc/hosts, /etc/resolv.conf (from the CRI DNSConfig, or the host's when none is given), and a
 * tmpfs for /dev/shm so processes in the pod's IPC namespace share POSIX shared memory across containers.
 */
import { promises as fs } from 'node:fs';
import type * as cri from '../../cri/types';
import { hostsFile, resolvConf } from '../../host/pod-etc';
import { runCommand } from '../../host/process';
import type { Layout } from './layout';

const SHM_SIZE = 64 * 1024 * 1024;

/** Writes hostname and resolv.conf into the sandbox dir (hosts needs the pod IPs: writeHosts). */
export async function writePodFiles(
  layout: Layout,
  id: string,
  config: cri.PodSandboxConfig,
  opts: { hostname: string; hostNetwork: boolean },
): Promise<void> {
  const resolv = resolvConf(config.dns_config) ?? (await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  await Promise.all([
    fs.writeFile(layout.podFile(id, 'hostname'), opts.hostname + '\n', { mode: 0o644 }),
    fs.writeFile(layout.podFile(id, 'resolv.conf'), resolv, { mode: 0o644 }),
  ]);
}

/** Writes the pod's /etc/hosts: the host's for host-network pods, else localhost entries and the pod IPs. */
export async function writeHosts(
  layout: Layout,
  id: string,
  opts: { hostname: string; hostNetwork: boolean; ips: readonly string[] },
): Promise<void> {
  const hosts = opts.hostNetwork
    ? await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n')
    : hostsFile(opts.hostname, opts.ips);
  await fs.writeFile(layout.podFile(id, 'hosts'), hosts, { mode: 0o644 });
}

/** Mounts the pod's /dev/shm tmpfs (idempotent: an existing mount is kept). */
export async function mountShm(dir: string, signal?: AbortSignal): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  if (await isMountPoint(dir)) return;
  const r = await runCommand(
    'mount',
    ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${SHM_SIZE}`, 'shm', dir],
    { signal, timeoutMs: 30_000 },
  );
  if (r.code !== 0) throw new Error(`mount pod shm ${dir}: ${r.stderr.trim()}`);
}

/** Unmounts and removes the pod's shm dir; missing is success. */
export async function unmountShm(dir: string, signal?: AbortSignal): Promise<void> {
  for (let i = 0; i < 4 && (await isMountPoint(dir)); i++) {
    const r = await runCommand('umount', ['--lazy', dir], { signal, timeoutMs: 30_000 });
    if (r.code !== 0 && (await isMountPoint(dir))) throw new Error(`unmount pod shm ${dir}: ${r.stderr.trim()}`);
  }
  await fs.rm(dir, { recursive: true, force: true });
}

/** Whether `dir` is a mount point in this mount namespace (by /proc/self/mountinfo). */
export async function isMountPoint(dir: string): Promise<boolean> {
  const info = await fs.readFile('/proc/self/mountinfo', 'utf8');
  const want = dir.replace(/\\/g, '\\134').replace(/ /g, '\\040').replace(/\t/g, '\\011').replace(/\n/g, '\\012');
  return info.split('\n').some((l) => l.split(' ')[4] === want);
}

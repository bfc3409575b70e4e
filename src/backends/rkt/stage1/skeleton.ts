/**
 * The stage1 root of a new pod (min flavor): a near-empty tree whose /usr (and any non-symlinked /bin, /lib…) the
 * host lends read-only through nspawn --bind-ro, the sleeper /init, rkt's status/env dirs, and the pod's own
 * hosts/resolv.conf/hostname that every app gets bound in. About 10 small files: nothing to copy per pod.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SandboxOptions } from '../pod-manager';
import { readOptional } from './files';
import { hostsFile, resolvConf } from '../../../host/pod-etc';
import type { PodPaths } from './layout';
import { INIT_SCRIPT } from './scripts';

const TOP_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** Host top-level dirs the pod root needs: symlinks (merged /usr) are copied as links, real dirs are bound. */
export async function hostTopLevel(): Promise<{ links: [string, string][]; binds: string[] }> {
  const links: [string, string][] = [];
  const binds: string[] = [];
  for (const d of TOP_DIRS) {
    const st = await fs.lstat(`/${d}`).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) links.push([d, await fs.readlink(`/${d}`)]);
    else if (st.isDirectory()) binds.push(`/${d}`);
  }
  return { links, binds };
}

export async function buildSkeleton(
  p: PodPaths,
  opts: SandboxOptions,
  hostname: string,
  ips: readonly string[],
): Promise<string[]> {
  const r = p.rootfs;
  for (const d of [
    'usr',
    'etc',
    'proc',
    'sys',
    'dev',
    'run',
    'tmp',
    'var/tmp',
    'opt/stage2',
    'rkt/status',
    'rkt/env',
    'rkt/etc',
    'rkt/bin',
  ]) {
    await fs.mkdir(path.join(r, d), { recursive: true });
  }
  // nspawn binds crimux-stage1 here (sandbox.ts); the mount point must exist.
  await fs.writeFile(path.join(r, 'rkt/bin/crimux-stage1'), '');
  const top = await hostTopLevel();
  for (const [name, target] of top.links) await fs.symlink(target, path.join(r, name));
  for (const b of top.binds) await fs.mkdir(path.join(r, b), { recursive: true });
  // nspawn refuses a root without an os-release before it binds /usr in.
  await fs.writeFile(path.join(r, 'etc/os-release'), (await readOptional('/etc/os-release')) ?? 'ID=crimux-stage1\n');
  await fs.writeFile(path.join(r, 'init'), INIT_SCRIPT, { mode: 0o755 });
  await fs.writeFile(path.join(p.etcDir, 'hostname'), `${hostname}\n`);
  await fs.writeFile(path.join(p.etcDir, 'hosts'), hostsFile(hostname, ips, opts.hostsEntries ?? []));
  await fs.writeFile(path.join(p.etcDir, 'resolv.conf'), await podResolvConf(opts));
  return top.binds;
}

/** The CRI DNSConfig, or the host's resolv.conf when the request has none (as containerd does). */
async function podResolvConf(opts: SandboxOptions): Promise<string> {
  return resolvConf(opts.dns) ?? (await readOptional('/etc/resolv.conf')) ?? '';
}

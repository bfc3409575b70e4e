/**
 * Per-pod cgroups for the built-in stage1: every pod gets `<parent>/rkt-<uuid>` in each hierarchy crimux uses, with
 * nspawn's own payload/supervisor below it, `app-<name>` per app and `monitor` for the conmons.
 *
 * Why a cgroup per pod before nspawn starts: nspawn with --keep-unit --register=no stays in the cgroup it was
 * started in and creates payload/supervisor there; without a pod cgroup of its own, two pods would share them.
 * Why all these hierarchies: cpu/cpuacct/memory/pids carry limits and stats on cgroup v1 (this host is v1 hybrid),
 * the cgroup2 hierarchy gives cgroup.kill (kill a whole app at once), name=systemd is where nspawn looks, devices
 * carries each app's device allow-list (cgroup-devices.ts).
 * NOTE: pure cgroup v2 hosts are handled (controllers enabled down the path) but untested here.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readOptional } from './files';

export interface Hierarchy {
  /** Mount point, e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup/unified. */
  readonly mount: string;
  readonly v2: boolean;
  /** v1 controllers of this mount (incl. "name=systemd"); [] for v2. */
  readonly controllers: readonly string[];
  /** This process's own cgroup in the hierarchy (for relative parents). */
  readonly own: string;
}

const WANTED_V1 = ['cpu', 'cpuacct', 'memory', 'pids', 'devices', 'name=systemd'];

/** The hierarchies of this host that crimux puts pods in. */
export async function detectHierarchies(): Promise<Hierarchy[]> {
  const mountinfo = (await readOptional('/proc/self/mountinfo')) ?? '';
  const selfCg = (await readOptional('/proc/self/cgroup')) ?? '';
  const own = new Map<string, string>();
  for (const line of selfCg.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1] ?? '', m[2] ?? '/');
  }
  const out: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0) continue;
    const fstype = f[sep + 1];
    const mount = f[4] ?? '';
    if (seen.has(mount)) continue;
    if (fstype === 'cgroup2') {
      seen.add(mount);
      out.push({ mount, v2: true, controllers: [], own: own.get('') ?? '/' });
    } else if (fstype === 'cgroup') {
      const opts = (f[sep + 3] ?? '').split(',');
      const ctrls = opts.filter((o) => WANTED_V1.includes(o));
      if (ctrls.length === 0) continue;
      seen.add(mount);
      const key = [...own.keys()].find((k) => k.split(',').some((c) => ctrls.includes(c))) ?? '';
      out.push({ mount, v2: false, controllers: ctrls, own: own.get(key) ?? '/' });
    }
  }
  return out;
}

/**
 * A cgroup across hierarchies: mount point → path inside that hierarchy. Resolved once, at pod creation, and
 * stored in the manifest, so a relative parent keeps meaning what it meant then even if crimux restarts in
 * another cgroup of its own.
 */
export type CgroupSet = Readonly<Record<string, string>>;

/** The pod's cgroup in every hierarchy, for a parent that is absolute or relative to crimux's own cgroup. */
export function podCgroupSet(hs: readonly Hierarchy[], parent: string, uuid: string): CgroupSet {
  const out: Record<string, string> = {};
  for (const h of hs) {
    const base = parent.startsWith('/') ? parent : path.posix.join(h.own, parent);
    out[h.mount] = path.posix.join(base, `rkt-${uuid}`);
  }
  return out;
}

/** A child cgroup (app-<name>, monitor) of every member of the set. */
export function childSet(set: CgroupSet, name: string): CgroupSet {
  const out: Record<string, string> = {};
  for (const [mount, p] of Object.entries(set)) out[mount] = path.posix.join(p, name);
  return out;
}

function dirs(set: CgroupSet): string[] {
  return Object.entries(set).map(([mount, p]) => path.join(mount, p));
}

/** The directory of the set in the hierarchy carrying a v1 controller (or the v2 one). */
export function controllerDir(hs: readonly Hierarchy[], set: CgroupSet, controller: string | 'v2'): string | undefined {
  const h = hs.find((x) => (controller === 'v2' ? x.v2 : x.controllers.includes(controller)));
  const p = h ? set[h.mount] : undefined;
  return h && p !== undefined ? path.join(h.mount, p) : undefined;
}

/** mkdir -p the cgroup in every hierarchy (enabling v2 controllers along the way); returns the cgroup.procs files. */
export async function createCgroup(hs: readonly Hierarchy[], set: CgroupSet): Promise<string[]> {
  for (const h of hs) {
    const p = set[h.mount];
    if (p === undefined) continue;
    if (h.v2) await enableV2Controllers(h, p);
    await fs.mkdir(path.join(h.mount, p), { recursive: true });
  }
  return procsFiles(set);
}

/** cgroup.procs of the set in every hierarchy (for a launcher to join). */
export function procsFiles(set: CgroupSet): string[] {
  return dirs(set).map((d) => path.join(d, 'cgroup.procs'));
}

/** Moves a running process into the cgroup everywhere (best effort: a process that just exited is fine). */
export async function joinCgroup(set: CgroupSet, pid: number): Promise<void> {
  for (const file of procsFiles(set)) await fs.writeFile(file, String(pid)).catch(() => undefined);
}

/** PIDs in the cgroup (and below), from the first hierarchy that has it. */
export async function cgroupPids(set: CgroupSet): Promise<number[]> {
  for (const dir of dirs(set)) {
    const pids = await collectPids(dir);
    if (pids !== undefined) return pids;
  }
  return [];
}

async function collectPids(dir: string): Promise<number[] | undefined> {
  const text = await readOptional(path.join(dir, 'cgroup.procs'));
  if (text === undefined) return undefined;
  const out = text.split('\n').filter(Boolean).map(Number);
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) out.push(...((await collectPids(path.join(dir, e.name))) ?? []));
  return out;
}

/** SIGKILLs everything in the cgroup: cgroup.kill where the kernel has it (v2), else each PID. */
export async function killCgroup(set: CgroupSet): Promise<void> {
  for (const dir of dirs(set)) {
    const ok = await fs.writeFile(path.join(dir, 'cgroup.kill'), '1').then(
      () => true,
      () => false,
    );
    if (ok) return;
  }
  for (const pid of await cgroupPids(set)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** rmdir the cgroup and its children everywhere; false if some stayed (still has processes). */
export async function removeCgroup(set: CgroupSet): Promise<boolean> {
  let ok = true;
  for (const dir of dirs(set)) ok = (await rmdirTree(dir)) && ok;
  return ok;
}

async function rmdirTree(dir: string): Promise<boolean> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => null);
  if (entries === null) return true;
  for (const e of entries) if (e.isDirectory()) await rmdirTree(path.join(dir, e.name));
  try {
    await fs.rmdir(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

async function enableV2Controllers(h: Hierarchy, rel: string): Promise<void> {
  // Only needed where the v2 tree has controllers (pure v2); a hybrid host's cgroup2 mount has none.
  const avail = ((await readOptional(path.join(h.mount, 'cgroup.controllers'))) ?? '').split(/\s+/);
  const want = ['cpu', 'memory', 'pids'].filter((c) => avail.includes(c));
  if (want.length === 0) return;
  const parts = rel.split('/').filter(Boolean);
  let dir = h.mount;
  // Every ancestor of the pod cgroup (the root included) must delegate the controllers to its children.
  for (let i = 0; i < parts.length; i++) {
    await fs.mkdir(dir, { recursive: true });
    await fs
      .writeFile(path.join(dir, 'cgroup.subtree_control'), want.map((c) => `+${c}`).join(' '))
      .catch(() => undefined);
    dir = path.join(dir, parts[i] ?? '');
  }
}

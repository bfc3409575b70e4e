/**
 * Containers inside the guest (notes §4): each is `busybox unshare -p -m -u -i -f` running a small sh wrapper that
 * mounts /proc, /dev and /sys into the rootfs, joins the container's cgroup, sets the hostname and finally
 * `nsenter -r ROOT -w CWD -S UID -G GID -F` (chroot + chdir + setuid, no fork) into the container's command.
 * The wrapper's pid becomes the container's init (pid 1 of its PID namespace) through the execs.
 *
 * NOTE: the VM is the isolation boundary between pods; inside a pod, containers are separated by namespaces and
 *       chroot (not pivot_root: the guest root is the initramfs, where pivot_root is impossible).
 * NOTE: supplementary groups are cleared (nsenter -G calls setgroups(0)); only uid and primary gid apply.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { ContainerSpec, ContainerState, Event } from '../protocol';
import { mountRootfs, resolveUser, unmountRootfs } from './rootfs';
import { BUSYBOX, exitCodeOf, signalNumber, sleep } from './util';

const WRAPPER = `
__cr_r=$1; __cr_w=$2; __cr_h=$3; __cr_u=$4; __cr_g=$5; __cr_c=$6; shift 6
# Odd names: plain shell variables, never exported unless the container env has the same name.
# Applets by name from the guest's /bin: busybox's shell runs them without an exec (each exec costs ~50 ms under
# TCG). The container's PATH is restored for the final exec, which resolves the command inside the container.
if [ -n "\${PATH+x}" ]; then __cr_p=$PATH; fi
PATH=/bin
mount -t proc -o nosuid,nodev,noexec proc "$__cr_r/proc" || exit 127
# Wait (bounded, builtins only) until the agent has moved this shell into the container's cgroup ($__cr_c, empty
# when the guest has none), so the container's processes start there and all they fork or allocate is counted.
__cr_i=0
while [ -n "$__cr_c" ] && [ $__cr_i -lt 300 ]; do
  while read -r __cr_l; do [ "$__cr_l" = "0::/$__cr_c" ] && break 2; done <"$__cr_r/proc/self/cgroup"
  usleep 10000; __cr_i=$((__cr_i+1))
done
mount -t tmpfs -o nosuid,mode=755 tmpfs "$__cr_r/dev" || exit 127
for d in null zero full random urandom tty; do : >"$__cr_r/dev/$d"; mount --bind /dev/$d "$__cr_r/dev/$d"; done
mkdir -p "$__cr_r/dev/shm" "$__cr_r/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777 shm "$__cr_r/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$__cr_r/dev/pts"
ln -s pts/ptmx "$__cr_r/dev/ptmx"; ln -s /proc/self/fd "$__cr_r/dev/fd"
ln -s /proc/self/fd/0 "$__cr_r/dev/stdin"; ln -s /proc/self/fd/1 "$__cr_r/dev/stdout"; ln -s /proc/self/fd/2 "$__cr_r/dev/stderr"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$__cr_r/sys"
hostname "$__cr_h"
if [ -n "\${__cr_p+x}" ]; then PATH=$__cr_p; else unset PATH; fi
exec ${BUSYBOX} nsenter -r"$__cr_r" -w"$__cr_r$__cr_w" -S "$__cr_u" -G "$__cr_g" -F "$@"
`;

interface Entry {
  spec: ContainerSpec;
  root: string;
  uid: number;
  gid: number;
  state: ContainerState;
  child?: ChildProcess;
  /** Pid of the container's init (the unshare child), in the guest's PID namespace. */
  initPid?: number;
  exited?: Promise<void>;
  killed?: boolean;
}

export class Containers {
  private readonly all = new Map<string, Entry>();

  constructor(private readonly emit: (e: Event) => void) {}

  async create(spec: ContainerSpec): Promise<ContainerState> {
    const have = this.all.get(spec.cid);
    if (have) return have.state;
    const root = await mountRootfs(spec);
    const { uid, gid } = resolveUser(root, spec.user);
    const cg = cgroupDir(spec.cid);
    try {
      fs.mkdirSync(cg, { recursive: true });
      setLimits(spec.cid, spec.memoryLimit ?? 0, spec.cpuQuota, spec.cpuPeriod);
    } catch {
      // cgroups are for stats and limits; a guest without the controllers still runs the container
    }
    const state: ContainerState = { cid: spec.cid, state: 'created', createdAt: Date.now() };
    this.all.set(spec.cid, { spec, root, uid, gid, state });
    return state;
  }

  async start(cid: string): Promise<ContainerState> {
    const e = this.get(cid);
    if (e.state.state !== 'created') return e.state;
    const s = e.spec;
    const child = spawn(
      BUSYBOX,
      [
        'unshare',
        '-p',
        '-m',
        '-u',
        '-i',
        '-f',
        '--propagation',
        'private',
        BUSYBOX,
        'sh',
        '-c',
        WRAPPER,
        'wrapper',
        e.root,
        s.cwd || '/',
        s.hostname,
        String(e.uid),
        String(e.gid),
        fs.existsSync(cgroupDir(cid)) ? `c-${cid}` : '', // see cgroupDir
        ...s.args,
      ],
      { env: envObject(s.env), stdio: [s.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] },
    );
    e.child = child;
    // Join the wrapper to the container's cgroup at once, while it is still setting up mounts: everything the
    // container later forks inherits the cgroup. Joining only the init below (after chroot) left processes the
    // container's shell had already forked (e.g. `dd ... | sleep`) outside, uncounted in stats and unlimited.
    if (child.pid !== undefined) {
      fs.promises.writeFile(`${cgroupDir(cid)}/cgroup.procs`, String(child.pid)).catch(() => undefined);
    }
    child.stdin?.on('error', () => undefined); // EPIPE once the process exited
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]?.on('data', (b: Buffer) => this.emit({ ev: 'output', cid, stream, data: b.toString('base64') }));
    }
    let closed = 0;
    e.exited = new Promise<void>((resolve) => {
      // 'close' fires after both pipes drained, so every output event precedes the exit event.
      child.on('close', (code, signal) => {
        if (closed++) return;
        const exitCode = exitCodeOf(code, signal);
        const killed = e.killed === true;
        const oom = oomKilled(cid);
        e.state = { ...e.state, state: 'exited', exitCode, finishedAt: Date.now(), killed, oomKilled: oom };
        this.emit({ ev: 'exit', cid, exitCode, finishedAt: e.state.finishedAt ?? Date.now(), killed, oomKilled: oom });
        resolve();
      });
      child.on('error', () => {
        if (closed++) return;
        e.state = { ...e.state, state: 'exited', exitCode: 127, finishedAt: Date.now() };
        this.emit({ ev: 'exit', cid, exitCode: 127, finishedAt: Date.now() });
        resolve();
      });
    });
    e.initPid = await initPidOf(child.pid);
    // Joined from here, not from the wrapper: a shell `echo $$ > cgroup.procs` inside the new PID namespace was
    // seen to hang for the second container of a VM. Async, so a slow cgroup write never blocks the agent. Done
    // as soon as the init exists (in case unshare forked it before the join above landed), while the wrapper is
    // still mounting: the container's own process, and all it forks, must start inside the cgroup.
    if (e.initPid !== undefined) {
      fs.promises.writeFile(`${cgroupDir(cid)}/cgroup.procs`, String(e.initPid)).catch(() => undefined);
    }
    // The wrapper's mounts take a second or so under TCG; "running" means the container's own process runs
    // (chroot done), so an exec right after start lands in the container, not in the half-built wrapper.
    if (e.initPid !== undefined) await chrooted(e.initPid, e.root);
    e.state = { ...e.state, state: 'running', pid: e.initPid, startedAt: Date.now() };
    return e.state;
  }

  kill(cid: string, signal: string): void {
    const e = this.get(cid);
    if (e.state.state !== 'running' || e.initPid === undefined) return;
    if (signalNumber(signal) === 9) e.killed = true;
    try {
      process.kill(e.initPid, signalNumber(signal));
    } catch {
      // already gone: the exit event follows
    }
  }

  /** Signal, wait up to timeoutMs, then SIGKILL; resolves once exited. */
  async stop(cid: string, signal: string, timeoutMs: number): Promise<ContainerState> {
    const e = this.get(cid);
    if (e.state.state === 'created') {
      e.state = { ...e.state, state: 'exited', exitCode: 0, finishedAt: Date.now() };
      return e.state;
    }
    if (e.state.state !== 'running') return e.state;
    if (timeoutMs > 0) {
      this.kill(cid, signal);
      await Promise.race([e.exited, sleep(timeoutMs)]);
    }
    if (e.state.state === 'running') {
      this.kill(cid, 'SIGKILL');
      await Promise.race([e.exited, sleep(10_000)]);
    }
    return e.state;
  }

  async remove(cid: string): Promise<void> {
    const e = this.all.get(cid);
    if (e && e.state.state === 'running') await this.stop(cid, 'SIGKILL', 0);
    await unmountRootfs(cid);
    try {
      fs.rmdirSync(cgroupDir(cid));
    } catch {
      // not there, or a straggler process: cgroups are cheap, leave it
    }
    this.all.delete(cid);
  }

  /** Attach: bytes for the main process's stdin (when the container was created with stdin). */
  writeStdin(cid: string, data: Buffer): void {
    this.all.get(cid)?.child?.stdin?.write(data);
  }

  closeStdin(cid: string): void {
    this.all.get(cid)?.child?.stdin?.end();
  }

  /** UpdateContainerResources: the memory limit of the container's cgroup (0 = unlimited). */
  update(cid: string, memoryLimit: number, cpuQuota?: number, cpuPeriod?: number): void {
    this.get(cid);
    setLimits(cid, memoryLimit, cpuQuota, cpuPeriod);
  }

  states(): ContainerState[] {
    return [...this.all.values()].map((e) => e.state);
  }

  /** The running container's init pid and user, for exec. */
  target(cid: string): { pid: number; uid: number; gid: number; env: string[] } {
    const e = this.get(cid);
    if (e.state.state !== 'running' || e.initPid === undefined) throw new Error(`container ${cid} is not running`);
    return { pid: e.initPid, uid: e.uid, gid: e.gid, env: e.spec.env };
  }

  ids(): string[] {
    return [...this.all.keys()];
  }

  private get(cid: string): Entry {
    const e = this.all.get(cid);
    if (!e) throw new Error(`container ${cid} not found`);
    return e;
  }
}

export function cgroupDir(cid: string): string {
  return `/sys/fs/cgroup/c-${cid}`;
}

/** memory.max and cpu.max of a container's cgroup (0 / no quota = unlimited). */
function setLimits(cid: string, memoryLimit: number, cpuQuota?: number, cpuPeriod?: number): void {
  fs.writeFileSync(`${cgroupDir(cid)}/memory.max`, memoryLimit > 0 ? String(memoryLimit) : 'max');
  const period = cpuPeriod && cpuPeriod > 0 ? cpuPeriod : 100_000;
  fs.writeFileSync(`${cgroupDir(cid)}/cpu.max`, cpuQuota && cpuQuota > 0 ? `${cpuQuota} ${period}` : `max ${period}`);
}

function oomKilled(cid: string): boolean {
  try {
    const ev = fs.readFileSync(`${cgroupDir(cid)}/memory.events`, 'utf8');
    return /oom_kill [1-9]/.test(ev);
  } catch {
    return false;
  }
}

function envObject(env: string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const kv of env) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** The forked child of `unshare -f` (the container init); polled because the fork happens after spawn. */
async function initPidOf(unsharePid: number | undefined): Promise<number | undefined> {
  if (unsharePid === undefined) return undefined;
  for (let i = 0; i < 200; i++) {
    try {
      const kids = fs.readFileSync(`/proc/${unsharePid}/task/${unsharePid}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
    } catch {
      return undefined; // unshare already exited
    }
    await sleep(10);
  }
  return undefined;
}

/** Wait until `pid` has `root` as its root directory (the wrapper's final nsenter -r), or has exited. */
async function chrooted(pid: number, root: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/root`) === root) return;
    } catch {
      return; // exited: the exit event reports it
    }
    await sleep(10);
  }
}

/**
 * Containers inside the guest, run by runc (see oci.ts): `runc run --no-pivot` in the foreground, so the agent is
 * runc's parent and gets the container's exit status, stdout and stderr through runc's pipes; the container's own
 * init pid comes from runc's state. The container's cgroup (limits, stats) is the agent's; runc uses a leaf in it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { ContainerSpec, ContainerState, Event } from '../protocol';
import { bundleDir, execed, requestedGuestDevices, RUNC, RUNC_ROOT, runcError, runcInitPid, writeBundle } from './oci';
import { mountRootfs, unmountRootfs } from './rootfs';
import { signalNumber, sleep } from './util';
import { exitCodeOf } from '../../../host/exec-output';

export interface ExecTarget {
  readonly cid: string;
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly env: string[];
}

interface Entry {
  spec: ContainerSpec;
  root: string;
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
    // Before anything is mounted: a device the guest lacks refuses the create and leaves nothing half-made.
    const devices = requestedGuestDevices(spec);
    const root = await mountRootfs(spec);
    const cg = cgroupDir(spec.cid);
    let cgroup: string | undefined;
    try {
      fs.mkdirSync(cg, { recursive: true });
      cgroup = `/c-${spec.cid}`;
      setLimits(spec.cid, spec.memoryLimit ?? 0, spec.cpuQuota, spec.cpuPeriod);
    } catch {
      // cgroups are for stats and limits; a guest without the controllers still runs the container
    }
    await writeBundle(spec, root, cgroup, devices);
    const state: ContainerState = { cid: spec.cid, state: 'created', createdAt: Date.now() };
    this.all.set(spec.cid, { spec, root, state });
    return state;
  }

  async start(cid: string): Promise<ContainerState> {
    const e = this.get(cid);
    if (e.state.state !== 'created') return e.state;
    const s = e.spec;
    const child = spawn(
      RUNC,
      ['--root', RUNC_ROOT, '--log', `${bundleDir(cid)}/runc.log`, '--log-format', 'json'].concat([
        'run',
        '--no-pivot',
        '--bundle',
        bundleDir(cid),
        cid,
      ]),
      { stdio: [s.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] },
    );
    e.child = child;
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
    e.initPid = await runcInitPid(cid, child);
    if (e.initPid === undefined) {
      // runc refused to create it (bad spec, seccomp profile, missing binary…): StartContainer fails with runc's
      // reason; the exit event already marks the container exited.
      await e.exited;
      throw new Error(`runc: ${runcError(cid) ?? 'container not started'}`);
    }
    // "running" means the container's own program runs, so an exec right after start lands in the container.
    await execed(e.initPid);
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
    if (fs.existsSync(`${RUNC_ROOT}/${cid}`)) {
      // runc deletes the container when it exits; what is left here was interrupted (agent restart, kill -9).
      await new Promise<void>((resolve) => {
        const d = spawn(RUNC, ['--root', RUNC_ROOT, 'delete', '--force', cid], { stdio: 'ignore' });
        d.on('close', () => resolve());
        d.on('error', () => resolve());
      });
    }
    await unmountRootfs(cid);
    try {
      if (fs.existsSync(`${cgroupDir(cid)}/ctr`)) fs.rmdirSync(`${cgroupDir(cid)}/ctr`);
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

  /** The running container: its id for `runc exec`, init pid and user for the tty path (exec.ts). */
  target(cid: string): ExecTarget {
    const e = this.get(cid);
    if (e.state.state !== 'running' || e.initPid === undefined) throw new Error(`container ${cid} is not running`);
    const p = e.spec.oci.process;
    return { cid, pid: e.initPid, uid: p.user.uid, gid: p.user.gid, env: p.env };
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

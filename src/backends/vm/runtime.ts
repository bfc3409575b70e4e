/**
 * The vm backend's live state: pod records (records.ts) with their VM handles, container → pod index, CRI log
 * writers, and what the agent's events do to them. Everything that changes a record runs under the pod's lock.
 *
 * Recovery (after a crimux restart or crash), assumptions first:
 * NOTE: a record exists from before the VM is spawned (pid 0 until the boot is done); qemu's pidfile and sockets
 *       live in its runDir, which its command line names: a qemu below the backend's run dir that no ready record
 *       owns is killed at start-up (a create or template build cut short by a crash, #24).
 * NOTE: a pid that is no longer a qemu process means the VM died (or the host rebooted): the pod is NOTREADY and
 *       its running containers are reported exited (code 255, reason Error, message says the VM died).
 * NOTE: exits that happened while crimux was down are learned from the agent's `state` reply on reconnect;
 *       output produced meanwhile waited in the guest (its port writes block) and is appended to the logs.
 */
import type { Logger } from '../../log/logger';
import type { ContainerState, Event } from './protocol';
import { isQemu, qemuProcessesUnder, vmPaths } from './qemu';
import { Store, type ContainerRecord, type PodRecord } from './records';
import { StreamRegistry } from './streams';
import { Vm } from './vm';
import path from 'node:path';
import type { CriLogWriter } from '../../host/cri-log';
import type { KeyedMutex } from '../../util/keyed-mutex';
import { msToNsString } from '../../util/clock';
import type { BackendHost } from '../host';

export class VmRuntime {
  readonly pods = new Map<string, PodRecord>();
  readonly vms = new Map<string, Vm>();
  private readonly owner = new Map<string, string>();
  private readonly logs = new Map<string, CriLogWriter>();
  private readonly locks: KeyedMutex;

  constructor(
    readonly store: Store,
    readonly log: Logger,
    /** Clock, locks and CRI log writers: the daemon's shared services. */
    readonly host: BackendHost,
  ) {
    this.locks = host.keyedMutex();
  }

  /** Run fn with the pod's lock held (creation steps, hot-plug bookkeeping, exits). */
  withLock<T>(podId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(podId, fn);
  }

  podOfContainer(cid: string): PodRecord | undefined {
    const podId = this.owner.get(cid);
    return podId ? this.pods.get(podId) : undefined;
  }

  /** Register a pod record (new or recovered) and index its containers. */
  addPod(pod: PodRecord): void {
    this.pods.set(pod.id, pod);
    for (const c of Object.values(pod.containers)) {
      this.owner.set(c.id, pod.id);
      if (!this.logs.has(c.id)) this.logs.set(c.id, this.host.criLogWriter(c.logPath));
    }
  }

  addContainer(pod: PodRecord, c: ContainerRecord): void {
    pod.containers[c.id] = c;
    this.owner.set(c.id, pod.id);
    this.logs.get(c.id)?.close();
    this.logs.set(c.id, this.host.criLogWriter(c.logPath));
  }

  dropContainer(pod: PodRecord, cid: string): void {
    delete pod.containers[cid];
    this.owner.delete(cid);
    this.logs.get(cid)?.close();
    this.logs.delete(cid);
  }

  dropPod(podId: string): void {
    const pod = this.pods.get(podId);
    for (const cid of Object.keys(pod?.containers ?? {})) if (pod) this.dropContainer(pod, cid);
    this.pods.delete(podId);
    this.vms.get(podId)?.disconnect();
    this.vms.delete(podId);
  }

  logOf(cid: string): CriLogWriter | undefined {
    return this.logs.get(cid);
  }

  /** A VM handle for a pod, created on first use (after recovery) from its pidfile record. */
  vmFor(pod: PodRecord): Vm {
    let vm = this.vms.get(pod.id);
    if (!vm) {
      const paths = vmPaths(pod.vm.runDir, path.join(this.store.podDir(pod.id), 'console.log'));
      vm = new Vm(
        paths,
        pod.vm.pid,
        (e) => this.onEvent(pod.id, e),
        this.log,
        () => this.syncState(pod.id),
      );
      this.vms.set(pod.id, vm);
    }
    return vm;
  }

  /** Port-forward and interactive exec streams. */
  readonly streams = new StreamRegistry();
  /** Attach sessions: listeners of a container's output and exit. */
  private readonly attached = new Map<string, Set<(e: Extract<Event, { cid: string }>) => void>>();

  /** Agent events: output into the CRI log, exits into the record, stream bytes to port-forward. */
  onEvent(podId: string, e: Event): void {
    if (e.ev === 'data' || e.ev === 'closed') {
      this.streams.dispatch(podId, e);
    } else if (e.ev === 'output') {
      this.logs.get(e.cid)?.write(e.stream, Buffer.from(e.data, 'base64'));
      for (const l of this.attached.get(e.cid) ?? []) l(e);
    } else if (e.ev === 'exit') {
      // Synchronous, so no lock: a record is only ever changed between awaits, never across one.
      this.recordExit(podId, e.cid, e.exitCode, e.finishedAt, undefined, e.oomKilled);
      for (const l of this.attached.get(e.cid) ?? []) l(e);
    }
  }

  /** Follow a container's output and exit (Attach); returns the function that stops following. */
  attach(cid: string, listener: (e: Extract<Event, { cid: string }>) => void): () => void {
    const set = this.attached.get(cid) ?? new Set();
    set.add(listener);
    this.attached.set(cid, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.attached.delete(cid);
    };
  }

  private recordExit(
    podId: string,
    cid: string,
    exitCode: number,
    finishedAtMs: number | undefined,
    message?: string,
    oomKilled?: boolean,
  ): void {
    const pod = this.pods.get(podId);
    const c = pod?.containers[cid];
    if (!pod || !c || c.state === 'exited') return;
    this.logs.get(cid)?.flush();
    c.state = 'exited';
    c.exitCode = exitCode;
    c.finishedAt = finishedAtMs ? msToNsString(finishedAtMs) : this.host.clock.nowNs().toString();
    c.startedAt ??= c.finishedAt;
    c.reason = oomKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error';
    if (message) c.message = message;
    this.store.save(pod);
    this.log.info('vm: container exited', { sandbox: podId, container: cid, exitCode });
  }

  /** After (re)connecting: containers the record thinks are running but the agent has as exited (or forgot). */
  async syncState(podId: string): Promise<void> {
    const pod = this.pods.get(podId);
    const vm = this.vms.get(podId);
    if (!pod || !vm) return;
    const running = Object.values(pod.containers).filter((c) => c.state === 'running');
    if (running.length === 0) return;
    // Not through vm.request(): we are inside connect(); use the fresh client directly.
    const client = await vm.client();
    const reply = await client.request({ op: 'state' }, 10_000);
    const states = new Map((reply.containers as ContainerState[]).map((s) => [s.cid, s]));
    // No pod lock here: connect() may run inside a locked operation, and recordExit is synchronous.
    for (const c of running) {
      const s = states.get(c.id);
      if (!s) this.recordExit(podId, c.id, 255, undefined, 'container unknown to the guest agent');
      else if (s.state === 'exited')
        this.recordExit(podId, c.id, s.exitCode ?? 255, s.finishedAt, undefined, s.oomKilled);
    }
  }

  /** A VM that is gone: pod NOTREADY, running containers exited. */
  markDead(pod: PodRecord, why: string): void {
    if (pod.state === 'ready') this.log.warn('vm: pod VM is gone', { sandbox: pod.id, why });
    pod.state = 'notready';
    for (const c of Object.values(pod.containers)) {
      if (c.state !== 'exited') {
        const wasCreated = c.state === 'created';
        this.recordExit(pod.id, c.id, wasCreated ? 0 : 255, undefined, `VM of the pod is gone: ${why}`);
      }
    }
    // A reader (stats, status) may hold a pod that RemovePodSandbox deleted while it awaited the guest: saving it
    // then would bring the record back from disk at the next start, a pod nobody can see the end of.
    if (this.pods.get(pod.id) === pod) this.store.save(pod);
  }

  /**
   * Load records, re-attach to live VMs (agent connects lazily), mark dead ones, then kill the VMs under `runDir`
   * that no ready record owns (reapOrphans).
   */
  recover(runDir: string): void {
    const pods = this.store.loadAll();
    this.reapOrphans(runDir, pods);
    for (const pod of pods) {
      this.addPod(pod);
      if (pod.state === 'ready' && !isQemu(pod.vm.pid)) this.markDead(pod, `qemu pid ${pod.vm.pid} not running`);
      else if (pod.state === 'ready') {
        const vm = this.vmFor(pod);
        vm.connect(30_000).catch((err: unknown) =>
          this.log.warn('vm: reconnect failed', { sandbox: pod.id, error: err }),
        );
      }
    }
    this.log.info('vm: recovered pods', { pods: this.pods.size });
  }

  /**
   * Start-up only (no create is in flight yet): SIGKILL every qemu below `runDir` whose pidfile is not a ready
   * pod's. Such a VM serves nothing: a create cut short by a crimux kill before the pid was recorded (the record
   * still says pid 0, so neither the rollback's Remove nor Stop could find it: #24), or a template build of an
   * earlier daemon whose pidfile was not written yet. A ready pod's VM is never touched.
   */
  private reapOrphans(runDir: string, pods: readonly PodRecord[]): void {
    const owned = new Set(pods.filter((p) => p.state === 'ready').map((p) => vmPaths(p.vm.runDir, '').pidFile));
    for (const q of qemuProcessesUnder(runDir)) {
      if (owned.has(q.pidFile)) continue;
      this.log.warn('vm: killing a qemu no pod record owns', { pid: q.pid, pidFile: q.pidFile });
      try {
        process.kill(q.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  /** Whether the pod's VM runs; a VM found dead is recorded as such. */
  checkAlive(pod: PodRecord): boolean {
    if (pod.state !== 'ready') return false;
    if (isQemu(pod.vm.pid)) return true;
    this.markDead(pod, `qemu pid ${pod.vm.pid} exited`);
    return false;
  }
}

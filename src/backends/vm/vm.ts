/**
 * One running pod VM as crimux sees it: the qemu pid, the QMP and agent channels (both unix sockets served by
 * qemu, so they can be re-opened after a crimux restart), and disk hot-plug on the virtio-scsi bus.
 *
 * NOTE: microvm cannot hot-plug virtio-mmio devices; SCSI disks on the controller created at boot can (notes §2).
 */
import fs from 'node:fs';
import { UnavailableError } from '../../errors';
import { pollUntil } from '../../host/wait';
import type { Logger } from '../../log/logger';
import { AgentClient, type RequestArgs } from './agent-client';
import type { Event } from './protocol';
import { Qmp } from './qmp';
import { isQemu, qemuRssBytes, type VmPaths } from './qemu';

const CONNECT_TIMEOUT_MS = 10_000;

export class Vm {
  private agent?: AgentClient;
  private connecting?: Promise<AgentClient>;
  private qmpClient?: Qmp;
  /** Hot-plug and unplug go one at a time: QMP answers in order and the SCSI bus is shared. */
  private plugChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly paths: VmPaths,
    readonly pid: number,
    private readonly onEvent: (e: Event) => void,
    private readonly log: Logger,
    /** Called after every (re)connect, before requests flow: lets the owner catch up on missed exits. */
    private readonly onConnect: () => Promise<void> = async () => undefined,
  ) {}

  alive(): boolean {
    return isQemu(this.pid);
  }

  rssBytes(): number {
    return qemuRssBytes(this.pid);
  }

  /** Connect (or reconnect) to the agent, waiting up to timeoutMs for it to answer. */
  async connect(timeoutMs: number, signal?: AbortSignal): Promise<AgentClient> {
    if (this.agent && !this.agent.closed) return this.agent;
    this.connecting ??= (async () => {
      try {
        const a = await AgentClient.connect(this.paths.agentSock, (e) => this.deliver(e), timeoutMs, signal);
        this.agent = a;
        await this.onConnect();
        return a;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  async request(args: RequestArgs, timeoutMs: number): Promise<Record<string, unknown>> {
    if (!this.alive()) throw new UnavailableError(`vm ${this.pid}: qemu is not running`);
    const a = await this.connect(CONNECT_TIMEOUT_MS);
    return a.request(args, timeoutMs);
  }

  /** The connected agent for stream traffic (port-forward). */
  async client(): Promise<AgentClient> {
    return this.connect(CONNECT_TIMEOUT_MS);
  }

  async qmp(): Promise<Qmp> {
    if (this.qmpClient && !this.qmpClient.closed) return this.qmpClient;
    const q = await Qmp.connect(this.paths.qmpSock, CONNECT_TIMEOUT_MS);
    this.qmpClient = q;
    return q;
  }

  /** Attach a qcow2 overlay as scsi-hd LUN `lun` with a serial the agent looks for. */
  hotplug(lun: number, file: string, serial: string): Promise<void> {
    return this.serial(async () => {
      const q = await this.qmp();
      const node = `c${lun}`;
      await q.execute('blockdev-add', { 'node-name': node, driver: 'qcow2', file: { driver: 'file', filename: file } });
      await q.execute('device_add', {
        driver: 'scsi-hd',
        id: `${node}dev`,
        drive: node,
        bus: 'scsi0.0',
        channel: 0,
        'scsi-id': 0,
        lun,
        serial,
      });
    });
  }

  /** Detach LUN `lun` (after the guest unmounted it); missing devices are fine (idempotent). */
  unplug(lun: number): Promise<void> {
    return this.serial(async () => {
      const q = await this.qmp();
      const node = `c${lun}`;
      const deleted = q.waitEvent('DEVICE_DELETED', 10_000, (d) => d.device === `${node}dev`);
      // Awaited only after device_del's reply: a reply slower than the event's 10 s would otherwise leave its
      // timeout an unhandled rejection (daemon exit). The await below still sees the rejection.
      deleted.catch(() => undefined);
      try {
        await q.execute('device_del', { id: `${node}dev` });
        await deleted;
      } catch (err) {
        this.log.debug('vm: device_del', { lun, error: err });
      }
      await q.execute('blockdev-del', { 'node-name': node }).catch(() => undefined);
    });
  }

  /**
   * Power off: ask the agent (skipped for a paused VM, e.g. a saved template), then quit over QMP, then SIGKILL;
   * resolves when the process is gone.
   */
  async destroy(opts: { paused?: boolean } = {}): Promise<void> {
    if (this.alive()) {
      if (!opts.paused) await this.request({ op: 'shutdown' }, 2_000).catch(() => undefined);
      if (!(await waitGone(this.pid, 3_000))) {
        await this.qmp()
          .then((q) => q.execute('quit'))
          .catch(() => undefined);
        if (!(await waitGone(this.pid, 3_000))) {
          try {
            process.kill(this.pid, 'SIGKILL');
          } catch {
            // gone meanwhile
          }
          await waitGone(this.pid, 5_000);
        }
      }
    }
    this.disconnect();
    fs.rmSync(this.paths.dir, { recursive: true, force: true });
  }

  /** Drop the channels without touching the VM (crimux shutdown: VMs keep running). */
  disconnect(): void {
    this.agent?.close();
    this.qmpClient?.close();
    this.agent = undefined;
    this.qmpClient = undefined;
  }

  /**
   * Hands an agent event to the owner. It runs inside the agent socket's 'data' callback, so a throw (an event the
   * guest malformed, a failed record write) would be an uncaught exception ending the daemon: log it instead.
   */
  private deliver(e: Event): void {
    try {
      this.onEvent(e);
    } catch (err) {
      this.log.error('vm: agent event not handled', { pid: this.pid, event: String(e.ev), error: err });
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.plugChain.then(fn, fn);
    this.plugChain = next.catch(() => undefined);
    return next;
  }
}

export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const gone = await pollUntil(async () => (isQemu(pid) ? undefined : true), {
    timeoutMs,
    intervalMs: 50,
    maxIntervalMs: 50,
  });
  return gone ?? false;
}

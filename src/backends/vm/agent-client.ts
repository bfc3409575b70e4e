/**
 * Host side of the guest agent protocol (protocol.ts): requests with ids and per-request deadlines, events to a
 * callback. One client per connection; the VM object reconnects with a new client when the channel drops.
 */
import { DeadlineExceededError, FailedPreconditionError, InternalError, UnavailableError } from '../../errors';
import { JsonLines } from './jsonl';
import { PROTOCOL_VERSION, type Event, type HostData, type Request } from './protocol';

type Args<R> = R extends { id: number } ? Omit<R, 'id'> : never;
export type RequestArgs = Args<Request>;

export class AgentClient {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();

  private constructor(
    private readonly ch: JsonLines,
    private readonly onEvent: (e: Event) => void,
  ) {
    ch.on('message', (m: Record<string, unknown>) => this.onMessage(m));
    ch.on('close', () => {
      for (const p of this.pending.values()) p.reject(new UnavailableError('agent: connection closed'));
      this.pending.clear();
    });
    ch.on('error', () => undefined); // 'close' follows
  }

  /**
   * Connect to <pod>/agent.sock and ping until the agent answers (it may still be booting): the ping works both
   * for a fresh boot and for a reconnect, where the `ready` event was consumed by an earlier connection.
   */
  static async connect(
    path: string,
    onEvent: (e: Event) => void,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<AgentClient> {
    const deadline = Date.now() + timeoutMs;
    const c = new AgentClient(await JsonLines.connect(path, timeoutMs), onEvent);
    for (;;) {
      signal?.throwIfAborted();
      const left = deadline - Date.now();
      if (left <= 0) {
        c.close();
        throw new DeadlineExceededError(`connect agent ${path}: no answer within ${timeoutMs} ms`);
      }
      try {
        const r = await c.request({ op: 'ping' }, Math.min(left, 1000));
        if (r.version !== PROTOCOL_VERSION) {
          c.close();
          throw new FailedPreconditionError(
            `connect agent: guest speaks protocol ${String(r.version)}, crimux ${PROTOCOL_VERSION}: rebuild the guest (scripts/build-vm-guest.sh)`,
          );
        }
        return c;
      } catch (err) {
        if (err instanceof FailedPreconditionError) throw err;
        if (c.ch.isClosed) throw err;
        // not answered yet: the guest is still booting
      }
    }
  }

  get closed(): boolean {
    return this.ch.isClosed;
  }

  request(args: RequestArgs, timeoutMs: number): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new DeadlineExceededError(`agent ${args.op}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      try {
        this.ch.send({ ...args, id });
      } catch (err) {
        this.pending.get(id)?.reject(err as Error);
        this.pending.delete(id);
      }
    });
  }

  /** Stream bytes (port-forward); fire and forget. */
  send(data: HostData): void {
    if (!this.ch.isClosed) this.ch.send(data);
  }

  close(): void {
    this.ch.close();
  }

  private onMessage(m: Record<string, unknown>): void {
    if (typeof m.id === 'number') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok === true) p.resolve(m);
      else if (m.code === 'FailedPrecondition') p.reject(new FailedPreconditionError(`agent: ${String(m.error)}`));
      else p.reject(new InternalError(`agent: ${String(m.error)}`));
      return;
    }
    if (typeof m.ev === 'string') this.onEvent(m as unknown as Event);
  }
}

/**
 * A minimal QMP client (qemu's JSON control protocol on <pod>/qmp.sock): capabilities negotiation, commands one at
 * a time in order (QMP answers in order), and events. qemu serves the socket, so crimux can reconnect after it
 * restarts.
 */
import { DeadlineExceededError, InternalError, UnavailableError } from '../../errors';
import { JsonLines } from './jsonl';

interface QmpMessage {
  QMP?: unknown;
  return?: unknown;
  error?: { class: string; desc: string };
  event?: string;
  data?: Record<string, unknown>;
}

export class Qmp {
  private readonly waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private readonly listeners = new Set<(event: string, data: Record<string, unknown>) => void>();

  private constructor(private readonly ch: JsonLines) {
    ch.on('message', (m: QmpMessage) => this.onMessage(m));
    ch.on('close', () => {
      for (const w of this.waiting.splice(0)) w.reject(new UnavailableError('qmp: connection closed'));
    });
    ch.on('error', () => undefined); // 'close' follows
  }

  static async connect(path: string, timeoutMs: number): Promise<Qmp> {
    const ch = await JsonLines.connect(path, timeoutMs);
    const q = new Qmp(ch);
    // The greeting arrives first; queue a placeholder waiter for it so replies line up.
    await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new UnavailableError(`qmp ${path}: no greeting within ${timeoutMs} ms`));
        ch.close();
      }, timeoutMs);
      q.waiting.push({
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
    await q.execute('qmp_capabilities', undefined, timeoutMs);
    return q;
  }

  /**
   * Run a command; replies come in order. A command that gets no reply within timeoutMs closes the connection
   * (the reply order is lost), failing every waiter; the VM object reconnects on its next use.
   */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new DeadlineExceededError(`qmp ${command}: no reply within ${timeoutMs} ms`));
        this.ch.close();
      }, timeoutMs);
      const done =
        <T>(fn: (v: T) => void) =>
        (v: T) => {
          clearTimeout(timer);
          fn(v);
        };
      this.waiting.push({ resolve: done(resolve), reject: done(reject) });
      try {
        this.ch.send(args ? { execute: command, arguments: args } : { execute: command });
      } catch (err) {
        this.waiting.pop();
        clearTimeout(timer);
        reject(err as Error);
      }
    });
  }

  get closed(): boolean {
    return this.ch.isClosed;
  }

  /** Resolves with the first event named `name` whose data passes `match`, or rejects after timeoutMs. */
  waitEvent(
    name: string,
    timeoutMs: number,
    match: (d: Record<string, unknown>) => boolean = () => true,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(fn);
        reject(new UnavailableError(`qmp: no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const fn = (ev: string, data: Record<string, unknown>): void => {
        if (ev !== name || !match(data)) return;
        clearTimeout(timer);
        this.listeners.delete(fn);
        resolve();
      };
      this.listeners.add(fn);
    });
  }

  close(): void {
    this.ch.close();
  }

  private onMessage(m: QmpMessage): void {
    if (m.event) {
      for (const l of [...this.listeners]) l(m.event, m.data ?? {});
      return;
    }
    const w = this.waiting.shift();
    if (!w) return;
    if (m.error) w.reject(new InternalError(`qmp: ${m.error.class}: ${m.error.desc}`));
    else w.resolve(m.return ?? m.QMP);
  }
}

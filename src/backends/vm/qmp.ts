/**
 * A minimal QMP client (qemu's JSON control protocol on <pod>/qmp.sock): capabilities negotiation, commands one at
 * a time in order (QMP answers in order), and events. qemu serves the socket, so crimux can reconnect after it
 * restarts.
 */
import { InternalError, UnavailableError } from '../../errors';
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
    await new Promise<unknown>((resolve, reject) => q.waiting.push({ resolve, reject }));
    await q.execute('qmp_capabilities');
    return q;
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      try {
        this.ch.send(args ? { execute: command, arguments: args } : { execute: command });
      } catch (err) {
        this.waiting.pop();
        reject(err as Error);
      }
    });
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

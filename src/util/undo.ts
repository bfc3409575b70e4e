/**
 * An undo stack for multi-step creation (containerd's sandbox_run.go pattern): each step that made something
 * registers how to take it back; on failure the steps are undone in reverse order, each on its own timeout and
 * with a fresh AbortSignal, because the caller's signal may be the very deadline that just expired.
 */
import type { Logger } from '../log/logger';
import { errorMessage } from '../errors';

type UndoFn = (signal: AbortSignal) => Promise<void>;

export class UndoStack {
  private readonly steps: { name: string; fn: UndoFn }[] = [];

  constructor(
    private readonly log: Logger,
    private readonly stepTimeoutMs = 30_000,
  ) {}

  /** Registers how to undo the step just done. */
  push(name: string, fn: UndoFn): void {
    this.steps.push({ name, fn });
  }

  /** Forgets every step: the creation succeeded. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Undoes all steps, newest first. Failures are logged and do not stop the remaining undos. */
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      const signal = AbortSignal.timeout(this.stepTimeoutMs);
      try {
        await step.fn(signal);
        this.log.debug('undid creation step', { step: step.name });
      } catch (err) {
        this.log.warn('undo creation step failed', { step: step.name, error: errorMessage(err) });
      }
    }
  }
}

/** Runs `body` with an undo stack; on a throw, undoes what `body` registered and rethrows the original error. */
export async function withUndo<T>(log: Logger, body: (undo: UndoStack) => Promise<T>): Promise<T> {
  const undo = new UndoStack(log);
  try {
    const v = await body(undo);
    undo.commit();
    return v;
  } catch (err) {
    await undo.run();
    throw err;
  }
}

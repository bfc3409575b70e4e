/**
 * Copies one container's output from Docker into its CRI log file, where the kubelet reads it.
 *
 * Why follow Docker's logs API rather than attach: the logs API replays from a timestamp, so after a crimux
 * restart (or a dockerd restart, or a dropped connection) copying resumes exactly where the file ends, with
 * nothing lost or duplicated (see cri-log.ts); attach only sees output produced while attached. Why not a conmon
 * per container: Docker already owns the container's stdio (containerd-shim), so a second holder is impossible,
 * and Docker's log driver keeps output while crimux is down.
 *
 * The copier ends once the container has exited and its output is drained; it retries with backoff while dockerd
 * is unreachable. Writes and reopen are serialised, so ReopenContainerLog never splits a line between files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from '../../log/logger';
import { NotFoundError } from '../../errors';
import type { DockerEngine } from './engine-client';
import { FrameDecoder } from './stream-frames';
import { ResumeFilter, criLine, frameToLine, splitTimestamp, type LogPosition } from './cri-log';
import type { LogPositions } from './log-position';
import { nsToDockerSince } from './timestamps';

const BACKOFF_MS = [250, 500, 1000, 2000, 5000];

export interface CopierTarget {
  /** crimux container ID (names the position file). */
  readonly id: string;
  readonly dockerId: string;
  readonly logPath: string;
  readonly tty: boolean;
}

export class LogCopier {
  private readonly abort = new AbortController();
  private readonly filter: ResumeFilter;
  private file?: fs.FileHandle;
  /** Serialises file operations (writes, reopen, close). */
  private io: Promise<void> = Promise.resolve();
  private failures = 0;
  /** Resolves when copying ended (container exited and drained, removed, or stop() was called). */
  readonly finished: Promise<void>;

  constructor(
    private readonly engine: DockerEngine,
    private readonly positions: LogPositions,
    readonly target: CopierTarget,
    from: LogPosition | null,
    private readonly log: Logger,
  ) {
    this.filter = new ResumeFilter(from);
    this.finished = this.run().catch((err: unknown) => this.log.error('log copier failed', { error: err }));
  }

  /** Closes the file and opens `logPath` anew (after the kubelet renamed it), recording the position first. */
  reopen(): Promise<void> {
    return this.enqueue(async () => {
      await this.positions.write(this.target.id, { position: this.filter.position, done: false });
      await this.file?.close();
      this.file = await openLog(this.target.logPath);
    });
  }

  /** Stops following (crimux shutdown, container removal); what was written stays. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.finished;
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.io.then(fn);
    this.io = next.catch(() => undefined);
    return next;
  }

  private async run(): Promise<void> {
    this.file = await openLog(this.target.logPath);
    try {
      let done = false;
      while (!done && !this.abort.signal.aborted) {
        done = await this.round();
      }
      if (done) {
        await this.enqueue(() => this.positions.write(this.target.id, { position: this.filter.position, done: true }));
        this.log.debug('log copy finished', { position: this.filter.position?.ts.toString() });
      }
    } finally {
      await this.enqueue(async () => {
        await this.file?.close();
        this.file = undefined;
      });
    }
  }

  /** One follow session; true when the container is finished (or gone) and its output fully copied. */
  private async round(): Promise<boolean> {
    const signal = this.abort.signal;
    try {
      await this.pump(await this.open(true));
      const c = await this.engine.inspectContainer(this.target.dockerId, { signal });
      this.failures = 0;
      if (c.State.Running || c.State.Restarting) {
        // Still running although the stream ended (dockerd hiccup): follow again, without spinning.
        await sleep(100, signal);
        return false;
      }
      // Drained once more without following: Docker may close the follow stream just before its last flush.
      await this.pump(await this.open(false));
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      if (err instanceof NotFoundError) return true;
      const wait = BACKOFF_MS[Math.min(this.failures++, BACKOFF_MS.length - 1)] ?? 5000;
      this.log.debug('log copier retrying', { error: err, waitMs: wait });
      await sleep(wait, signal);
      return false;
    }
  }

  private open(follow: boolean): Promise<Readable> {
    this.filter.rewind();
    const from = this.filter.sinceNs();
    const since = from === undefined ? undefined : nsToDockerSince(from);
    return this.engine.logs(this.target.dockerId, { since, follow, signal: this.abort.signal });
  }

  private async pump(stream: Readable): Promise<void> {
    const decoder = this.target.tty ? undefined : new FrameDecoder();
    let raw = Buffer.alloc(0);
    for await (const chunk of stream) {
      const lines: Buffer[] = [];
      if (decoder) {
        for (const f of decoder.push(chunk as Buffer)) {
          if (f.stream !== 'stdout' && f.stream !== 'stderr') continue;
          const r = frameToLine(f.stream, f.data);
          if (r && this.filter.accept(r.tsNs, r.line)) lines.push(r.line);
        }
      } else {
        // A TTY merges both streams into one raw stream of "<timestamp> <line>\n" messages.
        raw = Buffer.concat([raw, chunk as Buffer]);
        let nl: number;
        while ((nl = raw.indexOf(0x0a)) >= 0) {
          const msg = splitTimestamp(raw.subarray(0, nl));
          raw = raw.subarray(nl + 1);
          if (!msg) continue;
          const line = criLine(msg.ts, 'stdout', false, msg.content);
          if (this.filter.accept(msg.tsNs, line)) lines.push(line);
        }
      }
      if (lines.length) await this.enqueue(() => this.write(Buffer.concat(lines)));
    }
  }

  private async write(buf: Buffer): Promise<void> {
    if (!this.file) return;
    await this.file.write(buf);
  }
}

const TORN_SCAN_BYTES = 64 * 1024;

/**
 * Opens the log for appending. A line torn by a crash mid-write is cut off first: resuming ignores it (it was not
 * written, log-position.ts), and appending the whole line after the torn piece would leave one garbled line.
 */
export async function openLog(file: string): Promise<fs.FileHandle> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const fh = await fs.open(file, 'a+', 0o640);
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - TORN_SCAN_BYTES);
    const tail = Buffer.alloc(size - start);
    await fh.read(tail, 0, tail.length, start);
    if (tail.length > 0 && tail[tail.length - 1] !== 0x0a) {
      const nl = tail.lastIndexOf(0x0a);
      if (nl >= 0 || start === 0) await fh.truncate(start + nl + 1);
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs a layer's unpack (layer-unpack.ts) in a worker thread, behind the same `Unpacking` shape as the in-thread
 * path. Why: on one thread, every byte of a pull is received, hashed twice and written into tar's pipe by the
 * event loop, so layers pulled in parallel could not use the second core (bench/results/image-pull-profile.md).
 * With the decompress → diff-ID → tar stage in a worker, the event loop keeps only the download, the blob digest
 * and the blob file.
 *
 * Each chunk is copied into a buffer of its own and transferred (the original also goes to the blob file). At most
 * IN_FLIGHT bytes are unacknowledged, so a slow tar holds the download back and memory stays bounded.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { UnpackOptions, UnpackResult, Unpacking } from './layer-unpack';
import { fromWire, type WireError } from './worker-errors';
import { InternalError } from '../errors';

const IN_FLIGHT = 4 << 20;
/** How long a killed worker gets to kill its tar and zstd before the thread is terminated anyway. */
const KILL_GRACE_MS = 2000;

// The entry has this file's extension: .js when compiled; .ts when the sources run under tsx (tests), where the
// worker's own module loader does not know TypeScript until tsx's require hook is installed in it.
const ENTRY = path.join(__dirname, `unpack-worker${path.extname(__filename)}`);

function startWorker(workerData: UnpackOptions): Worker {
  if (!ENTRY.endsWith('.ts')) return new Worker(ENTRY, { workerData });
  const boot = `require('tsx/cjs'); require(${JSON.stringify(ENTRY)});`;
  return new Worker(boot, { eval: true, workerData });
}

type Outbound = { ack: number } | { done: UnpackResult } | { error: WireError };

export function unpackInWorker(opts: UnpackOptions): Unpacking {
  const worker = startWorker(opts);
  let inFlight = 0;
  let resume: (() => void) | undefined;
  let settled = false;
  let resolveResult!: (r: UnpackResult) => void;
  let rejectResult!: (err: Error) => void;
  const result = new Promise<UnpackResult>((resolve, reject) => {
    resolveResult = resolve;
    rejectResult = reject;
  });

  const input = new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, cb) {
      const copy = new Uint8Array(chunk.length);
      copy.set(chunk);
      inFlight += copy.byteLength;
      worker.postMessage({ chunk: copy.buffer }, [copy.buffer]);
      if (inFlight < IN_FLIGHT) cb();
      else resume = cb;
    },
    final(cb) {
      worker.postMessage({ end: true });
      result.then(
        () => cb(),
        (err: Error) => cb(err),
      );
    },
    destroy(err, cb) {
      if (!settled) kill();
      cb(err);
    },
  });

  const finish = (err?: Error, done?: UnpackResult): void => {
    if (settled) return;
    settled = true;
    if (err) {
      rejectResult(err);
      // Hands the failure to whoever pipes into `input`, as the in-thread path does.
      input.destroy(err);
    } else resolveResult(done as UnpackResult);
    void worker.terminate();
  };
  worker.on('message', (m: Outbound) => {
    if ('ack' in m) {
      inFlight -= m.ack;
      if (resume && inFlight < IN_FLIGHT) {
        const cb = resume;
        resume = undefined;
        cb();
      }
    } else if ('done' in m) finish(undefined, m.done);
    else finish(fromWire(m.error));
  });
  // The thread itself failing is crimux's fault, not the registry's: Internal, never a transport error.
  worker.on('error', (err) => finish(new InternalError(`unpack worker failed: ${err.message}`, { cause: err })));
  worker.on('exit', (code) =>
    finish(new InternalError(`unpack worker exited (code ${code}) before the layer was unpacked`)),
  );

  let killed = false;
  function kill(): void {
    if (killed || settled) return;
    killed = true;
    worker.postMessage({ kill: true });
    setTimeout(() => void worker.terminate(), KILL_GRACE_MS).unref();
  }
  return { input, result, kill };
}

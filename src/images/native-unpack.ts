/**
 * The unpack stage of a layer in the crimux-layer helper (src/host/native/crimux-layer.c, protocol there): the
 * daemon writes each compressed byte once into the helper, which decompresses, hashes the diff ID, scans for the
 * whiteout prefix, bounds the uncompressed size and feeds tar, all off the event loop. Same rules and the same
 * error codes as the in-process stage (layer-unpack.ts), which stays for hosts without the helper.
 */
import type { Readable } from 'node:stream';
import type { Compression } from './manifest';
import { DrainingSink, LAYER_TOO_LARGE, tarArgs, tooManyEntries, watchEntries } from './unpack';
import { spawnChild } from '../host/spawner';
import { InternalError } from '../errors';

const STDERR_LIMIT = 8192;
/** The helper's exit codes (see its source). */
const EXIT_DATA = 65;
const EXIT_TOO_LARGE = 66;
const RESULT = /^(sha256:[0-9a-f]{64}) (\d+) ([01]) (sha256:[0-9a-f]{64}) (\d+)\n$/;

export interface NativeUnpackOptions {
  readonly helper: string;
  readonly dir: string;
  readonly compression: Compression;
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** A new file the helper writes the compressed bytes to (a download's blob); unset: only hashed. */
  readonly blob?: string;
}

export interface NativeUnpackResult {
  readonly diffId: string;
  readonly bytes: number;
  readonly mayHaveWhiteouts: boolean;
  /** Digest and size of the compressed input, as the helper hashed it. */
  readonly blob: { readonly digest: string; readonly bytes: number };
}

/** Starts the helper; the returned value has layer-unpack.ts's `Unpacking` shape. */
export function unpackNative(opts: NativeUnpackOptions) {
  const args = [
    ...(opts.blob ? ['--blob', opts.blob] : []),
    opts.compression,
    String(opts.maxBytes),
    '--',
    'tar',
    ...tarArgs(opts.dir, true),
  ];
  const child = spawnChild(opts.helper, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
  const kill = (): void => void child.kill('SIGKILL');
  const tooMany = watchEntries(child.stdout, opts.maxEntries, kill);
  const stderr = collect(child.stderr, STDERR_LIMIT);
  const out = collect(child.stdio[3] as Readable | null, 1024);
  const result = new Promise<NativeUnpackResult>((resolve, reject) => {
    child.on('error', (err: Error) => reject(new InternalError(`run ${opts.helper}: ${err.message}`, { cause: err })));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const why = stderr().trim().slice(0, 2000);
      if (tooMany()) return reject(tooManyEntries(opts.maxEntries));
      if (code === EXIT_DATA) {
        // "crimux-layer: not valid gzip data: <zlib's words>": the caller names the layer and its compression.
        const detail = /not valid \w+ data: (.*)/.exec(why)?.[1] ?? why;
        return reject(Object.assign(new Error(detail), { code: 'Z_DATA_ERROR' }));
      }
      if (code === EXIT_TOO_LARGE) {
        return reject(
          Object.assign(new Error(`more than ${opts.maxBytes} bytes uncompressed`), { code: LAYER_TOO_LARGE }),
        );
      }
      const m = code === 0 ? RESULT.exec(out()) : null;
      if (!m) return reject(new InternalError(`unpack failed (${signal ?? `exit ${code}`}): ${why}`));
      resolve({
        diffId: m[1] as string,
        bytes: Number(m[2]),
        mayHaveWhiteouts: m[3] === '1',
        blob: { digest: m[4] as string, bytes: Number(m[5]) },
      });
    });
  });
  // The helper reads its input to the end unless it failed, and its exit status says which.
  const input = new DrainingSink(child.stdin as NonNullable<typeof child.stdin>);
  return { input, result, kill };
}

/** Gathers up to `limit` characters of a stream's text. */
function collect(stream: Readable | null, limit: number): () => string {
  let text = '';
  stream?.on('data', (b: Buffer) => {
    if (text.length < limit) text += b.toString('utf8');
  });
  return () => text;
}

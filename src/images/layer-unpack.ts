/**
 * The unpack half of a layer fetch: the compressed layer stream goes in, is decompressed, hashed into its diff ID
 * (with a byte limit and a scan for the whiteout prefix) and extracted by `tar -x` into a directory. With the
 * crimux-layer helper installed the whole stage runs in it (native-unpack.ts); this process's own streams are the
 * fallback. Both follow one set of rules and raise one set of error codes.
 */
import { Duplex, PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Compression } from './manifest';
import { Coalescer } from './coalesce';
import { DigestMeter } from './digest';
import { extractTar, LAYER_TOO_LARGE, WHITEOUT_PREFIX, zstdDecompressor } from './unpack';
import { unpackNative } from './native-unpack';
import { handleErrors } from '../util/streams';
import { UnimplementedError } from '../errors';

// zlib's default 16 KiB output chunks cost a thread-pool round trip each; 1 MiB ones inflate ~2× faster.
const INFLATE_CHUNK = 1 << 20;

export interface UnpackOptions {
  /** An existing, empty directory to extract into. */
  readonly dir: string;
  readonly compression: Compression;
  readonly maxEntries: number;
  /** Uncompressed bytes allowed: a decompression bomb stops here instead of filling the disk. */
  readonly maxBytes: number;
  /** The crimux-layer helper: when set, the whole stage runs in it (native-unpack.ts), else in this process. */
  readonly helper?: string;
  /** With `helper`: a new file it writes the compressed bytes to (the blob of a download). */
  readonly blob?: string;
}

export interface UnpackResult {
  /** "sha256:<hex>" of the uncompressed stream. */
  readonly diffId: string;
  readonly bytes: number;
  /** The stream contained ".wh." somewhere: the extracted tree may hold whiteouts to convert. */
  readonly mayHaveWhiteouts: boolean;
  /** Digest and size of the compressed input, when the helper hashed it (the caller then need not). */
  readonly blob?: { readonly digest: string; readonly bytes: number };
}

/** A running unpack: write the compressed layer into `input` and end it; `result` settles when tar exited. */
export interface Unpacking {
  readonly input: Writable;
  readonly result: Promise<UnpackResult>;
  /** Stops decompression and extraction at once (tar and zstd may be blocked on a stream that never ends). */
  kill(): void;
}

interface Decompressor {
  readonly stream: Duplex | undefined;
  readonly done: Promise<void>;
  kill(): void;
}

function decompressor(c: Compression): Decompressor {
  if (c === 'gzip') return { stream: createGunzip({ chunkSize: INFLATE_CHUNK }), done: Promise.resolve(), kill() {} };
  if (c === 'none') return { stream: undefined, done: Promise.resolve(), kill() {} };
  const z = zstdDecompressor();
  const { stdin, stdout } = z.child;
  if (!stdin || !stdout) throw new UnimplementedError('zstd layers need the zstd program');
  // zstd's output arrives in pipe-sized reads; gathered, the hash and tar's pipe see 16× fewer chunks.
  const output = stdout.pipe(handleErrors(new Coalescer(INFLATE_CHUNK), 'zstd output'));
  return {
    stream: handleErrors(Duplex.from({ writable: stdin, readable: output }), 'zstd'),
    done: z.done,
    kill: () => z.child.kill('SIGKILL'),
  };
}

/**
 * Waits for every stream and process. The error that came first in time is the cause; the others are streams
 * torn down because of it (premature close, EPIPE, AbortError).
 */
export async function settle(parts: Promise<unknown>[], onFirstError: (err: unknown) => void): Promise<void> {
  let first: { err: unknown } | undefined;
  await Promise.allSettled(
    parts.map((p) =>
      p.catch((err: unknown) => {
        if (!first) {
          first = { err };
          onFirstError(err);
        }
      }),
    ),
  );
  if (first) throw first.err;
}

/** Starts decompression, diff-ID hashing and extraction of one layer: in the helper when there is one. */
export function unpackLayer(opts: UnpackOptions): Unpacking {
  if (opts.helper) return unpackNative({ ...opts, helper: opts.helper });
  const extraction = extractTar(opts.dir, { maxEntries: opts.maxEntries });
  const diffMeter = new DigestMeter({
    needle: Buffer.from(WHITEOUT_PREFIX),
    limit: opts.maxBytes,
    limitError: () =>
      Object.assign(new Error(`more than ${opts.maxBytes} bytes uncompressed`), { code: LAYER_TOO_LARGE }),
  });
  let dec: Decompressor;
  try {
    dec = decompressor(opts.compression);
  } catch (err) {
    extraction.kill();
    throw err;
  }
  // A stage of its own, so the caller's pipe ends here and a failure inside is handed back through it.
  const input = new PassThrough({ highWaterMark: 1 << 20 });
  const stages = dec.stream
    ? pipeline(input, dec.stream, diffMeter, extraction.input)
    : pipeline(input, diffMeter, extraction.input);
  const kill = (): void => {
    extraction.kill();
    dec.kill();
  };
  const result = settle([stages, dec.done, extraction.done], (err) => {
    kill();
    input.destroy(err instanceof Error ? err : new Error(String(err)));
  }).then(() => ({ diffId: diffMeter.digest(), bytes: diffMeter.bytes, mayHaveWhiteouts: diffMeter.sawNeedle }));
  return { input, result, kill };
}

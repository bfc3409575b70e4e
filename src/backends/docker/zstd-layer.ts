/**
 * zstd-compressed layers for Docker's loader: dockerd 20.10 reads gzip and plain tar layers in a docker-archive,
 * not zstd ("archive/tar: invalid tar header"), so such layers go in decompressed. A tar entry needs its size up
 * front, so the layer is decompressed twice (once to count, once to send) rather than staged on disk: zstd
 * decompresses at hundreds of MB/s, and nothing is left to clean up after a crash.
 */
import { spawn } from 'node:child_process';
import { InternalError, UnimplementedError } from '../../errors';

const STDERR_LIMIT = 4096;

/** Whether Docker's loader needs the layer of this media type decompressed first. */
export function needsDecompression(mediaType: string): boolean {
  return mediaType.endsWith('+zstd');
}

/** The decompressed bytes of a zstd file, as they come; throws when zstd is missing or fails. */
export async function* zstdChunks(file: string): AsyncGenerator<Buffer> {
  const child = spawn('zstd', ['-d', '-c', '-q', '--', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += b.toString('utf8');
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT')
        reject(
          new UnimplementedError('zstd-compressed layers need the zstd program (Debian package zstd)', { cause: err }),
        );
      else reject(new InternalError(`run zstd: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else reject(new InternalError(`decompress layer ${file}: zstd exited with ${sig ?? code}: ${stderr.trim()}`));
    });
  });
  exited.catch(() => undefined); // observed below; keeps an early failure from being unhandled meanwhile
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    await exited;
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** The decompressed size of a zstd file. */
export async function zstdSize(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of zstdChunks(file)) n += chunk.length;
  return n;
}

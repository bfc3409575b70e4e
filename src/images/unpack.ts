/**
 * Layer unpacking: a layer's uncompressed tar stream is extracted by GNU tar into a temp dir, its OCI whiteouts are
 * converted to overlayfs ones, and the caller renames the dir into <root>/layers/<diffid> once every digest checked.
 *
 * Why GNU tar and not a JavaScript tar library: tar is the reference implementation of the pax/GNU formats layers
 * use, and as root it restores owners, modes, xattrs (pax SCHILY.xattr), hard links, symlinks, device nodes and
 * sparse files faithfully, while refusing members that escape the target (leading "/", "..", paths through a
 * symlink extracted earlier). The JS libraries drop or mangle some of these. It also runs in its own process, so
 * extraction overlaps the download and hashing on the event loop.
 *
 * Whiteouts (OCI image spec, layer.md) → overlayfs:
 *   <dir>/.wh.<name>     → <dir>/<name> as a 0/0 character device, owned like the whiteout file
 *   <dir>/.wh..wh..opq   → xattr trusted.overlay.opaque=y on <dir>
 * Layers cannot set trusted.overlay.* themselves (excluded at extraction): that would let an image forge overlay
 * redirects or opaque dirs.
 */
import { lstat, readdir, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { InternalError, UnimplementedError } from '../errors';
import { runCommand } from '../host/process';
import { spawnChild, type Child } from '../host/spawner';

export const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';
const STDERR_LIMIT = 8192;
// Whiteouts are converted in batches so a layer with thousands of them cannot exceed ARG_MAX.
const BATCH = 256;

const TAR_ARGS = [
  '--extract',
  '--file=-',
  '--same-permissions',
  '--same-owner',
  '--numeric-owner',
  '--xattrs',
  '--xattrs-include=*',
  '--xattrs-exclude=trusted.overlay.*',
  '--warning=no-unknown-keyword',
  '--warning=no-timestamp',
];

/** A running extraction: write the uncompressed tar stream into `input`; `done` settles when tar exited. */
export interface Extraction {
  readonly input: Writable;
  readonly done: Promise<void>;
  kill(): void;
}

/** `code` of the error `done` rejects with when a layer has more entries than allowed. */
export const TOO_MANY_ENTRIES = 'ERR_LAYER_TOO_MANY_ENTRIES';
/** `code` of the error raised when a layer inflates past its byte limit (the caller names the limit). */
export const LAYER_TOO_LARGE = 'ERR_LAYER_TOO_LARGE';

/** tar's arguments for extracting a layer into `dir`; with `counting`, it lists each member on stdout. */
export function tarArgs(dir: string, counting: boolean): string[] {
  return [...TAR_ARGS, ...(counting ? ['--verbose'] : []), `--directory=${dir}`];
}

/**
 * Counts the members tar lists on `stdout` (one escaped name per line) and calls `tooMany` once the count passes
 * `max`. Returns whether that happened.
 */
export function watchEntries(stdout: Readable | null, max: number, tooMany: () => void): () => boolean {
  let entries = 0;
  let over = false;
  stdout?.on('data', (b: Buffer) => {
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) entries++;
    if (entries > max && !over) {
      over = true;
      tooMany();
    }
  });
  return () => over;
}

/** The error `done` rejects with when a layer has more entries than allowed. */
export function tooManyEntries(max: number): Error {
  return Object.assign(new Error(`more than ${max} entries`), { code: TOO_MANY_ENTRIES });
}

/**
 * Starts `tar -x` into `dir` (which must exist and be empty). With `maxEntries`, tar lists each member it
 * extracts and is killed as soon as the count passes the limit: an inode bomb stops after at most a pipe's worth
 * of extra entries, and the caller removes the dir.
 */
export function extractTar(dir: string, opts: { readonly maxEntries?: number } = {}): Extraction {
  const max = opts.maxEntries;
  const child = spawnChild('tar', tarArgs(dir, max !== undefined), {
    stdio: ['pipe', max !== undefined ? 'pipe' : 'ignore', 'pipe'],
  });
  const tooMany = max === undefined ? () => false : watchEntries(child.stdout, max, () => child.kill('SIGKILL'));
  const done = exitOf(child, 'tar').catch((err: unknown) => {
    if (!tooMany()) throw err;
    throw tooManyEntries(max as number);
  });
  const stdin = child.stdin as Writable;
  return { input: new DrainingSink(stdin), done, kill: () => child.kill('SIGKILL') };
}

/**
 * Writes into a child's stdin, and once the child closed it, accepts and drops the rest. GNU tar stops reading at
 * the end-of-archive record and exits, while the layer stream may go on (padding); those bytes must still flow
 * through the diff-ID hash. Whether the extraction succeeded is the child's exit status, not the pipe's.
 */
export class DrainingSink extends Writable {
  private readerGone = false;

  constructor(private readonly dest: Writable) {
    super();
    dest.on('error', () => (this.readerGone = true)); // EPIPE: the reader is gone
    dest.on('close', () => (this.readerGone = true));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.readerGone || this.dest.writableEnded) return cb();
    if (this.dest.write(chunk)) return cb();
    const done = (): void => {
      this.dest.off('drain', done);
      this.dest.off('close', done);
      cb();
    };
    this.dest.on('drain', done);
    this.dest.on('close', done);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Torn down by a failed pipeline: close the child's stdin so it ends instead of waiting for more.
    this.dest.destroy();
    cb(err);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.readerGone) return cb();
    let called = false;
    const once = (): void => {
      if (!called) cb();
      called = true;
    };
    this.dest.end(once);
    // end()'s callback may never fire when the reader closed first; close settles it too.
    this.dest.once('close', once);
  }
}

/** A zstd decompressor as a child process (`zstd -dc`), for tar+zstd layers; Node 20's zlib has no zstd. */
export function zstdDecompressor(): { child: Child; done: Promise<void> } {
  const child = spawnChild('zstd', ['-d', '-c', '-q']);
  return { child, done: exitOf(child, 'zstd', 'zstd-compressed layers need the zstd program (Debian package zstd)') };
}

/** Settles when the child exits; `missing` turns "program not installed" into Unimplemented with that hint. */
function exitOf(child: Child, name: string, missing?: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += b.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (missing && err.code === 'ENOENT') reject(new UnimplementedError(missing, { cause: err }));
      else reject(new InternalError(`run ${name}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (code === 0) resolve();
      else reject(new InternalError(`${name} failed (${signal ?? `exit ${code}`}): ${stderr.trim().slice(0, 2000)}`));
    });
  });
}

interface WhiteoutOps {
  /** [path of the hidden name, "uid:gid"] */
  readonly devices: [string, string][];
  readonly opaqueDirs: string[];
  /** Times of every dir holding a whiteout, as extracted, to restore afterwards. */
  readonly dirTimes: Map<string, { atime: Date; mtime: Date }>;
}

/** Finds whiteout files under `root` without following symlinks, and removes the whiteout files themselves. */
async function collectWhiteouts(root: string): Promise<WhiteoutOps> {
  const ops: WhiteoutOps = { devices: [], opaqueDirs: [], dirTimes: new Map() };
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        await walk(p);
        continue;
      }
      if (!e.name.startsWith(WHITEOUT_PREFIX)) continue;
      if (!ops.dirTimes.has(dir)) {
        const st = await lstat(dir);
        ops.dirTimes.set(dir, { atime: st.atime, mtime: st.mtime });
      }
      if (e.name === OPAQUE) {
        ops.opaqueDirs.push(dir);
      } else if (!e.name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        // A whiteout only hides lower layers; if this layer also has the name, its own entry wins.
        const hidden = e.name.slice(WHITEOUT_PREFIX.length);
        if (hidden !== '' && hidden !== '.' && hidden !== '..' && !names.has(hidden)) {
          const st = await lstat(p);
          ops.devices.push([path.join(dir, hidden), `${st.uid}:${st.gid}`]);
        }
      }
      // Other .wh..wh.* names are aufs bookkeeping (plnk, aufs) with no meaning on overlayfs.
      await unlink(p);
    }
  };
  await walk(root);
  return ops;
}

async function run(file: string, args: string[]): Promise<void> {
  const r = await runCommand(file, args, { maxOutputBytes: 1 << 20 });
  if (r.code !== 0) throw new InternalError(`convert whiteouts: ${r.stderr.trim() || `${file} exited with ${r.code}`}`);
}

// mknod and setfattr have no Node API; one shell per batch keeps it to a few processes per layer.
const SCRIPT = [
  'set -e',
  'while [ $# -gt 0 ]; do',
  '  case $1 in',
  '    dev) mknod -- "$2" c 0 0; chown -h -- "$3" "$2"; shift 3 ;;',
  '    opq) setfattr -n trusted.overlay.opaque -v y -- "$2"; shift 2 ;;',
  '    *) exit 2 ;;',
  '  esac',
  'done',
].join('\n');

/** Converts OCI whiteouts under an extracted layer dir into overlayfs whiteouts. */
export async function convertWhiteouts(root: string): Promise<number> {
  const ops = await collectWhiteouts(root);
  const args: string[][] = [
    ...ops.devices.map(([p, owner]) => ['dev', p, owner]),
    ...ops.opaqueDirs.map((d) => ['opq', d]),
  ];
  for (let i = 0; i < args.length; i += BATCH) {
    await run('sh', ['-c', SCRIPT, 'sh', ...args.slice(i, i + BATCH).flat()]);
  }
  // Removing whiteout files touched their dirs; give them back the times the layer recorded.
  await Promise.all([...ops.dirTimes].map(([dir, t]) => utimes(dir, t.atime, t.mtime)));
  return args.length;
}

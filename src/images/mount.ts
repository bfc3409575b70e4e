/**
 * Mounting through util-linux mount/umount (no native mount binding in Node; the binaries are on every host and
 * report errors readably). Mount state is read from /proc/self/mountinfo, never guessed.
 */
import { readFile } from 'node:fs/promises';
import { InternalError } from '../errors';
import { runCommand } from '../host/process';

// Overlay's option string must fit in one page together with the kernel's own additions.
const MAX_OPTIONS = 3800;
const UMOUNT_RETRIES = 5;
const UMOUNT_RETRY_MS = 100;

async function run(file: string, args: string[], cwd?: string): Promise<void> {
  const r = await runCommand(file, args, { cwd, timeoutMs: 30_000 });
  const stderr = r.stderr.trim();
  if (r.code !== 0) throw Object.assign(new Error(stderr || `${file} exited with ${r.code}`), { stderr });
}

/** Decodes the octal escapes (\040 for space…) of /proc/self/mountinfo fields. */
function unescapeField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** True when `target` is a mount point in this mount namespace. */
export async function isMounted(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp !== undefined && unescapeField(mp) === target) return true;
  }
  return false;
}

export interface OverlaySpec {
  /** Lower dirs, TOP first (overlay's lowerdir order). */
  readonly lowers: string[];
  readonly upper?: string;
  readonly work?: string;
  /** A dir the lowers are relative to, used when absolute paths would overflow the option page. */
  readonly lowerBase: string;
}

/** Mounts an overlay at `target`; read-only when no upper dir is given (then ≥ 2 lowers are required). */
export async function mountOverlay(target: string, spec: OverlaySpec): Promise<void> {
  const rw = spec.upper && spec.work ? `,upperdir=${spec.upper},workdir=${spec.work}` : '';
  let options = `lowerdir=${spec.lowers.join(':')}${rw}`;
  let cwd: string | undefined;
  if (options.length > MAX_OPTIONS) {
    // As containerd does: relative lowerdirs resolved against the mounting process's cwd.
    const rel = spec.lowers.map((l) => (l.startsWith(spec.lowerBase + '/') ? l.slice(spec.lowerBase.length + 1) : l));
    options = `lowerdir=${rel.join(':')}${rw}`;
    cwd = spec.lowerBase;
    if (options.length > MAX_OPTIONS)
      throw new InternalError(`mount overlay at ${target}: too many layers (${spec.lowers.length})`);
  }
  if (!rw) options = `ro,${options}`;
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', options, target], cwd);
  } catch (err) {
    throw new InternalError(`mount overlay at ${target}: ${(err as Error).message}`, { cause: err });
  }
}

/** Bind-mounts `source` read-only at `target` (the single-layer read-only root: overlay needs two lowers). */
export async function bindReadOnly(source: string, target: string): Promise<void> {
  try {
    await run('mount', ['--bind', '-o', 'ro', source, target]);
    // Older mount versions ignore ro on the first bind; the remount makes it stick either way.
    await run('mount', ['-o', 'remount,bind,ro', target]);
  } catch (err) {
    throw new InternalError(`bind mount ${source} read-only at ${target}: ${(err as Error).message}`, { cause: err });
  }
}

/** Unmounts `target` if mounted; retries while busy, then detaches lazily so removal can go on. */
export async function unmount(target: string): Promise<void> {
  for (let i = 0; i < UMOUNT_RETRIES && (await isMounted(target)); i++) {
    try {
      await run('umount', [target]);
    } catch (err) {
      if (!/busy/i.test((err as Error).message)) {
        if (!(await isMounted(target))) return;
        throw new InternalError(`unmount ${target}: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, UMOUNT_RETRY_MS * (i + 1)));
    }
  }
  if (await isMounted(target)) {
    try {
      await run('umount', ['--lazy', target]);
    } catch (err) {
      throw new InternalError(`unmount ${target} lazily: ${(err as Error).message}`, { cause: err });
    }
  }
  // Stacked mounts (someone mounted twice): unmount until none is left, bounded.
  for (let i = 0; i < 8 && (await isMounted(target)); i++) await run('umount', ['--lazy', target]);
  if (await isMounted(target)) throw new InternalError(`unmount ${target}: still mounted`);
}

/**
 * Host-side mounts of the stage1: the pod root bound on itself and made shared (so mounts made later under it on
 * the host — app roots, volumes — propagate into the running pod, which nspawn made a slave of it), app roots
 * bound in (by crimux-stage1, app-add.ts), and teardown. Node has no mount(2), so util-linux mount/umount do the
 * rest, each bounded in time.
 */
import { InternalError } from '../../../errors';
import { runCommand } from '../../../host/process';
import { readOptional } from './files';

const TIMEOUT_MS = 30_000;

async function mount(args: string[], what: string, signal?: AbortSignal): Promise<void> {
  const res = await runCommand('mount', args, { timeoutMs: TIMEOUT_MS, signal });
  if (res.code !== 0) throw new InternalError(`${what}: mount ${args.join(' ')}: ${res.stderr.trim() || res.code}`);
}

/** Bind dir on itself and make it a shared mount (a peer group nspawn's copy becomes a slave of). */
export async function makeSharedRoot(dir: string, signal?: AbortSignal): Promise<void> {
  if (!(await isMountPoint(dir))) await mount(['--bind', dir, dir], `share ${dir}`, signal);
  await mount(['--make-shared', dir], `share ${dir}`, signal);
}

/** Mount points at or below dir in crimux's mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = (await readOptional('/proc/self/mountinfo')) ?? '';
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = unescapeMountinfo(line.split(' ')[4] ?? '');
    if (mp === dir || mp.startsWith(prefix)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

export async function isMountPoint(p: string): Promise<boolean> {
  const text = (await readOptional('/proc/self/mountinfo')) ?? '';
  return text.split('\n').some((line) => unescapeMountinfo(line.split(' ')[4] ?? '') === p);
}

/**
 * Lazily unmount everything at or below dir. Only the outermost mount points are named: a lazy unmount detaches
 * the whole tree below one, so no path inside an app root (where a container may have swapped a component for a
 * symlink pointing at a host mount) is ever resolved. Repeated while anything is left.
 */
export async function unmountAll(dir: string, signal?: AbortSignal): Promise<void> {
  for (let round = 0; round < 8; round++) {
    const mps = await mountsUnder(dir);
    if (mps.length === 0) return;
    for (const mp of outermost(mps)) {
      await runCommand('umount', ['--lazy', '--no-canonicalize', '--', mp], { timeoutMs: TIMEOUT_MS, signal });
    }
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new InternalError(`unmount ${dir}: still mounted: ${left.join(', ')}`);
}

/** The mount points not below another one of the list. */
export function outermost(mps: readonly string[]): string[] {
  return mps.filter((mp) => !mps.some((o) => o !== mp && mp.startsWith(o.endsWith('/') ? o : `${o}/`)));
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

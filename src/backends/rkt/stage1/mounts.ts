/**
 * Host-side mounts of the stage1: the pod root bound on itself and made shared (so mounts made later under it on
 * the host — app roots, volumes — propagate into the running pod, which nspawn made a slave of it), app roots
 * bound in, and teardown. Node has no mount(2), so util-linux mount/umount do it, each bounded in time.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, InvalidArgumentError } from '../../../errors';
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

export async function bindMount(src: string, dst: string, signal?: AbortSignal): Promise<void> {
  await mount(['--bind', src, dst], `bind ${src}`, signal);
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

/** Lazily unmount everything at or below dir (deepest first); repeated while anything is left. */
export async function unmountAll(dir: string, signal?: AbortSignal): Promise<void> {
  for (let round = 0; round < 8; round++) {
    const mps = await mountsUnder(dir);
    if (mps.length === 0) return;
    for (const mp of mps) await runCommand('umount', ['--lazy', mp], { timeoutMs: TIMEOUT_MS, signal });
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new InternalError(`unmount ${dir}: still mounted: ${left.join(', ')}`);
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * root + unsafe, with every symlink resolved as if root were "/" (like runc's securejoin): a container path or an
 * image symlink can never point a mount outside the app's root.
 */
export async function secureJoin(root: string, unsafe: string): Promise<string> {
  const parts = unsafe.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = path.join(root, ...done, part);
    let target: string | undefined;
    try {
      const st = await fs.lstat(candidate);
      if (st.isSymbolicLink()) target = await fs.readlink(candidate);
    } catch {
      // Missing: the rest is created by the caller, literally.
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > 255) throw new InvalidArgumentError(`resolve ${unsafe}: too many symlinks`);
    if (target.startsWith('/')) done.length = 0;
    parts.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return path.join(root, ...done);
}

/** Make the mount target exist: a directory, or an empty file when the source is not a directory. */
export async function ensureTarget(target: string, dir: boolean): Promise<void> {
  if (dir) {
    await fs.mkdir(target, { recursive: true });
    return;
  }
  await fs.mkdir(path.dirname(target), { recursive: true });
  const fh = await fs.open(target, 'a');
  await fh.close();
}

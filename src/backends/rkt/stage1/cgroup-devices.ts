/**
 * The device allow-list of an app (cgroup v1 `devices`), runc's default set: any node may be created (mknod), but
 * only the harmless character devices every container expects may be read or written. Without it a root app
 * (CAP_MKNOD is a default capability) could mknod the host disk's block device in /dev or a volume — or find one
 * in an image layer — and read the raw disk: nspawn's own device policy needs a registered scope, which
 * `--register=no` skips (issue #19). Devices beyond this set are never granted: CRI `devices` are refused (security.ts).
 * NOTE: a pure cgroup v2 host needs a BPF device program instead; there this returns false and the app root's
 * nodev mount is the only guard (and /dev, volumes stay open) — untested here, as v2-only hosts are.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError } from '../../../errors';
import type { CgroupSet, Hierarchy } from './cgroups';

/** runc's default rules: null, zero, full, random, urandom, tty, console, ptmx, and the pty slaves. */
export const DEFAULT_DEVICE_RULES: readonly string[] = [
  'c *:* m',
  'b *:* m',
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:1 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
];

/** Denies every device to the app's cgroup, then allows the default set; false when no v1 devices hierarchy exists. */
export async function restrictDevices(hs: readonly Hierarchy[], set: CgroupSet): Promise<boolean> {
  const h = hs.find((x) => !x.v2 && x.controllers.includes('devices'));
  const rel = h ? set[h.mount] : undefined;
  if (!h || rel === undefined) return false;
  const dir = path.join(h.mount, rel);
  const write = async (file: string, rule: string): Promise<void> => {
    await fs.writeFile(path.join(dir, file), rule).catch((err: unknown) => {
      throw new InternalError(`set ${file}=${rule} on ${dir}: ${(err as Error).message}`, { cause: err });
    });
  };
  await write('devices.deny', 'a');
  for (const rule of DEFAULT_DEVICE_RULES) await write('devices.allow', rule);
  return true;
}

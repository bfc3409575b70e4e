/**
 * Container root filesystems in the guest: each is a hot-plugged SCSI disk (the host's qcow2 overlay over an ext4
 * image of the image snapshot), found by its serial — never by sdX order, which depends on plug timing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerSpec } from '../protocol';
import { bb, sleep } from './util';

/** /dev/sdX whose VPD page 0x80 (unit serial) is `serial`; waits up to timeoutMs for the hot-plug to land. */
export async function findDisk(serial: string, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const dev of fs.readdirSync('/sys/block')) {
      if (!dev.startsWith('sd')) continue;
      try {
        // Page 0x80: 4-byte header, then the serial (space/NUL padded).
        const raw = fs.readFileSync(`/sys/block/${dev}/device/vpd_pg80`);
        const s = raw
          .subarray(4)
          .toString('latin1')
          .replace(/[\0\s]+$/g, '')
          .trim();
        if (s === serial && fs.existsSync(`/dev/${dev}`)) return `/dev/${dev}`;
      } catch {
        // device still being set up
      }
    }
    if (Date.now() > deadline) throw new Error(`disk with serial ${serial} did not appear`);
    await sleep(50);
  }
}

export function rootDir(cid: string): string {
  return `/run/c/${cid}/rootfs`;
}

/** Mount the rootfs, add mount points and files, then make it read-only if asked. Idempotent. */
export async function mountRootfs(spec: ContainerSpec): Promise<string> {
  const dir = rootDir(spec.cid);
  fs.mkdirSync(dir, { recursive: true });
  const mounted = fs.readFileSync('/proc/mounts', 'utf8').includes(` ${dir} `);
  if (!mounted) {
    const dev = await findDisk(spec.serial);
    await bb(['mount', '-t', 'ext4', dev, dir]);
  }
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'etc']) {
    try {
      fs.mkdirSync(path.join(dir, d), { recursive: true });
    } catch {
      // a symlink or file in the image: leave it (the wrapper's mount would fail and report it)
    }
  }
  for (const f of spec.files ?? []) {
    const target = path.join(dir, path.normalize('/' + f.path));
    if (f.dir) {
      // A directory of a copied volume, kept even when empty (a mount point the container expects to find).
      fs.mkdirSync(target, { recursive: true, mode: f.mode ?? 0o755 });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, Buffer.from(f.data, 'base64'), { mode: f.mode ?? 0o644 });
  }
  if (spec.readonlyRootfs) await bb(['mount', '-o', 'remount,ro', dir]);
  return dir;
}

/** Unmount the rootfs (lazily: an exec'd process may still hold it for a moment). Idempotent. */
export async function unmountRootfs(cid: string): Promise<void> {
  const dir = rootDir(cid);
  if (fs.readFileSync('/proc/mounts', 'utf8').includes(` ${dir} `)) await bb(['umount', '-l', dir]);
  fs.rmSync(`/run/c/${cid}`, { recursive: true, force: true });
}

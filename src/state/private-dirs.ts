/**
 * crimux's own directories are private to root (issue #19, the CVE-2021-41091 class): the state dir holds the
 * unpacked layers and snapshots of every pulled image, including setuid-root binaries and world-writable dirs an
 * image author chose. If a local user could walk into them, they could run such a binary as root on the host, or
 * plant files a container later sees. So at start-up, before anything is pulled or created:
 *   - stateDir, stateDir/images and stateDir/backends become 0700 (containerd makes its snapshot roots 0700 for the
 *     same reason, CVE-2021-41103). Nothing non-root needs to walk them: runtimes, conmon, qemu and nspawn run as
 *     root, and a container reaches its rootfs through the mount made for it, never through these paths;
 *   - runDir becomes 0711: it holds the CRI socket (0660, group `socket.group`) by default, which the kubelet's
 *     group must be able to reach by path, but nobody else may list it.
 * A state dir owned by another user (pre-created by someone else) is refused: its owner could undo the mode.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError } from '../errors';

export const PRIVATE_DIR_MODE = 0o700;
export const RUN_DIR_MODE = 0o711;

export interface PrivateDirs {
  readonly stateDir: string;
  readonly runDir: string;
}

function ensureMode(dir: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new FailedPreconditionError(`secure ${dir}: not a directory`);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid) {
    throw new FailedPreconditionError(
      `secure ${dir}: owned by uid ${st.uid}, not by crimux (uid ${uid}); fix its owner`,
    );
  }
  if ((st.mode & 0o7777) !== mode) fs.chmodSync(dir, mode);
}

/** Creates (if needed) and restricts crimux's state and run dirs; returns the dirs it secured. */
export function securePrivateDirs(dirs: PrivateDirs): string[] {
  const privateDirs = [dirs.stateDir, path.join(dirs.stateDir, 'images'), path.join(dirs.stateDir, 'backends')];
  for (const d of privateDirs) ensureMode(d, PRIVATE_DIR_MODE);
  ensureMode(dirs.runDir, RUN_DIR_MODE);
  return [...privateDirs, dirs.runDir];
}

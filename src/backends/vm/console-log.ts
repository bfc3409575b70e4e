/**
 * A cap on each VM's console log on the host (issue #19): the guest writes its serial console as fast as it likes,
 * and qemu appends it to a file in crimux's state dir. A guest that floods its console must not fill the host's
 * disk, so one sweeper checks every known console log and, past `maxBytes`, rotates it: the newest `maxBytes / 2`
 * bytes go to `<log>.1` (replacing the previous one) and the log is truncated. qemu opens it with append=on, so its
 * next write lands at the new end. On the host a VM's console takes at most ≈ 1.5 × maxBytes plus what the guest
 * writes between two sweeps.
 *
 * NOTE: the log is registered when qemu starts and dropped once it no longer exists (the pod dir is removed), so a
 * VM recovered after a crimux restart is capped again from its next start only; crimux restarts are rare and
 * recovery re-registers nothing it did not start.
 */
import fs from 'node:fs';

export const DEFAULT_CONSOLE_LOG_MAX_BYTES = 1024 * 1024;
const SWEEP_MS = 1000;

const logs = new Set<string>();
let maxBytes = DEFAULT_CONSOLE_LOG_MAX_BYTES;
let timer: NodeJS.Timeout | undefined;

/** Sets the size past which console logs are rotated (backends.vm.consoleLogMaxBytes). */
export function setConsoleLogMaxBytes(bytes: number): void {
  maxBytes = Math.max(4096, bytes);
}

/** Starts capping `file` (idempotent). */
export function watchConsoleLog(file: string): void {
  logs.add(file);
  timer ??= setInterval(sweepConsoleLogs, SWEEP_MS).unref();
}

/** One pass over every watched log; exported for tests. */
export function sweepConsoleLogs(): void {
  for (const file of logs) {
    try {
      capConsoleLog(file, maxBytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') logs.delete(file);
    }
  }
  if (logs.size === 0 && timer) {
    clearInterval(timer);
    timer = undefined;
  }
}

/** Rotates `file` when it is larger than `limit`: its newest half-limit bytes to `<file>.1`, then truncate. */
export function capConsoleLog(file: string, limit: number): boolean {
  const size = fs.statSync(file).size;
  if (size <= limit) return false;
  const keep = Math.floor(limit / 2);
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW);
  try {
    const tail = Buffer.alloc(keep);
    const n = fs.readSync(fd, tail, 0, keep, Math.max(0, size - keep));
    const rotated = `${file}.1`;
    fs.writeFileSync(`${rotated}.tmp`, tail.subarray(0, n), { mode: 0o600 });
    fs.renameSync(`${rotated}.tmp`, rotated);
    fs.ftruncateSync(fd, 0);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

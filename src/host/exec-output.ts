/**
 * What ExecSync keeps of a command's output — one rule for every backend and the VM guest (no imports but Node's,
 * so the guest's bundle can take it). The kubelet reads replies of at most 16 MiB (its gRPC receive limit; the
 * dockershim and CRI-O cap exec output at that size too): past it the probe would fail at the kubelet instead of
 * returning what the command printed. So each stream keeps its first 8 MiB, both together stay below 16 MiB with
 * room for the reply's framing, and the rest is read and dropped (the command is never blocked on a full pipe).
 */
import os from 'node:os';

export const EXEC_SYNC_STREAM_MAX_BYTES = 8 * 1024 * 1024;
export const EXEC_SYNC_REPLY_MAX_BYTES = 16 * 1024 * 1024 - 1024;

export class ExecSyncOutput {
  private readonly kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly sizes = { stdout: 0, stderr: 0 };

  constructor(private readonly perStream = EXEC_SYNC_STREAM_MAX_BYTES) {}

  take(stream: 'stdout' | 'stderr', b: Buffer): void {
    const room = Math.min(
      this.perStream - this.sizes[stream],
      EXEC_SYNC_REPLY_MAX_BYTES - this.sizes.stdout - this.sizes.stderr,
    );
    const keep = Math.max(0, Math.min(room, b.length));
    if (keep > 0) {
      this.kept[stream].push(keep === b.length ? b : b.subarray(0, keep));
      this.sizes[stream] += keep;
    }
  }

  get stdout(): Buffer {
    return Buffer.concat(this.kept.stdout);
  }

  get stderr(): Buffer {
    return Buffer.concat(this.kept.stderr);
  }
}

/** Exit code as a shell reports it: the code, or 128 + the signal's number when a signal ended the process. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);
}

/**
 * OOM kills of running containers on a cgroup v2 host, seen as they happen: an inotify watch (fs.watch) on each
 * container cgroup's memory.events, which the kernel marks modified when a counter changes (cgroup-v2.rst). On the
 * first change that shows oom_kill > 0, `record` runs (the runc backend writes conmon's oom file).
 *
 * Why crimux watches too: with the systemd cgroup driver the container's cgroup is a transient scope that systemd
 * removes as soon as its last process is gone. conmon 2.1 looks at memory.events again only after it has handled
 * the exit, and by then the scope can be gone — measured in the node VM suite (test/node-vm), about one OOM kill in
 * five was reported as "Error". The kernel counts the kill before the victim has finished exiting, so a watch that
 * does not wait for the exit sees it. With the cgroupfs driver the cgroup lives until `runtime delete`, and the
 * status code's fallback (the cgroup's own counter) covers what conmon misses; the watch is harmless there.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { parseKeyed } from './cgroup-common';

export class OomWatcher {
  private readonly watches = new Map<string, FSWatcher>();

  /** `record` failures are passed to `onError` (e.g. a log line); the watch is then over. */
  constructor(private readonly onError: (id: string, err: unknown) => void = () => undefined) {}

  /**
   * Watches `cgroupDir`/memory.events for `id` (replacing an earlier watch of the same ID). Returns false when the
   * file cannot be watched (no memory controller there, or the cgroup is already gone).
   */
  watch(id: string, cgroupDir: string, record: () => Promise<void>): boolean {
    this.unwatch(id);
    const file = path.join(cgroupDir, 'memory.events');
    let w: FSWatcher;
    try {
      w = watch(file, { persistent: false });
    } catch {
      return false;
    }
    this.watches.set(id, w);
    let done = false;
    const live = (): boolean => !done && this.watches.get(id) === w;
    // Read synchronously, in the inotify callback itself: the kill is counted before the victim has exited, but
    // with the systemd driver the cgroup goes soon after it has, and a read queued on the thread pool can be late.
    const check = (): void => {
      if (!live()) return;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        this.unwatch(id, w); // the cgroup is gone: nothing more will happen in it
        return;
      }
      const kills = Number(parseKeyed(text).get('oom_kill') ?? 0n);
      if (kills > 0 && live()) {
        done = true;
        this.unwatch(id, w);
        record().catch((err: unknown) => this.onError(id, err));
      }
    };
    w.on('change', check);
    w.on('error', () => this.unwatch(id, w));
    check(); // a kill before the watch was set up
    return true;
  }

  /** Stops watching `id` (only if its watch is still `w`, when given). */
  unwatch(id: string, w?: FSWatcher): void {
    const cur = this.watches.get(id);
    if (!cur || (w && cur !== w)) return;
    this.watches.delete(id);
    cur.close();
  }

  /** IDs being watched (tests, metrics). */
  ids(): string[] {
    return [...this.watches.keys()];
  }

  close(): void {
    for (const id of [...this.watches.keys()]) this.unwatch(id);
  }
}

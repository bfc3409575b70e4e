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
 *
 * The watch narrows the systemd race but cannot close it (the callback runs on a busy event loop; the scope may be
 * gone by then). The last word is the parent's counter: v2's memory.events is hierarchical, so the pod cgroup
 * counts its containers' kills after their scopes are gone. `claimParentKill` attributes one new parent kill to
 * one container that died by SIGKILL and whose own cgroup is gone, each kill at most once.
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { parseKeyed } from './cgroup-common';

/** oom_kill of the memory.events in `dir`, or undefined when it cannot be read. */
function oomKillsIn(dir: string): number | undefined {
  try {
    return Number(parseKeyed(readFileSync(path.join(dir, 'memory.events'), 'utf8')).get('oom_kill') ?? 0n);
  } catch {
    return undefined;
  }
}

export class OomWatcher {
  private readonly watches = new Map<string, FSWatcher>();
  /** Per container: its parent cgroup and the parent's oom_kill when the watch began (kept until forget). */
  private readonly parents = new Map<string, { readonly dir: string; readonly baseline: number }>();
  /** Per parent cgroup: the oom_kill count up to which kills have been attributed to a container. */
  private readonly claimed = new Map<string, number>();

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
    const parent = path.dirname(cgroupDir);
    const baseline = oomKillsIn(parent);
    if (baseline !== undefined) this.parents.set(id, { dir: parent, baseline });
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
        if (baseline !== undefined) this.claimOne(parent, baseline, oomKillsIn(parent));
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

  /**
   * For a container that died by SIGKILL and whose own cgroup is gone: true when its parent has counted an OOM
   * kill since the container's watch began that no other container has been given. The caller records the answer
   * (conmon's oom file): a second call for the same kill returns false.
   */
  claimParentKill(id: string): boolean {
    const p = this.parents.get(id);
    if (!p) return false;
    const now = oomKillsIn(p.dir);
    if (now === undefined || now <= Math.max(p.baseline, this.claimed.get(p.dir) ?? 0)) return false;
    this.claimOne(p.dir, p.baseline, now);
    return true;
  }

  /** Ends everything kept for `id` (container removed). */
  forget(id: string): void {
    this.unwatch(id);
    this.parents.delete(id);
  }

  /** Marks one more of `parent`'s kills (after `baseline`, at most `now`) as given to a container. */
  private claimOne(parent: string, baseline: number, now: number | undefined): void {
    let next = Math.max(this.claimed.get(parent) ?? 0, baseline) + 1;
    if (now !== undefined) next = Math.min(next, now);
    this.claimed.set(parent, Math.max(this.claimed.get(parent) ?? 0, next));
  }

  /** IDs being watched (tests, metrics). */
  ids(): string[] {
    return [...this.watches.keys()];
  }

  close(): void {
    for (const id of [...this.watches.keys()]) this.unwatch(id);
  }
}

/**
 * The cgroup v2 OOM watch (src/host/oom-watch.ts) on a fake memory.events in a temp dir: a change to oom_kill > 0
 * records once, a kill that happened before the watch is recorded at once, a missing file cannot be watched, and
 * unwatch stops it. (The real inotify on cgroupfs is proven in the node VM, test/node-vm.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { OomWatcher } from '../../src/host/oom-watch';

const EVENTS = (kills: number): string => `low 0\nhigh 0\nmax 3\noom 1\noom_kill ${kills}\noom_group_kill 0\n`;

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OomWatcher', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-oomwatch-'));
  after(() => fs.rmSync(root, { recursive: true, force: true }));
  const cgroup = (name: string, kills: number): string => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(kills));
    return dir;
  };

  it('records once when oom_kill turns nonzero, then stops watching', async () => {
    const w = new OomWatcher();
    const dir = cgroup('a', 0);
    let n = 0;
    assert.equal(
      w.watch('a', dir, async () => void n++),
      true,
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(n, 0);
    fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(1));
    await until('the kill to be recorded', () => n === 1);
    fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(2));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(n, 1);
    assert.deepEqual(w.ids(), []);
  });

  it('records a kill that happened before the watch', async () => {
    const w = new OomWatcher();
    let n = 0;
    w.watch('b', cgroup('b', 1), async () => void n++);
    await until('the earlier kill to be recorded', () => n === 1);
  });

  it('cannot watch a cgroup without memory.events, and unwatch ends a watch', async () => {
    const w = new OomWatcher();
    assert.equal(
      w.watch('c', path.join(root, 'gone'), async () => undefined),
      false,
    );
    const dir = cgroup('d', 0);
    let n = 0;
    w.watch('d', dir, async () => void n++);
    assert.deepEqual(w.ids(), ['d']);
    w.unwatch('d');
    fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(1));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(n, 0);
    assert.deepEqual(w.ids(), []);
  });

  it('passes a failing record to onError', async () => {
    const errors: string[] = [];
    const w = new OomWatcher((id) => errors.push(id));
    w.watch('e', cgroup('e', 1), () => Promise.reject(new Error('disk full')));
    await until('the error', () => errors.length === 1);
    assert.deepEqual(errors, ['e']);
  });

  describe('the pod cgroup fallback (a scope already gone)', () => {
    // pod/ holds the hierarchical counter; its children are the containers' cgroups.
    const pod = (name: string, kills: number): { dir: string; set: (n: number) => void } => {
      const dir = path.join(root, name);
      fs.mkdirSync(dir);
      const set = (n: number): void => fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(n));
      set(kills);
      return { dir, set };
    };
    const child = (parent: string, name: string): string => {
      const dir = path.join(parent, name);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'memory.events'), EVENTS(0));
      return dir;
    };

    it('gives each new pod kill to one container, once, and none from before the watch', async () => {
      const p = pod('pod-1', 2); // two kills of earlier containers
      const w = new OomWatcher();
      w.watch('x', child(p.dir, 'x'), async () => undefined);
      w.watch('y', child(p.dir, 'y'), async () => undefined);
      assert.equal(w.claimParentKill('x'), false, 'kills from before the watch are nobody’s');
      p.set(3);
      assert.equal(w.claimParentKill('x'), true);
      assert.equal(w.claimParentKill('x'), false, 'the same kill is given once');
      assert.equal(w.claimParentKill('y'), false, 'and to one container only');
      p.set(4);
      assert.equal(w.claimParentKill('y'), true);
      w.close();
    });

    it('does not give away a kill the container’s own watch already recorded', async () => {
      const p = pod('pod-2', 0);
      const w = new OomWatcher();
      let recorded = 0;
      const a = child(p.dir, 'a');
      w.watch('a', a, async () => void recorded++);
      w.watch('b', child(p.dir, 'b'), async () => undefined);
      p.set(1);
      fs.writeFileSync(path.join(a, 'memory.events'), EVENTS(1));
      await until('a’s own kill to be recorded', () => recorded === 1);
      assert.equal(w.claimParentKill('b'), false);
      w.close();
    });

    it('knows nothing of a forgotten container or one never watched', () => {
      const p = pod('pod-3', 0);
      const w = new OomWatcher();
      w.watch('z', child(p.dir, 'z'), async () => undefined);
      w.forget('z');
      p.set(1);
      assert.equal(w.claimParentKill('z'), false);
      assert.equal(w.claimParentKill('never'), false);
    });
  });
});

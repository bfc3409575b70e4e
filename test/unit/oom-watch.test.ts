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
});

/**
 * The reaper finishes a pod removal whose trash entry lost its job.json (a crash between making the entry and
 * writing the job, or an entry from before the job was written first): the pod's own cgroup goes too, not only
 * its files (#24: a removal finished after a crash kept <cgroupParent>/<id>). Real cgroup v1 directories; the
 * runtime and snapshot steps are stubs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Reaper } from '../../src/backends/runc/reaper';
import type { Engine } from '../../src/backends/runc/engine';
import type { ImageStore, SnapshotStore } from '../../src/images/types';
import { removeCgroupV1 } from '../../src/host/cgroup-v1';
import { nullLogger } from '../../src/log/logger';

const parent = `/crimux-reaper-${process.pid}`;
/** The v1 memory hierarchy's directory of a cgroup path (this host is cgroup v1). */
const memoryDir = (cgroup: string): string => path.join('/sys/fs/cgroup/memory', cgroup);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-reaper-'));

after(async () => {
  await removeCgroupV1(parent);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a job-less sandbox entry in the trash: resume removes the pod cgroup and the entry', async () => {
  const id = 'a'.repeat(64);
  const podCgroup = `${parent}/${id}`;
  fs.mkdirSync(memoryDir(`${podCgroup}/ctr`), { recursive: true }); // the pod cgroup with a (dead) container's child
  const trash = path.join(dir, 'trash');
  fs.mkdirSync(path.join(trash, `s-${id}`, 'pause'), { recursive: true });
  const engine = { destroy: async () => undefined } as unknown as Engine;
  const images = { removeSnapshot: async () => undefined } as unknown as ImageStore & SnapshotStore;
  const reaper = new Reaper(
    trash,
    engine,
    images,
    nullLogger(),
    () => undefined,
    (cgroup) => removeCgroupV1(cgroup),
    (x) => `${parent}/${x}`,
  );
  await reaper.resume();
  await reaper.drain();
  assert.equal(fs.existsSync(memoryDir(podCgroup)), false, 'pod cgroup removed');
  assert.deepEqual(fs.readdirSync(trash), [], 'trash entry removed');
});

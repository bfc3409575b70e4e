/**
 * CPU and memory limits of an app, written to its cgroup before the app starts (rkt's unit had MemoryLimit=,
 * CPUQuota=, CPUShares=). cgroup v1 files on hybrid hosts like this one, their v2 counterparts on unified ones.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError } from '../../../errors';
import type { AppResources } from '../pod-manager';
import type { CgroupSet, Hierarchy } from './cgroups';
import { sharesToWeight } from '../../../host/cgroup-v2';

export async function applyLimits(hs: readonly Hierarchy[], set: CgroupSet, r: AppResources): Promise<void> {
  for (const h of hs) {
    const rel = set[h.mount];
    if (rel === undefined) continue;
    const dir = path.join(h.mount, rel);
    const writes: [string, string][] = [];
    if (h.v2) {
      if (r.memoryLimitBytes) writes.push(['memory.max', String(r.memoryLimitBytes)]);
      if (r.cpuQuota && r.cpuQuota > 0) writes.push(['cpu.max', `${r.cpuQuota} ${r.cpuPeriod || 100000}`]);
      // The conversion runc uses from v1 shares (2..262144) to v2 weight (1..10000), shared with the host layer.
      if (r.cpuShares) writes.push(['cpu.weight', String(sharesToWeight(r.cpuShares))]);
    } else {
      if (h.controllers.includes('memory') && r.memoryLimitBytes)
        writes.push(['memory.limit_in_bytes', String(r.memoryLimitBytes)]);
      if (h.controllers.includes('cpu')) {
        if (r.cpuShares) writes.push(['cpu.shares', String(r.cpuShares)]);
        if (r.cpuPeriod) writes.push(['cpu.cfs_period_us', String(r.cpuPeriod)]);
        if (r.cpuQuota && r.cpuQuota > 0) writes.push(['cpu.cfs_quota_us', String(r.cpuQuota)]);
      }
    }
    for (const [file, value] of writes) {
      const p = path.join(dir, file);
      // A v2 tree without the controller (hybrid hosts) simply lacks the file; the v1 hierarchy enforces it.
      if (
        h.v2 &&
        !(await fs.stat(p).then(
          () => true,
          () => false,
        ))
      )
        continue;
      await fs.writeFile(p, value).catch((err: unknown) => {
        throw new InternalError(`set ${file}=${value} on ${dir}: ${(err as Error).message}`, { cause: err });
      });
    }
  }
}

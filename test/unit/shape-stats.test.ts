/**
 * The router's one stats shaping (src/router/shape-stats.ts): attributes from crimux's records, CPU rates from
 * consecutive samples whichever backend took them, available memory as cAdvisor derives it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerUsage, SandboxUsage } from '../../src/backends/backend';
import { CpuRates, containerStats, sandboxStats } from '../../src/router/shape-stats';
import type { ContainerRecord, SandboxRecord } from '../../src/state/types';

const common = { phase: 'ready', createdAt: '1', updatedAtMs: 0, recordVersion: 1, generation: 1 } as const;
const pod: SandboxRecord = {
  ...common,
  id: 'p1',
  backend: 'runc',
  handler: 'runc',
  reason: 'default',
  name: 'web',
  namespace: 'ns',
  uid: 'u1',
  attempt: 1,
  labels: { app: 'web' },
  annotations: { a: 'b' },
};
const ctr: ContainerRecord = {
  ...common,
  id: 'c1',
  sandboxId: 'p1',
  backend: 'runc',
  name: 'app',
  attempt: 3,
  image: 'busybox',
  labels: { l: '1' },
  annotations: { x: 'y' },
};

const sample = (
  atNs: bigint,
  cpuNs: bigint | number | undefined,
  extra: Partial<ContainerUsage> = {},
): ContainerUsage => ({
  id: 'c1',
  atNs,
  cpuNs,
  ...extra,
});

describe('usage samples → CRI stats', () => {
  it('takes attributes from the record, not from the backend', () => {
    const st = containerStats(ctr, sample(10n, 5n), new CpuRates());
    assert.deepEqual(st.attributes, {
      id: 'c1',
      metadata: { name: 'app', attempt: 3 },
      labels: { l: '1' },
      annotations: { x: 'y' },
    });
    assert.equal(st.cpu?.timestamp, '10');
    assert.deepEqual(st.cpu?.usage_core_nano_seconds, { value: '5' });
  });

  it('derives nano cores from consecutive samples; the same sample again gives the same rate', () => {
    const rates = new CpuRates();
    assert.equal(containerStats(ctr, sample(1_000_000_000n, 0n), rates).cpu?.usage_nano_cores, null);
    const second = sample(2_000_000_000n, 500_000_000n);
    assert.deepEqual(containerStats(ctr, second, rates).cpu?.usage_nano_cores, { value: '500000000' });
    assert.deepEqual(containerStats(ctr, second, rates).cpu?.usage_nano_cores, { value: '500000000' });
    // An older sample (a slower backend's list arriving late) neither moves the baseline nor reports a rate.
    assert.equal(containerStats(ctr, sample(1_500_000_000n, 1n), rates).cpu?.usage_nano_cores, null);
    const third = sample(3_000_000_000n, 1_500_000_000n);
    assert.deepEqual(containerStats(ctr, third, rates).cpu?.usage_nano_cores, { value: '1000000000' });
    // A counter that went back (the cgroup was recreated) starts over.
    assert.equal(containerStats(ctr, sample(4_000_000_000n, 10n), rates).cpu?.usage_nano_cores, null);
  });

  it('reports available memory as limit − working set, none when unlimited, the runtime’s own when given', () => {
    const mem = (memory: ContainerUsage['memory']): unknown =>
      containerStats(ctr, sample(1n, 0n, { memory }), new CpuRates()).memory?.available_bytes ?? null;
    assert.deepEqual(mem({ workingSetBytes: 6000, limitBytes: 50_000 }), { value: '44000' });
    assert.deepEqual(mem({ workingSetBytes: 60_000n, limitBytes: 50_000n }), { value: '0' });
    assert.equal(mem({ workingSetBytes: 6000n, limitBytes: 9223372036854771712n }), null);
    assert.equal(mem({ workingSetBytes: 6000n }), null);
    assert.deepEqual(mem({ workingSetBytes: 6000n, limitBytes: 50_000n, availableBytes: 7 }), { value: '7' });
  });

  it('drops what is not a count (negative or not finite) rather than sending nonsense', () => {
    const st = containerStats(
      ctr,
      sample(1n, -1, { memory: { usageBytes: Number.NaN, rssBytes: 2.6 } }),
      new CpuRates(),
    );
    assert.equal(st.cpu?.usage_core_nano_seconds, null);
    assert.equal(st.memory?.usage_bytes, null);
    assert.deepEqual(st.memory?.rss_bytes, { value: '3' });
    assert.equal(st.writable_layer, null);
  });

  it('shapes a pod: metadata from the record, eth0 first as default, only recorded containers', () => {
    const u: SandboxUsage = {
      id: 'p1',
      atNs: 5n,
      cpuNs: 9n,
      processCount: 4,
      interfaces: [
        { name: 'net1', rxBytes: 1n, rxErrors: 0n, txBytes: 2n, txErrors: 0n },
        { name: 'eth0', rxBytes: 3n, rxErrors: 0n, txBytes: 4n, txErrors: 1n },
      ],
      containers: [sample(5n, 1n), { id: 'ghost', atNs: 5n }],
    };
    const st = sandboxStats(pod, u, new CpuRates(), (id) => (id === 'c1' ? ctr : undefined));
    assert.deepEqual(st.attributes?.metadata, { name: 'web', uid: 'u1', namespace: 'ns', attempt: 1 });
    assert.equal(st.linux?.network?.default_interface?.name, 'eth0');
    assert.equal(st.linux?.network?.interfaces?.length, 2);
    assert.deepEqual(st.linux?.process?.process_count, { value: '4' });
    assert.deepEqual(
      st.linux?.containers?.map((c) => c.attributes?.id),
      ['c1'],
    );
  });

  it('leaves the network out for a pod on the node’s network', () => {
    const st = sandboxStats(pod, { id: 'p1', atNs: 1n, containers: [] }, new CpuRates(), () => undefined);
    assert.equal(st.linux?.network, null);
    assert.equal(st.linux?.process, null);
  });
});

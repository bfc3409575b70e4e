/**
 * Stats end to end on every backend this machine runs, through one daemon serving all of them: per backend a pod
 * with a container burning CPU and one holding ~50 MB of memory. ContainerStats shows the CPU counter rising, a CPU
 * rate (usage_nano_cores) and the working set above 40 MB within seconds; PodSandboxStats is at least the sum of its containers (for vm: the
 * qemu process, i.e. guest memory plus the VMM's own overhead, strictly more); the list RPCs include both
 * containers and the pod; ListPodSandboxMetrics carries the cAdvisor-style series for them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AVAILABLE,
  KINDS,
  startContainer,
  runPod,
  startEnv,
  unavailable,
  waitFor,
  type Env,
  type Kind,
  type Pod,
} from './env';

/** Runc-scheme CNI slots 0–4, 7 and 9 are taken by other files; the events test uses 12. */
const SLOT = 11;
const MEM_THRESHOLD = 40_000_000;
const CPU = ['sh', '-c', 'while :; do :; done'];
/**
 * dd holds its one 50 MB block (read from /dev/zero, so every page is touched) while its write to a pipe nobody
 * reads blocks. Fast on every backend, unlike building a shell string (16 s on a one-vCPU VM next to the burner).
 */
const MEM = ['sh', '-c', 'dd if=/dev/zero bs=50000000 count=1 2>/dev/null | sleep 3600'];

interface Setup {
  pod: Pod;
  cpu: string;
  mem: string;
}

let env: Env | undefined;
const setups = new Map<Kind, Promise<Setup>>();

before(
  async () => {
    env = await startEnv(SLOT);
    const e = env;
    for (const kind of AVAILABLE) {
      const p = (async (): Promise<Setup> => {
        const pod = await runPod(e, kind, 'load');
        const cpu = await startContainer(e, pod, 'cpu', CPU);
        const mem = await startContainer(e, pod, 'mem', MEM);
        return { pod, cpu, mem };
      })();
      p.catch(() => undefined); // reported by the tests that await it
      setups.set(kind, p);
    }
  },
  { timeout: 600_000 },
);

after(
  async () => {
    await env?.cleanup();
  },
  { timeout: 300_000 },
);

const n = (v: { value?: unknown } | null | undefined): number => Number(v?.value ?? 0);

function setupOf(kind: Kind): Promise<Setup> {
  const s = setups.get(kind);
  if (!s || !env) throw new Error(`${kind}: the test environment did not start`);
  return s;
}

for (const kind of KINDS) {
  describe(kind, { skip: unavailable(kind) }, () => {
    test('ContainerStats: CPU usage rises and the working set passes 40 MB', { timeout: 120_000 }, async () => {
      const s = await setupOf(kind);
      const d = env!.daemon;
      const first = await waitFor(
        `${kind} cpu container reports CPU`,
        async () => {
          const r = (await d.rt('ContainerStats', { container_id: s.cpu })).stats;
          return n(r?.cpu?.usage_core_nano_seconds) > 0 ? r : undefined;
        },
        30_000,
      );
      assert.equal(first?.attributes?.id, s.cpu);
      assert.equal(first?.attributes?.metadata?.name, 'cpu');
      // Each poll keeps the one before it: the daemon's rate must be exactly the arithmetic of the two samples.
      type Sample = typeof first | null | undefined;
      let prev: Sample = first;
      let before: Sample = first;
      let call: [bigint, bigint] = [0n, 0n];
      const rising = await waitFor(
        `${kind} cpu usage to rise by 0.5 s of CPU`,
        async () => {
          const t0 = BigInt(Date.now()) * 1_000_000n;
          const r = (await d.rt('ContainerStats', { container_id: s.cpu })).stats;
          call = [t0, BigInt(Date.now()) * 1_000_000n];
          [before, prev] = [prev, r];
          return n(r?.cpu?.usage_core_nano_seconds) >= n(first?.cpu?.usage_core_nano_seconds) + 500_000_000
            ? r
            : undefined;
        },
        30_000,
      );
      const elapsedNs = (a: Sample, b: Sample): number =>
        Number(BigInt(String(b?.cpu?.timestamp)) - BigInt(String(a?.cpu?.timestamp)));
      assert.ok(elapsedNs(first, rising) > 0, 'the timestamp moves too');
      // The sample was taken during the call that returned it (clocks of two processes: 0.5 s of slack).
      const stamp = BigInt(String(rising?.cpu?.timestamp));
      const slack = 500_000_000n;
      assert.ok(stamp >= call[0] - slack && stamp <= call[1] + slack, `${kind}: sample stamped ${stamp}, call ${call}`);
      // The rate comes from consecutive samples, for every backend alike (the router's tracker; a first call
      // samples twice): CPU used between the two readings over the time between them.
      assert.ok(n(first?.cpu?.usage_nano_cores) > 0, `${kind}: the first ContainerStats carries a CPU rate`);
      const want =
        ((n(rising?.cpu?.usage_core_nano_seconds) - n(before?.cpu?.usage_core_nano_seconds)) * 1e9) /
        elapsedNs(before, rising);
      const got = n(rising?.cpu?.usage_nano_cores);
      assert.ok(got > 0, `${kind}: a busy loop's rate is above zero`);
      assert.ok(Math.abs(got - want) <= want * 0.001 + 1, `${kind}: rate ${got} nano cores, samples give ${want}`);
      // A busy loop holds well over a tenth of a core even on this loaded 2-vCPU machine, measured over the
      // seconds it took to burn 0.5 s (one poll's window can fall where the scheduler let it wait).
      const share =
        ((n(rising?.cpu?.usage_core_nano_seconds) - n(first?.cpu?.usage_core_nano_seconds)) * 1e9) /
        elapsedNs(first, rising);
      assert.ok(share > 100_000_000, `${kind}: the burner's share ${share} nano cores`);
      const mem = await waitFor(
        `${kind} mem container working set above ${MEM_THRESHOLD}`,
        async () => {
          const r = (await d.rt('ContainerStats', { container_id: s.mem })).stats;
          return n(r?.memory?.working_set_bytes) > MEM_THRESHOLD ? r : undefined;
        },
        30_000,
      );
      assert.equal(mem?.attributes?.id, s.mem);
      assert.ok(n(mem?.memory?.usage_bytes) >= n(mem?.memory?.working_set_bytes), 'usage ≥ working set');
    });

    test('PodSandboxStats sums its containers', { timeout: 120_000 }, async () => {
      const s = await setupOf(kind);
      const d = env!.daemon;
      // Wait until the memory hog is fully resident, so the comparison below is not against a moving target.
      await waitFor(
        `${kind} mem working set`,
        async () => {
          const r = (await d.rt('ContainerStats', { container_id: s.mem })).stats;
          return n(r?.memory?.working_set_bytes) > MEM_THRESHOLD ? true : undefined;
        },
        30_000,
      );
      const ps = (await d.rt('PodSandboxStats', { pod_sandbox_id: s.pod.id })).stats;
      assert.equal(ps?.attributes?.id, s.pod.id);
      const linux = ps?.linux;
      assert.ok(linux, 'linux stats present');
      const byName = new Map((linux.containers ?? []).map((c) => [c.attributes?.metadata?.name, c]));
      assert.deepEqual([...byName.keys()].sort(), ['cpu', 'mem'], 'both containers are in the pod stats');
      const sumCpu = [...byName.values()].reduce((a, c) => a + n(c.cpu?.usage_core_nano_seconds), 0);
      const sumWs = [...byName.values()].reduce((a, c) => a + n(c.memory?.working_set_bytes), 0);
      const podCpu = n(linux.cpu?.usage_core_nano_seconds);
      const podWs = n(linux.memory?.working_set_bytes);
      assert.ok(sumWs > MEM_THRESHOLD, `containers' working sets sum to ${sumWs}`);
      // Samples are taken a few ms apart; 2% slack for the memory gauge, none for the cumulative CPU counter
      // beyond what one sampling gap can account for.
      assert.ok(podCpu >= sumCpu * 0.98, `pod CPU ${podCpu} ≥ sum of containers ${sumCpu}`);
      assert.ok(podWs >= sumWs * 0.98, `pod working set ${podWs} ≥ sum of containers ${sumWs}`);
      if (kind === 'vm') {
        // The pod's memory is the qemu process: guest RAM it touched plus the VMM itself.
        assert.ok(
          podWs > sumWs + 8 * 1024 * 1024,
          `vm pod working set ${podWs} includes the VMM overhead over ${sumWs}`,
        );
      } else {
        // Only the pause process / sandbox container and cgroup bookkeeping come on top.
        assert.ok(podWs < sumWs + 64 * 1024 * 1024, `pod working set ${podWs} is about the sum ${sumWs}`);
      }
    });

    test(
      'ListContainerStats, ListPodSandboxStats and ListPodSandboxMetrics include them',
      { timeout: 60_000 },
      async () => {
        const s = await setupOf(kind);
        const d = env!.daemon;
        const all = (await d.rt('ListContainerStats', { filter: {} })).stats;
        const ids = new Set(all.map((c) => c.attributes?.id));
        assert.ok(ids.has(s.cpu) && ids.has(s.mem), `${kind} containers in ListContainerStats`);
        const byPod = (await d.rt('ListContainerStats', { filter: { pod_sandbox_id: s.pod.id } })).stats;
        assert.deepEqual(
          byPod.map((c) => c.attributes?.id).sort(),
          [s.cpu, s.mem].sort(),
          'the pod filter keeps exactly its containers',
        );
        const cpuStats = all.find((c) => c.attributes?.id === s.cpu);
        assert.ok(n(cpuStats?.cpu?.usage_core_nano_seconds) > 0);

        const pods = (await d.rt('ListPodSandboxStats', { filter: { label_selector: { backend: kind } } })).stats;
        assert.deepEqual(
          pods.map((p) => p.attributes?.id),
          [s.pod.id],
          "the label filter finds this backend's pod",
        );
        assert.ok(n(pods[0]?.linux?.cpu?.usage_core_nano_seconds) > 0);

        const descriptors = (await d.rt('ListMetricDescriptors', {})).descriptors.map((m) => m.name);
        for (const name of ['container_cpu_usage_seconds_total', 'container_memory_working_set_bytes'])
          assert.ok(descriptors.includes(name), name);

        // The CPU counter is in whole seconds (as CRI-O reports it): wait until the burner has used one.
        const metrics = await waitFor(
          `${kind} pod metrics with a CPU second`,
          async () => {
            const pm = (await d.rt('ListPodSandboxMetrics', {})).pod_metrics.find((m) => m.pod_sandbox_id === s.pod.id);
            const cpu = pm?.container_metrics.find((c) => c.container_id === s.cpu);
            const v = cpu?.metrics.find((m) => m.name === 'container_cpu_usage_seconds_total');
            return v && n(v.value) >= 1 ? pm : undefined;
          },
          30_000,
        );
        const series = (id: string, name: string) =>
          metrics.container_metrics.find((c) => c.container_id === id)?.metrics.find((m) => m.name === name);
        const cpuSeries = series(s.cpu, 'container_cpu_usage_seconds_total');
        assert.equal(cpuSeries?.metric_type, 'COUNTER');
        assert.deepEqual(cpuSeries?.label_values.slice(0, 2), [s.cpu, 'cpu'], 'labels id, name');
        assert.ok(cpuSeries?.label_values[2], 'label image is filled');
        const ws = series(s.mem, 'container_memory_working_set_bytes');
        assert.equal(ws?.metric_type, 'GAUGE');
        assert.ok(n(ws?.value) > MEM_THRESHOLD, `working-set metric ${n(ws?.value)}`);
      },
    );
  });
}

/**
 * Container logs and stats (cri-tools pkg/validate/container.go): a container's output lands in its CRI log
 * under the pod's log directory; ReopenContainerLog starts a new file after the old one was renamed away (and
 * the old one stops growing); ContainerStats and ListContainerStats (by id, nil filter, three containers,
 * labels) report started containers with CPU and memory timestamps.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import {
  containerConfig,
  createContainer,
  eventually,
  podConfig,
  startContainer,
  waitContainerState,
  type PodConfig,
} from '../cri';
import type { Spec, SpecContext } from '../harness';
import { newContainer, runningContainer } from './container';

const DEFAULT_LOG = 'hello World';

interface LogLine {
  stream: string;
  log: string;
}

/** CRI log format: `<RFC3339Nano> <stream> <P|F> <text>`. */
function parseLog(file: string): LogLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [ts, stream, tag, ...rest] = line.split(' ');
      assert.ok(ts && !Number.isNaN(Date.parse(ts)), `bad CRI log timestamp in "${line}"`);
      assert.ok(stream === 'stdout' || stream === 'stderr', `bad stream in "${line}"`);
      assert.ok(tag === 'P' || tag === 'F', `bad tag in "${line}"`);
      return { stream, log: `${rest.join(' ')}\n` };
    });
}

/** The handler's pod with a log directory (upstream's createPodSandboxWithLogDirectory), made once per file. */
function logPod(c: SpecContext): Promise<{ id: string; config: PodConfig }> {
  return c.shared(
    'log-pod',
    async () => {
      const config = podConfig(c, 'PodSandbox-with-log-directory-');
      const dir = path.join(c.env.dir, `podLogTest-${c.handler.name}`, config.metadata.name);
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      config.log_directory = dir;
      const r = await c.rt('RunPodSandbox', { config, runtime_handler: c.handler.name }, { deadlineMs: 240_000 });
      return { id: r.pod_sandbox_id, config };
    },
    async (pod) => {
      await c.rt('StopPodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
      await c.rt('RemovePodSandbox', { pod_sandbox_id: pod.id }, { deadlineMs: 120_000 });
    },
  );
}

async function logContainer(c: SpecContext, prefix: string, command: string[]) {
  const pod = await logPod(c);
  const config = containerConfig(c, prefix, { command });
  const logPath = `${config.metadata.name}.log`;
  config.log_path = logPath;
  const id = await createContainer(c, pod.id, pod.config, config);
  c.defer(() => c.rt('RemoveContainer', { container_id: id }, { deadlineMs: 120_000 }));
  return { id, file: path.join(pod.config.log_directory as string, logPath) };
}

async function statsFound(c: SpecContext, filter: Record<string, unknown> | undefined, id: string) {
  const r = await c.rt('ListContainerStats', filter ? { filter } : {});
  return r.stats.some((s) => s.attributes?.id === id);
}

export const LOG_SPECS: readonly Spec[] = [
  {
    id: 'logs/log',
    title: 'runtime should support starting container with log',
    async run(c) {
      const { id, file } = await logContainer(c, 'container-with-log-test-', ['echo', DEFAULT_LOG]);
      await startContainer(c, id);
      await waitContainerState(c, id, 'CONTAINER_EXITED');
      const lines = parseLog(file);
      assert.ok(
        lines.some((l) => l.stream === 'stdout' && l.log === `${DEFAULT_LOG}\n`),
        `"${DEFAULT_LOG}" on stdout in ${JSON.stringify(lines)}`,
      );
    },
  },
  {
    id: 'logs/reopen',
    title: 'runtime should support reopening container log',
    async run(c) {
      const loop = ['sh', '-c', `while true; do echo ${DEFAULT_LOG}; sleep 1; done`];
      const { id, file } = await logContainer(c, 'container-reopen-log-test-', loop);
      await startContainer(c, id);
      await eventually(
        'container log written',
        60_000,
        async () => {
          assert.ok(existsSync(file) && parseLog(file).length > 0);
        },
        1000,
      );
      renameSync(file, `${file}.new`);
      await c.rt('ReopenContainerLog', { container_id: id });
      assert.ok(existsSync(file), 'a new container log file should be created');
      await eventually(
        'new container log written',
        60_000,
        async () => {
          assert.ok(parseLog(file).length > 0);
        },
        1000,
      );
      const oldLength = parseLog(`${file}.new`).length;
      await new Promise((r) => setTimeout(r, 5000));
      assert.equal(parseLog(`${file}.new`).length, oldLength, 'the old container log should not change');
    },
  },
];

export const STATS_SPECS: readonly Spec[] = [
  {
    id: 'stats/container',
    title: 'runtime should support listing container stats',
    async run(c) {
      const id = await runningContainer(c, 'container-for-stats-');
      const r = await c.rt('ContainerStats', { container_id: id });
      assert.equal(r.stats?.attributes?.id, id);
      assert.ok(r.stats?.attributes?.metadata?.name.includes('container-for-stats-'));
      assert.ok(BigInt(r.stats?.cpu?.timestamp ?? 0) > 0n, 'cpu timestamp');
      assert.ok(BigInt(r.stats?.memory?.timestamp ?? 0) > 0n, 'memory timestamp');
    },
  },
  {
    id: 'stats/list-started',
    title: 'runtime should support listing stats for started containers',
    async run(c) {
      const id = await runningContainer(c, 'container-for-stats-');
      assert.ok(await statsFound(c, { id }, id), 'stats by id');
    },
  },
  {
    id: 'stats/list-nil-filter',
    title: 'runtime should support listing stats for started containers when filter is nil',
    async run(c) {
      const id = await runningContainer(c, 'container-for-stats-with-nil-filter-');
      assert.ok(await statsFound(c, undefined, id), 'stats with a nil filter');
    },
  },
  {
    id: 'stats/list-three-created',
    title: 'runtime should support listing stats for three created containers when filter is nil.',
    async run(c) {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push(await newContainer(c, 'container-for-stats-with-nil-filter-'));
      for (const id of ids) await startContainer(c, id);
      for (const id of ids) assert.ok(await statsFound(c, undefined, id), `stats of ${id}`);
    },
  },
  {
    id: 'stats/list-labels',
    title: 'runtime should support listing stats for containers filtered by labels',
    async run(c) {
      const labels = { foo: 'bar' };
      const id = await runningContainer(c, 'container-for-stats-with-labels-', { labels });
      assert.ok(await statsFound(c, { label_selector: labels }, id), 'found by foo=bar');
      assert.ok(!(await statsFound(c, { label_selector: { foo: 'baz' } }, id)), 'filtered out by foo=baz');
    },
  },
];

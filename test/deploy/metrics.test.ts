/**
 * The alert rules and the Grafana dashboard query only what crimux really exports. A real daemon is started, a
 * few CRI calls (Version, Status, a list, a RunPodSandbox that fails) make labelled series exist, and /metrics is
 * read through deploy/installer/metrics-proxy.js as Prometheus would in a cluster. Every expression must parse
 * with Prometheus's grammar and select only exported names (histogram _bucket/_sum/_count included; declared
 * families without series yet count, via # TYPE); matchers, groupings, legends and alert templates may only
 * use the metric's labels (src/metrics/metrics.ts) or the target labels the scrape configs set.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Histogram } from 'prom-client';
import { Metrics } from '../../src/metrics/metrics';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { buildRoot, DEPLOY, find, REPO } from './manifests';
import { parseQuery, substituteGrafana, type ParsedQuery } from './promql';

/** Added by the ServiceMonitor/PodMonitor/scrape config (job, node) or by Prometheus itself (instance). */
const TARGET_LABELS = ['job', 'instance', 'node'];
/** Synthesised by Prometheus for every scrape target, never by an exporter. */
const PROMETHEUS_SERIES = new Set(['up']);

interface Query {
  where: string;
  expr: string;
  /** Labels a legend or alert template refers to. */
  refs: string[];
}

const everything = buildRoot('.');
const dashboard = JSON.parse(
  (find(everything, 'ConfigMap', 'crimux-grafana-dashboard').data as Record<string, string>)['crimux.json'] ?? '{}',
) as { panels: Panel[]; templating: { list: { name: string; query?: string | { query: string } }[] } };
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { expr: string; legendFormat?: string }[];
}
interface Rule {
  alert: string;
  expr: string;
  annotations?: Record<string, string>;
}
const rules = (find(everything, 'PrometheusRule', 'crimux').spec as { groups: { rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);

const refsIn = (s: string, re: RegExp): string[] => [...s.matchAll(re)].map((m) => m[1] ?? '');
const queries: Query[] = [
  ...rules.map((r) => ({
    where: `alert ${r.alert}`,
    expr: r.expr,
    refs: Object.values(r.annotations ?? {}).flatMap((a) => refsIn(a, /\$labels\.(\w+)/g)),
  })),
  ...dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      where: `panel "${p.title}"`,
      expr: substituteGrafana(t.expr),
      refs: refsIn(t.legendFormat ?? '', /\{\{\s*(\w+)\s*\}\}/g),
    })),
  ),
  ...dashboard.templating.list.flatMap((v) => {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q ?? '');
    return m ? [{ where: `variable $${v.name}`, expr: m[1] ?? '', refs: [m[2] ?? ''] }] : [];
  }),
];

/** Label names of every crimux metric, from the one file that declares them. */
function declaredLabels(): Map<string, string[]> {
  const m = new Metrics({ processMetrics: false });
  const out = new Map<string, string[]>();
  for (const metric of m.registry.getMetricsAsArray()) {
    const labels = [...((metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [])];
    if (metric instanceof Histogram) {
      out.set(`${metric.name}_bucket`, [...labels, 'le']);
      out.set(`${metric.name}_sum`, labels);
      out.set(`${metric.name}_count`, labels);
    }
    out.set(metric.name, labels);
  }
  return out;
}

/** Metric names in a Prometheus text exposition: sample names, and every declared family with its suffixes. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\w+)/.exec(line);
    if (type?.[1]) {
      names.add(type[1]);
      const suffixes =
        type[2] === 'histogram' ? ['_bucket', '_sum', '_count'] : type[2] === 'summary' ? ['_sum', '_count'] : [];
      for (const s of suffixes) names.add(type[1] + s);
    } else if (/^[a-zA-Z_:]/.test(line)) names.add(line.split(/[{ ]/)[0] ?? '');
  }
  return names;
}

const RPCS = [
  ...fs.readFileSync(path.join(REPO, 'proto/runtime/v1/api.proto'), 'utf8').matchAll(/^\s*rpc (\w+)\(/gm),
].map((m) => m[1] ?? '');
const GRPC_CODES = Object.keys(grpc.status).filter((k) => Number.isNaN(Number(k)));

let daemon: DaemonHandle | undefined;
let proxy: ChildProcess | undefined;
let proxyAddress = '';
let exposition = '';

async function startProxy(upstream: string): Promise<void> {
  const p = spawn(process.execPath, [path.join(DEPLOY, 'installer/metrics-proxy.js')], {
    env: { ...process.env, LISTEN: '127.0.0.1:0', UPSTREAM: upstream },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proxy = p;
  proxyAddress = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('metrics-proxy did not start within 10 s')), 10_000);
    let out = '';
    p.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+),/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    p.on('exit', (code) => reject(new Error(`metrics-proxy exited (${code})`)));
  });
}

describe('alert rules and dashboard against a live /metrics', () => {
  before(async () => {
    daemon = await startDaemon();
    await daemon.rt('Version', { version: 'v1' });
    await daemon.rt('Status', {});
    await daemon.rt('ListPodSandbox', {});
    await assert.rejects(
      daemon.rt('RunPodSandbox', {
        config: { metadata: { name: 'p', namespace: 'deploy-test', uid: 'u1', attempt: 0 } },
        runtime_handler: 'no-such-handler',
      }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT,
    );
    await startProxy(daemon.metricsAddress);
    const res = await fetch(`http://${proxyAddress}/metrics`);
    assert.equal(res.status, 200);
    exposition = await res.text();
  });
  after(async () => {
    proxy?.kill('SIGTERM');
    await daemon?.cleanup();
  });

  test('the metrics proxy forwards only /metrics, /healthz and /readyz, read-only', async () => {
    assert.match(
      exposition,
      /^crimux_cri_requests_total\{method="RunPodSandbox",backend="none",code="INVALID_ARGUMENT"\} 1$/m,
    );
    assert.equal((await fetch(`http://${proxyAddress}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${proxyAddress}/config`)).status, 404);
    assert.equal((await fetch(`http://${proxyAddress}/metrics`, { method: 'POST' })).status, 404);
  });

  test('every expression parses and selects only exported metric names', () => {
    const exported = exportedNames(exposition);
    assert.ok(exported.has('crimux_cri_request_duration_seconds_bucket') && exported.has('process_cpu_seconds_total'));
    assert.ok(queries.length >= 25, `only ${queries.length} queries found`);
    for (const q of queries) {
      const parsed = parseQuery(q.expr);
      assert.deepEqual(parsed.errors, [], `${q.where}: ${q.expr}`);
      assert.ok(parsed.selectors.length > 0, `${q.where} selects nothing`);
      for (const s of parsed.selectors) {
        assert.ok(
          exported.has(s.metric) || PROMETHEUS_SERIES.has(s.metric),
          `${q.where}: ${s.metric} is not exported by crimux`,
        );
      }
    }
  });

  test('matchers, groupings, legends and alert templates use labels the metrics have', () => {
    const labels = declaredLabels();
    const allowed = (metric: string): string[] | undefined => {
      if (PROMETHEUS_SERIES.has(metric)) return TARGET_LABELS;
      const own = labels.get(metric);
      return own ? [...own, ...TARGET_LABELS] : undefined; // process_*/nodejs_*: labels not declared here
    };
    const check = (q: Query, parsed: ParsedQuery): void => {
      for (const s of parsed.selectors) {
        const ok = allowed(s.metric);
        if (!ok) continue;
        for (const m of s.matchers) assert.ok(ok.includes(m.label), `${q.where}: ${s.metric} has no label ${m.label}`);
      }
      for (const g of parsed.groupings) {
        const ok = new Set(g.metrics.flatMap((m) => allowed(m) ?? []));
        for (const l of g.labels)
          assert.ok(ok.has(l), `${q.where}: groups by ${l}, which ${g.metrics.join(', ')} lack`);
      }
      // What survives the outermost aggregation (or every label of the selected metrics) is what can be shown.
      const result = parsed.groupings[0]?.labels ?? parsed.selectors.flatMap((s) => allowed(s.metric) ?? TARGET_LABELS);
      for (const r of q.refs)
        assert.ok(result.includes(r), `${q.where}: refers to label ${r}, not in the result (${result.join(', ')})`);
    };
    for (const q of queries) check(q, parseQuery(q.expr));
  });

  test('label values in matchers are real: gRPC code names and CRI method names', () => {
    for (const q of queries) {
      for (const s of parseQuery(q.expr).selectors) {
        for (const m of s.matchers) {
          const values = m.op.includes('~') ? m.value.split('|') : [m.value];
          if (m.label === 'code') {
            for (const v of values)
              assert.ok(GRPC_CODES.includes(v), `${q.where}: code "${v}" is not a gRPC status name`);
          }
          if (m.label === 'method') {
            for (const v of values) {
              const re = new RegExp(`^(?:${v})$`);
              assert.ok(
                RPCS.some((r) => re.test(r)),
                `${q.where}: method "${v}" matches no CRI RPC`,
              );
            }
          }
        }
      }
    }
  });

  test('the rules and the dashboard cover what the deployment issue asks for', () => {
    const metricsOf = (where: RegExp): Set<string> =>
      new Set(
        queries.filter((q) => where.test(q.where)).flatMap((q) => parseQuery(q.expr).selectors.map((s) => s.metric)),
      );
    const inRules = metricsOf(/^alert /);
    for (const m of [
      'crimux_backend_up',
      'crimux_reconcile_repairs_total',
      'crimux_cri_requests_total',
      'crimux_cri_request_duration_seconds_bucket',
    ]) {
      assert.ok(inRules.has(m), `no alert uses ${m}`);
    }
    const inDashboard = metricsOf(/^panel /);
    for (const m of [
      'crimux_cri_requests_total',
      'crimux_cri_request_duration_seconds_bucket',
      'crimux_sandboxes',
      'crimux_routing_decisions_total',
      'crimux_image_pulls_total',
      'crimux_image_pull_duration_seconds_bucket',
    ]) {
      assert.ok(inDashboard.has(m), `no dashboard panel shows ${m}`);
    }
  });

  test('the dashboard is well-formed: unique ids, the datasource variable, panels that do not overlap', () => {
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource'));
    const boxes = dashboard.panels.map((p) => ({ ...p.gridPos, title: p.title }));
    for (const p of dashboard.panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title} is wider than the grid`);
      if (p.type !== 'row') {
        assert.equal(p.datasource?.uid, '${datasource}', `${p.title} does not use the datasource variable`);
        assert.ok((p.targets ?? []).length > 0, `${p.title} has no query`);
      }
    }
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        const overlap = a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
        assert.ok(!overlap, `panels "${a.title}" and "${b.title}" overlap`);
      }
    }
    // The file in the repository is what the ConfigMap carries.
    assert.deepEqual(
      dashboard,
      JSON.parse(fs.readFileSync(path.join(DEPLOY, 'monitoring/dashboards/crimux.json'), 'utf8')),
    );
  });

  test('with the daemon gone, the proxy answers 502 (Prometheus records up == 0: CrimuxDown)', async () => {
    await daemon?.stop();
    assert.equal((await fetch(`http://${proxyAddress}/metrics`)).status, 502);
  });
});

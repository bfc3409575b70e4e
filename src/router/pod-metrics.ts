/**
 * ListMetricDescriptors / ListPodSandboxMetrics, derived for every backend from the CRI stats the backends already
 * report, so all of them expose the same cAdvisor-style set (names and label keys as CRI-O and containerd use:
 * "id", "name", "image" for container series, plus "interface" for network series).
 */
import { nowNsString } from '../util/clock';
import type * as cri from '../cri/types';

type Kind = 'COUNTER' | 'GAUGE';
interface Def {
  name: string;
  help: string;
  type: Kind;
  labels: string[];
}

const BASE = ['id', 'name', 'image'];
const NET = [...BASE, 'interface'];

export const METRIC_DEFS: readonly Def[] = [
  {
    name: 'container_cpu_usage_seconds_total',
    help: 'Cumulative cpu time consumed in seconds.',
    type: 'COUNTER',
    labels: BASE,
  },
  { name: 'container_memory_working_set_bytes', help: 'Current working set in bytes.', type: 'GAUGE', labels: BASE },
  {
    name: 'container_memory_usage_bytes',
    help: 'Current memory usage in bytes, including all memory regardless of when it was accessed.',
    type: 'GAUGE',
    labels: BASE,
  },
  { name: 'container_memory_rss', help: 'Size of RSS in bytes.', type: 'GAUGE', labels: BASE },
  {
    name: 'container_memory_failures_total',
    help: 'Cumulative count of memory allocation failures (page faults).',
    type: 'COUNTER',
    labels: BASE,
  },
  {
    name: 'container_fs_usage_bytes',
    help: 'Number of bytes that are consumed by the container on this filesystem.',
    type: 'GAUGE',
    labels: BASE,
  },
  {
    name: 'container_network_receive_bytes_total',
    help: 'Cumulative count of bytes received.',
    type: 'COUNTER',
    labels: NET,
  },
  {
    name: 'container_network_transmit_bytes_total',
    help: 'Cumulative count of bytes transmitted.',
    type: 'COUNTER',
    labels: NET,
  },
  {
    name: 'container_network_receive_errors_total',
    help: 'Cumulative count of errors encountered while receiving.',
    type: 'COUNTER',
    labels: NET,
  },
  {
    name: 'container_network_transmit_errors_total',
    help: 'Cumulative count of errors encountered while transmitting.',
    type: 'COUNTER',
    labels: NET,
  },
  {
    name: 'container_processes',
    help: 'Number of processes running inside the container.',
    type: 'GAUGE',
    labels: BASE,
  },
];

export function metricDescriptors(): cri.MetricDescriptor[] {
  return METRIC_DEFS.map((d) => ({ name: d.name, help: d.help, label_keys: d.labels }));
}

type U64 = { value?: unknown } | null | undefined;
const num = (v: U64): bigint | undefined =>
  v?.value === undefined || v.value === null ? undefined : BigInt(String(v.value));

function metric(name: string, type: Kind, labels: string[], value: bigint | undefined, ts: string): cri.Metric[] {
  if (value === undefined) return [];
  return [{ name, timestamp: ts, metric_type: type, label_values: labels, value: { value: value.toString() } }];
}

function containerSeries(s: cri.ContainerStats, image: string): cri.Metric[] {
  const a = s.attributes;
  const labels = [a?.id ?? '', a?.metadata?.name ?? '', image];
  const ts = String(s.cpu?.timestamp ?? s.memory?.timestamp ?? nowNsString());
  const cpuNs = num(s.cpu?.usage_core_nano_seconds);
  return [
    // cAdvisor reports seconds; an integer metric carries whole seconds (the kubelet divides nothing here).
    ...metric(
      'container_cpu_usage_seconds_total',
      'COUNTER',
      labels,
      cpuNs === undefined ? undefined : cpuNs / 1_000_000_000n,
      ts,
    ),
    ...metric('container_memory_working_set_bytes', 'GAUGE', labels, num(s.memory?.working_set_bytes), ts),
    ...metric('container_memory_usage_bytes', 'GAUGE', labels, num(s.memory?.usage_bytes), ts),
    ...metric('container_memory_rss', 'GAUGE', labels, num(s.memory?.rss_bytes), ts),
    ...metric('container_memory_failures_total', 'COUNTER', labels, num(s.memory?.page_faults), ts),
    ...metric('container_fs_usage_bytes', 'GAUGE', labels, num(s.writable_layer?.used_bytes), ts),
  ];
}

/** One PodSandboxMetrics per pod from its stats; container images come from the caller (records). */
export function podMetrics(
  stats: cri.PodSandboxStats,
  imageOf: (containerId: string) => string,
): cri.PodSandboxMetrics {
  const linux = stats.linux;
  const podId = stats.attributes?.id ?? '';
  const ts = String(linux?.network?.timestamp ?? nowNsString());
  const podLabels = [podId, stats.attributes?.metadata?.name ?? '', ''];
  const ifaces = [linux?.network?.default_interface, ...(linux?.network?.interfaces ?? [])].filter((i) => i?.name);
  const seen = new Set<string>();
  const net = ifaces.flatMap((i) => {
    if (!i?.name || seen.has(i.name)) return [];
    seen.add(i.name);
    const l = [...podLabels, i.name];
    return [
      ...metric('container_network_receive_bytes_total', 'COUNTER', l, num(i.rx_bytes), ts),
      ...metric('container_network_transmit_bytes_total', 'COUNTER', l, num(i.tx_bytes), ts),
      ...metric('container_network_receive_errors_total', 'COUNTER', l, num(i.rx_errors), ts),
      ...metric('container_network_transmit_errors_total', 'COUNTER', l, num(i.tx_errors), ts),
    ];
  });
  const procs = linux?.process?.process_count;
  return {
    pod_sandbox_id: podId,
    metrics: [...net, ...metric('container_processes', 'GAUGE', podLabels, num(procs), ts)],
    container_metrics: (linux?.containers ?? []).map((c) => ({
      container_id: c.attributes?.id ?? '',
      metrics: containerSeries(c, imageOf(c.attributes?.id ?? '')),
    })),
  };
}

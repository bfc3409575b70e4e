/**
 * What a backend hands the CNI client for a pod, and what it gets back: the request (from the CRI sandbox
 * config), the CNI Result shapes of spec versions 0.3.0 to 1.0.0, and the pod IPs derived from a Result.
 */
import net from 'node:net';
import { InvalidArgumentError } from '../errors';
import type * as cri from '../cri/types';

export interface PortMapping {
  readonly containerPort: number;
  /** 0 means "no host port": such a mapping is not passed to plugins (as in containerd). */
  readonly hostPort: number;
  /** TCP, UDP or SCTP in any case; TCP by default. */
  readonly protocol?: string;
  readonly hostIp?: string;
}

export interface DnsConfig {
  readonly servers?: readonly string[];
  readonly searches?: readonly string[];
  readonly options?: readonly string[];
}

/** One pod's attachment to the pod network. */
export interface PodNetwork {
  /** The sandbox ID: CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID. */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  /** Path of the pod's network namespace (NetnsManager.create's result, or /proc/PID/ns/net). */
  readonly netns: string;
  /** Interface inside the pod; eth0 by default. */
  readonly ifName?: string;
  readonly portMappings?: readonly PortMapping[];
  readonly dns?: DnsConfig;
  /** More CNI_ARGS pairs (keys and values without ';' or '='). */
  readonly extraArgs?: Readonly<Record<string, string>>;
}

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  readonly sandbox?: string;
}

export interface CniIpConfig {
  /** "10.88.0.5/16" */
  readonly address: string;
  readonly gateway?: string;
  /** Index into interfaces. */
  readonly interface?: number;
  /** Only in results before 1.0.0: "4" or "6". */
  readonly version?: string;
}

/** A CNI ADD Result (also the prevResult of chained plugins and of CHECK/DEL). */
export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces?: readonly CniInterface[];
  readonly ips?: readonly CniIpConfig[];
  readonly routes?: readonly { readonly dst: string; readonly gw?: string }[];
  readonly dns?: DnsConfig & {
    readonly nameservers?: readonly string[];
    readonly domain?: string;
    readonly search?: readonly string[];
  };
  readonly [key: string]: unknown;
}

/** The pod's place on the network after ADD. */
export interface PodNetworkStatus {
  readonly networkName: string;
  readonly ifName: string;
  /** Addresses without prefix length, IPv4 first: ips[0] is the CRI PodSandboxStatus.network.ip. */
  readonly ips: readonly string[];
  readonly mac?: string;
  readonly gateways: readonly string[];
  /** The last plugin's Result, verbatim. */
  readonly result: CniResult;
}

/** Whether pod networking can work; feeds the CRI NetworkReady condition. */
export interface CniStatus {
  readonly ready: boolean;
  /** CamelCase reason when not ready (CRI condition reason). */
  readonly reason?: string;
  readonly message?: string;
  readonly networkName?: string;
  readonly file?: string;
  /** Binaries the config names (plugins and IPAM) that no bin dir has. */
  readonly missingPlugins?: readonly string[];
}

/** A PodNetwork from a CRI RunPodSandbox request: metadata, port mappings and DNS config. */
export function podNetworkFromCri(id: string, config: cri.PodSandboxConfig, netns: string): PodNetwork {
  const md = config.metadata;
  if (!md) throw new InvalidArgumentError(`pod network ${id}: sandbox config has no metadata`);
  return {
    id,
    name: md.name,
    namespace: md.namespace,
    uid: md.uid,
    netns,
    portMappings: config.port_mappings.map((p) => ({
      containerPort: p.container_port,
      hostPort: p.host_port,
      protocol: p.protocol,
      hostIp: p.host_ip,
    })),
    dns: config.dns_config
      ? { servers: config.dns_config.servers, searches: config.dns_config.searches, options: config.dns_config.options }
      : undefined,
  };
}

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ARG_PART = /^[^;=]*$/;

/** Check what the CNI spec requires of the parameters; InvalidArgumentError names the bad field. */
export function validatePodNetwork(pod: PodNetwork): void {
  const bad = (what: string): never => {
    throw new InvalidArgumentError(`pod network ${pod.id}: ${what}`);
  };
  if (!CONTAINER_ID.test(pod.id)) bad('id must be alphanumeric, then [A-Za-z0-9_.-]');
  const ifName = pod.ifName ?? 'eth0';
  if (ifName === '' || ifName.length > 15 || ifName === '.' || ifName === '..' || /[/:\s]/.test(ifName)) {
    bad(`bad interface name "${ifName}"`);
  }
  if (pod.netns !== '' && !pod.netns.startsWith('/')) bad(`netns "${pod.netns}" must be an absolute path`);
  for (const [k, v] of [
    ['name', pod.name],
    ['namespace', pod.namespace],
    ['uid', pod.uid],
  ] as const) {
    if (!ARG_PART.test(v)) bad(`${k} must not contain ';' or '='`);
  }
  for (const [k, v] of Object.entries(pod.extraArgs ?? {})) {
    if (k === '' || !ARG_PART.test(k) || !ARG_PART.test(v)) bad(`extra CNI arg "${k}" must not contain ';' or '='`);
  }
  for (const pm of pod.portMappings ?? []) {
    const proto = (pm.protocol ?? 'TCP').toUpperCase();
    if (!['TCP', 'UDP', 'SCTP'].includes(proto)) bad(`port mapping protocol "${pm.protocol}"`);
    if (!isPort(pm.containerPort) || !(pm.hostPort === 0 || isPort(pm.hostPort))) {
      bad(`port mapping ${pm.hostPort}:${pm.containerPort} out of range`);
    }
    if (pm.hostIp && net.isIP(pm.hostIp) === 0) bad(`port mapping host IP "${pm.hostIp}"`);
  }
}

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** CNI_ARGS pairs, Kubernetes conventions first (IgnoreUnknown lets plugins skip keys they do not know). */
export function cniArgsOf(pod: PodNetwork): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.id],
    ['K8S_POD_UID', pod.uid],
    ...Object.entries(pod.extraArgs ?? {}),
  ];
}

/** Values for the runtimeConfig capabilities crimux offers; a plugin gets those it declares. */
export function capabilityArgsOf(pod: PodNetwork, podCidr: string | undefined): Record<string, unknown> {
  const caps: Record<string, unknown> = {};
  const mappings = (pod.portMappings ?? [])
    .filter((pm) => pm.hostPort > 0)
    .map((pm) => ({
      hostPort: pm.hostPort,
      containerPort: pm.containerPort,
      protocol: (pm.protocol ?? 'TCP').toLowerCase(),
      ...(pm.hostIp ? { hostIP: pm.hostIp } : {}),
    }));
  if (mappings.length > 0) caps.portMappings = mappings;
  const dns = pod.dns;
  if (dns && ((dns.servers?.length ?? 0) > 0 || (dns.searches?.length ?? 0) > 0 || (dns.options?.length ?? 0) > 0)) {
    caps.dns = { servers: dns.servers ?? [], searches: dns.searches ?? [], options: dns.options ?? [] };
  }
  if (podCidr) caps.ipRanges = [[{ subnet: podCidr }]];
  return caps;
}

/** The pod's addresses from a Result: those on sandbox interfaces (or on no stated interface), IPv4 first. */
export function statusFromResult(networkName: string, ifName: string, result: CniResult): PodNetworkStatus {
  const ifaces = result.interfaces ?? [];
  const inPod = (ip: CniIpConfig): boolean => {
    if (ip.interface === undefined) return true;
    const iface = ifaces[ip.interface];
    return iface === undefined || Boolean(iface.sandbox) || iface.name === ifName;
  };
  const ips = (result.ips ?? []).filter(inPod);
  const addrs = ips.map((ip) => ip.address.split('/')[0] ?? '').filter((a) => net.isIP(a) !== 0);
  const v4 = addrs.filter((a) => net.isIPv4(a));
  const v6 = addrs.filter((a) => net.isIPv6(a));
  const podIface = ifaces.find((i) => i.name === ifName && i.sandbox) ?? ifaces.find((i) => i.sandbox);
  return {
    networkName,
    ifName,
    ips: [...v4, ...v6],
    mac: podIface?.mac,
    gateways: ips.map((ip) => ip.gateway).filter((g): g is string => typeof g === 'string'),
    result,
  };
}

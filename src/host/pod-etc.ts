/**
 * The texts of a pod's /etc/hostname, /etc/hosts and /etc/resolv.conf, as containerd's sandbox setup makes them —
 * one rule for every backend that writes them itself (runc's pod dir, the VM guest, rkt's stage1). Where each
 * backend puts the files differs; what is in them does not. The request was validated by the router
 * (src/router/validate.ts: host name grammar, DNS servers are IP addresses).
 */
import os from 'node:os';
import type * as cri from '../cri/types';

/** A host name every backend and the kernel take: one label of up to 63 characters, dots allowed. */
export function isHostname(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/.test(name);
}

/** The hostname of a pod's UTS namespace; host-network pods keep the node's (an empty one was defaulted by the router). */
export function podHostname(config: cri.PodSandboxConfig, hostNetwork: boolean): string {
  if (hostNetwork) return os.hostname();
  return config.hostname || os.hostname();
}

/** /etc/hosts of a pod with its own network: localhost entries, the pod IPs under its hostname, then `extra` lines. */
export function hostsFile(hostname: string, ips: readonly string[], extra: readonly string[] = []): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    ...ips.map((ip) => `${ip}\t${hostname}`),
    ...extra,
    '',
  ].join('\n');
}

interface Dns {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

/** resolv.conf from the CRI DNSConfig; null when it says nothing (the caller copies the node's, as containerd does). */
export function resolvConf(dns: Dns | null | undefined): string | null {
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return null;
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

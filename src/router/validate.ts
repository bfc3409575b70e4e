/**
 * Request validation shared by every backend: what is malformed is refused before any record or host object
 * exists, with InvalidArgument naming the field. Backends validate only what is specific to them.
 */
import net from 'node:net';
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { chooseSeccomp } from '../host/seccomp';
import { isHostname } from '../host/pod-etc';
import type * as cri from '../cri/types';
import { checkCniArgValues } from './cni-arg-values';
import { checkMountSource, isUnder } from './mount-sources';
import { checkContainerRunAsGroup, checkSandboxRunAsGroup } from './validate-run-as-group';
import { isIpcSysctl } from '../host/sysctls';
import { criResourceNumbers } from '../host/cri-resources';

/** Kubernetes caps a pod's annotations at 256 KiB; labels and annotations together get the same budget here. */
const MAX_MAP_BYTES = 256 * 1024;
const MAX_NAME = 253;

export interface ValidationPolicy {
  /** Container logs must stay under this directory; '' allows any absolute directory. */
  readonly logRoot: string;
  /** Host paths no mount may reach (equal, inside or ancestor, after realpath): see ./mount-sources.ts. */
  readonly mountSourceDenyList: readonly string[];
}

function fail(field: string, detail: string): never {
  throw new InvalidArgumentError(`validate ${field}: ${detail}`, { context: { field } });
}

function checkName(field: string, v: string | undefined): void {
  if (!v) fail(field, 'required');
  if (v.length > MAX_NAME) fail(field, `longer than ${MAX_NAME} characters`);
  if (/[\0/]/.test(v) || v === '.' || v === '..') fail(field, 'must not contain "/" or NUL, nor be "." or ".."');
}

function checkMaps(field: string, ...maps: (Record<string, string> | undefined)[]): void {
  let bytes = 0;
  for (const m of maps) {
    for (const [k, v] of Object.entries(m ?? {})) {
      if (k === '') fail(field, 'empty key');
      bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    }
  }
  if (bytes > MAX_MAP_BYTES) fail(field, `labels and annotations take ${bytes} bytes, over the ${MAX_MAP_BYTES} limit`);
}

function hasDotDot(p: string): boolean {
  return p.split('/').includes('..');
}

export function validateSandboxConfig(
  config: cri.PodSandboxConfig | null,
  policy: ValidationPolicy,
): cri.PodSandboxConfig {
  if (!config) fail('config', 'required');
  const md = config.metadata;
  if (!md) fail('config.metadata', 'required');
  checkName('config.metadata.name', md.name);
  checkName('config.metadata.namespace', md.namespace);
  if (md.uid.length > MAX_NAME) fail('config.metadata.uid', `longer than ${MAX_NAME} characters`);
  if (md.attempt < 0) fail('config.metadata.attempt', 'must not be negative');
  checkCniArgValues(md);
  checkMaps('config.labels/annotations', config.labels, config.annotations);
  checkLogDirectory('config.log_directory', config.log_directory, policy);
  checkPodEtc(config);
  checkSandboxRunAsGroup(config.linux?.security_context);
  checkResources(config.linux?.resources, 'config.linux.resources');
  checkResources(config.linux?.overhead, 'config.linux.overhead');
  const sysctls = checkSysctls(config);
  // Backends get sysctl names in the dotted form only (runc, the guest agent and nspawn all expect it).
  return config.linux ? { ...config, linux: { ...config.linux, sysctls } } : config;
}

/**
 * What goes into the pod's /etc files (src/host/pod-etc.ts): its hostname (unless it shares the node's network
 * and so keeps the node's) and DNS servers, which resolv.conf can only hold as IP addresses.
 */
function checkPodEtc(config: cri.PodSandboxConfig): void {
  const hostNetwork = config.linux?.security_context?.namespace_options?.network === 'NODE';
  if (config.hostname && !hostNetwork && !isHostname(config.hostname)) {
    fail('config.hostname', `"${config.hostname.slice(0, 80)}" is not a valid host name`);
  }
  config.dns_config?.servers.forEach((s, i) => {
    if (net.isIP(s) === 0) fail(`config.dns_config.servers[${i}]`, `"${s.slice(0, 80)}" is not an IP address`);
  });
}

/** The Kubernetes sysctl name grammar (dots or slashes between segments). */
const SYSCTL_NAME = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;
/**
 * A pod may only set namespaced sysctls: IPC ones unless it shares the host's IPC namespace, net.* unless it
 * shares the host's network. Anything else would fail inside the runtime as an internal error; it is the
 * request that is wrong, so it is refused here, naming the key.
 */
function checkSysctls(config: cri.PodSandboxConfig): Record<string, string> {
  const ns = config.linux?.security_context?.namespace_options;
  const out: Record<string, string> = {};
  for (const [raw, value] of Object.entries(config.linux?.sysctls ?? {})) {
    const field = `config.linux.sysctls[${JSON.stringify(raw)}]`;
    if (!SYSCTL_NAME.test(raw)) fail(field, 'not a sysctl name');
    const name = raw.includes('/') && !raw.includes('.') ? raw.replaceAll('/', '.') : raw;
    const ipc = isIpcSysctl(name);
    const net = name.startsWith('net.');
    if (!ipc && !net) fail(field, 'not a namespaced sysctl (allowed: net.*, kernel.shm*/msg*/sem, fs.mqueue.*)');
    if (ipc && ns?.ipc === 'NODE') fail(field, 'IPC sysctls cannot be set for a pod sharing the host IPC namespace');
    if (net && ns?.network === 'NODE') fail(field, 'net.* sysctls cannot be set for a pod on the host network');
    if (value.includes('\0') || value.includes('\n')) fail(field, 'value contains NUL or a newline');
    out[name] = value;
  }
  return out;
}

/**
 * The seccomp profile a container asks for must be one a runtime can choose (src/host/seccomp.ts): e.g. a legacy
 * seccomp_profile_path without its "localhost/" prefix is refused naming that field, for every backend alike. A
 * privileged container (or pod) ignores its profile, as containerd does, so it is not checked then.
 */
function checkSeccompChoice(
  sc: NonNullable<cri.ContainerConfig['linux']>['security_context'] | undefined,
  sandbox: cri.PodSandboxConfig | null,
): void {
  if (!sc || sc.privileged || sandbox?.linux?.security_context?.privileged) return;
  chooseSeccomp(sc, 'config.linux.security_context');
}

/**
 * A resources message must read as numbers by the one rule every backend reads it with (src/host/cri-resources.ts):
 * refused here, before any record exists, so that no backend meets a value it would refuse halfway through a create.
 */
export function checkResources(r: cri.LinuxContainerResources | null | undefined, field: string): void {
  criResourceNumbers(r, field);
}

export function validateContainerConfig(
  config: cri.ContainerConfig | null,
  sandbox: cri.PodSandboxConfig | null,
  policy: ValidationPolicy,
): cri.ContainerConfig {
  if (!config) fail('config', 'required');
  if (!config.metadata) fail('config.metadata', 'required');
  checkName('config.metadata.name', config.metadata.name);
  if (config.metadata.attempt < 0) fail('config.metadata.attempt', 'must not be negative');
  if (!config.image?.image) fail('config.image.image', 'required');
  checkContainerRunAsGroup(config.linux?.security_context);
  checkResources(config.linux?.resources, 'config.linux.resources');
  checkSeccompChoice(config.linux?.security_context, sandbox);
  checkMaps('config.labels/annotations', config.labels, config.annotations);
  if (config.log_path) {
    if (path.isAbsolute(config.log_path)) fail('config.log_path', 'must be relative to the sandbox log_directory');
    if (hasDotDot(config.log_path)) fail('config.log_path', 'must not contain ".."');
    if (!sandbox?.log_directory) fail('config.log_path', 'set, but the sandbox has no log_directory');
    // The log is written where the request's sandbox config says: it gets the rule RunPodSandbox's got.
    checkLogDirectory('sandbox_config.log_directory', sandbox.log_directory, policy);
  }
  config.mounts.forEach((m, i) => {
    if (!path.isAbsolute(m.container_path)) fail(`config.mounts[${i}].container_path`, 'must be an absolute path');
    if (hasDotDot(m.container_path)) fail(`config.mounts[${i}].container_path`, 'must not contain ".."');
    if (m.host_path) {
      if (!path.isAbsolute(m.host_path)) fail(`config.mounts[${i}].host_path`, 'must be an absolute path');
      checkMountSource(`config.mounts[${i}].host_path`, m.host_path, policy.mountSourceDenyList);
    }
  });
  for (const [i, a] of config.command.entries()) if (a.includes('\0')) fail(`config.command[${i}]`, 'contains NUL');
  for (const [i, a] of config.args.entries()) if (a.includes('\0')) fail(`config.args[${i}]`, 'contains NUL');
  for (const [i, e] of config.envs.entries()) {
    if (e.key === '' || e.key.includes('=') || e.key.includes('\0')) fail(`config.envs[${i}].key`, 'invalid name');
  }
  return config;
}

export { isUnder };

/** A pod's log directory: absolute, no "..", and under the operator's log root when one is set. */
function checkLogDirectory(field: string, dir: string, policy: ValidationPolicy): void {
  if (!dir) return;
  if (!path.isAbsolute(dir)) fail(field, 'must be an absolute path');
  if (hasDotDot(dir)) fail(field, 'must not contain ".."');
  if (policy.logRoot && !isUnder(dir, policy.logRoot)) fail(field, `must be under ${policy.logRoot}`);
}

/**
 * Where a container's CRI log goes, for every backend: the sandbox's log_directory joined with the container's
 * log_path, as containerd does; '' when either is unset (no log file). Both parts were checked above.
 */
export function containerLogPath(config: cri.ContainerConfig, sandbox: cri.PodSandboxConfig): string {
  return config.log_path && sandbox.log_directory ? path.join(sandbox.log_directory, config.log_path) : '';
}

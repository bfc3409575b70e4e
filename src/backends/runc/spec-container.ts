/**
 * The OCI runtime spec (config.json) of an application container in a runc pod: process (src/host/container-process.ts),
 * security (spec-security.ts), mounts (spec-mounts.ts), devices (src/host/devices.ts), resources
 * (spec-resources.ts), and the namespaces it shares with the pod's pause container:
 *   network  the pod netns by path (none for host-network pods)
 *   uts, ipc /proc/<pause pid>/ns/… (none when the pod uses the host's)
 *   pid      /proc/<pause pid>/ns/pid for a pod-shared PID namespace, a new one per container, or the host's
 *   cgroup   a new one per container on a cgroup v2 host unless privileged (containerd's rule, KEP 2254): the
 *            container then sees its own cgroup at /sys/fs/cgroup (cpu.max, memory.max, …) and "0::/" in
 *            /proc/self/cgroup, not the node's whole hierarchy
 */
import { containerCgroupsPath } from './cgroup-driver';
import type * as cri from '../../cri/types';
import type { Logger } from '../../log/logger';
import type { ResolvedImage } from '../../images/types';
import type { OciNamespace, OciResources, OciSpec } from '../../host/oci-spec';
import type { FileSource, ResolvedUser } from '../../host/passwd';
import { hostDevices, requestedDevices } from '../../host/devices';
import { containerMounts } from './spec-mounts';
import { processArgs, processCwd, processEnv, stopSignal } from '../../host/container-process';
import { ociLinuxSecurity, ociProcess, processUser } from '../../host/container-policy';
import { clampOomScoreAdj, toOciResources } from './spec-resources';
import { criResourceNumbers } from '../../host/cri-resources';
import { checkNamespaceOptions, securityPlan } from './spec-security';
import type { SandboxRecord } from './records';
import type { Layout } from './layout';

export interface ContainerSpecInput {
  readonly id: string;
  readonly config: cri.ContainerConfig;
  readonly sandbox: SandboxRecord;
  readonly pausePid: number;
  readonly image: ResolvedImage;
  /** The image's files, for /etc/passwd and /etc/group (the root may not be mounted yet). */
  readonly files: FileSource;
  readonly layout: Layout;
  readonly runtimeDefaultSeccomp: string;
  readonly oomScoreAdjFloor: number;
  /** The host's cgroup version (the cgroup layer's): v2 gives unprivileged containers a cgroup namespace. */
  readonly cgroupVersion: 1 | 2;
  readonly log: Logger;
}

export interface ContainerSpecResult {
  readonly spec: OciSpec;
  readonly user: ResolvedUser;
  readonly stopSignal: string;
  readonly cgroupsPath: string;
  /** A new PID namespace of its own (not the pod's, not the host's). */
  readonly ownPidNs: boolean;
}

export async function buildContainerSpec(inp: ContainerSpecInput): Promise<ContainerSpecResult> {
  const { config, sandbox, image } = inp;
  const sc = config.linux?.security_context ?? null;
  checkNamespaceOptions(sc?.namespace_options, 'config.linux.security_context.namespace_options');
  const sandboxPrivileged = sandbox.config.linux?.security_context?.privileged ?? false;
  const sec = await securityPlan(sc, { runtimeDefaultSeccomp: inp.runtimeDefaultSeccomp, sandboxPrivileged });
  const user = await processUser(sc, image.config, inp.files);
  const args = processArgs(config, image.config);

  const mountPlan = await containerMounts(
    config.mounts,
    {
      hostname: inp.layout.podFile(sandbox.id, 'hostname'),
      hosts: inp.layout.podFile(sandbox.id, 'hosts'),
      resolvConf: inp.layout.podFile(sandbox.id, 'resolv.conf'),
      shm: sandbox.shmPath ?? '/dev/shm',
      mountHostname: !sandbox.hostNetwork,
    },
    { privileged: sec.privileged },
  );

  const requested = await requestedDevices(config.devices);
  const devices = sec.privileged ? await hostDevices() : requested.devices;
  const resources: OciResources = toOciResources(config.linux?.resources ?? null, 'config.linux.resources', inp.log);
  resources.devices = sec.privileged
    ? [{ allow: true, access: 'rwm' }]
    : [{ allow: false, access: 'rwm' }, ...requested.rules];
  const oomScoreAdj = clampOomScoreAdj(
    criResourceNumbers(config.linux?.resources, 'config.linux.resources').oomScoreAdj,
    inp.oomScoreAdjFloor,
    inp.log,
    `container ${inp.id}`,
  );

  const ns: OciNamespace[] = [{ type: 'mount' }];
  const proc = (kind: string): string => `/proc/${inp.pausePid}/ns/${kind}`;
  if (!sandbox.hostNetwork) {
    ns.push({ type: 'network', path: sandbox.netnsPath });
    ns.push({ type: 'uts', path: proc('uts') });
  }
  if (!sandbox.hostIpc) ns.push({ type: 'ipc', path: proc('ipc') });
  const pidMode = sc?.namespace_options?.pid ?? 'CONTAINER';
  if (!sandbox.hostPid && pidMode !== 'NODE') {
    ns.push(pidMode === 'POD' && sandbox.sharedPid ? { type: 'pid', path: proc('pid') } : { type: 'pid' });
  }
  if (inp.cgroupVersion === 2 && !sec.privileged) ns.push({ type: 'cgroup' });

  const cgroupsPath = containerCgroupsPath(sandbox.cgroupParent, inp.id);
  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: ociProcess({
      user,
      sec,
      args,
      env: processEnv(config, image.config, { hostname: sandbox.hostname }),
      cwd: processCwd(config, image.config),
      terminal: config.tty,
      oomScoreAdj,
    }),
    // The root's path is set at start, once the snapshot is mounted (engine.setRoot).
    root: { path: '', readonly: sec.readonlyRootfs },
    mounts: mountPlan.mounts,
    annotations: {
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.container-name': config.metadata?.name ?? '',
      'io.kubernetes.cri.sandbox-id': sandbox.id,
      'io.kubernetes.cri.sandbox-name': sandbox.metadata.name,
      'io.kubernetes.cri.sandbox-namespace': sandbox.metadata.namespace,
      'io.kubernetes.cri.image-name': image.ref,
    },
    linux: {
      namespaces: ns,
      resources,
      cgroupsPath,
      sysctl: { ...(sandbox.config.linux?.sysctls ?? {}) },
      devices,
      ...ociLinuxSecurity(sec),
      ...(mountPlan.rootfsPropagation ? { rootfsPropagation: mountPlan.rootfsPropagation } : {}),
    },
  };
  const ownPidNs = ns.some((n) => n.type === 'pid' && n.path === undefined);
  return { spec, user, stopSignal: stopSignal(config, image.config), cgroupsPath, ownPidNs };
}

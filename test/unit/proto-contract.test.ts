/**
 * Wire contract of proto/runtime/v1/api.proto against upstream kubernetes/cri-api v0.36.
 *
 * The expected tables below were written from the upstream api.proto (kubernetes/kubernetes
 * staging/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto, 1.36 content), not from our file, so a typo
 * in our transcription shows up here instead of as a kubelet/crictl interop bug.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';

const PROTO = path.join(__dirname, '..', '..', 'proto', 'runtime', 'v1', 'api.proto');

// Same options as the daemon and scripts/gen-types.sh.
const pkg = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

interface FieldDesc {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDesc {
  name: string;
  field: FieldDesc[];
  nestedType: MessageDesc[];
  options: { mapEntry?: boolean } | null;
}
interface EnumDesc {
  value: { name: string; number: number }[];
}
interface MethodDesc {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestType: { type: { name: string } };
  responseType: { type: { name: string } };
  requestDeserialize: (b: Buffer) => unknown;
}

function message(name: string): MessageDesc {
  const def = pkg[`runtime.v1.${name}`] as unknown as { format?: string; type?: MessageDesc } | undefined;
  assert.ok(def?.type, `message runtime.v1.${name} is missing`);
  assert.equal(def.format, 'Protocol Buffer 3 DescriptorProto', `runtime.v1.${name} is not a message`);
  return def.type;
}

function enumValues(name: string): Record<string, number> {
  const def = pkg[`runtime.v1.${name}`] as unknown as { format?: string; type?: EnumDesc } | undefined;
  assert.ok(def?.type, `enum runtime.v1.${name} is missing`);
  assert.equal(def.format, 'Protocol Buffer 3 EnumDescriptorProto', `runtime.v1.${name} is not an enum`);
  return Object.fromEntries(def.type.value.map((v) => [v.name, v.number]));
}

function service(name: string): Record<string, MethodDesc> {
  const def = pkg[`runtime.v1.${name}`] as unknown as Record<string, MethodDesc> | undefined;
  assert.ok(def, `service runtime.v1.${name} is missing`);
  return def;
}

const SCALARS: Record<string, string> = {
  TYPE_STRING: 'string',
  TYPE_BOOL: 'bool',
  TYPE_BYTES: 'bytes',
  TYPE_INT32: 'int32',
  TYPE_INT64: 'int64',
  TYPE_UINT32: 'uint32',
  TYPE_UINT64: 'uint64',
  TYPE_DOUBLE: 'double',
};

/** Renders a field the way it is written in a .proto file: "repeated T", "map<K,V>" or "T". */
function fieldSignature(msg: MessageDesc, f: FieldDesc): string {
  const base = (x: FieldDesc): string => SCALARS[x.type] ?? x.typeName.split('.').pop() ?? x.typeName;
  if (f.label === 'LABEL_REPEATED' && f.type === 'TYPE_MESSAGE') {
    const entry = msg.nestedType.find((n) => n.name === f.typeName.split('.').pop() && n.options?.mapEntry);
    if (entry) {
      const [k, v] = entry.field;
      assert.ok(k && v);
      return `map<${base(k)},${base(v)}>`;
    }
  }
  return f.label === 'LABEL_REPEATED' ? `repeated ${base(f)}` : base(f);
}

/** Upstream field table: name -> [number, signature]. Must match exactly (no extra, no missing fields). */
type FieldTable = Record<string, [number, string]>;

function assertFields(name: string, expected: FieldTable): void {
  const msg = message(name);
  const actual: FieldTable = {};
  for (const f of msg.field) actual[f.name] = [f.number, fieldSignature(msg, f)];
  assert.deepEqual(actual, expected, `fields of runtime.v1.${name}`);
}

// ---- services (upstream order, request/response names, server streaming) ----

type Rpc = [method: string, request: string, response: string, serverStreaming: boolean];

const RUNTIME_SERVICE: Rpc[] = [
  ['Version', 'VersionRequest', 'VersionResponse', false],
  ['RunPodSandbox', 'RunPodSandboxRequest', 'RunPodSandboxResponse', false],
  ['StopPodSandbox', 'StopPodSandboxRequest', 'StopPodSandboxResponse', false],
  ['RemovePodSandbox', 'RemovePodSandboxRequest', 'RemovePodSandboxResponse', false],
  ['PodSandboxStatus', 'PodSandboxStatusRequest', 'PodSandboxStatusResponse', false],
  ['ListPodSandbox', 'ListPodSandboxRequest', 'ListPodSandboxResponse', false],
  ['StreamPodSandboxes', 'StreamPodSandboxesRequest', 'StreamPodSandboxesResponse', true],
  ['CreateContainer', 'CreateContainerRequest', 'CreateContainerResponse', false],
  ['StartContainer', 'StartContainerRequest', 'StartContainerResponse', false],
  ['StopContainer', 'StopContainerRequest', 'StopContainerResponse', false],
  ['RemoveContainer', 'RemoveContainerRequest', 'RemoveContainerResponse', false],
  ['ListContainers', 'ListContainersRequest', 'ListContainersResponse', false],
  ['StreamContainers', 'StreamContainersRequest', 'StreamContainersResponse', true],
  ['ContainerStatus', 'ContainerStatusRequest', 'ContainerStatusResponse', false],
  ['UpdateContainerResources', 'UpdateContainerResourcesRequest', 'UpdateContainerResourcesResponse', false],
  ['ReopenContainerLog', 'ReopenContainerLogRequest', 'ReopenContainerLogResponse', false],
  ['ExecSync', 'ExecSyncRequest', 'ExecSyncResponse', false],
  ['Exec', 'ExecRequest', 'ExecResponse', false],
  ['Attach', 'AttachRequest', 'AttachResponse', false],
  ['PortForward', 'PortForwardRequest', 'PortForwardResponse', false],
  ['ContainerStats', 'ContainerStatsRequest', 'ContainerStatsResponse', false],
  ['ListContainerStats', 'ListContainerStatsRequest', 'ListContainerStatsResponse', false],
  ['StreamContainerStats', 'StreamContainerStatsRequest', 'StreamContainerStatsResponse', true],
  ['PodSandboxStats', 'PodSandboxStatsRequest', 'PodSandboxStatsResponse', false],
  ['ListPodSandboxStats', 'ListPodSandboxStatsRequest', 'ListPodSandboxStatsResponse', false],
  ['StreamPodSandboxStats', 'StreamPodSandboxStatsRequest', 'StreamPodSandboxStatsResponse', true],
  ['UpdateRuntimeConfig', 'UpdateRuntimeConfigRequest', 'UpdateRuntimeConfigResponse', false],
  ['Status', 'StatusRequest', 'StatusResponse', false],
  ['CheckpointContainer', 'CheckpointContainerRequest', 'CheckpointContainerResponse', false],
  ['GetContainerEvents', 'GetEventsRequest', 'ContainerEventResponse', true],
  ['ListMetricDescriptors', 'ListMetricDescriptorsRequest', 'ListMetricDescriptorsResponse', false],
  ['ListPodSandboxMetrics', 'ListPodSandboxMetricsRequest', 'ListPodSandboxMetricsResponse', false],
  ['StreamPodSandboxMetrics', 'StreamPodSandboxMetricsRequest', 'StreamPodSandboxMetricsResponse', true],
  ['RuntimeConfig', 'RuntimeConfigRequest', 'RuntimeConfigResponse', false],
  ['UpdatePodSandboxResources', 'UpdatePodSandboxResourcesRequest', 'UpdatePodSandboxResourcesResponse', false],
];

const IMAGE_SERVICE: Rpc[] = [
  ['ListImages', 'ListImagesRequest', 'ListImagesResponse', false],
  ['StreamImages', 'StreamImagesRequest', 'StreamImagesResponse', true],
  ['ImageStatus', 'ImageStatusRequest', 'ImageStatusResponse', false],
  ['PullImage', 'PullImageRequest', 'PullImageResponse', false],
  ['RemoveImage', 'RemoveImageRequest', 'RemoveImageResponse', false],
  ['ImageFsInfo', 'ImageFsInfoRequest', 'ImageFsInfoResponse', false],
];

for (const [svcName, table] of [
  ['RuntimeService', RUNTIME_SERVICE],
  ['ImageService', IMAGE_SERVICE],
] as const) {
  test(`${svcName} has exactly the upstream methods`, () => {
    const svc = service(svcName);
    assert.deepEqual(Object.keys(svc).sort(), table.map(([m]) => m).sort());
  });

  test(`${svcName} methods have upstream paths, types and streaming flags`, () => {
    const svc = service(svcName);
    for (const [method, req, res, serverStreaming] of table) {
      const m = svc[method];
      assert.ok(m, `${svcName}.${method} missing`);
      assert.equal(m.path, `/runtime.v1.${svcName}/${method}`);
      assert.equal(m.requestType.type.name, req, `${method} request type`);
      assert.equal(m.responseType.type.name, res, `${method} response type`);
      assert.equal(m.requestStream, false, `${method} must not be client streaming`);
      assert.equal(m.responseStream, serverStreaming, `${method} server streaming`);
    }
  });
}

// ---- messages: full upstream field tables of the messages the router touches most ----

const MESSAGES: Record<string, FieldTable> = {
  PodSandboxConfig: {
    metadata: [1, 'PodSandboxMetadata'],
    hostname: [2, 'string'],
    log_directory: [3, 'string'],
    dns_config: [4, 'DNSConfig'],
    port_mappings: [5, 'repeated PortMapping'],
    labels: [6, 'map<string,string>'],
    annotations: [7, 'map<string,string>'],
    linux: [8, 'LinuxPodSandboxConfig'],
    windows: [9, 'WindowsPodSandboxConfig'],
  },
  PodSandboxMetadata: {
    name: [1, 'string'],
    uid: [2, 'string'],
    namespace: [3, 'string'],
    attempt: [4, 'uint32'],
  },
  RunPodSandboxRequest: { config: [1, 'PodSandboxConfig'], runtime_handler: [2, 'string'] },
  LinuxSandboxSecurityContext: {
    namespace_options: [1, 'NamespaceOption'],
    selinux_options: [2, 'SELinuxOption'],
    run_as_user: [3, 'Int64Value'],
    run_as_group: [8, 'Int64Value'],
    readonly_rootfs: [4, 'bool'],
    supplemental_groups: [5, 'repeated int64'],
    supplemental_groups_policy: [11, 'SupplementalGroupsPolicy'],
    privileged: [6, 'bool'],
    seccomp: [9, 'SecurityProfile'],
    apparmor: [10, 'SecurityProfile'],
    seccomp_profile_path: [7, 'string'],
  },
  PodSandboxStatus: {
    id: [1, 'string'],
    metadata: [2, 'PodSandboxMetadata'],
    state: [3, 'PodSandboxState'],
    created_at: [4, 'int64'],
    network: [5, 'PodSandboxNetworkStatus'],
    linux: [6, 'LinuxPodSandboxStatus'],
    labels: [7, 'map<string,string>'],
    annotations: [8, 'map<string,string>'],
    runtime_handler: [9, 'string'],
  },
  PodSandboxStatusResponse: {
    status: [1, 'PodSandboxStatus'],
    info: [2, 'map<string,string>'],
    containers_statuses: [3, 'repeated ContainerStatus'],
    timestamp: [4, 'int64'],
  },
  Namespace: { options: [2, 'NamespaceOption'] },
  ContainerConfig: {
    metadata: [1, 'ContainerMetadata'],
    image: [2, 'ImageSpec'],
    command: [3, 'repeated string'],
    args: [4, 'repeated string'],
    working_dir: [5, 'string'],
    envs: [6, 'repeated KeyValue'],
    mounts: [7, 'repeated Mount'],
    devices: [8, 'repeated Device'],
    labels: [9, 'map<string,string>'],
    annotations: [10, 'map<string,string>'],
    log_path: [11, 'string'],
    stdin: [12, 'bool'],
    stdin_once: [13, 'bool'],
    tty: [14, 'bool'],
    linux: [15, 'LinuxContainerConfig'],
    windows: [16, 'WindowsContainerConfig'],
    CDI_devices: [17, 'repeated CDIDevice'],
    stop_signal: [18, 'Signal'],
  },
  Mount: {
    container_path: [1, 'string'],
    host_path: [2, 'string'],
    readonly: [3, 'bool'],
    selinux_relabel: [4, 'bool'],
    propagation: [5, 'MountPropagation'],
    uidMappings: [6, 'repeated IDMapping'],
    gidMappings: [7, 'repeated IDMapping'],
    recursive_read_only: [8, 'bool'],
    image: [9, 'ImageSpec'],
    image_sub_path: [10, 'string'],
  },
  LinuxContainerResources: {
    cpu_period: [1, 'int64'],
    cpu_quota: [2, 'int64'],
    cpu_shares: [3, 'int64'],
    memory_limit_in_bytes: [4, 'int64'],
    oom_score_adj: [5, 'int64'],
    cpuset_cpus: [6, 'string'],
    cpuset_mems: [7, 'string'],
    hugepage_limits: [8, 'repeated HugepageLimit'],
    unified: [9, 'map<string,string>'],
    memory_swap_limit_in_bytes: [10, 'int64'],
  },
  LinuxContainerSecurityContext: {
    capabilities: [1, 'Capability'],
    privileged: [2, 'bool'],
    namespace_options: [3, 'NamespaceOption'],
    selinux_options: [4, 'SELinuxOption'],
    run_as_user: [5, 'Int64Value'],
    run_as_group: [12, 'Int64Value'],
    run_as_username: [6, 'string'],
    readonly_rootfs: [7, 'bool'],
    supplemental_groups: [8, 'repeated int64'],
    supplemental_groups_policy: [17, 'SupplementalGroupsPolicy'],
    no_new_privs: [11, 'bool'],
    masked_paths: [13, 'repeated string'],
    readonly_paths: [14, 'repeated string'],
    seccomp: [15, 'SecurityProfile'],
    apparmor: [16, 'SecurityProfile'],
    apparmor_profile: [9, 'string'],
    seccomp_profile_path: [10, 'string'],
  },
  NamespaceOption: {
    network: [1, 'NamespaceMode'],
    pid: [2, 'NamespaceMode'],
    ipc: [3, 'NamespaceMode'],
    target_id: [4, 'string'],
    userns_options: [5, 'UserNamespace'],
  },
  SecurityProfile: { profile_type: [1, 'ProfileType'], localhost_ref: [2, 'string'] },
  Container: {
    id: [1, 'string'],
    pod_sandbox_id: [2, 'string'],
    metadata: [3, 'ContainerMetadata'],
    image: [4, 'ImageSpec'],
    image_ref: [5, 'string'],
    state: [6, 'ContainerState'],
    created_at: [7, 'int64'],
    labels: [8, 'map<string,string>'],
    annotations: [9, 'map<string,string>'],
    image_id: [10, 'string'],
  },
  ContainerStatus: {
    id: [1, 'string'],
    metadata: [2, 'ContainerMetadata'],
    state: [3, 'ContainerState'],
    created_at: [4, 'int64'],
    started_at: [5, 'int64'],
    finished_at: [6, 'int64'],
    exit_code: [7, 'int32'],
    image: [8, 'ImageSpec'],
    image_ref: [9, 'string'],
    reason: [10, 'string'],
    message: [11, 'string'],
    labels: [12, 'map<string,string>'],
    annotations: [13, 'map<string,string>'],
    mounts: [14, 'repeated Mount'],
    log_path: [15, 'string'],
    resources: [16, 'ContainerResources'],
    image_id: [17, 'string'],
    user: [18, 'ContainerUser'],
    stop_signal: [19, 'Signal'],
  },
  // v0.36 has no audit_request_id here (that is 1.37, KEP-6035).
  ExecRequest: {
    container_id: [1, 'string'],
    cmd: [2, 'repeated string'],
    tty: [3, 'bool'],
    stdin: [4, 'bool'],
    stdout: [5, 'bool'],
    stderr: [6, 'bool'],
  },
  AttachRequest: {
    container_id: [1, 'string'],
    stdin: [2, 'bool'],
    tty: [3, 'bool'],
    stdout: [4, 'bool'],
    stderr: [5, 'bool'],
  },
  ExecSyncResponse: { stdout: [1, 'bytes'], stderr: [2, 'bytes'], exit_code: [3, 'int32'] },
  StatusResponse: {
    status: [1, 'RuntimeStatus'],
    info: [2, 'map<string,string>'],
    runtime_handlers: [3, 'repeated RuntimeHandler'],
    features: [4, 'RuntimeFeatures'],
  },
  RuntimeHandler: { name: [1, 'string'], features: [2, 'RuntimeHandlerFeatures'] },
  RuntimeHandlerFeatures: { recursive_read_only_mounts: [1, 'bool'], user_namespaces: [2, 'bool'] },
  RuntimeFeatures: { supplemental_groups_policy: [1, 'bool'], user_namespaces_host_network: [2, 'bool'] },
  RuntimeCondition: { type: [1, 'string'], status: [2, 'bool'], reason: [3, 'string'], message: [4, 'string'] },
  ImageSpec: {
    image: [1, 'string'],
    annotations: [2, 'map<string,string>'],
    user_specified_image: [18, 'string'],
    runtime_handler: [19, 'string'],
    image_ref: [20, 'string'],
  },
  PullImageRequest: { image: [1, 'ImageSpec'], auth: [2, 'AuthConfig'], sandbox_config: [3, 'PodSandboxConfig'] },
  PullImageResponse: { image_ref: [1, 'string'] },
  AuthConfig: {
    username: [1, 'string'],
    password: [2, 'string'],
    auth: [3, 'string'],
    server_address: [4, 'string'],
    identity_token: [5, 'string'],
    registry_token: [6, 'string'],
  },
  Image: {
    id: [1, 'string'],
    repo_tags: [2, 'repeated string'],
    repo_digests: [3, 'repeated string'],
    size: [4, 'uint64'],
    uid: [5, 'Int64Value'],
    username: [6, 'string'],
    spec: [7, 'ImageSpec'],
    pinned: [8, 'bool'],
  },
  ImageFsInfoResponse: {
    image_filesystems: [1, 'repeated FilesystemUsage'],
    container_filesystems: [2, 'repeated FilesystemUsage'],
  },
  ContainerEventResponse: {
    container_id: [1, 'string'],
    container_event_type: [2, 'ContainerEventType'],
    created_at: [3, 'int64'],
    pod_sandbox_status: [4, 'PodSandboxStatus'],
    containers_statuses: [5, 'repeated ContainerStatus'],
  },
  ContainerStats: {
    attributes: [1, 'ContainerAttributes'],
    cpu: [2, 'CpuUsage'],
    memory: [3, 'MemoryUsage'],
    writable_layer: [4, 'FilesystemUsage'],
    swap: [5, 'SwapUsage'],
    io: [6, 'IoUsage'],
  },
  PsiStats: { Full: [1, 'PsiData'], Some: [2, 'PsiData'] },
  PsiData: { Total: [1, 'uint64'], Avg10: [2, 'double'], Avg60: [3, 'double'], Avg300: [4, 'double'] },
  UpdatePodSandboxResourcesRequest: {
    pod_sandbox_id: [1, 'string'],
    overhead: [2, 'LinuxContainerResources'],
    resources: [3, 'LinuxContainerResources'],
  },
  RuntimeConfigResponse: { linux: [1, 'LinuxRuntimeConfiguration'] },
  LinuxRuntimeConfiguration: { cgroup_driver: [1, 'CgroupDriver'] },
  CheckpointContainerRequest: { container_id: [1, 'string'], location: [2, 'string'], timeout: [3, 'int64'] },
  PodSandboxMetrics: {
    pod_sandbox_id: [1, 'string'],
    metrics: [2, 'repeated Metric'],
    container_metrics: [3, 'repeated ContainerMetrics'],
  },
  Metric: {
    name: [1, 'string'],
    timestamp: [2, 'int64'],
    metric_type: [3, 'MetricType'],
    label_values: [4, 'repeated string'],
    value: [5, 'UInt64Value'],
  },
  // The streaming list responses carry batches under new field names (KEP-5825).
  StreamPodSandboxesRequest: { filter: [1, 'PodSandboxFilter'] },
  StreamPodSandboxesResponse: { pod_sandboxes: [1, 'repeated PodSandbox'] },
  StreamContainersResponse: { containers: [1, 'repeated Container'] },
  StreamContainerStatsResponse: { container_stats: [1, 'repeated ContainerStats'] },
  StreamPodSandboxStatsResponse: { pod_sandbox_stats: [1, 'repeated PodSandboxStats'] },
  StreamPodSandboxMetricsRequest: {},
  StreamPodSandboxMetricsResponse: { pod_sandbox_metrics: [1, 'repeated PodSandboxMetrics'] },
  StreamImagesRequest: { filter: [1, 'ImageFilter'] },
  StreamImagesResponse: { images: [1, 'repeated Image'] },
  ListPodSandboxResponse: { items: [1, 'repeated PodSandbox'] },
  ListPodSandboxMetricsResponse: { pod_metrics: [1, 'repeated PodSandboxMetrics'] },
};

for (const [name, table] of Object.entries(MESSAGES)) {
  test(`message ${name} matches upstream field numbers and types`, () => assertFields(name, table));
}

// ---- enums ----

const ENUMS: Record<string, Record<string, number>> = {
  PodSandboxState: { SANDBOX_READY: 0, SANDBOX_NOTREADY: 1 },
  ContainerState: { CONTAINER_CREATED: 0, CONTAINER_RUNNING: 1, CONTAINER_EXITED: 2, CONTAINER_UNKNOWN: 3 },
  ContainerEventType: {
    CONTAINER_CREATED_EVENT: 0,
    CONTAINER_STARTED_EVENT: 1,
    CONTAINER_STOPPED_EVENT: 2,
    CONTAINER_DELETED_EVENT: 3,
  },
  NamespaceMode: { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 },
  Protocol: { TCP: 0, UDP: 1, SCTP: 2 },
  MountPropagation: { PROPAGATION_PRIVATE: 0, PROPAGATION_HOST_TO_CONTAINER: 1, PROPAGATION_BIDIRECTIONAL: 2 },
  SupplementalGroupsPolicy: { Merge: 0, Strict: 1 },
  MetricType: { COUNTER: 0, GAUGE: 1 },
  CgroupDriver: { SYSTEMD: 0, CGROUPFS: 1 },
};

for (const [name, values] of Object.entries(ENUMS)) {
  test(`enum ${name} matches upstream`, () => assert.deepEqual(enumValues(name), values));
}

test('enum Signal matches upstream (66 values, CRI numbering)', () => {
  const v = enumValues('Signal');
  assert.equal(Object.keys(v).length, 66);
  assert.equal(v.RUNTIME_DEFAULT, 0);
  assert.equal(v.SIGABRT, 1);
  assert.equal(v.SIGHUP, 8);
  assert.equal(v.SIGINT, 10);
  assert.equal(v.SIGKILL, 13);
  assert.equal(v.SIGQUIT, 18);
  assert.equal(v.SIGTERM, 23);
  assert.equal(v.SIGUSR1, 29);
  assert.equal(v.SIGWINCH, 32);
  assert.equal(v.SIGRTMIN, 35);
  assert.equal(v.SIGRTMINPLUS15, 50);
  assert.equal(v.SIGRTMAXMINUS14, 51);
  assert.equal(v.SIGRTMAX, 65);
});

test('nested enum SecurityProfile.ProfileType matches upstream', () => {
  const msg = pkg['runtime.v1.SecurityProfile'] as unknown as { type: { enumType: (EnumDesc & { name: string })[] } };
  const pt = msg.type.enumType.find((e) => e.name === 'ProfileType');
  assert.ok(pt);
  assert.deepEqual(Object.fromEntries(pt.value.map((x) => [x.name, x.number])), {
    RuntimeDefault: 0,
    Unconfined: 1,
    Localhost: 2,
  });
});

// ---- raw wire bytes, hand-encoded from the upstream field numbers ----

function deserializer(svc: string, method: string): (b: Buffer) => Record<string, unknown> {
  const m = service(svc)[method];
  assert.ok(m);
  return m.requestDeserialize as (b: Buffer) => Record<string, unknown>;
}

test('RunPodSandboxRequest.runtime_handler (field 2, string) decodes from upstream bytes', () => {
  // tag = 2<<3|2 = 0x12, len 4, "runc"
  const req = deserializer('RuntimeService', 'RunPodSandbox')(Buffer.from([0x12, 0x04, 0x72, 0x75, 0x6e, 0x63]));
  assert.equal(req.runtime_handler, 'runc');
});

test('CreateContainerRequest.config.CDI_devices (field 17) decodes from upstream bytes', () => {
  // CDIDevice{name(1)="a"} = 0a 01 61; ContainerConfig field 17 tag = 17<<3|2 = 138 = varint 8a 01
  const cdi = [0x0a, 0x01, 0x61];
  const cfg = [0x8a, 0x01, cdi.length, ...cdi];
  const req = deserializer('RuntimeService', 'CreateContainer')(Buffer.from([0x12, cfg.length, ...cfg]));
  const config = req.config as { CDI_devices: { name: string }[] };
  assert.deepEqual(config.CDI_devices, [{ name: 'a' }]);
});

test('PullImageRequest.image.user_specified_image (ImageSpec field 18) decodes from upstream bytes', () => {
  // ImageSpec field 18 tag = 18<<3|2 = 146 = varint 92 01, "x"
  const spec = [0x92, 0x01, 0x01, 0x78];
  const req = deserializer('ImageService', 'PullImage')(Buffer.from([0x0a, spec.length, ...spec]));
  assert.equal((req.image as { user_specified_image: string }).user_specified_image, 'x');
});

test('StopContainerRequest.timeout is int64 surfaced as a decimal string', () => {
  // container_id(1)="c", timeout(2)=30
  const req = deserializer('RuntimeService', 'StopContainer')(Buffer.from([0x0a, 0x01, 0x63, 0x10, 0x1e]));
  assert.equal(req.container_id, 'c');
  assert.equal(req.timeout, '30');
});

test('unknown newer fields (e.g. 1.37 ExecRequest.audit_request_id = 7) are skipped, not rejected', () => {
  // container_id(1)="c", field 7 string "id"
  const req = deserializer('RuntimeService', 'Exec')(Buffer.from([0x0a, 0x01, 0x63, 0x3a, 0x02, 0x69, 0x64]));
  assert.equal(req.container_id, 'c');
});

/**
 * The parts of the Docker Engine API (v1.40–1.41, dockerd 19.03–20.10) that the docker backend reads or sends.
 * Only the fields crimux uses are typed; Docker sends more, and unknown fields are ignored.
 * NOTE: PascalCase field names are Docker's wire names, kept as-is so bodies need no mapping.
 */

export interface DockerVersion {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
}

export interface DockerInfo {
  DockerRootDir: string;
  Driver: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  Runtimes?: Record<string, unknown>;
  DefaultRuntime?: string;
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

/** Resource fields shared by create (HostConfig) and POST /containers/{id}/update. */
export interface DockerResources {
  CpuShares?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  Memory?: number;
  MemorySwap?: number;
}

export interface HostConfig extends DockerResources {
  Binds?: string[];
  NetworkMode?: string;
  IpcMode?: string;
  PidMode?: string;
  UTSMode?: string;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  CapAdd?: string[];
  CapDrop?: string[];
  SecurityOpt?: string[];
  MaskedPaths?: string[];
  ReadonlyPaths?: string[];
  Devices?: DeviceMapping[];
  GroupAdd?: string[];
  Dns?: string[];
  DnsSearch?: string[];
  DnsOptions?: string[];
  Sysctls?: Record<string, string>;
  CgroupParent?: string;
  Runtime?: string;
  OomScoreAdj?: number;
  LogConfig?: { Type: string; Config?: Record<string, string> };
  RestartPolicy?: { Name: string };
  AutoRemove?: boolean;
  Init?: boolean;
}

export interface CreateContainerBody {
  Image: string;
  Hostname?: string;
  User?: string;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  Labels: Record<string, string>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  StopSignal?: string;
  HostConfig: HostConfig;
}

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead' | string;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export interface MountPoint {
  Type: string;
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  Image: string;
  State: ContainerState;
  Config: {
    Image: string;
    Labels: Record<string, string> | null;
    User: string;
    StopSignal?: string;
    Tty: boolean;
    Hostname: string;
  };
  HostConfig: HostConfig;
  Mounts: MountPoint[];
  SizeRw?: number;
  SizeRootFs?: number;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  Created: number;
  State: string;
  Status: string;
  Labels: Record<string, string> | null;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Size: number;
  Config: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    StopSignal?: string;
    Labels?: Record<string, string> | null;
  } | null;
}

export interface ImageSummary {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Size: number;
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
}

/** GET /containers/{id}/stats?stream=false (cgroup v1 and v2 fields Docker fills). */
export interface DockerStats {
  read: string;
  cpu_stats: { cpu_usage: { total_usage: number } };
  memory_stats: {
    usage?: number;
    limit?: number;
    stats?: Record<string, number>;
  };
  pids_stats?: { current?: number };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number; rx_errors: number; tx_errors: number }>;
}

export interface SystemDf {
  LayersSize: number;
}

/** Credentials of one pull, sent base64-encoded in X-Registry-Auth; never logged. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  auth?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

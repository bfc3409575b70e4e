/** The typed, validated and frozen configuration the daemon runs with (see schema.ts for every key's doc). */
import type { BackendKind } from '../backends/backend';
import type { DockerBackendConfig } from '../backends/docker/config';
import type { RktBackendConfig } from '../backends/rkt/config';
import type { RuncBackendConfig } from '../backends/runc/config';
import type { VmBackendConfig } from '../backends/vm/config';
import type { LogFormat, LogLevel } from '../log/logger';

export interface HandlerConfig {
  backend: BackendKind;
  options?: Record<string, unknown>;
}

export interface RoutingRule {
  name: string;
  handler: string;
  /** A pinned rule's handler cannot be overridden by runtime_handler or annotations (src/router/select.ts). */
  pin?: boolean;
  match: {
    namespaces?: string[];
    labels?: Record<string, string>;
    privileged?: boolean;
    hostNetwork?: boolean;
    hostPid?: boolean;
    hostIpc?: boolean;
  };
}

export interface AnnotationPolicyEntry {
  namespaces: string[];
  handlers: string[];
}

export interface RegistryEndpoint {
  url: string;
  insecureSkipVerify?: boolean;
  /** CA bundle file(s) trusted for this endpoint in addition to the node's roots (containerd's `ca`). */
  ca?: string | string[];
  /** Client certificate file, and its key file (containerd's `client` pair); the cert file may hold both. */
  clientCert?: string;
  clientKey?: string;
}

export interface RegistryHostConfig {
  endpoints: RegistryEndpoint[];
  credentialsFile?: string;
  /** Token realm hosts that may receive this registry's credentials besides the endpoint's own host. */
  credentialRealms?: string[];
}

export interface Config {
  socket: { path: string; group: string; maxMessageBytes: number };
  server: { transport: 'lean' | 'direct' | 'grpc-js' };
  stateDir: string;
  stateDurability: 'normal' | 'full';
  runDir: string;
  spawnHelper: string;
  logLevel: LogLevel;
  logFormat: LogFormat;
  metrics: { address: string };
  streaming: {
    address: string;
    tokenTtlSeconds: number;
    idleTimeoutSeconds: number;
    streamCreationTimeoutSeconds: number;
    tlsCertFile: string;
    tlsKeyFile: string;
  };
  defaultHandler: string;
  handlers: Record<string, HandlerConfig>;
  routing: {
    osContainerHandler: string;
    untrustedHandler: string;
    hostNamespaceHandler: string;
    rules: RoutingRule[];
    annotationPolicy: AnnotationPolicyEntry[];
  };
  network: { confDir: string; binDirs: string[]; netnsDir: string };
  lists: { backendTimeoutMs: number; healthProbeIntervalMs: number; refreshIntervalMs: number; statsCacheMs: number };
  images: {
    sandboxImage: string;
    /** os/architecture[/variant] pulled from image indexes; empty: the node's own (src/images/platform.ts). */
    platform: string;
    registries: Record<string, RegistryHostConfig>;
    pullTimeoutSeconds: number;
    maxConcurrentDownloads: number;
    /** The crimux-layer helper; empty: unpack in the daemon. */
    unpackHelper: string;
    limits: { layerBytes: number; layerEntries: number; manifestBytes: number; configBytes: number };
  };
  security: { logRoot: string; mountSourceDenyList: string[] };
  /**
   * Backend-wide sections; each backend folder owns the shape of its own (src/backends/<kind>/config.ts: the
   * schema fragment convict validates the section against, and the type it yields), so factories read them typed.
   */
  backends: {
    runc: RuncBackendConfig;
    vm: VmBackendConfig;
    docker: DockerBackendConfig;
    rkt: RktBackendConfig;
  };
}

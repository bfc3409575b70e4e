/**
 * Short names for the generated CRI types (src/cri/generated, from proto/runtime/v1/api.proto).
 * Request objects arrive as the `__Output` shape (proto-loader fills defaults: strings '', numbers 0, int64 as
 * decimal strings, enums as their names); replies are built in the input shape, where every field is optional.
 * Backends and the router speak these types, so there is one source of truth for the wire contract.
 */
export type { PodSandboxConfig__Output as PodSandboxConfig } from './generated/runtime/v1/PodSandboxConfig';
export type { PodSandboxMetadata__Output as PodSandboxMetadata } from './generated/runtime/v1/PodSandboxMetadata';
export type { PodSandboxStatus } from './generated/runtime/v1/PodSandboxStatus';
export type { PodSandbox } from './generated/runtime/v1/PodSandbox';
export type { PodSandboxFilter__Output as PodSandboxFilter } from './generated/runtime/v1/PodSandboxFilter';
export type { ContainerConfig__Output as ContainerConfig } from './generated/runtime/v1/ContainerConfig';
export type { ContainerMetadata__Output as ContainerMetadata } from './generated/runtime/v1/ContainerMetadata';
export type { ContainerStatus } from './generated/runtime/v1/ContainerStatus';
export type { Mount } from './generated/runtime/v1/Mount';
export type { Container } from './generated/runtime/v1/Container';
export type { ContainerFilter__Output as ContainerFilter } from './generated/runtime/v1/ContainerFilter';
export type { ContainerStats } from './generated/runtime/v1/ContainerStats';
export type { ContainerStatsFilter__Output as ContainerStatsFilter } from './generated/runtime/v1/ContainerStatsFilter';
export type { PodSandboxStats } from './generated/runtime/v1/PodSandboxStats';
export type { PodSandboxStatsFilter__Output as PodSandboxStatsFilter } from './generated/runtime/v1/PodSandboxStatsFilter';
export type { LinuxContainerResources__Output as LinuxContainerResources } from './generated/runtime/v1/LinuxContainerResources';
export type { ContainerResources__Output as ContainerResources } from './generated/runtime/v1/ContainerResources';
export type { AuthConfig__Output as AuthConfig } from './generated/runtime/v1/AuthConfig';
export type { ImageSpec__Output as ImageSpec } from './generated/runtime/v1/ImageSpec';
export type { Image } from './generated/runtime/v1/Image';
export type { ImageFilter__Output as ImageFilter } from './generated/runtime/v1/ImageFilter';
export type { FilesystemUsage } from './generated/runtime/v1/FilesystemUsage';
export type { RuntimeHandlerFeatures } from './generated/runtime/v1/RuntimeHandlerFeatures';
export type { ContainerEventResponse } from './generated/runtime/v1/ContainerEventResponse';
export type { PodSandboxMetrics } from './generated/runtime/v1/PodSandboxMetrics';
export type { MetricDescriptor } from './generated/runtime/v1/MetricDescriptor';
export type { Metric } from './generated/runtime/v1/Metric';
export type { CheckpointContainerRequest__Output as CheckpointContainerRequest } from './generated/runtime/v1/CheckpointContainerRequest';
export type { LinuxContainerSecurityContext__Output as LinuxContainerSecurityContext } from './generated/runtime/v1/LinuxContainerSecurityContext';
export type { NamespaceMode__Output as NamespaceMode } from './generated/runtime/v1/NamespaceMode';

/** CRI sandbox states as proto-loader spells them (enums as strings). */
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
/** CRI container states as proto-loader spells them. */
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

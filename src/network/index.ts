/** Pod networking shared by every backend: network namespaces, the CNI client and the egress guard. */
export { NetnsManager, DEFAULT_NETNS_DIR, execInNetns, spawnInNetns, isNetnsMount } from './netns';
export type { NetnsManagerOptions } from './netns';
export { CniClient, DEFAULT_CNI_BIN_DIRS, DEFAULT_CNI_CONF_DIR, DEFAULT_CNI_STATE_DIR } from './cni';
export type { CniClientOptions, CallOptions } from './cni';
export { podNetworkFromCri } from './cni-types';
export type { PodNetwork, PodNetworkStatus, PortMapping, DnsConfig, CniResult, CniStatus } from './cni-types';
export { loadNetworkList, parseNetworkList, findPlugin } from './cni-config';
export type { CniNetworkList, CniPluginConf } from './cni-config';
export { ensureEgressGuard, removeEgressGuard, hasEgressGuard, GUARD_COMMENT } from './guard';
export { PodNetworking } from './pod-networking';
export type { PodNetworkingOptions } from './pod-networking';

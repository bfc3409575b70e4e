/**
 * The crimux record of a sandbox or container as Docker labels, written once at create and read back on every
 * status/list, after a crimux restart as well: Docker is the only store (nothing is kept only in memory).
 * Labels are immutable in Docker, so only facts fixed at create time live here; state comes from inspect.
 */
import type * as cri from '../../cri/types';
import type { NamespaceMode } from '../../cri/types';
import { LABEL, LABEL_VERSION, jsonLabel, visibleLabels } from './naming';

type Labels = Record<string, string> | null | undefined;

/** The pod's namespace modes as CRI names them (POD, CONTAINER, NODE, TARGET). */
export interface NamespaceOptions {
  readonly network: NamespaceMode;
  readonly pid: NamespaceMode;
  readonly ipc: NamespaceMode;
}

export interface SandboxRecord {
  readonly id: string;
  readonly handler: string;
  readonly metadata: cri.PodSandboxMetadata;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  /** CRI timestamp (ns) taken just before the Docker create. */
  readonly createdAt: string;
  readonly namespaceOptions: NamespaceOptions;
  readonly logDirectory: string;
  readonly hostNetwork: boolean;
}

export interface ContainerRecord {
  readonly id: string;
  readonly sandboxId: string;
  readonly metadata: cri.ContainerMetadata;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly createdAt: string;
  /** ImageSpec.image as the kubelet gave it. */
  readonly image: string;
  /** The digest reference (or ID) of the image the container was created from. */
  readonly imageRef: string;
  /** Full CRI log path (sandbox log_directory + container log_path); empty when the kubelet asked for none. */
  readonly logPath: string;
  readonly mounts: cri.ContainerConfig['mounts'];
  /** Resolved at create (identity.ts); absent for older containers and for images only Docker holds. */
  readonly user?: ContainerIdentity;
}

/** The identity a container's process runs as, resolved at create by the shared CRI rule (identity.ts). */
export interface ContainerIdentity {
  readonly uid: number;
  readonly gid: number;
  /** Every supplementary group of the process, the primary gid first (as processUser orders them). */
  readonly groups: number[];
}

const EMPTY_POD_META: cri.PodSandboxMetadata = { name: '', uid: '', namespace: '', attempt: 0 };
const EMPTY_CTR_META: cri.ContainerMetadata = { name: '', attempt: 0 };

function common(
  kind: 'sandbox' | 'container',
  id: string,
  createdAt: string,
  src: {
    metadata: unknown;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  },
): Record<string, string> {
  return {
    ...visibleLabels(src.labels),
    [LABEL.version]: LABEL_VERSION,
    [LABEL.kind]: kind,
    [LABEL.id]: id,
    [LABEL.createdAt]: createdAt,
    [LABEL.metadata]: JSON.stringify(src.metadata),
    [LABEL.labels]: JSON.stringify(src.labels),
    [LABEL.annotations]: JSON.stringify(src.annotations),
  };
}

export function sandboxLabels(
  id: string,
  handler: string,
  createdAt: string,
  config: cri.PodSandboxConfig,
): Record<string, string> {
  const ns = config.linux?.security_context?.namespace_options;
  const namespaceOptions: NamespaceOptions = {
    network: ns?.network ?? 'POD',
    pid: ns?.pid ?? 'POD',
    ipc: ns?.ipc ?? 'POD',
  };
  return {
    ...common('sandbox', id, createdAt, config),
    [LABEL.handler]: handler,
    [LABEL.namespaceOptions]: JSON.stringify(namespaceOptions),
    [LABEL.logDirectory]: config.log_directory,
    [LABEL.hostNetwork]: String(namespaceOptions.network === 'NODE'),
  };
}

export function readSandbox(labels: Labels): SandboxRecord | undefined {
  const id = labels?.[LABEL.id];
  if (!labels || !id || labels[LABEL.kind] !== 'sandbox') return undefined;
  return {
    id,
    handler: labels[LABEL.handler] ?? '',
    metadata: jsonLabel(labels, LABEL.metadata, EMPTY_POD_META),
    labels: jsonLabel(labels, LABEL.labels, {}),
    annotations: jsonLabel(labels, LABEL.annotations, {}),
    createdAt: labels[LABEL.createdAt] ?? '0',
    namespaceOptions: jsonLabel<NamespaceOptions>(labels, LABEL.namespaceOptions, {
      network: 'POD',
      pid: 'POD',
      ipc: 'POD',
    }),
    logDirectory: labels[LABEL.logDirectory] ?? '',
    hostNetwork: labels[LABEL.hostNetwork] === 'true',
  };
}

export interface ContainerLabelInput {
  readonly id: string;
  readonly sandboxId: string;
  readonly createdAt: string;
  readonly config: cri.ContainerConfig;
  readonly imageRef: string;
  readonly logPath: string;
  readonly user?: ContainerIdentity;
}

export function containerLabels(i: ContainerLabelInput): Record<string, string> {
  return {
    ...common('container', i.id, i.createdAt, i.config),
    [LABEL.sandboxId]: i.sandboxId,
    [LABEL.image]: i.config.image?.image ?? '',
    [LABEL.imageRef]: i.imageRef,
    [LABEL.logPath]: i.logPath,
    [LABEL.mounts]: JSON.stringify(i.config.mounts),
    ...(i.user ? { [LABEL.user]: JSON.stringify(i.user) } : {}),
  };
}

export function readContainer(labels: Labels): ContainerRecord | undefined {
  const id = labels?.[LABEL.id];
  if (!labels || !id || labels[LABEL.kind] !== 'container') return undefined;
  const rec: ContainerRecord = {
    id,
    sandboxId: labels[LABEL.sandboxId] ?? '',
    metadata: jsonLabel(labels, LABEL.metadata, EMPTY_CTR_META),
    labels: jsonLabel(labels, LABEL.labels, {}),
    annotations: jsonLabel(labels, LABEL.annotations, {}),
    createdAt: labels[LABEL.createdAt] ?? '0',
    image: labels[LABEL.image] ?? '',
    imageRef: labels[LABEL.imageRef] ?? '',
    logPath: labels[LABEL.logPath] ?? '',
    mounts: jsonLabel(labels, LABEL.mounts, []),
  };
  const user = parseIdentity(jsonLabel<unknown>(labels, LABEL.user, undefined));
  return user ? { ...rec, user } : rec;
}

/** A recorded identity read back; undefined unless it has the shape written (a label is only text: never throws). */
function parseIdentity(v: unknown): ContainerIdentity | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { uid, gid, groups } = v as Record<string, unknown>;
  const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
  if (!isId(uid) || !isId(gid) || !Array.isArray(groups) || !groups.every(isId)) return undefined;
  return { uid, gid, groups: [...groups] };
}

/**
 * How crimux objects are written into Docker, so that everything can be rebuilt from Docker alone (cri-dockerd's
 * core/naming.go idea): a readable name per container, and labels carrying the crimux ID and the CRI fields.
 *
 *   sandbox   k8s_POD_<pod>_<namespace>_<uid>_<attempt>
 *   container k8s_<container>_<pod>_<namespace>_<uid>_<attempt>
 *
 * The crimux ID (allocated by the router) is the CRI ID and lives in the `io.crimux.id` label; Docker's own ID stays
 * internal. Names are for humans (`docker ps`) and make a duplicate pod attempt collide in Docker; the labels are the
 * source of truth, because a name cannot carry labels/annotations and name parts are sanitised.
 * NOTE: image labels are merged into container labels by Docker, so CRI labels are read back from the JSON label,
 * never from the raw Docker labels (which also carry them verbatim, for `docker ps --filter label=…`).
 */

export const LABEL = {
  /** Schema version of these labels; bump when their meaning changes. */
  version: 'io.crimux.version',
  id: 'io.crimux.id',
  kind: 'io.crimux.kind',
  sandboxId: 'io.crimux.sandbox-id',
  handler: 'io.crimux.handler',
  metadata: 'io.crimux.metadata',
  labels: 'io.crimux.labels',
  annotations: 'io.crimux.annotations',
  createdAt: 'io.crimux.created-at',
  logDirectory: 'io.crimux.log-directory',
  logPath: 'io.crimux.log-path',
  image: 'io.crimux.image',
  imageRef: 'io.crimux.image-ref',
  namespaceOptions: 'io.crimux.namespace-options',
  mounts: 'io.crimux.mounts',
  hostNetwork: 'io.crimux.host-network',
  /** uid, gid and supplementary groups of the container's process, resolved at create (identity.ts). */
  user: 'io.crimux.user',
  /** The daemon that made the object (its docker state dir): one dockerd may serve several crimux daemons. */
  owner: 'io.crimux.owner',
} as const;

export const LABEL_VERSION = '1';
const RESERVED_PREFIX = 'io.crimux.';
const PREFIX = 'k8s';
const SANDBOX_MARK = 'POD';

export type ObjectKind = 'sandbox' | 'container';

/** Docker names allow [a-zA-Z0-9_.-]; `_` separates parts, so it is replaced too. */
export function sanitizePart(part: string): string {
  return part.replace(/[^a-zA-Z0-9.-]/g, '-');
}

export interface PodMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt: number;
}

export interface ParsedName {
  readonly kind: ObjectKind;
  /** Absent for sandboxes. */
  readonly container?: string;
  readonly pod: string;
  readonly namespace: string;
  readonly uid: string;
  readonly attempt: number;
}

export function sandboxName(pod: PodMeta): string {
  return [PREFIX, SANDBOX_MARK, pod.name, pod.namespace, pod.uid].map(sanitizePart).join('_') + `_${pod.attempt}`;
}

export function containerName(container: { name: string; attempt: number }, pod: PodMeta): string {
  const parts = [PREFIX, container.name, pod.name, pod.namespace, pod.uid].map(sanitizePart);
  return parts.join('_') + `_${container.attempt}`;
}

/** Parses a name written by sandboxName/containerName (Docker prefixes names with "/"); null for others. */
export function parseName(raw: string): ParsedName | null {
  const parts = raw.replace(/^\//, '').split('_');
  if (parts.length !== 6 || parts[0] !== PREFIX) return null;
  const [, first, pod, namespace, uid, attemptText] = parts as [string, string, string, string, string, string];
  if (!/^\d+$/.test(attemptText)) return null;
  const attempt = Number(attemptText);
  if (first === SANDBOX_MARK) return { kind: 'sandbox', pod, namespace, uid, attempt };
  return { kind: 'container', container: first, pod, namespace, uid, attempt };
}

/** Label filters that select every crimux object of a kind (and optionally one ID or sandbox). */
export function selector(kind: ObjectKind, extra: { id?: string; sandboxId?: string } = {}): string[] {
  const out = [`${LABEL.kind}=${kind}`];
  if (extra.id !== undefined) out.push(`${LABEL.id}=${extra.id}`);
  if (extra.sandboxId !== undefined) out.push(`${LABEL.sandboxId}=${extra.sandboxId}`);
  return out;
}

/** CRI labels copied verbatim for Docker tooling; crimux's own prefix is reserved and skipped. */
export function visibleLabels(criLabels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(criLabels)) if (!k.startsWith(RESERVED_PREFIX)) out[k] = v;
  return out;
}

/** A JSON label back as an object; a missing or broken label yields `fallback` (never throws on listing). */
export function jsonLabel<T>(labels: Record<string, string> | null | undefined, key: string, fallback: T): T {
  const raw = labels?.[key];
  if (raw === undefined) return fallback;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return fallback;
  }
}

/**
 * The CRI list filters, applied once by the router to the merged entries of every backend:
 * every set field must match; label_selector requires each key to be present with the given value. ID fields are
 * full IDs by the time they get here (the router resolves short prefixes first).
 */
import type * as cri from '../cri/types';

export interface SandboxFilterSpec {
  id?: string;
  state?: string;
  labelSelector?: Record<string, string>;
}

export interface ContainerFilterSpec {
  id?: string;
  state?: string;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export function labelsMatch(
  labels: Record<string, string> | undefined,
  selector: Record<string, string> | undefined,
): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

export function matchSandbox(s: cri.PodSandbox, f: SandboxFilterSpec): boolean {
  if (f.id && s.id !== f.id) return false;
  if (f.state && String(s.state) !== f.state) return false;
  return labelsMatch(s.labels, f.labelSelector);
}

export function matchContainer(c: cri.Container, f: ContainerFilterSpec): boolean {
  if (f.id && c.id !== f.id) return false;
  if (f.podSandboxId && c.pod_sandbox_id !== f.podSandboxId) return false;
  if (f.state && String(c.state) !== f.state) return false;
  return labelsMatch(c.labels, f.labelSelector);
}

/** From the wire filter; undefined fields mean "any". */
export function sandboxFilterSpec(f: cri.PodSandboxFilter | null | undefined): SandboxFilterSpec {
  if (!f) return {};
  return {
    ...(f.id ? { id: f.id } : {}),
    ...(f.state ? { state: String(f.state.state) } : {}),
    ...(Object.keys(f.label_selector ?? {}).length ? { labelSelector: f.label_selector } : {}),
  };
}

export function containerFilterSpec(f: cri.ContainerFilter | null | undefined): ContainerFilterSpec {
  if (!f) return {};
  return {
    ...(f.id ? { id: f.id } : {}),
    ...(f.state ? { state: String(f.state.state) } : {}),
    ...(f.pod_sandbox_id ? { podSandboxId: f.pod_sandbox_id } : {}),
    ...(Object.keys(f.label_selector ?? {}).length ? { labelSelector: f.label_selector } : {}),
  };
}

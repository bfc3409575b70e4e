/**
 * One dockerd, several crimux daemons (two nodes' worth of crimux on one host, or a test next to a service): each
 * daemon sees only its own objects. Every container crimux creates carries its owner (the daemon's docker state
 * dir, unique per daemon on a host), and every listing drops containers of another owner. Without this, a
 * restart's reconcile adopted the other daemon's pods as orphans, and its kubelet's cleanup removed them.
 * Containers without the label predate it: visible only to the daemon on the default state dir (the one daemon an
 * installed node had before the label), so an upgrade orphans nothing and a second daemon never adopts them.
 */
import type { DockerEngine } from './engine-client';
import { LABEL } from './naming';

export function scopeToOwner(engine: DockerEngine, owner: string, seesUnlabelled: boolean): DockerEngine {
  const mine = (labels: Record<string, string> | null): boolean => {
    const o = labels?.[LABEL.owner];
    return o === undefined ? seesUnlabelled : o === owner;
  };
  const overrides: Partial<DockerEngine> = {
    createContainer: (name, body, signal) =>
      engine.createContainer(name, { ...body, Labels: { ...body.Labels, [LABEL.owner]: owner } }, signal),
    listContainers: async (labels, signal) =>
      (await engine.listContainers(labels, signal)).filter((c) => mine(c.Labels)),
  };
  return new Proxy(engine, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof DockerEngine];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

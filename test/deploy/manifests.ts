/** Where deploy/ lives and how tests get at the objects and configs it ships (built with ./kustomize). */
import fs from 'node:fs';
import path from 'node:path';
import { build, type KObject } from './kustomize';

export const REPO = path.resolve(__dirname, '..', '..');
export const DEPLOY = path.join(REPO, 'deploy');
/** Kustomization roots: everything, without operator CRDs, and the overlay. */
export const ROOTS = ['.', 'base', 'monitoring', 'overlays/multi-runtime'];

export function buildRoot(rel: string): KObject[] {
  return build(path.join(DEPLOY, rel));
}

export function find(objects: KObject[], kind: string, name: string): KObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name}`);
  return o;
}

/** A data key of the crimux-config ConfigMap of a built root (crimux.json or 10-crimux.conflist). */
export function configData(objects: KObject[], key: string): string {
  const data = find(objects, 'ConfigMap', 'crimux-config').data as Record<string, string> | undefined;
  const v = data?.[key];
  if (v === undefined) throw new Error(`crimux-config has no ${key}`);
  return v;
}

/** Every file under deploy/ with one of the extensions, relative to deploy/. */
export function deployFiles(...exts: string[]): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(DEPLOY, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else if (exts.some((x) => e.name.endsWith(x))) out.push(p);
    }
  };
  walk('');
  return out.sort();
}

/**
 * A small kustomize for the tests: builds a kustomization directory into its objects the way `kustomize build`
 * does, for exactly the features deploy/ uses — resources (files and directories), configMapGenerator with
 * files and disableNameSuffixHash, strategic-merge patches of maps, and JSON 6902 patches with a target. Any other
 * field or patch shape throws, so a kustomization that starts using more than this fails its test instead of
 * being half-resolved. (No kustomize exists on npm; where kubectl is installed the tests compare with it.)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';

export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const KUSTOMIZATION_KEYS = ['apiVersion', 'kind', 'resources', 'patches', 'configMapGenerator'];

export function objectId(o: KObject): string {
  return `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** All YAML documents of a file, empty ones skipped. */
export function loadYamlDocs(file: string): unknown[] {
  return YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as unknown;
    })
    .filter((d) => d !== null && d !== undefined);
}

function asObject(v: unknown, where: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: expected a mapping`);
  return v as JsonObject;
}

function onlyKeys(obj: JsonObject, allowed: string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw new Error(`${where}: "${k}" is not supported here`);
}

function asKObject(v: unknown, where: string): KObject {
  const o = asObject(v, where);
  const meta = o.metadata as JsonObject | undefined;
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string' || typeof meta?.name !== 'string') {
    throw new Error(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  return o as unknown as KObject;
}

/** Builds the kustomization in dir; returns its objects in resource order. */
export function build(dir: string): KObject[] {
  const file = path.join(dir, 'kustomization.yaml');
  const k = asObject(YAML.parse(fs.readFileSync(file, 'utf8')), file);
  onlyKeys(k, KUSTOMIZATION_KEYS, file);
  const out: KObject[] = [];
  for (const r of (k.resources as string[] | undefined) ?? []) {
    const p = path.resolve(dir, r);
    if (!fs.existsSync(p)) throw new Error(`${file}: resource ${r} does not exist`);
    if (fs.statSync(p).isDirectory()) out.push(...build(p));
    else out.push(...loadYamlDocs(p).map((d, i) => asKObject(d, `${p}#${i}`)));
  }
  for (const g of (k.configMapGenerator as Json[] | undefined) ?? [])
    out.push(generateConfigMap(dir, asObject(g, file)));
  const ids = new Set<string>();
  for (const o of out) {
    if (ids.has(objectId(o))) throw new Error(`${file}: ${objectId(o)} is defined twice`);
    ids.add(objectId(o));
  }
  for (const p of (k.patches as Json[] | undefined) ?? []) applyPatch(dir, asObject(p, file), out);
  return out;
}

function generateConfigMap(dir: string, g: JsonObject): KObject {
  const where = `${dir}: configMapGenerator ${String(g.name)}`;
  onlyKeys(g, ['name', 'namespace', 'files', 'options'], where);
  const options = asObject(g.options ?? {}, where);
  onlyKeys(options, ['disableNameSuffixHash', 'labels'], where);
  // The name hash kustomize appends is not reproduced here; deploy/ disables it (Grafana finds the dashboard by
  // label, and nothing references the ConfigMap by name).
  if (options.disableNameSuffixHash !== true) throw new Error(`${where}: name suffix hashes are not supported`);
  const data: Record<string, string> = {};
  for (const f of (g.files as string[] | undefined) ?? []) {
    const [key, rel] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [path.basename(f), f];
    data[key] = fs.readFileSync(path.resolve(dir, rel), 'utf8');
  }
  const metadata: KObject['metadata'] = { name: String(g.name) };
  if (typeof g.namespace === 'string') metadata.namespace = g.namespace;
  if (options.labels) metadata.labels = options.labels as Record<string, string>;
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data };
}

function applyPatch(dir: string, p: JsonObject, objects: KObject[]): void {
  onlyKeys(p, ['path', 'target'], `${dir}: patch`);
  const file = path.resolve(dir, String(p.path));
  const body = YAML.parse(fs.readFileSync(file, 'utf8')) as Json;
  if (Array.isArray(body)) {
    const target = asObject(p.target, `${file}: a JSON 6902 patch needs a target`);
    onlyKeys(target, ['group', 'version', 'kind', 'name', 'namespace'], `${file}: target`);
    const matches = objects.filter((o) => {
      const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
      return (
        (target.group === undefined || target.group === group) &&
        (target.version === undefined || target.version === version) &&
        (target.kind === undefined || target.kind === o.kind) &&
        (target.name === undefined || target.name === o.metadata.name) &&
        (target.namespace === undefined || target.namespace === o.metadata.namespace)
      );
    });
    if (matches.length === 0) throw new Error(`${file}: the target matches no object`);
    for (const o of matches) applyJson6902(o as unknown as JsonObject, body, file);
    return;
  }
  if (p.target !== undefined)
    throw new Error(`${file}: strategic-merge patches are matched by their own kind/name here`);
  const patch = asKObject(body, file);
  const o = objects.find(
    (x) =>
      x.apiVersion === patch.apiVersion &&
      x.kind === patch.kind &&
      x.metadata.name === patch.metadata.name &&
      (x.metadata.namespace ?? '') === (patch.metadata.namespace ?? ''),
  );
  if (!o) throw new Error(`${file}: no ${patch.kind} ${patch.metadata.name} to patch`);
  mergeMaps(o as unknown as JsonObject, patch as unknown as JsonObject, file);
}

/** Strategic merge for maps: keys merge recursively, null deletes; lists and $patch directives are refused. */
function mergeMaps(into: JsonObject, patch: JsonObject, where: string): void {
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) throw new Error(`${where}: directive ${k} is not supported`);
    if (Array.isArray(v)) throw new Error(`${where}: list field ${k}: list merging is not supported (use JSON 6902)`);
    if (v === null) delete into[k];
    else if (typeof v === 'object' && typeof into[k] === 'object' && into[k] !== null && !Array.isArray(into[k])) {
      mergeMaps(into[k] as JsonObject, v, where);
    } else into[k] = v;
  }
}

function applyJson6902(doc: JsonObject, ops: Json[], where: string): void {
  for (const raw of ops) {
    const op = asObject(raw, where);
    onlyKeys(op, ['op', 'path', 'value'], where);
    const tokens = String(op.path)
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error(`${where}: empty path`);
    let parent: Json = doc;
    for (const t of tokens) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(t)] : (parent as JsonObject)[t];
      if (next === undefined || next === null || typeof next !== 'object')
        throw new Error(`${where}: ${String(op.path)} does not exist`);
      parent = next;
    }
    const container = parent as JsonObject | Json[];
    const has = Array.isArray(container) ? Number(last) < container.length : last in container;
    const get = (): Json | undefined => (Array.isArray(container) ? container[Number(last)] : container[last]);
    switch (op.op) {
      case 'test':
        if (JSON.stringify(get()) !== JSON.stringify(op.value))
          throw new Error(`${where}: test of ${String(op.path)} failed`);
        break;
      case 'remove':
        if (!has) throw new Error(`${where}: remove of missing ${String(op.path)}`);
        if (Array.isArray(container)) container.splice(Number(last), 1);
        else delete container[last];
        break;
      case 'replace':
        if (!has) throw new Error(`${where}: replace of missing ${String(op.path)}`);
        if (Array.isArray(container)) container[Number(last)] = op.value as Json;
        else container[last] = op.value as Json;
        break;
      case 'add':
        if (Array.isArray(container))
          container.splice(last === '-' ? container.length : Number(last), 0, op.value as Json);
        else container[last] = op.value as Json;
        break;
      default:
        throw new Error(`${where}: op ${String(op.op)} is not supported`);
    }
  }
}

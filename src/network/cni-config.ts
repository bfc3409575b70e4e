/**
 * CNI network configuration (CNI spec, section 1): finding and parsing the pod network's configuration list and
 * the plugin binaries it names. Like libcni, the lexically first file of the conf dir ending in .conflist, .conf
 * or .json is the network; a single-plugin .conf is upgraded to a list of one. Unlike libcni, an invalid file is
 * skipped with a warning so one bad file does not take pod networking down while a valid one follows it.
 */
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, UnavailableError } from '../errors';
import type { Logger } from '../log/logger';

/** One plugin of a list: `type` names the binary; every other key is the plugin's own. */
export interface CniPluginConf {
  readonly type: string;
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly [key: string]: unknown;
}

export interface CniNetworkList {
  readonly cniVersion: string;
  readonly name: string;
  readonly disableCheck: boolean;
  readonly plugins: readonly CniPluginConf[];
  /** The file it came from (for messages); "" when parsed from a cache. */
  readonly file: string;
}

const EXTENSIONS = ['.conflist', '.conf', '.json'];
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Parse a .conflist (or, with single=true, a .conf) text; InvalidArgumentError says what is wrong. */
export function parseNetworkList(text: string, file: string, single = false): CniNetworkList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`parse CNI config ${file}: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(raw)) throw new InvalidArgumentError(`parse CNI config ${file}: not a JSON object`);
  // A .conf is a single plugin; its network keys become the list's (libcni's ConfListFromConf).
  const list: Record<string, unknown> = single ? upgrade(raw) : raw;
  const { name, cniVersion, plugins } = list;
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) {
    throw new InvalidArgumentError(`parse CNI config ${file}: "name" must match ${NETWORK_NAME.source}`);
  }
  if (typeof cniVersion !== 'string' || !/^\d+\.\d+\.\d+$/.test(cniVersion)) {
    throw new InvalidArgumentError(`parse CNI config ${file}: "cniVersion" must be a version like 1.0.0`);
  }
  if (!Array.isArray(plugins) || plugins.length === 0) {
    throw new InvalidArgumentError(`parse CNI config ${file}: "plugins" must be a non-empty array`);
  }
  for (const [i, p] of plugins.entries()) {
    if (!isObject(p) || typeof p.type !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(p.type)) {
      throw new InvalidArgumentError(`parse CNI config ${file}: plugins[${i}] needs a plain "type" (binary name)`);
    }
  }
  return {
    cniVersion,
    name,
    disableCheck: list.disableCheck === true || list.disableCheck === 'true',
    plugins: plugins as CniPluginConf[],
    file,
  };
}

function upgrade(conf: Record<string, unknown>): Record<string, unknown> {
  return { cniVersion: conf.cniVersion, name: conf.name, plugins: [conf] };
}

/** The network list of confDir: the first valid file in lexical order. UnavailableError when none. */
export async function loadNetworkList(confDir: string, log?: Logger): Promise<CniNetworkList> {
  let names: string[];
  try {
    names = await fs.readdir(confDir);
  } catch (err) {
    throw new UnavailableError(`load CNI config: cannot read ${confDir}: ${(err as Error).message}`, { cause: err });
  }
  const files = names.filter((n) => EXTENSIONS.includes(path.extname(n))).sort();
  const problems: string[] = [];
  for (const name of files) {
    const file = path.join(confDir, name);
    try {
      const text = await fs.readFile(file, 'utf8');
      return parseNetworkList(text, file, path.extname(name) !== '.conflist');
    } catch (err) {
      const msg = (err as Error).message;
      problems.push(msg);
      log?.warn('skip invalid CNI config', { file, error: msg });
    }
  }
  const why = problems.length > 0 ? `: ${problems.join('; ')}` : '';
  throw new UnavailableError(`load CNI config: no valid network config in ${confDir}${why}`);
}

/** The executable for a plugin type: the first of binDirs holding it, or undefined. */
export async function findPlugin(type: string, binDirs: readonly string[]): Promise<string | undefined> {
  for (const dir of binDirs) {
    const file = path.join(dir, type);
    try {
      await fs.access(file, fsc.X_OK);
      if ((await fs.stat(file)).isFile()) return file;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

/** Subnets the list's IPAM hands out (host-local "subnet" and "ranges"), for the egress guard. */
export function ipamSubnets(list: CniNetworkList): string[] {
  const out = new Set<string>();
  for (const p of list.plugins) {
    const ipam = p.ipam;
    if (!isObject(ipam)) continue;
    if (typeof ipam.subnet === 'string') out.add(ipam.subnet);
    if (Array.isArray(ipam.ranges)) {
      for (const set of ipam.ranges) {
        if (!Array.isArray(set)) continue;
        for (const r of set) if (isObject(r) && typeof r.subnet === 'string') out.add(r.subnet);
      }
    }
  }
  return [...out];
}

/** Compare dotted versions: negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

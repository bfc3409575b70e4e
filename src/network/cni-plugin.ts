/**
 * One CNI plugin invocation's pieces: the stdin config (with runtimeConfig and prevResult), the spec's error
 * object turned into an error, and the checks the client makes before calling plugins.
 */
import fs from 'node:fs/promises';
import { InternalError } from '../errors';
import { isObject, type CniNetworkList, type CniPluginConf } from './cni-config';
import type { CniCacheEntry } from './cni-cache';
import type { CniResult, PodNetwork } from './cni-types';

const NSFS_MAGIC = 0x6e736673;

/** What every plugin call of one operation shares. */
export interface Invocation {
  readonly pod: PodNetwork;
  readonly ifName: string;
  readonly netns: string;
  readonly list: CniCacheEntry['config'];
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
}

/** The JSON a plugin reads on stdin: its own config plus the list's name and version, runtimeConfig, prevResult. */
export function pluginConf(
  inv: Invocation,
  plugin: CniPluginConf,
  prev: CniResult | undefined,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: inv.list.name, cniVersion: inv.list.cniVersion };
  const runtimeConfig: Record<string, unknown> = isObject(plugin.runtimeConfig) ? { ...plugin.runtimeConfig } : {};
  let any = false;
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    if (on === true && inv.capabilityArgs[cap] !== undefined) {
      runtimeConfig[cap] = inv.capabilityArgs[cap];
      any = true;
    }
  }
  if (any) conf.runtimeConfig = runtimeConfig;
  if (prev) conf.prevResult = prev;
  else delete conf.prevResult;
  return conf;
}

/** Binaries a list needs: each plugin's type and its IPAM plugin's type. */
export function binariesOf(list: CniNetworkList): string[] {
  const out = new Set<string>();
  for (const p of list.plugins) {
    out.add(p.type);
    if (isObject(p.ipam) && typeof p.ipam.type === 'string') out.add(p.ipam.type);
  }
  return [...out];
}

/** An InternalError carrying the spec's error object (code, msg, details) when the plugin printed one. */
export function pluginError(what: string, code: number | null, stdout: string, stderr: string): InternalError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout || stderr);
  } catch {
    parsed = undefined;
  }
  if (isObject(parsed) && (typeof parsed.msg === 'string' || typeof parsed.code === 'number')) {
    const details = typeof parsed.details === 'string' && parsed.details ? ` (${parsed.details})` : '';
    return new InternalError(`${what}: plugin error ${String(parsed.code)}: ${String(parsed.msg)}${details}`, {
      context: { cniCode: parsed.code, exitCode: code },
    });
  }
  const text = (stderr.trim() || stdout.trim()).split('\n').slice(0, 3).join(' | ') || `exit code ${code}`;
  return new InternalError(`${what}: ${text}`, { context: { exitCode: code } });
}

/** Whether p is a network namespace file (a bind mount like ours, or /proc/PID/ns/net). */
export async function isNetns(p: string): Promise<boolean> {
  if (!p) return false;
  try {
    return (await fs.statfs(p)).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

/**
 * The CNI result cache: per pod attachment, the network config, arguments and ADD Result crimux used, so that
 * CHECK and DEL (also after a daemon restart, or after the conf dir changed) run with the same config and the
 * prevResult the spec requires. One JSON file per (container ID, interface), written atomically.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { InternalError } from '../errors';
import type { Logger } from '../log/logger';
import type { CniNetworkList, CniPluginConf } from './cni-config';
import type { CniResult } from './cni-types';

export interface CniCacheEntry {
  readonly kind: 'crimuxCniCacheV1';
  readonly containerId: string;
  readonly ifName: string;
  readonly netns: string;
  readonly config: {
    readonly cniVersion: string;
    readonly name: string;
    readonly disableCheck: boolean;
    readonly plugins: readonly CniPluginConf[];
  };
  readonly cniArgs: readonly (readonly [string, string])[];
  readonly capabilityArgs: Readonly<Record<string, unknown>>;
  /** Absent while the ADD is in flight (or if it crashed): DEL then runs without prevResult. */
  readonly result?: CniResult;
}

export class CniResultCache {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  private file(containerId: string, ifName: string): string {
    return path.join(this.dir, `${containerId}-${ifName}.json`);
  }

  /** The entry, or undefined when none (or unreadable: then DEL falls back to the current config). */
  async get(containerId: string, ifName: string): Promise<CniCacheEntry | undefined> {
    const file = this.file(containerId, ifName);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new InternalError(`read CNI cache ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const entry = JSON.parse(text) as CniCacheEntry;
      if (entry.kind !== 'crimuxCniCacheV1') throw new Error(`unknown kind ${String(entry.kind)}`);
      return entry;
    } catch (err) {
      this.log.warn('ignore corrupt CNI cache entry', { file, error: err });
      return undefined;
    }
  }

  async put(entry: CniCacheEntry): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(entry.containerId, entry.ifName);
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await fs.rename(tmp, file);
  }

  async delete(containerId: string, ifName: string): Promise<void> {
    await fs.rm(this.file(containerId, ifName), { force: true });
  }
}

/** The list as stored in a cache entry (without the file it came from). */
export function cachedConfig(list: CniNetworkList): CniCacheEntry['config'] {
  return { cniVersion: list.cniVersion, name: list.name, disableCheck: list.disableCheck, plugins: list.plugins };
}

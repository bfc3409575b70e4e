/** Small file helpers for the stage1's on-disk state: atomic writes, touch, optional stat/read. */
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../../../util/fs';

/** A crash never leaves a half-written manifest or spec; stage1 files are world-readable unless `mode` says not. */
export function writeAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  return writeFileAtomic(file, data, { mode });
}

/** Create (or re-create) an empty file: its mtime becomes a timestamp, as rkt's -created/-started files. */
export async function touchNew(file: string): Promise<void> {
  await fs.rm(file, { force: true });
  await fs.writeFile(file, '');
}

/** mtime in nanoseconds (decimal string) or undefined when the path is missing (stat follows symlinks). */
export async function mtimeNs(file: string): Promise<string | undefined> {
  try {
    return (await fs.stat(file, { bigint: true })).mtimeNs.toString();
  } catch {
    return undefined;
  }
}

export async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

export async function readJson<T>(file: string): Promise<T | undefined> {
  const text = await readOptional(file);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** Directory entries, [] when the directory is missing. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}

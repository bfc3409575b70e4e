/**
 * Health probes that ask a binary about itself (`conmon --version`, `systemd-nspawn --version`) without spawning
 * it at every probe: the health loop asks every couple of seconds, and a process per probe was most of what an
 * idle daemon cost. The answer is kept while the binary is the same file (looked at every time, so one removed or
 * replaced is noticed at the next probe) and for at most maxAgeMs (30 s: a library it needs may go away too).
 * Failures are never kept: a binary installed later is noticed at once.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UnavailableError } from '../errors';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where a bare command name was last found in PATH: looked at first next time (one stat, not one per PATH entry). */
const foundAt = new Map<string, string>();

async function executableIdentity(file: string): Promise<string | undefined> {
  try {
    const st = await fs.stat(file);
    // Any execute bit: what exec needs of a file for root, which crimux runs as.
    return st.isFile() && (st.mode & 0o111) !== 0 ? `${st.dev}:${st.ino}:${st.mtimeMs}:${st.size}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Identity of the file a command runs (a name without a slash is looked up in PATH, as spawn does): device,
 * inode, mtime and size. Rejects with Unavailable when no executable file is found.
 */
export async function commandIdentity(file: string): Promise<string> {
  if (file.includes('/')) {
    const id = await executableIdentity(file);
    if (id) return id;
  } else {
    const last = foundAt.get(file);
    const lastId = last ? await executableIdentity(last) : undefined;
    if (lastId) return lastId;
    for (const dir of (process.env.PATH ?? DEFAULT_PATH).split(':').filter(Boolean)) {
      const candidate = path.join(dir, file);
      const id = await executableIdentity(candidate);
      if (id) {
        foundAt.set(file, candidate);
        return id;
      }
    }
  }
  throw new UnavailableError(`${file}: no executable found`);
}

export class BinaryProbe<T> {
  private kept: { identity: string; at: number; value: T } | undefined;

  constructor(
    private readonly file: string,
    private readonly ask: (signal?: AbortSignal) => Promise<T>,
    private readonly maxAgeMs = 30_000,
  ) {}

  async get(signal?: AbortSignal): Promise<T> {
    const identity = await commandIdentity(this.file);
    const k = this.kept;
    if (k && k.identity === identity && Date.now() - k.at < this.maxAgeMs) return k.value;
    this.kept = undefined;
    const value = await this.ask(signal);
    this.kept = { identity, at: Date.now(), value };
    return value;
  }
}

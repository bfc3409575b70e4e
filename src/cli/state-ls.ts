/** `crimux state ls`: the ownership records, read from the store file read-only (safe while the daemon runs). */
import { loadConfig } from '../config/load';
import { SqliteOwnershipStore } from '../state/sqlite-store';
import { table } from './config-check';

export function stateLs(flags: { config?: string; 'state-dir'?: string; json?: boolean }): number {
  const config = loadConfig({
    ...(flags.config ? { file: flags.config } : {}),
    overrides: { stateDir: flags['state-dir'] },
  });
  const store = new SqliteOwnershipStore({ dir: config.stateDir, readonly: true });
  try {
    const sandboxes = store.listSandboxes();
    const containers = store.listContainers();
    if (flags.json) {
      process.stdout.write(JSON.stringify({ sandboxes, containers }, null, 2) + '\n');
      return 0;
    }
    const short = (id: string): string => id.slice(0, 13);
    process.stdout.write(
      table(
        sandboxes.map((s) => ({
          sandbox: short(s.id),
          pod: `${s.namespace}/${s.name}`,
          attempt: String(s.attempt),
          backend: s.backend,
          handler: s.handler,
          phase: s.phase,
          reason: s.reason,
        })),
      ) + '\n\n',
    );
    process.stdout.write(
      table(
        containers.map((c) => ({
          container: short(c.id),
          sandbox: short(c.sandboxId),
          name: c.name,
          attempt: String(c.attempt),
          backend: c.backend,
          phase: c.phase,
          image: c.image,
        })),
      ) + '\n',
    );
    return 0;
  } finally {
    store.close();
  }
}

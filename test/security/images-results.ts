/**
 * Records the outcome of the hostile-image cases in bench/results/security/images.json, one JSON object per line
 * ({attack, backend, outcome}); a case run again replaces its own line, so the file holds the latest outcome of
 * each case and the renderer of the security table never sees duplicates.
 */
import fs from 'node:fs';
import path from 'node:path';

const FILE = path.resolve(__dirname, '..', '..', 'bench', 'results', 'security', 'images.json');

export interface SecurityOutcome {
  readonly attack: string;
  /** The backends the case covers (the shared OCI image store serves runc, vm and rkt). */
  readonly backend: string;
  readonly outcome: string;
}

export function recordOutcome(o: SecurityOutcome): void {
  fs.mkdirSync(path.dirname(FILE), { recursive: true });
  const lines = fs.existsSync(FILE) ? fs.readFileSync(FILE, 'utf8').split('\n').filter(Boolean) : [];
  const kept = lines.filter((l) => {
    try {
      const r = JSON.parse(l) as SecurityOutcome;
      return !(r.attack === o.attack && r.backend === o.backend);
    } catch {
      return false;
    }
  });
  kept.push(JSON.stringify({ attack: o.attack, backend: o.backend, outcome: o.outcome }));
  fs.writeFileSync(FILE, kept.join('\n') + '\n');
}

/** The backends a pull through the shared store covers. */
export const SHARED_STORE = 'runc, vm, rkt (shared OCI store)';

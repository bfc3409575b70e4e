/** `crimux config check FILE`: validate a config file and print the effective handler table. */
import { loadConfig } from '../config/load';

export function configCheck(file: string): number {
  const config = loadConfig({ file });
  const rows = Object.entries(config.handlers).map(([name, h]) => ({
    handler: name + (name === config.defaultHandler ? ' (default)' : ''),
    backend: h.backend,
    enabled: config.backends[h.backend]?.enabled ? 'yes' : 'no (backend disabled)',
    options: JSON.stringify(h.options ?? {}),
  }));
  const out: string[] = [`${file}: valid`, '', table(rows), ''];
  out.push(
    `annotation routing: OSContainer → ${config.routing.osContainerHandler}, untrusted → ${config.routing.untrustedHandler}`,
  );
  out.push(
    `pods needing host namespaces, when their handler cannot: → ${config.routing.hostNamespaceHandler || 'rejected'}`,
  );
  config.routing.rules.forEach((r, i) =>
    out.push(`rule ${i + 1} "${r.name}": ${JSON.stringify(r.match)} → ${r.handler}`),
  );
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

export function table(rows: Record<string, string>[]): string {
  const first = rows[0];
  if (!first) return '(none)';
  const cols = Object.keys(first);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => v.padEnd(width[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n');
}

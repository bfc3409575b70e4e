/**
 * Renders the security corpus results (bench/results/security/<area>.json, JSON lines of {attack, backend,
 * outcome} written by test/security/*.test.ts) into bench/results/security.json and a markdown table, and puts
 * the table into README.md between the security-table markers.
 *   node --import tsx bench/security-table.ts [--no-readme]
 */
import fs from 'node:fs';
import path from 'node:path';

interface Row {
  area: string;
  attack: string;
  backend: string;
  outcome: string;
}

const ROOT = path.resolve(__dirname, '..');
const DIR = path.join(ROOT, 'bench', 'results', 'security');
const START = '<!-- security-table:start -->';
const END = '<!-- security-table:end -->';

export function readResults(dir: string): Row[] {
  if (!fs.existsSync(dir)) return [];
  const rows: Row[] = [];
  for (const f of fs
    .readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const area = f.replace(/\.json$/, '');
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as Omit<Row, 'area'>;
      rows.push({ area, attack: r.attack, backend: r.backend, outcome: r.outcome });
    }
  }
  return rows;
}

const cell = (s: string): string => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

export function markdownTable(rows: readonly Row[]): string {
  const lines = ['| area | attack | backend | outcome |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${cell(r.area)} | ${cell(r.attack)} | ${cell(r.backend)} | ${cell(r.outcome)} |`);
  return lines.join('\n');
}

function main(): void {
  const rows = readResults(DIR);
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'security.json'), `${JSON.stringify(rows, null, 2)}\n`);
  const table = markdownTable(rows);
  process.stdout.write(`${table}\n`);
  if (process.argv.includes('--no-readme')) return;
  const readme = path.join(ROOT, 'README.md');
  const text = fs.readFileSync(readme, 'utf8');
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} block`);
  fs.writeFileSync(readme, `${text.slice(0, a + START.length)}\n${table}\n${text.slice(b)}`);
}

if (require.main === module) main();

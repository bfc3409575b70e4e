/**
 * Renders the conformance suite's per-handler results (bench/results/conformance.json, written by the suite
 * itself: test/conformance/results.ts) as the README's Markdown table.
 *   node --import tsx scripts/conformance-table.ts            print the table
 *   node --import tsx scripts/conformance-table.ts --readme   replace the table between the markers in README.md
 */
import fs from 'node:fs';
import path from 'node:path';
import { HANDLER_NAMES } from '../test/conformance/handlers';
import { readResults, type ResultsFile } from '../test/conformance/results';

const README = path.resolve(__dirname, '..', 'README.md');
const BEGIN = '<!-- conformance-table:begin (scripts/conformance-table.ts) -->';
const END = '<!-- conformance-table:end -->';

export function renderTable(data: ResultsFile): string {
  const rows = [
    '| handler | specs | pass | refused by design | known gaps (todo: fail / now pass) | fail | skipped |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const h of HANDLER_NAMES) {
    const c = data.counts[h];
    if (!c) continue;
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    rows.push(
      `| \`${h}\` | ${total} | ${c.pass} | ${c.refuse} | ${c['todo-fail']} / ${c['todo-pass']} | ${c.fail} | ${c.skip} |`,
    );
  }
  return `${rows.join('\n')}\n\n(from \`bench/results/conformance.json\`, ${data.updated})`;
}

function main(): void {
  const table = renderTable(readResults());
  if (!process.argv.includes('--readme')) {
    process.stdout.write(`${table}\n`);
    return;
  }
  const text = fs.readFileSync(README, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${BEGIN} … ${END} markers`);
  fs.writeFileSync(README, `${text.slice(0, start + BEGIN.length)}\n${table}\n${text.slice(end)}`);
}

if (require.main === module) main();

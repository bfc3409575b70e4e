/**
 * Part 6 of bench/router.ts (issue #15): what the `:authority` frame filter costs. Two CRI servers in this process,
 * identical but for the filter, answer Version from the same stub handler (so the filter's share is not diluted by
 * router work: a conservative figure). Clients: grpc-js in this process, and the grpc-go interop client (the
 * kubelet's library) in its own process, with the socket path as authority (only possible through the filter)
 * and with `localhost`. Calls alternate between the two servers one by one (grpc-go: within one process, over
 * two connections) so load on the shared machine hits both sides alike.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { CriServer } from '../src/cri/server';
import { nullLogger } from '../src/log/logger';
import type { RuntimeServiceHandlers } from '../src/cri/generated/runtime/v1/RuntimeService';
import type { ImageServiceHandlers } from '../src/cri/generated/runtime/v1/ImageService';
import { CriClient } from '../test/helpers/cri-client';
import { buildGoClient } from '../test/interop/go-client';
import { round, sample, summary } from './lib';

const run = promisify(execFile);
type Summary = ReturnType<typeof summary>;

export interface FilterCost {
  calls: number;
  grpcJs: { filtered: Summary; plain: Summary; costP50Pct: number };
  grpcGo: {
    pathFiltered: Summary;
    /** The unfiltered localhost calls alternated with pathFiltered. */
    pathBaseline: Summary;
    localhostFiltered: Summary;
    localhostPlain: Summary;
    costP50Pct: number;
    pathCostP50Pct: number;
  };
}

const pct = (a: number, b: number): number => round(((a - b) / b) * 100, 1);

/** Version latencies (ms) through `socket` with `authority`, alternating call by call with `against` (localhost). */
async function goCompare(
  bin: string,
  socket: string,
  against: string,
  n: number,
  authority?: string,
): Promise<[number[], number[]]> {
  const args = ['-socket', socket, '-bench-version', String(n), '-bench-against', against];
  if (authority) args.push('-authority', authority);
  const { stdout } = await run(bin, args, { timeout: 600_000 });
  const r = JSON.parse(stdout) as { latenciesUs: number[]; againstUs: number[] };
  return [r.latenciesUs.map((us) => us / 1000), r.againstUs.map((us) => us / 1000)];
}

/** Times f and g alternately, n calls each. */
async function alternate(
  n: number,
  f: () => Promise<unknown>,
  g: () => Promise<unknown>,
): Promise<[number[], number[]]> {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    a.push(...(await sample(1, f)));
    b.push(...(await sample(1, g)));
  }
  return [a, b];
}

export async function authorityFilterCost(dir: string, calls: number): Promise<FilterCost> {
  const version = (_call: unknown, cb: (e: null, v: object) => void): void =>
    cb(null, { version: '0.1.0', runtime_name: 'crimux', runtime_version: '0.1.0', runtime_api_version: 'v1' });
  const rt = { Version: version } as unknown as RuntimeServiceHandlers;
  const img = {} as ImageServiceHandlers;
  const base = { socketGroup: '', maxMessageBytes: 16 << 20, log: nullLogger() };
  const filteredSock = path.join(dir, 'filtered.sock');
  const plainSock = path.join(dir, 'plain.sock');
  const filtered = new CriServer({ ...base, socketPath: filteredSock }, rt, img);
  const plain = new CriServer({ ...base, socketPath: plainSock, authorityFilter: false }, rt, img);
  await filtered.listen();
  await plain.listen();
  const cf = new CriClient(filteredSock);
  const cp = new CriClient(plainSock);
  try {
    const viaFiltered = () => cf.rt('Version', {});
    const viaPlain = () => cp.rt('Version', {});
    await alternate(200, viaFiltered, viaPlain);
    const [jf, jp] = await alternate(calls, viaFiltered, viaPlain);
    const bin = await buildGoClient();
    const [gPath, gPathPlain] = await goCompare(bin, filteredSock, plainSock, calls);
    const [gLocalF, gLocalP] = await goCompare(bin, filteredSock, plainSock, calls, 'localhost');
    const [sjf, sjp, sgp, sgpp, sgf, sgl] = [jf, jp, gPath, gPathPlain, gLocalF, gLocalP].map(summary) as Summary[];
    return {
      calls,
      grpcJs: { filtered: sjf!, plain: sjp!, costP50Pct: pct(sjf!.p50, sjp!.p50) },
      grpcGo: {
        pathFiltered: sgp!,
        pathBaseline: sgpp!,
        localhostFiltered: sgf!,
        localhostPlain: sgl!,
        costP50Pct: pct(sgf!.p50, sgl!.p50),
        pathCostP50Pct: pct(sgp!.p50, sgpp!.p50),
      },
    };
  } finally {
    cf.close();
    cp.close();
    await filtered.drain(1000);
    await plain.drain(1000);
  }
}

export function filterCostMarkdown(r: FilterCost): string[] {
  const row = (what: string, s: Summary) => `| ${what} | ${s.p50} | ${s.p90} | ${s.p99} |`;
  return [
    '## `:authority` frame filter (Version round trip, stub handler, with and without the filter)',
    '',
    '| client, authority, server | p50 ms | p90 ms | p99 ms |',
    '|---|---:|---:|---:|',
    row('grpc-js (in process), localhost, with filter', r.grpcJs.filtered),
    row('grpc-js (in process), localhost, without filter', r.grpcJs.plain),
    row('grpc-go, socket path (kubelet ≤ 1.30), with filter', r.grpcGo.pathFiltered),
    row('grpc-go, localhost, without filter (alternated with the row above)', r.grpcGo.pathBaseline),
    row('grpc-go, localhost (kubelet ≥ 1.31), with filter', r.grpcGo.localhostFiltered),
    row('grpc-go, localhost, without filter', r.grpcGo.localhostPlain),
    '',
    `Cost of the filter at p50 for clients that send \`localhost\` (handed to grpc-js natively after their first ` +
      `request): grpc-js **${r.grpcJs.costP50Pct} %**, grpc-go **${r.grpcGo.costP50Pct} %** (target ≤ 5 %). For the ` +
      `socket-path form, which only works through the filter, each call costs ${r.grpcGo.pathCostP50Pct} % more at p50 ` +
      `than a localhost call to the unfiltered server (alternated call by call in one Go process). ${r.calls} calls per ` +
      'side; the machine is shared, so single runs move by a few percent.',
  ];
}

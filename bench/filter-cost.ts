/**
 * Part 6 of bench/router.ts (issue #15): what the `:authority` frame filter costs. Two CRI servers in this process,
 * identical but for the filter, answer Version from the same stub handler (so the filter's share is not diluted by
 * router work: a conservative figure). Clients: grpc-js in this process, and the grpc-go interop client (the
 * kubelet's library) in its own process, with the socket path as authority (only possible through the filter)
 * and with `localhost`. Blocks alternate between the sides so machine load hits them alike.
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
    localhostFiltered: Summary;
    localhostPlain: Summary;
    costP50Pct: number;
    pathCostP50Pct: number;
  };
}

const pct = (a: number, b: number): number => round(((a - b) / b) * 100, 1);

async function goSample(bin: string, socket: string, n: number, authority?: string): Promise<number[]> {
  const args = ['-socket', socket, '-bench-version', String(n), ...(authority ? ['-authority', authority] : [])];
  const { stdout } = await run(bin, args, { timeout: 300_000 });
  return (JSON.parse(stdout) as { latenciesUs: number[] }).latenciesUs.map((us) => us / 1000);
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
    for (const f of [viaFiltered, viaPlain]) await sample(200, f);
    const jf: number[] = [];
    const jp: number[] = [];
    for (let i = 0; i < 10; i++) {
      jf.push(...(await sample(calls / 10, viaFiltered)));
      jp.push(...(await sample(calls / 10, viaPlain)));
    }
    const bin = await buildGoClient();
    const gPath: number[] = [];
    const gLocalF: number[] = [];
    const gLocalP: number[] = [];
    for (let i = 0; i < 10; i++) {
      gPath.push(...(await goSample(bin, filteredSock, calls / 10)));
      gLocalF.push(...(await goSample(bin, filteredSock, calls / 10, 'localhost')));
      gLocalP.push(...(await goSample(bin, plainSock, calls / 10, 'localhost')));
    }
    const [sjf, sjp, sgp, sgf, sgl] = [jf, jp, gPath, gLocalF, gLocalP].map(summary) as Summary[];
    return {
      calls,
      grpcJs: { filtered: sjf!, plain: sjp!, costP50Pct: pct(sjf!.p50, sjp!.p50) },
      grpcGo: {
        pathFiltered: sgp!,
        localhostFiltered: sgf!,
        localhostPlain: sgl!,
        costP50Pct: pct(sgf!.p50, sgl!.p50),
        pathCostP50Pct: pct(sgp!.p50, sgl!.p50),
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
    row('grpc-go, localhost (kubelet ≥ 1.31), with filter', r.grpcGo.localhostFiltered),
    row('grpc-go, localhost, without filter', r.grpcGo.localhostPlain),
    '',
    `Filter cost at p50: grpc-js **${r.grpcJs.costP50Pct} %**, grpc-go **${r.grpcGo.costP50Pct} %** (socket-path form vs ` +
      `localhost without filter: ${r.grpcGo.pathCostP50Pct} %). Target: ≤ 5 %. ${r.calls} calls per side. Without the ` +
      'filter the socket-path form gets no answer at all.',
  ];
}

/**
 * Benchmark: the CRI server's per-RPC overhead by transport (issue #21 item 2) — crimux's gRPC layer on its own
 * HTTP/2 server (server.transport "lean", the default), the same layer on node:http2 ("direct"), grpc-js's server,
 * and containerd, for Version (the pure transport: answered from constants) and Status (answered from background
 * health probes).
 *
 *   npx tsx bench/transport.ts     (BENCH_CALLS=2000  BENCH_ROUNDS=3  to change)
 *
 * Both crimux daemons run as deployed (the compiled dist/, built first), with the same config apart from the
 * transport; containerd is a private one (bench/containerd.ts) when `containerd` is installed. The Go interop
 * client (grpc-go, the kubelet's library; test/interop/go -bench-rpcs) times pairs of runtimes, alternating
 * call by call so machine load hits both alike: direct vs containerd, grpc-js vs containerd, direct vs grpc-js,
 * and direct with the socket-path :authority of kubelet <= 1.30 (through the frame filter) vs containerd. Each
 * pair runs BENCH_ROUNDS times, in rotating order; the figures pool every round. Writes
 * bench/results/transport.json and .md. Not part of npm test.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../test/helpers/daemon';
import { startContainerd, type Containerd } from './containerd';
import { machine, round, summary, writeResults } from './lib';

const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RPCS = ['Version', 'Status'];
const ALONE = 'alone';

interface Side {
  name: string;
  socket: string;
  /** :authority for the first socket of a pair: undefined means the socket path (the Go client's default). */
  authority?: string;
}

/**
 * The floor of any gRPC server on node:http2: a plain Node process (no tsx, no crimux code) whose 'stream'
 * handler skips the request and answers every call with an empty message and grpc-status 0 — the same three
 * steps (respond, end with the message, trailers) as src/cri/direct, nothing else. What crimux's direct
 * transport costs above it is crimux's own.
 */
const FLOOR_SERVER = `
const http2 = require('node:http2');
const EMPTY = Buffer.alloc(5);
const server = http2.createServer();
server.on('stream', (stream) => {
  stream.on('data', () => {});
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true, sendDate: false });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(EMPTY);
  });
});
server.listen(process.argv[1], () => process.stdout.write('listening\\n'));
`;

async function startFloor(socket: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', FLOOR_SERVER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('node:http2 floor server did not start in 10 s')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return child;
}

/** One alternating run of `a` against `b` (b always dialled with authority localhost, as the client does). */
function pair(client: string, a: Side, b: Side | undefined, calls: number): Record<string, [number[], number[]]> {
  const args = ['-socket', a.socket, '-bench-rpcs', RPCS.join(','), '-bench-n', String(calls)];
  if (a.authority) args.push('-authority', a.authority);
  if (b) args.push('-bench-against', b.socket);
  const out = execFileSync(client, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 1_800_000 });
  const res = JSON.parse(out) as { rpcs: Record<string, { us: number[][] }> };
  const got: Record<string, [number[], number[]]> = {};
  for (const rpc of RPCS) {
    const r = res.rpcs[rpc];
    if (!r) throw new Error(`no result for ${rpc}`);
    got[rpc] = [(r.us[0] ?? []).map((us) => us / 1000), (r.us[1] ?? []).map((us) => us / 1000)];
  }
  return got;
}

async function main(): Promise<void> {
  const root = path.join(__dirname, '..');
  const client = execFileSync('bash', [path.join(root, 'scripts', 'build-go-client.sh')], { encoding: 'utf8' }).trim();
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
  const config = (transport: string) => ({ logLevel: 'error', server: { transport } });
  // The env wins over the config file: a CRIMUX_SERVER_TRANSPORT inherited from the shell must not make both alike.
  const unsetTransport = { CRIMUX_SERVER_TRANSPORT: undefined };
  const daemons: DaemonHandle[] = [];
  let ctr: Containerd | undefined;
  let floor: ChildProcess | undefined;
  const floorDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-bench-transport-'));
  let note = '';
  const samples: Record<string, Record<string, number[]>> = {};
  const add = (pairName: string, side: string, rpc: string, xs: number[]): void => {
    const key = `${pairName}|${side}`;
    samples[key] ??= {};
    (samples[key][rpc] ??= []).push(...xs);
  };
  try {
    const direct = await startDaemon({ built: true, config: config('direct'), env: { ...unsetTransport } });
    daemons.push(direct);
    const grpcjs = await startDaemon({ built: true, config: config('grpc-js'), env: { ...unsetTransport } });
    daemons.push(grpcjs);
    const lean = await startDaemon({ built: true, config: config('lean'), env: { ...unsetTransport } });
    daemons.push(lean);
    const sides: Side[] = [
      { name: 'direct', socket: direct.socket, authority: 'localhost' },
      { name: 'grpc-js', socket: grpcjs.socket, authority: 'localhost' },
      { name: 'lean', socket: lean.socket, authority: 'localhost' },
    ];
    if (spawnSync('which', ['containerd']).status === 0) {
      try {
        ctr = await startContainerd('127.0.0.1:5000');
        sides.push({ name: 'containerd', socket: ctr.socket });
      } catch (err) {
        note = `containerd not measured: ${(err as Error).message.split('\n')[0] ?? ''}`;
      }
    } else {
      note = 'containerd not installed: not measured';
    }
    floor = await startFloor(path.join(floorDir, 'floor.sock'));
    sides.push({ name: 'node:http2 floor', socket: path.join(floorDir, 'floor.sock'), authority: 'localhost' });
    const byName = (n: string): Side => sides.find((s) => s.name === n)!;
    const pairs: [Side, Side][] = [
      [byName('direct'), byName('grpc-js')],
      [byName('lean'), byName('grpc-js')],
    ];
    if (ctr) {
      pairs.push(
        [byName('lean'), byName('containerd')],
        [{ name: 'lean (socket-path authority)', socket: lean.socket }, byName('containerd')],
        [byName('direct'), byName('containerd')],
        [byName('grpc-js'), byName('containerd')],
        [{ name: 'direct (socket-path authority)', socket: direct.socket }, byName('containerd')],
        [byName('node:http2 floor'), byName('containerd')],
      );
    }
    await new Promise((r) => setTimeout(r, 3000));
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (let k = 0; k < pairs.length; k++) {
        const [a, b] = pairs[(k + round_) % pairs.length]!;
        const name = `${a.name} vs ${b.name}`;
        process.stderr.write(`round ${round_ + 1}: ${name}\n`);
        const got = pair(process.env.BENCH_GO_CLIENT ?? client, a, b, CALLS);
        for (const rpc of RPCS) {
          add(name, a.name, rpc, got[rpc]![0]);
          add(name, b.name, rpc, got[rpc]![1]);
        }
      }
      // Each runtime alone, calls back to back: no other server runs between two calls of this one.
      for (const side of sides) {
        process.stderr.write(`round ${round_ + 1}: ${side.name} alone\n`);
        const got = pair(process.env.BENCH_GO_CLIENT ?? client, side, undefined, CALLS);
        for (const rpc of RPCS) add(ALONE, side.name, rpc, got[rpc]![0]);
      }
    }
  } finally {
    floor?.kill();
    fs.rmSync(floorDir, { recursive: true, force: true });
    await ctr?.stop();
    for (const d of daemons)
      await d.cleanup().catch((err: unknown) => process.stderr.write(`cleanup: ${String(err)}\n`));
  }

  interface Row {
    pair: string;
    rpc: string;
    a: { side: string; p50: number; p99: number };
    b: { side: string; p50: number; p99: number };
    ratio: number;
  }
  const rows: Row[] = [];
  const pairNames = [...new Set(Object.keys(samples).map((k) => k.split('|')[0]!))].filter((p) => p !== ALONE);
  for (const p of pairNames) {
    const [aName, bName] = p.split(' vs ') as [string, string];
    for (const rpc of RPCS) {
      const sa = summary(samples[`${p}|${aName}`]![rpc]!);
      const sb = summary(samples[`${p}|${bName}`]![rpc]!);
      rows.push({
        pair: p,
        rpc,
        a: { side: aName, p50: sa.p50, p99: sa.p99 },
        b: { side: bName, p50: sb.p50, p99: sb.p99 },
        ratio: round(sa.p50 / sb.p50, 2),
      });
    }
  }
  const alone = Object.keys(samples)
    .filter((k) => k.startsWith(`${ALONE}|`))
    .map((k) => k.slice(ALONE.length + 1));
  const aloneRows = alone.flatMap((side) =>
    RPCS.map((rpc) => {
      const x = summary(samples[`${ALONE}|${side}`]![rpc]!);
      const c = samples[`${ALONE}|containerd`]?.[rpc];
      return { side, rpc, p50: x.p50, p99: x.p99, ratio: c ? round(x.p50 / summary(c).p50, 2) : undefined };
    }),
  );
  const env = machine();
  const md = [
    '# CRI transport: per-RPC overhead (issue #21 item 2)',
    '',
    `${new Date().toISOString()} · ${env} · containerd ${ctr?.version ?? 'not measured'}`,
    '',
    `Go gRPC client (grpc-go, the kubelet's library; test/interop/go -bench-rpcs), each pair alternating call by call; ${CALLS} calls per RPC and side per round after a fifth as many warm-up calls, ${ROUNDS} rounds in rotating pair order, figures pooled over the rounds. Both crimux daemons compiled (dist/), default config but the transport, authority \`localhost\` unless said. Version is answered from constants (the pure transport); Status from background health probes.${note ? ` ${note}.` : ''}`,
    '',
    '| pair | RPC | first p50 / p99 ms | second p50 / p99 ms | first / second (p50) |',
    '|---|---|---|---|---:|',
    ...rows.map((r) => `| ${r.pair} | ${r.rpc} | ${r.a.p50} / ${r.a.p99} | ${r.b.p50} / ${r.b.p99} | ${r.ratio}× |`),
    '',
    'Each runtime alone (calls back to back, same call counts and rounds):',
    '',
    '| runtime | RPC | p50 / p99 ms | / containerd alone (p50) |',
    '|---|---|---|---:|',
    ...aloneRows.map((r) => `| ${r.side} | ${r.rpc} | ${r.p50} / ${r.p99} | ${r.ratio ?? '-'}× |`),
  ].join('\n');
  writeResults(
    'transport',
    { machine: env, containerd: ctr?.version, calls: CALLS, rounds: ROUNDS, rows, alone: aloneRows, note },
    md,
  );
  process.stdout.write(md + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

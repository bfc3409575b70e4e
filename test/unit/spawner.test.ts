/**
 * Host commands started by the crimux-spawn helper (host/spawner.ts, host/native/crimux-spawn.c): the same answers
 * as child_process.spawn gives — output, exit codes, signals, ENOENT, env, cwd, streaming both ways — while the
 * daemon itself never forks; a child holds only its stdio; the helper's socket takes nobody else's connection; a
 * lost helper fails what was in flight and the next commands fall back to Node's spawn.
 * Needs the helper built (scripts/build-native.sh, run by setup.sh); CRIMUX_SPAWN_HELPER names another one.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DeadlineExceededError, UnavailableError } from '../../src/errors';
import { runCommand } from '../../src/host/process';
import { spawnChild, stopSpawnHelper, useSpawnHelper, type Child } from '../../src/host/spawner';
import { extractTar } from '../../src/images/unpack';

const HELPER = process.env.CRIMUX_SPAWN_HELPER || '/usr/local/libexec/crimux/crimux-spawn';
let dir = '';
const lost: string[] = [];

/** The child's 'close' (events.once would reject on an 'error' before it). */
function closed(child: Child): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve) =>
    child.once('close', (code: number | null, sig: NodeJS.Signals | null) => resolve([code, sig])),
  );
}

/** The command line of a process's parent, to tell who forked it. */
function parentCommand(pid: number): string {
  const ppid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return readFileSync(`/proc/${ppid}/cmdline`, 'utf8').replaceAll('\0', ' ');
}

describe('spawn helper', () => {
  before(async () => {
    assert.ok(existsSync(HELPER), `${HELPER} missing: run scripts/build-native.sh`);
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-spawner-'));
    assert.equal(await useSpawnHelper(HELPER, dir, (why) => lost.push(why)), true);
  });
  after(async () => {
    await stopSpawnHelper();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs a command: output, exit code and input as runCommand reports them', async () => {
    const r = await runCommand('sh', ['-c', 'read x; echo "out:$x"; echo err >&2; exit 3'], { input: 'hello\n' });
    assert.deepEqual(r, { code: 3, signal: null, stdout: 'out:hello\n', stderr: 'err\n' });
  });

  it('is forked by the helper, not by the daemon', async () => {
    const child = spawnChild('sleep', ['5'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await once(child, 'spawn');
    assert.ok(child.pid);
    assert.match(parentCommand(child.pid), /crimux-spawn /);
    child.kill('SIGKILL');
    assert.deepEqual(await closed(child), [null, 'SIGKILL']);
  });

  it('passes arguments verbatim, no shell in between', async () => {
    const args = ['', ' two words ', '--', '$(id)', '`id`', "it's", 'ü∂ß', '-n', '\\', '*'];
    const r = await runCommand('printf', ['%s|', ...args]);
    assert.equal(r.stdout, `${args.join('|')}|`);
  });

  it('gives the child exactly the env asked for, finds the program in that PATH, and runs in cwd', async () => {
    const r = await runCommand('sh', ['-c', 'env | sort; pwd'], { env: { PATH: '/usr/bin:/bin', A: 'x=y' }, cwd: dir });
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.includes('A=x=y'));
    assert.ok(!lines.some((l) => l.startsWith('CRIMUX_SPAWN_TOKEN')), 'the helper token leaks to no child');
    assert.equal(lines.at(-1), await fs.realpath(dir));
    await assert.rejects(runCommand('true', [], { env: { PATH: dir } }), /ENOENT/);
  });

  it('reports a missing program as ENOENT, as Node does', async () => {
    const child = spawnChild('/nonexistent/crimux-nope', ['x']);
    let exits = 0;
    child.on('exit', () => exits++);
    const close = closed(child);
    const [err] = (await once(child, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ENOENT');
    assert.equal(err.syscall, 'spawn /nonexistent/crimux-nope');
    assert.deepEqual(await close, [-2, null]);
    assert.equal(exits, 0, "no 'exit' for a child that never ran");
    await assert.rejects(runCommand('/nonexistent/crimux-nope', []), (e) => e instanceof UnavailableError);
    await assert.rejects(runCommand('true', [], { cwd: path.join(dir, 'missing') }), /ENOENT/);
  });

  it('refuses a NUL byte, as child_process.spawn does', () => {
    assert.throws(() => spawnChild('echo', ['a\0b']), TypeError);
  });

  it('kills: a timeout, a cancelled call, a signal before the child even started', async () => {
    await assert.rejects(runCommand('sleep', ['30'], { timeoutMs: 200 }), (e) => e instanceof DeadlineExceededError);
    const ac = new AbortController();
    const p = runCommand('sleep', ['30'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await assert.rejects(p, (e) => e instanceof DeadlineExceededError);
    const child = spawnChild('sleep', ['30']);
    assert.equal(child.kill('SIGTERM'), true);
    assert.deepEqual(await closed(child), [null, 'SIGTERM']);
  });

  it('names signals as Node does', async () => {
    const r = spawnChild('sh', ['-c', 'kill -ABRT $$'], { stdio: ['ignore', 'ignore', 'ignore'] });
    assert.deepEqual(await closed(r), [null, 'SIGABRT']);
  });

  it('closes the connection of an output the caller destroyed: the child gets EPIPE instead of blocking', async () => {
    const child = spawnChild('yes', [], { stdio: ['ignore', 'pipe', 'ignore'] });
    await once(child, 'spawn');
    child.stdout?.destroy();
    const [code, signal] = await closed(child);
    assert.ok(signal === 'SIGPIPE' || code !== 0, `yes ended (${code}, ${signal})`);
  });

  it("ignores a SIGTERM or SIGINT sent to the daemon's process group: commands still run while it drains", async () => {
    const child = spawnChild('sleep', ['1'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await once(child, 'spawn');
    const helperPid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
    process.kill(helperPid, 'SIGTERM');
    process.kill(helperPid, 'SIGINT');
    child.kill('SIGKILL');
    await closed(child);
    const r = await runCommand('sh', ['-c', 'echo $PPID']);
    assert.equal(Number(r.stdout), helperPid);
  });

  it('streams 8 MiB through a child both ways with backpressure', async () => {
    const data = randomBytes(8 << 20);
    const child = spawnChild('cat', []);
    const hash = createHash('sha256');
    child.stdout?.on('data', (b: Buffer) => hash.update(b));
    child.stdin?.end(data);
    assert.deepEqual(await closed(child), [0, null]);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
  });

  it('leaves the child only its stdio: no fd of the daemon or the helper', async () => {
    // ls opens the directory it lists as fd 3.
    const r = await runCommand('ls', ['/proc/self/fd']);
    assert.deepEqual(r.stdout.trim().split('\n').map(Number), [0, 1, 2, 3]);
  });

  it("gives fd 3 as a fourth output and its own session when detached, as conmon's start needs", async () => {
    const child = spawnChild('sh', ['-c', 'echo "$$ $(cut -d" " -f6 /proc/$$/stat)" >&3'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const parts: Buffer[] = [];
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => parts.push(b));
    child.unref();
    assert.deepEqual(await closed(child), [0, null]);
    const [pid, sid] = Buffer.concat(parts).toString().trim().split(' ').map(Number);
    assert.equal(pid, child.pid);
    assert.equal(sid, pid, 'a session of its own');
  });

  it('runs 60 commands at once, each with its own output', async () => {
    const runs = Array.from({ length: 60 }, (_, i) => runCommand('sh', ['-c', `echo ${i}; exit $((${i} % 7))`]));
    const results = await Promise.all(runs);
    results.forEach((r, i) => assert.deepEqual([r.code, r.stdout], [i % 7, `${i}\n`]));
  });

  it('lets a child close its stdin early, as tar does at the end of an archive', async () => {
    const r = await runCommand('head', ['-c', '1'], { input: randomBytes(4 << 20) });
    assert.equal(r.code, 0);
    assert.equal(r.stdout.length > 0, true);
  });

  it('extracts a layer with tar through the helper', async () => {
    const src = path.join(dir, 'src');
    const out = path.join(dir, 'out');
    await fs.mkdir(path.join(src, 'etc'), { recursive: true });
    await fs.mkdir(out);
    await fs.writeFile(path.join(src, 'etc', 'hostname'), 'pod\n');
    const { stdout: archive } = await new Promise<{ stdout: Buffer }>((resolve, reject) => {
      const c = spawnChild('tar', ['-C', src, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const parts: Buffer[] = [];
      c.stdout?.on('data', (b: Buffer) => parts.push(b));
      c.on('error', reject);
      c.on('close', () => resolve({ stdout: Buffer.concat(parts) }));
    });
    const x = extractTar(out);
    x.input.end(archive);
    await x.done;
    assert.equal(await fs.readFile(path.join(out, 'etc', 'hostname'), 'utf8'), 'pod\n');
  });

  it('drops a connection to its socket that does not carry the token', async () => {
    const sock = net.connect(path.join(dir, 'spawn', 'spawn.sock'));
    await once(sock, 'connect');
    sock.write(Buffer.alloc(37, 0x41));
    await once(sock, 'close');
    assert.equal((await runCommand('echo', ['still fine'])).stdout, 'still fine\n');
    assert.equal((await fs.stat(path.join(dir, 'spawn'))).mode & 0o777, 0o700, 'the socket is in a dir of its own');
  });

  it('fails what was in flight when the helper is lost, then falls back to Node spawn', async () => {
    const child = spawnChild('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await once(child, 'spawn');
    const helperPid = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
    const failed = once(child, 'error');
    process.kill(helperPid, 'SIGKILL');
    const [err] = (await failed) as [Error];
    assert.match(err.message, /spawn helper lost/);
    assert.equal(lost.length, 1);
    process.kill(child.pid as number, 'SIGKILL'); // an orphan now; it would have outlived a real daemon too
    const r = await runCommand('sh', ['-c', 'echo $PPID']);
    assert.equal(Number(r.stdout), process.pid, 'forked by the daemon again');
  });

  it('fails the children in flight when stopped; the next helper serves again', async () => {
    assert.equal(await useSpawnHelper(HELPER, dir, (why) => lost.push(why)), true);
    const child = spawnChild('sleep', ['30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    await once(child, 'spawn');
    const failed = once(child, 'error');
    const close = closed(child);
    await stopSpawnHelper();
    const [err] = (await failed) as [Error];
    assert.match(err.message, /spawn helper stopped/);
    await close;
    process.kill(child.pid as number, 'SIGKILL');
    assert.equal(await useSpawnHelper(HELPER, dir, (why) => lost.push(why)), true);
    assert.equal((await runCommand('echo', ['again'])).stdout, 'again\n');
    await stopSpawnHelper();
    assert.equal(lost.length, 1, 'a stop is not a loss');
  });

  it('is not used when the binary is missing', async () => {
    assert.equal(await useSpawnHelper(path.join(dir, 'no-such-helper'), dir, () => undefined), false);
    assert.equal((await runCommand('echo', ['ok'])).stdout, 'ok\n');
  });
});

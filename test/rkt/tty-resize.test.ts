/**
 * tty-resize.ts against real host processes shaped like the stage1's TTY exec: a wrapper shell, script(1) under
 * it, the command under script on the terminal it allocated. `stty size` inside must follow resizes, including
 * one sent before script has created the terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { killTree } from '../../src/backends/rkt/streams';
import { findTerminal, terminalResizer } from '../../src/backends/rkt/tty-resize';

const started: ChildProcess[] = [];

after(async () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) await killTree(c);
});

/** sh -c 'exec script …' as the stage1's JOIN_AND_EXEC + nsenter chain would run it (stdin a pipe, stderr off). */
function ttyExec(command: string): { child: ChildProcess; out: () => string; exited: Promise<number> } {
  const child = spawn('sh', ['-c', 'sleep 0.3; /usr/bin/script -qfec "$1" /dev/null', 'wrapper', command], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  started.push(child);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 255)));
  return { child, out: () => out, exited };
}

async function waitFor(what: () => boolean, ms: number, label: string): Promise<void> {
  const until = Date.now() + ms;
  while (!what()) {
    assert.ok(Date.now() < until, `timed out waiting for ${label}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const LOOP = (want: string): string =>
  `stty -echo; echo ready; i=0; while [ $i -lt 200 ]; do s=$(stty size); [ "$s" = "${want}" ] && break; sleep 0.05; i=$((i+1)); done; echo "size $s"`;

describe('rkt: TTY exec resize', { timeout: 60_000 }, () => {
  test('a resize reaches the terminal script(1) allocated, and a second one too', async () => {
    const x = ttyExec(`${LOOP('30 100')}; ${LOOP('50 132')}`);
    const resize = terminalResizer(x.child.pid, x.exited);
    await waitFor(() => x.out().includes('ready'), 20_000, 'ready');
    assert.ok(await findTerminal(x.child.pid as number), 'the terminal is found under the exec');
    resize({ width: 100, height: 30 });
    await waitFor(() => /size 30 100/.test(x.out()), 20_000, 'size 30 100');
    resize({ width: 132, height: 50 });
    assert.equal(await x.exited, 0);
    assert.match(x.out(), /size 30 100[\s\S]*size 50 132/);
  });

  test('a resize sent before the terminal exists is applied once it does', async () => {
    const x = ttyExec(LOOP('40 90'));
    const resize = terminalResizer(x.child.pid, x.exited);
    resize({ width: 90, height: 40 }); // the wrapper is still sleeping: no terminal yet
    assert.equal(await x.exited, 0);
    assert.match(x.out(), /size 40 90/);
  });

  test('a shell in the foreground gets SIGWINCH', async () => {
    const x = ttyExec(
      `trap 'echo winch $(stty size)' WINCH; echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done`,
    );
    const resize = terminalResizer(x.child.pid, x.exited);
    await waitFor(() => x.out().includes('ready'), 20_000, 'ready');
    resize({ width: 77, height: 22 });
    await waitFor(() => /winch 22 77/.test(x.out()), 20_000, 'winch 22 77');
    await killTree(x.child);
  });

  test('no terminal and exited processes: resizes are dropped quietly', async () => {
    const x = ttyExec('true');
    const resize = terminalResizer(x.child.pid, x.exited);
    await x.exited;
    resize({ width: 10, height: 10 });
    terminalResizer(undefined, x.exited)({ width: 10, height: 10 });
  });
});

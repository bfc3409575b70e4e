/**
 * A private containerd for the image-pull bench: its own root, state and socket under a temp dir, its CRI plugin
 * pointed at the local registry over plain http, driven over CRI with the same client crimux is driven with.
 * Started and stopped by the bench (by its own pid); the host's containerd (dockerd's) is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CriClient } from '../test/helpers/cri-client';
import { run } from './image-build';

export interface Containerd {
  readonly cri: CriClient;
  readonly version: string;
  readonly pid: number;
  readonly socket: string;
  stop(): Promise<void>;
}

/**
 * Whether this process may lower an oom_score_adj: that needs CAP_SYS_RESOURCE (bit 24), which some hosts drop
 * from root's bounding set. Without it, containerd's CRI plugin gives every sandbox oomScoreAdj -998, runc's
 * nsexec fails writing /proc/self/oom_score_adj (EACCES, in the bundle's log.json) and the shim reports only
 * "can't get final child's PID from pipe: EOF". restrict_oom_score_adj (meant for such unprivileged nodes) clamps
 * every requested value to containerd's own instead, so pods run (issue #21).
 */
export function canLowerOomScoreAdj(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return eff !== undefined && (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

export async function startContainerd(registry: string, sandboxImage?: string): Promise<Containerd> {
  const dir = await mkdtemp('/var/tmp/crimux-bench-containerd-');
  const socket = path.join(dir, 'containerd.sock');
  const config = [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    '[grpc]',
    `  address = "${socket}"`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    ...(canLowerOomScoreAdj() ? [] : ['  restrict_oom_score_adj = true']),
    ...(sandboxImage ? [`  sandbox_image = "${sandboxImage}"`] : []),
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    `  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."${registry}"]`,
    `    endpoint = ["http://${registry}"]`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'config.toml'), config);
  const child: ChildProcess = spawn('containerd', ['--config', path.join(dir, 'config.toml'), '--log-level', 'error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const cri = new CriClient(socket);
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      await cri.rt('Version', { version: 'v1' }, { deadlineMs: 2000 });
      break;
    } catch (err) {
      if (child.exitCode !== null || Date.now() > until) {
        child.kill('SIGKILL');
        throw new Error(`containerd did not start: ${String(err)}\n${stderr}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  const version = (await run('containerd', ['--version'])).trim().split(' ').slice(2).join(' ');
  return {
    cri,
    version,
    pid: child.pid ?? -1,
    socket,
    async stop() {
      cri.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      // The overlayfs snapshotter's mounts are gone with the images; unmount anything left before removing.
      await run('sh', ['-c', `grep -o " ${dir}[^ ]*" /proc/self/mountinfo | xargs -r -n1 umount -l`]).catch(() => '');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

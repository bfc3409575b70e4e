/**
 * A RootfsProvider for tests that do not need the image store: a busybox root built once from the host's static
 * busybox (Debian busybox-static), with /etc/passwd and /etc/group as the test images have them, and an overlay
 * per key — the same shape the shared store's snapshots have.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { PreparedRootfs, RootfsProvider } from '../../../src/backends/rkt/stage1/context';
import { unmountAll } from '../../../src/backends/rkt/stage1/mounts';
import { NotFoundError } from '../../../src/errors';

const APPLETS = [
  'sh',
  'ls',
  'id',
  'cat',
  'echo',
  'sleep',
  'pwd',
  'ps',
  'grep',
  'env',
  'hostname',
  'printf',
  'kill',
  'touch',
  'true',
  'false',
  'wc',
  'head',
  'nc',
  'tty',
  'mount',
  'stat',
  'tr',
];
export const TEST_IMAGE = 'local/busybox-static:test';
export const TEST_IMAGE_ID = 'sha256:0000000000000000000000000000000000000000000000000000000000000b0b';

/** Builds (once per dir) a busybox root: /bin/<applet> hard links, passwd/group like test/fixtures/images.ts. */
export async function buildBusyboxRoot(dir: string): Promise<string> {
  const root = path.join(dir, 'busybox-root');
  if (
    await fs.stat(path.join(root, 'bin', 'sh')).then(
      () => true,
      () => false,
    )
  )
    return root;
  for (const d of ['bin', 'etc', 'tmp', 'root', 'home/www', 'data'])
    await fs.mkdir(path.join(root, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(root, 'bin', 'busybox'));
  await fs.chmod(path.join(root, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) await fs.link(path.join(root, 'bin', 'busybox'), path.join(root, 'bin', a));
  await fs.writeFile(
    path.join(root, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nwww-data:x:33:33:www-data:/home/www:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  await fs.writeFile(
    path.join(root, 'etc', 'group'),
    'root:x:0:\ndaemon:x:1:\nwww-data:x:33:\nusers:x:100:www-data\nnogroup:x:65534:\n',
  );
  await fs.chmod(path.join(root, 'tmp'), 0o1777);
  await fs.chown(path.join(root, 'home/www'), 33, 33);
  return root;
}

export class DirRootfsProvider implements RootfsProvider {
  readonly removed: string[] = [];
  constructor(
    private readonly base: string,
    private readonly dir: string,
  ) {}

  async prepare(key: string, image: string): Promise<PreparedRootfs> {
    if (image !== TEST_IMAGE) throw new NotFoundError(`image ${image}: not found`);
    const d = path.join(this.dir, key);
    const rootfs = path.join(d, 'rootfs');
    await fs.mkdir(path.join(d, 'upper'), { recursive: true });
    await fs.mkdir(path.join(d, 'work'), { recursive: true });
    await fs.mkdir(rootfs, { recursive: true });
    const mounted = (await fs.readFile('/proc/self/mountinfo', 'utf8')).includes(` ${rootfs} `);
    if (!mounted) {
      execFileSync('mount', [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${this.base},upperdir=${d}/upper,workdir=${d}/work`,
        rootfs,
      ]);
    }
    return { rootfs, imageId: TEST_IMAGE_ID };
  }

  async remove(key: string): Promise<void> {
    const d = path.join(this.dir, key);
    await unmountAll(d);
    await fs.rm(d, { recursive: true, force: true });
    this.removed.push(key);
  }

  async keys(): Promise<string[]> {
    return fs.readdir(this.dir).catch(() => []);
  }
}

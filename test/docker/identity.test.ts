/** The identity a docker container is created with (identity.ts): the shared rule over the shared store's layers. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containerIdentity, type ImageLayers } from '../../src/backends/docker/identity';
import { InvalidArgumentError, NotFoundError } from '../../src/errors';
import type { ImageConfig, ResolvedImage } from '../../src/images/types';
import type * as cri from '../../src/cri/types';
import { containerConfig, ctx, testLogger } from './env';

const ID = `sha256:${'a'.repeat(64)}`;
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'crimux-docker-identity-')));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;

/** Unpacked layers (lowest first), each a map of path → content; `null` content makes a FIFO. */
function layers(...contents: Record<string, string | null>[]): string[] {
  return contents.map((files) => {
    const dir = path.join(tmp, `layer-${n++}`);
    for (const [rel, text] of Object.entries(files)) {
      const file = path.join(dir, rel);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      if (text === null) execFileSync('mkfifo', [file]);
      else fs.writeFileSync(file, text);
    }
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  });
}

/** A shared store holding one image. */
function store(layerDirs: string[], config: ImageConfig = {}, id = ID): ImageLayers {
  const image: ResolvedImage = { id, ref: 'docker.io/library/x:1', config, layerDirs };
  return {
    resolve: (_ctx, ref) =>
      ref === id || id.startsWith(ref)
        ? Promise.resolve(image)
        : Promise.reject(new NotFoundError(`resolve image ${ref}: not pulled`)),
  };
}

function withSecurity(sc: Record<string, unknown>): cri.ContainerConfig {
  const security_context = {
    run_as_user: null,
    run_as_username: '',
    run_as_group: null,
    supplemental_groups: [],
    ...sc,
  };
  return { ...containerConfig('c', 'x'), linux: { security_context } as never };
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n';
const GROUP = 'root:x:0:\nuser:x:1000:\ngroup1:x:50000:user\n';
const c = () => ctx(testLogger());

describe('docker container identity', () => {
  it("resolves uid, primary gid and groups from the image's files (primary gid first, then the image's, then the CRI's)", async () => {
    // /etc/group comes from the upper layer, /etc/passwd from the lower one
    const s = store(layers({ 'etc/passwd': PASSWD, 'etc/group': 'stale:x:1:user\n' }, { 'etc/group': GROUP }));
    const id = await containerIdentity(
      c(),
      s,
      ID,
      withSecurity({ run_as_user: { value: '1000' }, supplemental_groups: ['1234'] }),
    );
    assert.deepEqual(id, { uid: 1000, gid: 1000, groups: [1000, 50000, 1234] });
  });

  it("uses the image's USER when the CRI names no user", async () => {
    const s = store(layers({ 'etc/passwd': PASSWD, 'etc/group': GROUP }), { user: 'user' });
    assert.deepEqual(await containerIdentity(c(), s, ID, containerConfig('c', 'x')), {
      uid: 1000,
      gid: 1000,
      groups: [1000, 50000],
    });
  });

  it('records nothing for an image the shared store lacks, or holds under another ID', async () => {
    const other = `sha256:${'b'.repeat(64)}`;
    const s = store(layers({ 'etc/passwd': PASSWD }));
    assert.equal(await containerIdentity(c(), undefined, ID, containerConfig('c', 'x')), undefined);
    assert.equal(await containerIdentity(c(), s, other, containerConfig('c', 'x')), undefined);
    // a prefix match in the shared store is not the image Docker runs
    assert.equal(await containerIdentity(c(), store([], {}, `${ID}0`), ID, containerConfig('c', 'x')), undefined);
  });

  it('refuses a user name the image lacks, as the other backends do', async () => {
    const s = store(layers({ 'etc/passwd': PASSWD }));
    await assert.rejects(
      containerIdentity(c(), s, ID, withSecurity({ run_as_username: 'nobody' })),
      (e: unknown) => e instanceof InvalidArgumentError && /run_as_username/.test(e.message),
    );
  });

  it("follows no symlink out of a layer and does not block on a FIFO in the image's /etc", async () => {
    const [dir] = layers({ 'etc/group': GROUP });
    fs.symlinkSync('/etc/passwd', path.join(dir!, 'etc', 'passwd'));
    // the host's root entry is not read through the link: "root" is unknown in the image
    await assert.rejects(
      containerIdentity(c(), store([dir!]), ID, withSecurity({ run_as_username: 'root' })),
      InvalidArgumentError,
    );
    const fifo = store(layers({ 'etc/passwd': null, 'etc/group': GROUP }));
    await assert.rejects(containerIdentity(c(), fifo, ID, withSecurity({ run_as_user: { value: '1000' } })), /a FIFO/);
  });
});

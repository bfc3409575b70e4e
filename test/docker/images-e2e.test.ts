/**
 * The kubelet's real image path into docker pods, end to end over CRI with a real dockerd: the image is pulled
 * with no runtime handler (as every kubelet does while KEP-4216 is off), so it lands in the shared store only;
 * a docker pod's containers are then created from it by image ID (with user_specified_image, as the kubelet sends
 * them), two at once, and crimux transfers it into Docker exactly once, verified by image ID. ListImages shows the
 * image once, ImageFsInfo covers both stores, and RemoveImage without a handler removes it from both.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, type DaemonHandle } from '../helpers/daemon';
import { grpc } from '../helpers/cri-client';
import { ensureDockerd } from '../helpers/dockerd';
import { ensureTestRegistry } from '../helpers/registry';
import { eventually, run as runCmd } from './env';
import { pushUniqueImage, type UniqueImage } from './unique-image';

const CGROUP_PARENT = `/crimux-docker-images-e2e-${process.pid}`;

/** Docker's own view of an image, from the docker CLI (undefined when Docker does not have it). */
async function dockerImage(ref: string): Promise<{ Id: string; RepoTags: string[] } | undefined> {
  try {
    const { stdout } = await runCmd('docker', ['image', 'inspect', '--format', '{{json .}}', ref], { timeout: 30_000 });
    return JSON.parse(stdout) as { Id: string; RepoTags: string[] };
  } catch {
    return undefined;
  }
}

describe('docker pods run images pulled as the kubelet pulls them (no runtime handler)', { timeout: 300_000 }, () => {
  let daemon: DaemonHandle;
  let tmp: string;
  let image: UniqueImage;
  let dockerOnly: UniqueImage;
  let podId = '';
  let runcPodId = '';

  before(async () => {
    await ensureDockerd();
    const { port } = await ensureTestRegistry();
    image = await pushUniqueImage(port, `transfer-${process.pid}-${Date.now()}`);
    dockerOnly = await pushUniqueImage(port, `docker-only-${process.pid}-${Date.now()}`);
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-docker-images-'));
    daemon = await startDaemon({
      config: {
        handlers: { docker: { backend: 'docker', options: { dockerRuntime: 'runc' } } },
        backends: { docker: { enabled: true }, runc: { enabled: true, cgroupParent: CGROUP_PARENT } },
        security: { logRoot: path.join(tmp, 'pods') },
      },
    });
  });
  after(async () => {
    for (const id of [podId, runcPodId].filter(Boolean)) {
      await daemon?.rt('StopPodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      await daemon?.rt('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
    }
    for (const img of [image, dockerOnly]) {
      if (img) await runCmd('docker', ['image', 'rm', '--force', img.id]).catch(() => undefined);
    }
    await daemon?.stop().catch(() => daemon?.kill9());
    await daemon?.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it('pulls into the shared store only, then one transfer serves two concurrent creates', async (t) => {
    const pulled = await daemon.img('PullImage', { image: { image: image.ref } }, { deadlineMs: 120_000 });
    assert.equal(pulled.image_ref, image.id);
    assert.equal(await dockerImage(image.id), undefined, 'the pull did not touch Docker');
    // What the kubelet asks before it creates: present, for the default handler and for docker alike.
    assert.equal((await daemon.img('ImageStatus', { image: { image: image.ref } })).image?.id, image.id);
    const forDocker = await daemon.img('ImageStatus', { image: { image: image.ref, runtime_handler: 'docker' } });
    assert.equal(forDocker.image?.id, image.id, 'a docker handler sees the shared store image as present');

    const uid = `images-e2e-${process.pid}`;
    const podConfig = {
      metadata: { name: 'transfer', namespace: 'default', uid, attempt: 0 },
      hostname: 'transfer',
      log_directory: path.join(tmp, 'pods', `default_transfer_${uid}`),
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    } as const;
    const pod = await daemon.rt(
      'RunPodSandbox',
      { config: podConfig, runtime_handler: 'docker' },
      { deadlineMs: 120_000 },
    );
    podId = pod.pod_sandbox_id;

    // As the kubelet sends it: the image by ID, what the user wrote in user_specified_image.
    const create = (name: string) =>
      daemon.rt(
        'CreateContainer',
        {
          pod_sandbox_id: podId,
          config: {
            metadata: { name },
            image: { image: image.id, user_specified_image: image.ref },
            command: ['sh', '-c', `echo ${name}-ran; cat /proc/1/cmdline >/dev/null`],
            log_path: `${name}/0.log`,
          },
          sandbox_config: podConfig,
        },
        { deadlineMs: 120_000 },
      );
    const [a, b] = await Promise.all([create('one'), create('two')]);
    const transfers = daemon
      .logs()
      .split('\n')
      .filter((l) => l.includes('transferred image into docker') && l.includes(image.id));
    assert.equal(transfers.length, 1, `one transfer for two creates:\n${transfers.join('\n')}`);
    t.diagnostic(transfers[0] ?? '');

    const inDocker = await dockerImage(image.id);
    assert.equal(inDocker?.Id, image.id, 'Docker computed the same image ID (config digest)');
    assert.ok(
      inDocker?.RepoTags.some((t) => image.ref.endsWith(t.replace(/^docker\.io\//, ''))),
      `tagged as pulled: ${inDocker?.RepoTags.join()}`,
    );

    for (const c of [a, b]) await daemon.rt('StartContainer', { container_id: c.container_id });
    for (const [c, name] of [
      [a, 'one'],
      [b, 'two'],
    ] as const) {
      const st = await eventually(
        async () => {
          const s = (await daemon.rt('ContainerStatus', { container_id: c.container_id })).status;
          return s?.state === 'CONTAINER_EXITED' && s;
        },
        30_000,
        `${name} exits`,
      );
      assert.equal(st.exit_code, 0);
      assert.equal(st.image_ref.includes('@sha256:') || st.image_ref === image.id, true, st.image_ref);
      const log = await eventually(
        async () => {
          const t = await fs.readFile(st.log_path, 'utf8').catch(() => '');
          return t.includes(`${name}-ran`) && t;
        },
        10_000,
        `${name} log`,
      );
      assert.match(log, new RegExp(`stdout F ${name}-ran`));
    }
  });

  it('lists the image once across both stores and reports both stores in ImageFsInfo', async () => {
    const all = (await daemon.img('ListImages', {})).images.filter((i) => i.id === image.id);
    assert.equal(all.length, 1, 'one entry per image ID');
    assert.ok(all[0]?.repo_tags.includes(image.ref), all[0]?.repo_tags.join());
    const filtered = await daemon.img('ListImages', { filter: { image: { image: image.ref } } });
    assert.equal(filtered.images.filter((i) => i.id === image.id).length, 1);
    const fsInfo = await daemon.img('ImageFsInfo', {});
    assert.ok(fsInfo.image_filesystems.length >= 1);
    assert.ok(Number(fsInfo.image_filesystems[0]?.used_bytes?.value ?? 0) > 0);
  });

  it('removes the image from every store when RemoveImage names no handler (the kubelet image GC)', async () => {
    for (const c of (await daemon.rt('ListContainers', { filter: { pod_sandbox_id: podId } })).containers) {
      await daemon.rt('RemoveContainer', { container_id: c.id });
    }
    await daemon.img('RemoveImage', { image: { image: image.id } });
    assert.equal(await dockerImage(image.id), undefined, 'gone from Docker');
    assert.equal(
      (await daemon.img('ImageStatus', { image: { image: image.id } })).image,
      null,
      'gone from the shared store',
    );
    assert.equal(
      (await daemon.img('ImageStatus', { image: { image: image.id, runtime_handler: 'docker' } })).image,
      null,
    );
    assert.equal((await daemon.img('ListImages', {})).images.filter((i) => i.id === image.id).length, 0);
  });
  it('refuses a runc pod an image only Docker holds, naming where to pull it', async () => {
    await daemon.img(
      'PullImage',
      { image: { image: dockerOnly.ref, runtime_handler: 'docker' } },
      { deadlineMs: 120_000 },
    );
    assert.equal((await dockerImage(dockerOnly.id))?.Id, dockerOnly.id);
    // The kubelet asks without a handler: not present for the default (runc) view, so it would pull it there.
    assert.equal((await daemon.img('ImageStatus', { image: { image: dockerOnly.ref } })).image, null);
    const uid = `images-e2e-runc-${process.pid}`;
    const podConfig = {
      metadata: { name: 'runc-side', namespace: 'default', uid, attempt: 0 },
      hostname: 'runc-side',
      log_directory: path.join(tmp, 'pods', `default_runc-side_${uid}`),
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    } as const;
    runcPodId = (await daemon.rt('RunPodSandbox', { config: podConfig }, { deadlineMs: 120_000 })).pod_sandbox_id;
    const config = {
      metadata: { name: 'c' },
      image: { image: dockerOnly.ref },
      command: ['true'],
      log_path: 'c/0.log',
    };
    await assert.rejects(
      daemon.rt('CreateContainer', { pod_sandbox_id: runcPodId, config, sandbox_config: podConfig }),
      (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.FAILED_PRECONDITION, e.message);
        assert.match(
          e.details,
          /only in docker's image store, which runc pods cannot use; pull it into the shared image store first \(PullImage with runtime_handler "runc" or none\)/,
        );
        return true;
      },
    );
  });
});

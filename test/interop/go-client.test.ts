/**
 * A real grpc-go client (the kubelet's CRI library, from Debian packages) against crimux, dialled exactly as the
 * kubelet does: once with the socket path as `:authority` (kubelet and crictl <= 1.30) and once with `localhost`
 * (kubelet >= 1.31). Both runs walk the same CRI surface on a runc pod and every answer is checked, on the default
 * transport (crimux's own HTTP/2 server, which takes either authority as sent) and on grpc-js's (nghttp2, which
 * refuses the path form unless crimux's frame filter rewrites it). A control run against a server without the
 * filter shows the test really exercises the refused form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { CriServer } from '../../src/cri/server';
import { nullLogger } from '../../src/log/logger';
import type { RuntimeServiceHandlers } from '../../src/cri/generated/runtime/v1/RuntimeService';
import type { ImageServiceHandlers } from '../../src/cri/generated/runtime/v1/ImageService';
import { BUSYBOX, PAUSE } from '../fixtures/images';
import { ensureTestRegistry } from '../helpers/registry';
import { startRuncDaemon, type RuncDaemon } from '../runc/cri';
import { buildGoClient, runGoClient, type GoReport } from './go-client';

/** Each transport's daemon gets its own slot (its CNI subnet). */
const TRANSPORTS = [
  { transport: 'lean', slot: 21 },
  { transport: 'grpc-js', slot: 19 },
] as const;

function checkReport(rep: GoReport, logRoot: string): void {
  assert.deepEqual(rep.errors, {}, 'no CRI call failed');
  const r = rep.results;
  assert.deepEqual(r.Version, { runtimeName: 'crimux', runtimeApiVersion: 'v1', version: r.Version?.version });
  assert.deepEqual(r.Status?.conditions, { RuntimeReady: true, NetworkReady: true });
  assert.ok((r.Status?.infoKeys as string[]).length > 0, 'verbose Status carries info');
  assert.equal(r.RuntimeConfig?.cgroupDriver, 'CGROUPFS');

  assert.match(String(r['PullImage.pause']?.imageRef), /^sha256:[0-9a-f]{64}$/);
  const busyboxId = r['PullImage.busybox']?.imageRef;
  assert.match(String(busyboxId), /^sha256:[0-9a-f]{64}$/);
  assert.equal(r.ImageStatus?.id, busyboxId);
  assert.deepEqual(r.ImageStatus?.repoTags, [BUSYBOX.ref]);
  assert.ok(Number(r.ImageStatus?.size) > 0);
  assert.ok((r.ListImages?.repoTags as string[]).includes(BUSYBOX.ref));
  assert.ok((r.ListImages?.repoTags as string[]).includes(PAUSE.ref));
  assert.ok(Number(r.ImageFsInfo?.imageFilesystems) >= 1);

  const pod = String(r.RunPodSandbox?.podSandboxId);
  assert.match(pod, /^[0-9a-f]{64}$/);
  const podStatus = r.PodSandboxStatus!;
  assert.equal(podStatus.id, pod);
  assert.equal(podStatus.state, 'SANDBOX_READY');
  assert.equal(podStatus.runtimeHandler, 'runc');
  assert.ok(String(podStatus.name).length >= 60, 'the 60+ character pod name round-trips');
  assert.match(String(podStatus.ip), /^10\.89\.\d+\.\d+$/);
  assert.equal(podStatus.verboseInfo, true);
  assert.deepEqual(r['ListPodSandbox.byLabel']?.ids, [pod]);
  assert.deepEqual(r['ListPodSandbox.readyById']?.ids, [pod]);

  const ctr = String(r.CreateContainer?.containerId);
  assert.match(ctr, /^[0-9a-f]{64}$/);
  assert.equal(r['ContainerStatus.created']?.state, 'CONTAINER_CREATED');
  assert.equal(r['ContainerStatus.running']?.state, 'CONTAINER_RUNNING');
  assert.equal(r['ContainerStatus.running']?.image, BUSYBOX.ref);
  assert.ok(String(r['ContainerStatus.running']?.logPath).startsWith(logRoot));
  assert.deepEqual(r['ListContainers.runningInPodWithLabel']?.ids, [ctr]);
  assert.deepEqual(r['ListContainers.byId']?.ids, [ctr]);
  assert.deepEqual(r['ListContainers.exitedInPod']?.ids, []);
  assert.deepEqual(r['ListContainers.otherLabel']?.ids, []);

  assert.deepEqual(r.ExecSync, { stdout: 'hello from grpc-go\n', exitCode: 0 });
  assert.deepEqual(r['ExecSync.exit3'], { exitCode: 3 });
  assert.deepEqual(r.ContainerStats, { id: ctr, hasCpu: true, hasMemory: true });
  assert.deepEqual(r.ListContainerStats?.ids, [ctr]);

  // Near the kubelet's 16 MiB limit both ways.
  assert.deepEqual(r['ExecSync.big'], { stdoutBytes: 8388608, stderrBytes: 7800000, exitCode: 0 });
  assert.ok(Number(r['ListContainers.big']?.requestBytes) > 15.5 * 1024 * 1024);
  assert.equal(r['ListContainers.big']?.count, 0);

  assert.equal(r['ContainerStatus.exited']?.state, 'CONTAINER_EXITED');
  assert.deepEqual(r['ContainerStatus.removed'], { code: 'NotFound' });
  assert.deepEqual(r['PodSandboxStatus.stopped'], { state: 'SANDBOX_NOTREADY' });
  assert.deepEqual(r['ListPodSandbox.afterRemove']?.ids, []);
  assert.deepEqual(r['ImageStatus.afterRemove'], { present: false });

  // The stream saw the container's whole life, in order, tagged with its pod.
  const events = (r.GetContainerEvents as unknown as { containerId: string; type: string; podId: string }[]) ?? [];
  const mine = events.filter((e) => e.containerId === ctr);
  assert.deepEqual(
    mine.map((e) => e.type),
    ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'],
  );
  assert.ok(mine.every((e) => e.podId === pod));
}

const FORMS: [string, string | undefined][] = [
  ['socket path as :authority (kubelet <= 1.30)', undefined],
  ['WithAuthority("localhost") (kubelet >= 1.31)', 'localhost'],
];

for (const { transport, slot } of TRANSPORTS) {
  describe(`grpc-go (kubelet) client interop, server.transport ${transport}`, { timeout: 900_000 }, () => {
    let bin = '';
    let r: RuncDaemon;

    before(async () => {
      await ensureTestRegistry();
      bin = await buildGoClient();
      r = await startRuncDaemon(slot, { server: { transport } });
    });

    after(async () => {
      await r?.cleanup();
    });

    for (const [title, authority] of FORMS) {
      it(`walks the CRI surface with ${title}`, async () => {
        const rep = await runGoClient(bin, { socket: r.daemon.socket, authority, logDir: r.logRoot });
        checkReport(rep, r.logRoot);
        const logs = r.daemon.logs();
        assert.match(logs, new RegExp(`CRI server listening.*transport=${transport}`));
        if (transport === 'lean') {
          // Its own HTTP/2 server reads either authority as sent: no connection goes through the filter.
          assert.doesNotMatch(logs, /CRI connection handed over/);
          return;
        }
        // The path form is served through the frame filter; localhost goes to grpc-js natively.
        const handovers = logs.match(/CRI connection handed over.*filtered=(true|false)/g) ?? [];
        assert.ok(
          handovers.some((l) => l.endsWith(`filtered=${authority ? 'false' : 'true'}`)),
          handovers.join('\n'),
        );
      });
    }
  });
}

describe('grpc-go (kubelet) client interop: the frame filter', { timeout: 300_000 }, () => {
  let bin = '';
  before(async () => {
    bin = await buildGoClient();
  });

  it('control: without the frame filter the socket-path form is refused by nghttp2, localhost is not', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'crimux-nofilter-'));
    const version = (_call: unknown, cb: (e: null, v: object) => void): void =>
      cb(null, { version: '0.1.0', runtime_name: 'control', runtime_version: '0', runtime_api_version: 'v1' });
    // nghttp2's refusal is the point: grpc-js's transport, with and without the filter in front.
    const opts = { socketGroup: '', maxMessageBytes: 1 << 20, log: nullLogger(), transport: 'grpc-js' as const };
    const rt = { Version: version } as unknown as RuntimeServiceHandlers;
    const img = {} as ImageServiceHandlers;
    const plain = new CriServer({ ...opts, socketPath: path.join(dir, 'plain.sock'), authorityFilter: false }, rt, img);
    const filtered = new CriServer({ ...opts, socketPath: path.join(dir, 'filtered.sock') }, rt, img);
    try {
      await plain.listen();
      await filtered.listen();
      const refused = await runGoClient(bin, { socket: path.join(dir, 'plain.sock'), versionOnly: true });
      assert.match(refused.errors.Version ?? '', /PROTOCOL_ERROR/);
      const viaLocalhost = await runGoClient(bin, {
        socket: path.join(dir, 'plain.sock'),
        versionOnly: true,
        authority: 'localhost',
      });
      assert.equal(viaLocalhost.results.Version?.runtimeName, 'control');
      const accepted = await runGoClient(bin, { socket: path.join(dir, 'filtered.sock'), versionOnly: true });
      assert.deepEqual(accepted.errors, {});
      assert.equal(accepted.results.Version?.runtimeName, 'control');
    } finally {
      await plain.drain(1000);
      await filtered.drain(1000);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

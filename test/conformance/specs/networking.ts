/**
 * Networking (cri-tools pkg/validate/networking.go): DNS config and hostname reach the container, an empty
 * hostname becomes the node's (as containerd and CRI-O do), a container port is reachable at the pod IP, and
 * a host port from the node itself (127.0.0.1, upstream's check) and from another pod (through the node's
 * address on the pod network). Each handler gets its own host port, as handlers run concurrently.
 *
 * Pods are shared where the specs look at different properties of one pod (a VM pod costs seconds): the web
 * pod has the DNS config, a container-port-only mapping and a host port, and runs the web server and a shell;
 * the plain pod (no hostname) is the empty-hostname check and the client of the host port.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { E2E_NGINX } from '../../fixtures/images';
import { containerConfig, createContainer, eventually, execSync, podConfig, podStatus, startContainer } from '../cri';
import type { Spec, SpecContext } from '../harness';
import { HANDLER_NAMES } from '../handlers';

const DNS = { servers: ['10.10.10.10'], searches: ['google.com'], options: ['ndots:8'] };
const RESOLV_LINES = ['nameserver 10.10.10.10', 'search google.com', 'options ndots:8'];

/** Upstream's 12000, shifted per handler so concurrent handlers never ask for the same host port. */
function hostPort(c: SpecContext): number {
  return 12000 + HANDLER_NAMES.indexOf(c.handler.name);
}

interface NetPod {
  readonly podId: string;
  /** A running busybox container (upstream's default container). */
  readonly shell: string;
}

/** A pod of this handler shared by the file's specs, with a running shell and, if asked, the web server. */
function sharedPod(
  c: SpecContext,
  key: string,
  names: { pod: string; container: string },
  extra: Record<string, unknown>,
  web = false,
) {
  return c.shared<NetPod>(
    key,
    async () => {
      const config = podConfig(c, names.pod, extra);
      const r = await c.rt('RunPodSandbox', { config, runtime_handler: c.handler.name }, { deadlineMs: 240_000 });
      const podId = r.pod_sandbox_id;
      const start = async (cfg: ReturnType<typeof containerConfig>) => {
        const id = await createContainer(c, podId, config, cfg);
        await startContainer(c, id);
        return id;
      };
      const shell = await start(containerConfig(c, names.container));
      if (web)
        await start(
          containerConfig(c, 'container-for-port-mapping-', { image: { image: E2E_NGINX.ref }, command: [] }),
        );
      return { podId, shell };
    },
    async (pod) => {
      await c.rt('StopPodSandbox', { pod_sandbox_id: pod.podId }, { deadlineMs: 120_000 });
      await c.rt('RemovePodSandbox', { pod_sandbox_id: pod.podId }, { deadlineMs: 120_000 });
    },
  );
}

const webPod = (c: SpecContext) =>
  sharedPod(
    c,
    'web-pod',
    { pod: 'create-PodSandbox-with-DNS-config-and-port-mapping', container: 'container-for-DNS-config-test-' },
    {
      dns_config: DNS,
      port_mappings: [{ container_port: E2E_NGINX.port }, { container_port: E2E_NGINX.port, host_port: hostPort(c) }],
    },
    true,
  );
const plainPod = (c: SpecContext) =>
  sharedPod(
    c,
    'plain-pod',
    { pod: 'create-PodSandbox-without-hostname-', container: 'container-for-hostname-test-' },
    {},
  );

/** GET url until it answers 200 (upstream: Eventually within a minute, one request per second). */
async function expectMainPage(url: string): Promise<void> {
  await eventually(
    `200 from ${url}`,
    60_000,
    async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
    },
    1000,
  );
}

async function podIp(c: SpecContext, podId: string): Promise<string> {
  const ip = (await podStatus(c, podId)).network?.ip;
  assert.ok(ip, 'PodSandboxStatus: no network.ip');
  return ip;
}

export const NETWORKING_SPECS: readonly Spec[] = [
  {
    id: 'networking/dns-config',
    title: 'runtime should support DNS config',
    async run(c) {
      const { shell } = await webPod(c);
      const r = await execSync(c, shell, ['cat', '/etc/resolv.conf']);
      for (const line of RESOLV_LINES) assert.ok(r.stdout.toString().includes(line), `${line} in:\n${r.stdout}`);
      assert.equal(r.stderr.toString(), '');
    },
  },
  {
    id: 'networking/hostname',
    title: 'runtime should support set hostname',
    async run(c) {
      const hostname = 'test-hostname';
      const { shell } = await sharedPod(
        c,
        'hostname-pod',
        { pod: 'create-PodSandbox-with-hostname', container: 'container-for-hostname-test-' },
        { hostname },
      );
      const r = await execSync(c, shell, ['hostname']);
      assert.equal(r.stdout.toString().trim().toLowerCase(), hostname);
      assert.equal(r.stderr.toString(), '');
    },
  },
  {
    id: 'networking/hostname-empty',
    title: 'runtime should use the node hostname when the pod hostname is empty',
    async run(c) {
      // What every upstream spec sends (no hostname, a 60+ character mixed-case name): containerd and CRI-O
      // give such a pod the node's hostname.
      const { shell } = await plainPod(c);
      const r = await execSync(c, shell, ['hostname']);
      assert.equal(r.stdout.toString().trim(), os.hostname());
    },
  },
  {
    id: 'networking/container-port',
    title: 'runtime should support port mapping with only container port',
    async run(c) {
      const { podId } = await webPod(c);
      await expectMainPage(`http://${await podIp(c, podId)}:${E2E_NGINX.port}`);
    },
  },
  {
    id: 'networking/host-port',
    title: 'runtime should support port mapping with host port and container port',
    async run(c) {
      await webPod(c);
      await expectMainPage(`http://127.0.0.1:${hostPort(c)}`);
    },
  },
  {
    id: 'networking/host-port-from-pod',
    title: 'runtime should support port mapping with host port reached from another pod',
    async run(c) {
      await webPod(c);
      const client = await plainPod(c);
      // The node's address on the pod network: the client's default gateway.
      const routes = (await execSync(c, client.shell, ['ip', 'route', 'show', 'default'])).stdout.toString();
      const gateway = /default via (\S+)/.exec(routes)?.[1];
      assert.ok(gateway, `no default route in the client pod:\n${routes}`);
      // busybox nc, not wget (Debian's busybox wget crashes here): one HTTP/1.0 request, the status line back.
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${gateway} ${hostPort(c)}`;
      await eventually(
        `the page at ${gateway}:${hostPort(c)} from the client pod`,
        60_000,
        async () => {
          const r = await execSync(c, client.shell, ['sh', '-c', get]);
          assert.match(r.stdout.toString(), /^HTTP\/1\.[01] 200/, r.stderr.toString());
        },
        1000,
      );
    },
  },
];

/**
 * Networking (cri-tools pkg/validate/networking.go): DNS config and hostname reach the container, an empty
 * hostname becomes the node's (as containerd and CRI-O do), a container port is reachable at the pod IP, and
 * a host port from the node itself (127.0.0.1, upstream's check) and from another pod (through the node's
 * address on the pod network). Each handler gets its own host ports, as handlers run concurrently.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { E2E_NGINX } from '../../fixtures/images';
import {
  containerConfig,
  createContainer,
  createDefaultContainer,
  eventually,
  execSync,
  podConfig,
  podStatus,
  runPodSandbox,
  startContainer,
  type PodConfig,
} from '../cri';
import type { Spec, SpecContext } from '../harness';
import { HANDLER_NAMES } from '../handlers';

const DNS = { servers: ['10.10.10.10'], searches: ['google.com'], options: ['ndots:8'] };
const RESOLV_LINES = ['nameserver 10.10.10.10', 'search google.com', 'options ndots:8'];

/** Upstream's 12000, shifted per handler so concurrent handlers never ask for the same host port. */
function hostPort(c: SpecContext, which: number): number {
  return 12000 + HANDLER_NAMES.indexOf(c.handler.name) * 10 + which;
}

async function podWithDefaultContainer(c: SpecContext, prefix: string, extra: Record<string, unknown>) {
  const config = podConfig(c, prefix, extra);
  const podId = await runPodSandbox(c, config);
  const id = await createDefaultContainer(c, podId, config, `${prefix}container-`);
  await startContainer(c, id);
  return { podId, config, id };
}

async function startWebServer(c: SpecContext, podId: string, config: PodConfig): Promise<void> {
  const id = await createContainer(
    c,
    podId,
    config,
    containerConfig(c, 'container-for-port-mapping-', { image: { image: E2E_NGINX.ref }, command: [] }),
  );
  await startContainer(c, id);
}

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
      const { id } = await podWithDefaultContainer(c, 'create-PodSandbox-with-DNS-config', { dns_config: DNS });
      const r = await execSync(c, id, ['cat', '/etc/resolv.conf']);
      for (const line of RESOLV_LINES) assert.ok(r.stdout.toString().includes(line), `${line} in:\n${r.stdout}`);
      assert.equal(r.stderr.toString(), '');
    },
  },
  {
    id: 'networking/hostname',
    title: 'runtime should support set hostname',
    async run(c) {
      const { id } = await podWithDefaultContainer(c, 'create-PodSandbox-with-hostname', {
        hostname: 'test-hostname',
      });
      const r = await execSync(c, id, ['hostname']);
      assert.equal(r.stdout.toString().trim().toLowerCase(), 'test-hostname');
      assert.equal(r.stderr.toString(), '');
    },
  },
  {
    id: 'networking/hostname-empty',
    title: 'runtime should use the node hostname when the pod hostname is empty',
    async run(c) {
      // What every upstream spec sends (no hostname, a 60+ character mixed-case name): containerd and CRI-O
      // give such a pod the node's hostname.
      const { id } = await podWithDefaultContainer(c, 'create-PodSandbox-without-hostname-', {});
      const r = await execSync(c, id, ['hostname']);
      assert.equal(r.stdout.toString().trim(), os.hostname());
    },
  },
  {
    id: 'networking/container-port',
    title: 'runtime should support port mapping with only container port',
    async run(c) {
      const config = podConfig(c, 'create-PodSandbox-with-port-mapping', {
        port_mappings: [{ container_port: E2E_NGINX.port }],
      });
      const podId = await runPodSandbox(c, config);
      await startWebServer(c, podId, config);
      await expectMainPage(`http://${await podIp(c, podId)}:${E2E_NGINX.port}`);
    },
  },
  {
    id: 'networking/host-port',
    title: 'runtime should support port mapping with host port and container port',
    async run(c) {
      const port = hostPort(c, 0);
      const config = podConfig(c, 'create-PodSandbox-with-port-mapping', {
        port_mappings: [{ container_port: E2E_NGINX.port, host_port: port }],
      });
      const podId = await runPodSandbox(c, config);
      await startWebServer(c, podId, config);
      await expectMainPage(`http://127.0.0.1:${port}`);
    },
  },
  {
    id: 'networking/host-port-from-pod',
    title: 'runtime should support port mapping with host port reached from another pod',
    async run(c) {
      const port = hostPort(c, 1);
      const config = podConfig(c, 'create-PodSandbox-with-port-mapping', {
        port_mappings: [{ container_port: E2E_NGINX.port, host_port: port }],
      });
      const podId = await runPodSandbox(c, config);
      await startWebServer(c, podId, config);
      const client = await podWithDefaultContainer(c, 'create-PodSandbox-port-mapping-client', {});
      // The node's address on the pod network: the client's default gateway.
      const routes = (await execSync(c, client.id, ['ip', 'route', 'show', 'default'])).stdout.toString();
      const gateway = /default via (\S+)/.exec(routes)?.[1];
      assert.ok(gateway, `no default route in the client pod:\n${routes}`);
      // busybox nc, not wget (Debian's busybox wget crashes here): one HTTP/1.0 request, the status line back.
      const get = `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${gateway} ${port}`;
      await eventually(
        `the page at ${gateway}:${port} from the client pod`,
        60_000,
        async () => {
          const r = await execSync(c, client.id, ['sh', '-c', get]);
          assert.match(r.stdout.toString(), /^HTTP\/1\.[01] 200/, r.stderr.toString());
        },
        1000,
      );
    },
  },
];

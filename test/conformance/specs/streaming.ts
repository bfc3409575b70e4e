/**
 * Streaming (cri-tools pkg/validate/streaming.go): Exec without and with a TTY (stdin open), Attach to a shell
 * started with stdin, and PortForward to a web server in the pod, on the pod network and on the host network.
 * The URLs the CRI returns are used by the project's SPDY clients (test/streaming/clients), as client-go's
 * remotecommand and portforward packages use them (SPDY, v4.channel.k8s.io; portforward.k8s.io).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { CRI_HOSTNET_NGINX, E2E_NGINX, HTTP } from '../../fixtures/images';
import { openForward, spdyPortForwardSession } from '../../streaming/clients/portforward-client';
import { connectRc, type RcResult, type RcSession } from '../../streaming/clients/remotecommand-client';
import { defaultPod } from './security-user';
import { podLinux, sleep, type Spec, type Workload } from './workload';

const V4 = { transport: 'spdy', protocol: 'v4.channel.k8s.io' } as const;
const REQUEST = 'GET / HTTP/1.0\r\n\r\n';

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const finished = (rc: RcSession, what: string): Promise<RcResult> => bounded(rc.done, 60_000, what);

async function execHello(w: Workload, tty: boolean): Promise<void> {
  const pod = await defaultPod(w);
  const id = await w.run(pod, 'container-for-exec-test');
  const { url } = await w.c.rt('Exec', {
    container_id: id,
    cmd: ['echo', 'hello'],
    stdout: true,
    stderr: !tty,
    tty,
    stdin: tty,
  });
  const rc = await connectRc(url, { ...V4, stdin: tty, stdout: true, stderr: !tty, tty });
  const expected = tty ? 'hello\r\n' : 'hello\n';
  if (tty) {
    // upstream closes stdin once the output arrived (or after 5 s)
    await rc.waitFor(/hello/, 30_000).catch(() => undefined);
    rc.endStdin();
  }
  const r = await finished(rc, 'exec');
  assert.equal(r.stdout, expected);
  assert.equal(r.stderr, '');
}

/** GET / through a port-forward session; the HTTP image answers 200 with its first body line. */
async function forwardedGet(url: string, port: number): Promise<string> {
  // One session (the URL is single-use), one forward per attempt: upstream's checkMainPage retries each second
  // for a minute while the web server starts (slow in a TCG guest), as a client of the forward would.
  const session = await spdyPortForwardSession(url);
  try {
    const until = Date.now() + 60_000;
    for (let attempt = 0; ; attempt++) {
      const c = await openForward(session, port, attempt);
      c.data.end(REQUEST);
      const body = await bounded(c.received, 30_000, 'port-forward');
      const error = await bounded(c.error, 30_000, 'port-forward error stream');
      if (error === '' || Date.now() > until) {
        assert.equal(error, '');
        return body;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    session.close();
  }
}

/** A port nothing on the node listens on (the host-network pod's web server takes it). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** upstream's checkMainPage for a host-network pod: the page from the node itself, retried while it starts. */
async function nodeGet(port: number): Promise<string> {
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 5000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
      });
    } catch (e) {
      if (Date.now() >= until) throw e;
      await sleep(250);
    }
  }
}

export const STREAMING_SPECS: readonly Spec[] = [
  {
    id: 'streaming/exec',
    title: 'runtime should support exec with tty=false and stdin=false',
    run: (w) => execHello(w, false),
  },
  {
    id: 'streaming/exec-tty-stdin',
    title: 'runtime should support exec with tty=true and stdin=true',
    run: (w) => execHello(w, true),
  },
  {
    id: 'streaming/attach',
    title: 'runtime should support attach',
    async run(w) {
      const pod = await defaultPod(w);
      const id = await w.run(pod, 'container-for-attach-test', {
        command: ['sh'],
        stdin: true,
        stdin_once: true,
        tty: false,
      });
      const { url } = await w.c.rt('Attach', { container_id: id, stdin: true, stdout: true, stderr: true, tty: false });
      const rc = await connectRc(url, { ...V4, stdin: true, stdout: true, stderr: true });
      rc.write('echo hello\n');
      await rc.waitFor(/hello\n/, 60_000);
      // upstream: nothing else arrives for 3 s, then stdin closes
      await sleep(3000);
      assert.equal(rc.stdout(), 'hello\n');
      rc.endStdin();
      const r = await finished(rc, 'attach');
      assert.equal(r.stderr, '');
    },
  },
  {
    id: 'streaming/portforward',
    title: 'runtime should support portforward',
    async run(w) {
      const pod = await w.runPod('create-PodSandbox-for-container-', {
        port_mappings: [{ container_port: E2E_NGINX.port }],
      });
      await w.run(pod, 'container-for-portforward-test', { image: { image: E2E_NGINX.ref }, command: [] });
      const { url } = await w.c.rt('PortForward', { pod_sandbox_id: pod.id, port: [E2E_NGINX.port] });
      assert.match(await forwardedGet(url, E2E_NGINX.port), new RegExp(`200[\\s\\S]*${HTTP.bodyPrefix}`));
    },
  },
  {
    id: 'streaming/portforward-host-network',
    title: 'runtime should support portforward in host network',
    async run(w) {
      const port = await freePort();
      const pod = await w.runPod('create-PodSandbox-for-container-', {
        port_mappings: [{ container_port: port }],
        ...podLinux({ security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } }),
      });
      await w.run(pod, 'container-for-host-net-portforward-test', {
        // upstream's hostnet-nginx listens on 12003; every handler runs this spec at once, so each takes a free port
        image: { image: CRI_HOSTNET_NGINX.ref },
        command: [],
        args: [String(port)],
        linux: { security_context: { namespace_options: { network: 'NODE', pid: 'POD', ipc: 'POD' } } },
      });
      assert.match(await nodeGet(port), new RegExp(HTTP.bodyPrefix));
      const { url } = await w.c.rt('PortForward', { pod_sandbox_id: pod.id, port: [port] });
      assert.match(await forwardedGet(url, port), new RegExp(`200[\\s\\S]*${HTTP.bodyPrefix}`));
    },
  },
];

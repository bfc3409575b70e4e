/**
 * Just enough of a Kubernetes API server + kubelet for the real `kubectl` (client-go: moby/spdystream for SPDY,
 * gorilla/websocket for WebSocket) to run exec, attach and port-forward against crimux's streaming server:
 * discovery and GET of one running pod, and for the pod's exec/attach/portforward subresources what the kubelet
 * does — turn the query into a CRI-style request, get a streaming URL for it (`issue`), and proxy the client's
 * upgrade request to that URL byte for byte (the kubelet's UpgradeAwareHandler).
 */
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { StreamOptions } from '../../../src/backends/backend';

export type IssueRequest =
  | { kind: 'exec'; cmd: string[]; opts: StreamOptions }
  | { kind: 'attach'; opts: StreamOptions }
  | { kind: 'portforward'; ports: number[] };

export interface FakeApiServer {
  url: string;
  /** The latest subresource requests seen (for assertions). */
  seen: IssueRequest[];
  close(): Promise<void>;
}

export const POD = 'web';
export const NAMESPACE = 'default';
export const CONTAINER = 'app';

const json = (res: http.ServerResponse, body: unknown): void => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

const POD_OBJECT = {
  kind: 'Pod',
  apiVersion: 'v1',
  metadata: { name: POD, namespace: NAMESPACE, uid: '6f1d4a52-0000-4000-8000-000000000001' },
  spec: { containers: [{ name: CONTAINER, image: 'busybox', stdin: true, tty: false }] },
  status: { phase: 'Running', containerStatuses: [{ name: CONTAINER, ready: true, state: { running: {} } }] },
};

const RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    {
      name: 'pods/portforward',
      singularName: '',
      namespaced: true,
      kind: 'PodPortForwardOptions',
      verbs: ['create', 'get'],
    },
  ],
};

export async function startFakeApiServer(issue: (r: IssueRequest) => string | Promise<string>): Promise<FakeApiServer> {
  const seen: IssueRequest[] = [];
  const base = `/api/v1/namespaces/${NAMESPACE}/pods/${POD}`;
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api') return json(res, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    if (path === '/apis') return json(res, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (path === '/api/v1') return json(res, RESOURCES);
    if (path === base) return json(res, POD_OBJECT);
    res
      .writeHead(404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ kind: 'Status', status: 'Failure', code: 404 }));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const u = new URL(req.url ?? '/', 'http://x');
    const q = u.searchParams;
    const flag = (k: string): boolean => q.get(k) === 'true' || q.get(k) === '1';
    const opts: StreamOptions = {
      stdin: flag('stdin'),
      stdout: flag('stdout'),
      stderr: flag('stderr'),
      tty: flag('tty'),
    };
    let r: IssueRequest;
    if (u.pathname === `${base}/exec`) r = { kind: 'exec', cmd: q.getAll('command'), opts };
    else if (u.pathname === `${base}/attach`) r = { kind: 'attach', opts };
    else if (u.pathname === `${base}/portforward`) r = { kind: 'portforward', ports: q.getAll('ports').map(Number) };
    else return socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    seen.push(r);
    void Promise.resolve()
      .then(() => issue(r))
      .then(
        (url) => proxyTo(req, socket, head, new URL(url)),
        () => socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n'),
      );
  });

  /** Forward the client's upgrade request, unchanged but for its path, and then the bytes both ways. */
  const proxyTo = (req: http.IncomingMessage, socket: Duplex, head: Buffer, target: URL): void => {
    const upstream = net.connect(Number(target.port), target.hostname);
    upstream.on('error', () => socket.destroy());
    const lines = [`${req.method} ${target.pathname} HTTP/1.1`, `Host: ${target.host}`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i]?.toLowerCase() !== 'host') lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    }
    upstream.write(lines.join('\r\n') + '\r\n\r\n');
    if (head.length) upstream.write(head);
    socket.pipe(upstream).pipe(socket);
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A kubeconfig pointing kubectl at the fake API server (no auth). */
export function kubeconfig(serverUrl: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: fake\n  cluster:\n    server: ${serverUrl}`,
    'users:',
    '- name: nobody\n  user: {}',
    'contexts:',
    `- name: fake\n  context:\n    cluster: fake\n    user: nobody\n    namespace: ${NAMESPACE}`,
    'current-context: fake',
    '',
  ].join('\n');
}

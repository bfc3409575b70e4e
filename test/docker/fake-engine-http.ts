/**
 * A fake dockerd on a unix socket, for the HTTP client's API version negotiation: it announces an API range in
 * GET /version and, like dockerd, refuses versioned paths outside that range with 400 and dockerd's message.
 * Every request path is recorded.
 */
import http from 'node:http';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compareApi } from '../../src/backends/docker/engine-client';

export interface FakeHttpEngine {
  readonly socket: string;
  readonly paths: string[];
  close(): Promise<void>;
}

export async function startFakeHttpEngine(
  version: string,
  apiVersion: string,
  minApiVersion: string,
): Promise<FakeHttpEngine> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'crimux-fake-dockerd-'));
  const socket = path.join(dir, 'docker.sock');
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    paths.push(url);
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(url);
    const route = m ? (m[2] as string) : url;
    if (m) {
      const v = m[1] as string;
      if (compareApi(v, minApiVersion) < 0) {
        return reply(400, {
          message: `client version ${v} is too old. Minimum supported API version is ${minApiVersion}, please upgrade your client to a newer version`,
        });
      }
      if (compareApi(v, apiVersion) > 0)
        return reply(400, {
          message: `client version ${v} is too new. Maximum supported API version is ${apiVersion}`,
        });
    }
    if (route.startsWith('/version'))
      return reply(200, { Version: version, ApiVersion: apiVersion, MinAPIVersion: minApiVersion });
    if (route.startsWith('/info')) return reply(200, { DockerRootDir: '/var/lib/docker', Driver: 'overlay2' });
    if (route.startsWith('/_ping')) {
      res.writeHead(200);
      return res.end('OK');
    }
    return reply(404, { message: `page not found: ${route}` });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    paths,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

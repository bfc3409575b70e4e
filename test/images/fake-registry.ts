/**
 * A tiny distribution registry on loopback for the cases the real one cannot show: wrong or truncated blobs,
 * Bearer-token auth with a token endpoint, slow blobs (to overlap concurrent pulls), request counting.
 * Images are built in memory (a minimal ustar writer), so the tests need nothing else.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A ustar archive of regular files (enough for layers in these tests). */
export function tarOf(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('14670473200\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0' + '00', 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface FakeImage {
  readonly manifest: Buffer;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layerDigests: string[];
  readonly blobs: Map<string, Buffer>;
}

/**
 * An image of layers, each a set of files (gzip, or zstd through the zstd program); `user` goes into the config;
 * `lieDiffIds` corrupts the config.
 */
export function buildImage(
  layers: Record<string, string>[],
  user = '',
  lieDiffIds = false,
  compression: 'gzip' | 'zstd' = 'gzip',
): FakeImage {
  const blobs = new Map<string, Buffer>();
  const diffIds: string[] = [];
  const descs = layers.map((files) => {
    const tar = tarOf(files);
    diffIds.push(sha(tar));
    const blob = compression === 'gzip' ? gzipSync(tar) : execFileSync('zstd', ['-q', '-c'], { input: tar });
    blobs.set(sha(blob), blob);
    return { mediaType: `application/vnd.oci.image.layer.v1.tar+${compression}`, digest: sha(blob), size: blob.length };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { User: user },
      rootfs: { type: 'layers', diff_ids: lieDiffIds ? diffIds.map(() => sha(Buffer.from('lie'))) : diffIds },
    }),
  );
  blobs.set(sha(config), config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: descs,
    }),
  );
  return {
    manifest,
    manifestDigest: sha(manifest),
    configDigest: sha(config),
    layerDigests: descs.map((d) => d.digest),
    blobs,
  };
}

export interface FakeRegistryOptions {
  /** "repo:tag" → image (tests may re-point a tag) */
  images: Record<string, FakeImage>;
  /**
   * Bearer auth: the token endpoint wants these basic credentials and hands out `token`. With `basic`, the
   * registry itself asks for the basic credentials (a Basic challenge, no token endpoint).
   */
  readonly auth?: { username: string; password: string; token: string; basic?: boolean };
  /** Served instead of the real bytes of a blob (digest mismatch). */
  readonly corrupt?: Map<string, Buffer>;
  /** Blobs whose connection is cut halfway. */
  readonly truncate?: Set<string>;
  /** Delay before a blob's body, to make concurrent pulls overlap. */
  readonly blobDelayMs?: number;
  /** Blobs whose first part is sent, then nothing until the client goes away (a stalled download). */
  readonly stall?: Set<string>;
  /** Blobs served at once, without blobDelayMs (e.g. the one that fails first). */
  readonly fast?: Set<string>;
  /** The realm put in Bearer challenges instead of this registry's own /token (hostile realms). */
  readonly realm?: string;
}

export interface RequestLog {
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
}

export class FakeRegistry {
  readonly requests: RequestLog[] = [];
  /** Blob bodies being sent right now, and the most at any moment. */
  blobsInFlight = 0;
  maxBlobsInFlight = 0;
  readonly images: Record<string, FakeImage>;
  private readonly server: http.Server;
  port = 0;

  constructor(private readonly opts: FakeRegistryOptions) {
    this.images = opts.images;
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  blobGets(digest?: string): number {
    return this.requests.filter((r) => r.path.includes('/blobs/') && (!digest || r.path.endsWith(digest))).length;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, authorization: req.headers.authorization });
    const auth = this.opts.auth;
    if (url.pathname === '/token') {
      const want = 'Basic ' + Buffer.from(`${auth?.username}:${auth?.password}`).toString('base64');
      if (!auth || req.headers.authorization !== want) return this.send(res, 401, '{"errors":[{"code":"DENIED"}]}');
      return this.send(res, 200, JSON.stringify({ token: auth.token }));
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    const basic = 'Basic ' + Buffer.from(`${auth?.username}:${auth?.password}`).toString('base64');
    if (auth?.basic && req.headers.authorization !== basic) {
      res.setHeader('WWW-Authenticate', 'Basic realm="fake"');
      return this.send(res, 401, '{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    if (auth && !auth.basic && req.headers.authorization !== `Bearer ${auth.token}`) {
      const scope = m ? `repository:${m[1]}:pull` : '';
      const realm = this.opts.realm ?? `${this.url}/token`;
      res.setHeader('WWW-Authenticate', `Bearer realm="${realm}",service="fake",scope="${scope}"`);
      return this.send(res, 401, '{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    if (!m) return this.send(res, url.pathname === '/v2/' ? 200 : 404, '{}');
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      // By tag, else by the manifest's digest in the algorithm the reference names (sha256, sha384, sha512).
      const alg = /^(sha256|sha384|sha512):/.exec(ref)?.[1];
      const digestOf = (b: Buffer): string =>
        `${alg}:${createHash(alg ?? 'sha256')
          .update(b)
          .digest('hex')}`;
      const img =
        this.images[`${repo}:${ref}`] ?? Object.values(this.images).find((i) => alg && digestOf(i.manifest) === ref);
      if (!img) return this.send(res, 404, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}');
      res.setHeader('Content-Type', 'application/vnd.oci.image.manifest.v1+json');
      res.setHeader('Docker-Content-Digest', img.manifestDigest);
      return this.send(res, 200, img.manifest);
    }
    const blob = Object.values(this.images)
      .map((i) => i.blobs.get(ref))
      .find((b) => b !== undefined);
    if (!blob) return this.send(res, 404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    const body = this.opts.corrupt?.get(ref) ?? blob;
    this.blobsInFlight++;
    this.maxBlobsInFlight = Math.max(this.maxBlobsInFlight, this.blobsInFlight);
    res.on('close', () => this.blobsInFlight--);
    setTimeout(
      () => {
        if (this.opts.stall?.has(ref)) {
          res.writeHead(200, { 'Content-Length': String(body.length) });
          res.write(body.subarray(0, Math.floor(body.length / 4)));
          return;
        }
        if (this.opts.truncate?.has(ref)) {
          res.writeHead(200, { 'Content-Length': String(body.length) });
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
          return;
        }
        this.send(res, 200, body);
      },
      this.opts.fast?.has(ref) ? 0 : (this.opts.blobDelayMs ?? 0),
    );
  }

  private send(res: http.ServerResponse, status: number, body: string | Buffer): void {
    res.writeHead(status, { 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
  }
}

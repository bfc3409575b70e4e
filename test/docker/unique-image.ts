/**
 * Pushes to the local test registry an image no store has seen: BUSYBOX's manifest and layers with a config that
 * carries a unique label, so its image ID is new. Docker is shared by every test file (and engineer) on the host,
 * so a test that needs "an image Docker lacks" cannot rely on removing a common one.
 */
import { createHash } from 'node:crypto';
import { BUSYBOX } from '../fixtures/images';

const ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');
const TIMEOUT_MS = 30_000;

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function ok(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

export interface UniqueImage {
  /** As the kubelet writes it, e.g. docker.io/library/busybox:transfer-123-1. */
  readonly ref: string;
  /** The image ID (config digest). */
  readonly id: string;
}

/** Pushes busybox with config label `crimux.test=<label>` under tag `label` of the same repository. */
export async function pushUniqueImage(port: number, label: string): Promise<UniqueImage> {
  const [repo, tag] = BUSYBOX.local.split(':') as [string, string];
  const base = `http://127.0.0.1:${port}/v2/${repo}`;
  const signal = AbortSignal.timeout(TIMEOUT_MS);
  const get = async (url: string, accept?: string): Promise<Response> =>
    ok(await fetch(url, { signal, headers: accept ? { Accept: accept } : {} }), `GET ${url}`);

  let res = await get(`${base}/manifests/${tag}`, ACCEPT);
  let manifest = JSON.parse(await res.text()) as Record<string, unknown> & {
    manifests?: { digest: string; platform?: { architecture?: string } }[];
  };
  if (Array.isArray(manifest.manifests)) {
    const amd64 = manifest.manifests.find((m) => m.platform?.architecture === 'amd64');
    if (!amd64) throw new Error('busybox index has no amd64 manifest');
    res = await get(`${base}/manifests/${amd64.digest}`, ACCEPT);
    manifest = JSON.parse(await res.text()) as typeof manifest;
  }
  const mediaType =
    (res.headers.get('content-type') ?? '').split(';')[0] || 'application/vnd.oci.image.manifest.v1+json';
  const cfgDesc = manifest.config as { digest: string; size: number; mediaType: string };
  const config = JSON.parse(await (await get(`${base}/blobs/${cfgDesc.digest}`)).text()) as {
    config?: { Labels?: Record<string, string> };
  };
  config.config = { ...config.config, Labels: { ...config.config?.Labels, 'crimux.test': label } };
  const body = Buffer.from(JSON.stringify(config));
  const id = digestOf(body);

  const start = await ok(await fetch(`${base}/blobs/uploads/`, { method: 'POST', signal }), 'start upload');
  const location = new URL(start.headers.get('location') ?? '', `http://127.0.0.1:${port}`);
  location.searchParams.set('digest', id);
  await ok(
    await fetch(location, { method: 'PUT', body, signal, headers: { 'Content-Type': 'application/octet-stream' } }),
    'upload config',
  );

  const next = Buffer.from(JSON.stringify({ ...manifest, config: { ...cfgDesc, digest: id, size: body.length } }));
  await ok(
    await fetch(`${base}/manifests/${label}`, {
      method: 'PUT',
      body: next,
      signal,
      headers: { 'Content-Type': mediaType },
    }),
    'put manifest',
  );
  return { ref: `docker.io/${repo}:${label}`, id };
}

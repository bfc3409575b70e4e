/**
 * TLS trust for registry connections, as containerd builds it from hosts.toml:
 *
 * - Roots: Node's own (its bundled Mozilla roots plus NODE_EXTRA_CA_CERTS) AND the system store, so CAs an
 *   operator installed with update-ca-certificates are trusted as they are by containerd and CRI-O (Go reads the
 *   system store). The system store is SSL_CERT_FILE when set, else the first bundle of Go's list that exists
 *   (/etc/ssl/certs/ca-certificates.crt on Debian and Ubuntu, /etc/pki/tls/certs/ca-bundle.crt on Fedora and RHEL,
 *   …), plus every file in SSL_CERT_DIR (colon-separated) when set. Read once per process.
 * - Per endpoint (config images.registries.<host>.endpoints[].ca / clientCert / clientKey, containerd's `ca`,
 *   `client` and `skip_verify`): CA files ADD to those roots (not replace them); a client certificate and key are
 *   offered to the endpoint's own host only — a token realm or a blob redirect gets the same roots but never the
 *   node's client certificate. The files are read at every pull, so rotating them needs no restart.
 *
 * A profile is cached by the hash of its material, so the secure context (parsing a few hundred roots) is built once
 * per distinct set, not once per connection.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import type { Env, ProxyConfig } from './proxy';
import { InvalidArgumentError } from '../errors';

/** Where an endpoint's TLS material lives (paths from the config). */
export interface EndpointTlsConfig {
  /** CA bundles (PEM) trusted for this endpoint in addition to the node's roots. */
  readonly ca: readonly string[];
  /** Client certificate (PEM); may hold the key too, as containerd's single-file `client` does. */
  readonly clientCert?: string;
  readonly clientKey?: string;
  readonly insecureSkipVerify: boolean;
}

/** Loaded TLS settings of one endpoint for one pull. */
export interface TlsProfile {
  /** Distinguishes profiles (the hash of their material): connection pools are kept per profile. */
  readonly id: string;
  readonly rejectUnauthorized: boolean;
  /** For connections to the endpoint's own host: roots plus the client certificate, if any. */
  readonly endpointContext: SecureContext;
  /** For other hosts (token realms, blob redirects): the same roots, no client certificate. */
  readonly otherContext: SecureContext;
}

/** How requests of one pull reach one endpoint: its TLS profile and the node's proxy settings. */
export interface Transport {
  readonly tls: TlsProfile;
  readonly proxy: ProxyConfig;
}

/** Go's list of system bundles (crypto/x509/root_linux.go), first existing wins. */
const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a text (other blocks and comments dropped). */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

function readCerts(file: string): string[] {
  try {
    return pemCertificates(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
}

export interface RootSources {
  /** Node's default roots (bundled + NODE_EXTRA_CA_CERTS). */
  readonly node: number;
  /** The system bundle file read, if any, and how many certificates it gave. */
  readonly systemFile: string | undefined;
  readonly system: number;
  readonly total: number;
}

/** Node's default roots: bundled Mozilla roots plus NODE_EXTRA_CA_CERTS (which an explicit `ca` would drop). */
function nodeDefaultRoots(env: Env): string[] {
  const get = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  if (typeof get === 'function') return get('default');
  const extra = env.NODE_EXTRA_CA_CERTS ? readCerts(env.NODE_EXTRA_CA_CERTS) : [];
  return [...tls.rootCertificates, ...extra];
}

/** The roots every registry connection trusts, and where they came from (see the file comment). */
export function loadRoots(env: Env = process.env): { roots: string[]; sources: RootSources } {
  const node = nodeDefaultRoots(env);
  const systemFile = env.SSL_CERT_FILE ? env.SSL_CERT_FILE : SYSTEM_BUNDLES.find((f) => existsSync(f));
  const system = systemFile ? readCerts(systemFile) : [];
  for (const dir of (env.SSL_CERT_DIR ?? '').split(':').filter(Boolean)) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const f = path.join(dir, n);
      try {
        if (statSync(f).isFile()) system.push(...readCerts(f));
      } catch {
        // a dangling link or an unreadable file: skipped, as Go does
      }
    }
  }
  // Node's and the system's lists overlap almost entirely (formatted differently): each certificate goes into the
  // context once, keyed by its base64 body, which halves the cost of building a context (≈50 ms per 150 roots).
  const byBody = new Map<string, string>();
  for (const c of [...node, ...system]) {
    const body = c.replace(/-----[A-Z ]+-----|\s+/g, '');
    if (!byBody.has(body)) byBody.set(body, c.trim());
  }
  const roots = [...byBody.values()];
  return { roots, sources: { node: node.length, systemFile, system: system.length, total: roots.length } };
}

let defaultRoots: { roots: string[]; sources: RootSources } | undefined;

function rootsOnce(): string[] {
  defaultRoots ??= loadRoots();
  return defaultRoots.roots;
}

/** Where the process's roots came from (read on first use), for the start-up log line. */
export function rootSources(): RootSources {
  defaultRoots ??= loadRoots();
  return defaultRoots.sources;
}

const profiles = new Map<string, TlsProfile>();
const MAX_PROFILES = 64;

async function readMaterial(file: string, what: string, domain: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new InvalidArgumentError(`registry ${domain}: read ${what} ${file}: ${code}`);
  }
}

/**
 * The TLS profile of an endpoint: reads its files (each pull, so rotation applies) and returns a cached profile
 * when the material is unchanged. `roots` is for tests; the default is the process's roots (loadRoots).
 */
export async function tlsProfile(cfg: EndpointTlsConfig, domain: string, roots?: string[]): Promise<TlsProfile> {
  const extraCa: string[] = [];
  for (const file of cfg.ca) {
    const certs = pemCertificates(await readMaterial(file, 'CA file', domain));
    if (certs.length === 0) throw new InvalidArgumentError(`registry ${domain}: CA file ${file} holds no certificate`);
    extraCa.push(...certs);
  }
  const certPem = cfg.clientCert ? await readMaterial(cfg.clientCert, 'client certificate', domain) : undefined;
  const keyPem = cfg.clientKey ? await readMaterial(cfg.clientKey, 'client key', domain) : certPem;
  const base = roots ?? rootsOnce();
  const h = createHash('sha256');
  for (const part of [cfg.insecureSkipVerify ? 'skip' : 'verify', roots ? 'custom' : 'default', ...extraCa]) {
    h.update(part).update('\0');
  }
  h.update(certPem ?? '')
    .update('\0')
    .update(keyPem ?? '');
  const id = h.digest('hex').slice(0, 16);
  const cached = profiles.get(id);
  if (cached) return cached;
  const ca = [...base, ...extraCa];
  let endpointContext: SecureContext;
  try {
    endpointContext = tls.createSecureContext(certPem ? { ca, cert: certPem, key: keyPem } : { ca });
  } catch (err) {
    // OpenSSL's reason (a key that does not match, a PEM that does not parse): never the material itself.
    const reason = (err as Error).message.replace(/\s+/g, ' ').slice(0, 200);
    throw new InvalidArgumentError(
      `registry ${domain}: client certificate ${cfg.clientCert ?? ''} / key ${cfg.clientKey ?? cfg.clientCert ?? ''}: ${reason}`,
    );
  }
  const otherContext = certPem ? tls.createSecureContext({ ca }) : endpointContext;
  const profile: TlsProfile = { id, rejectUnauthorized: !cfg.insecureSkipVerify, endpointContext, otherContext };
  if (profiles.size >= MAX_PROFILES) profiles.delete(profiles.keys().next().value as string);
  profiles.set(id, profile);
  return profile;
}

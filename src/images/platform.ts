/**
 * The platform whose images this node pulls from an image index, and the rules for matching index entries to it,
 * as containerd's platform matcher has them (an operator moving a node from containerd expects the same choice):
 *
 * - The node's platform comes from the Node process: x64 → amd64, arm64 → arm64 with variant v8, arm → arm with the
 *   variant Node was built for (v7 by default), ia32 → 386, ppc64 → ppc64le on little-endian, and so on (Go's
 *   GOARCH names, which is what image indexes use). `images.platform` overrides it for the whole node (containerd
 *   2 has the same per runtime handler, `runtime_platforms`); CRI-O has no such setting.
 * - Both sides are normalised before comparing: aarch64 = arm64, x86_64 = amd64, arm64/v8 = arm64 (no variant),
 *   arm without variant = arm/v7, armhf = arm/v7, armel = arm/v6, i386 = 386, amd64/v1 = amd64.
 * - An exact match wins; then the platforms the node can also run, best first: amd64/vN → amd64/v(N-1)… → 386;
 *   arm64 → arm/v8 → arm/v7 → arm/v6 → arm/v5; arm/vN → arm/v(N-1)… → arm/v5. Among equal matches the index's
 *   own order decides (its first entry).
 */
import os from 'node:os';
import { InvalidArgumentError } from '../errors';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Node's process.arch → Go's GOARCH (the names OCI image indexes use). */
const ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
  mips64el: 'mips64le',
  ppc: 'ppc',
};

/** Node's process.platform → Go's GOOS. */
const OS: Readonly<Record<string, string>> = { win32: 'windows', sunos: 'solaris' };

/**
 * The platform of the running process. Parameters exist for tests; the defaults read the process.
 * `armVersion` is Node's build-time ARM version (process.config.variables.arm_version, "7" on Debian's armhf).
 */
export function hostPlatform(
  arch: string = process.arch,
  platform: string = process.platform,
  armVersion: unknown = (process.config.variables as Record<string, unknown>).arm_version,
  endianness: 'BE' | 'LE' = os.endianness(),
): Platform {
  const goos = OS[platform] ?? platform;
  if (arch === 'ppc64') return { os: goos, architecture: endianness === 'LE' ? 'ppc64le' : 'ppc64' };
  const architecture = ARCH[arch] ?? arch;
  // containerd's DefaultSpec gives arm64 hosts variant v8 (the CPU's, from /proc/cpuinfo); arm follows the build.
  if (architecture === 'arm64') return { os: goos, architecture, variant: 'v8' };
  if (architecture === 'arm') {
    const v = String(armVersion ?? '');
    return { os: goos, architecture, variant: /^[5-8]$/.test(v) ? `v${v}` : 'v7' };
  }
  return { os: goos, architecture };
}

/** "linux/arm64/v8" → Platform; the os is required (as in containerd's platforms.Parse with a full specifier). */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().toLowerCase().split('/');
  const [osName, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !osName || !architecture || (parts.length === 3 && !variant)) {
    throw new InvalidArgumentError(`platform "${spec}": expected os/architecture[/variant], e.g. linux/arm64/v8`);
  }
  if (!parts.every((p) => /^[a-z0-9._-]+$/.test(p))) {
    throw new InvalidArgumentError(`platform "${spec}": only letters, digits, ".", "_" and "-" in each part`);
  }
  return variant ? { os: osName, architecture, variant } : { os: osName, architecture };
}

/** "linux/arm64/v8", as in logs and errors. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/** containerd's normalisation, so that spellings of one platform compare equal. */
export function normalizePlatform(p: { os?: string; architecture?: string; variant?: string }): Platform {
  const osName = (p.os ?? '').toLowerCase();
  let arch = (p.architecture ?? '').toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (variant === '9' || variant === '9.0' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return variant ? { os: osName, architecture: arch, variant } : { os: osName, architecture: arch };
}

function versionOf(variant: string | undefined): number | undefined {
  const m = /^v?(\d+)$/.exec(variant ?? '');
  return m ? Number(m[1]) : undefined;
}

/** What a node of platform `p` runs, best first (normalised); see the file comment. */
export function compatiblePlatforms(p: Platform): Platform[] {
  const n = normalizePlatform(p);
  const out: Platform[] = [n];
  const arm = (from: number): void => {
    for (let v = from; v >= 5; v--) out.push({ os: n.os, architecture: 'arm', variant: `v${v}` });
  };
  if (n.architecture === 'amd64') {
    const level = versionOf(n.variant);
    if (level !== undefined) for (let v = level - 1; v >= 2; v--) out.push({ ...n, variant: `v${v}` });
    if (level !== undefined && level > 1) out.push({ os: n.os, architecture: 'amd64' });
    out.push({ os: n.os, architecture: '386' });
  } else if (n.architecture === 'arm64') {
    // An armv9 CPU runs armv8 code; 32-bit ARM code runs on arm64 kernels built with compat support (containerd
    // assumes it does).
    if (n.variant === 'v9') out.push({ os: n.os, architecture: 'arm64' });
    arm(8);
  } else if (n.architecture === 'arm') {
    const v = versionOf(n.variant);
    if (v !== undefined) arm(v - 1);
  }
  return out;
}

function same(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/**
 * How well an index entry's platform suits the node: 0 is an exact match, higher is a worse fallback, undefined is
 * no match (also for an entry without a platform: OCI says it is not meant for any particular one, and attestation
 * manifests carry "unknown/unknown").
 */
export function platformRank(
  node: Platform,
  entry: { os?: string; architecture?: string; variant?: string } | undefined,
): number | undefined {
  if (!entry?.os || !entry.architecture) return undefined;
  const e = normalizePlatform(entry);
  const i = compatiblePlatforms(node).findIndex((c) => same(c, e));
  return i < 0 ? undefined : i;
}

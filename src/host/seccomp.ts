/**
 * Seccomp for Linux containers: choosing the profile from the CRI request (RuntimeDefault, Unconfined, Localhost,
 * and the legacy seccomp_profile_path strings) and turning a Docker/containerd-format profile into OCI seccomp.
 *
 * Profiles may carry `includes`/`excludes` by capability (the shipped RuntimeDefault profile in
 * config/seccomp/runtime-default.json does); the OCI spec has no such conditionals, so they are resolved here
 * against the capabilities the container will actually hold.
 */
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errors';
import type { OciSeccomp, OciSeccompSyscall } from './oci-spec';

/** What the CRI request asks for, as the generated types deliver it. */
export interface CriSeccompRequest {
  readonly seccomp: { readonly profile_type: string; readonly localhost_ref: string } | null;
  /** Deprecated field: "runtime/default", "docker/default", "unconfined", "localhost/<abs path>" or "". */
  readonly seccomp_profile_path?: string;
}

export type SeccompChoice =
  | { readonly kind: 'unconfined' }
  | { readonly kind: 'runtime-default' }
  | { readonly kind: 'localhost'; readonly path: string };

/**
 * Decides the profile like containerd: the structured field wins over the legacy path; nothing set means
 * unconfined (the kubelet sends RuntimeDefault explicitly when the pod asks for it).
 */
export function chooseSeccomp(req: CriSeccompRequest, field: string): SeccompChoice {
  if (req.seccomp) {
    switch (req.seccomp.profile_type) {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Unconfined':
        return { kind: 'unconfined' };
      case 'Localhost':
        return { kind: 'localhost', path: checkLocalPath(req.seccomp.localhost_ref, `${field}.seccomp.localhost_ref`) };
      default:
        throw new InvalidArgumentError(
          `choose seccomp profile: ${field}.seccomp.profile_type: unknown "${req.seccomp.profile_type}"`,
        );
    }
  }
  // The deprecated field may be absent from a hand-built request (the gRPC decoder always fills it with '').
  const p = req.seccomp_profile_path ?? '';
  if (p === '' || p === 'unconfined') return { kind: 'unconfined' };
  if (p === 'runtime/default' || p === 'docker/default') return { kind: 'runtime-default' };
  if (p.startsWith('localhost/')) {
    return { kind: 'localhost', path: checkLocalPath(p.slice('localhost/'.length), `${field}.seccomp_profile_path`) };
  }
  throw new InvalidArgumentError(`choose seccomp profile: ${field}.seccomp_profile_path: unsupported "${p}"`);
}

function checkLocalPath(p: string, field: string): string {
  if (!p || !path.isAbsolute(p))
    throw new InvalidArgumentError(`choose seccomp profile: ${field}: must be an absolute path, got "${p}"`);
  return path.normalize(p);
}

interface ProfileRule {
  names?: string[];
  name?: string;
  action: string;
  errnoRet?: number;
  args?: OciSeccompSyscall['args'] | null;
  includes?: { caps?: string[]; arches?: string[] };
  excludes?: { caps?: string[]; arches?: string[] };
}

interface ProfileFile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  syscalls?: ProfileRule[];
}

/** Reads a profile file (Docker/containerd or plain OCI format). InvalidArgument when missing or malformed. */
export async function loadSeccompProfile(file: string): Promise<ProfileFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new InvalidArgumentError(`load seccomp profile ${file}: ${(e as Error).message}`, { cause: e });
  }
  let parsed: ProfileFile;
  try {
    parsed = JSON.parse(text) as ProfileFile;
  } catch (e) {
    throw new InvalidArgumentError(`load seccomp profile ${file}: not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (typeof parsed.defaultAction !== 'string') {
    throw new InvalidArgumentError(`load seccomp profile ${file}: defaultAction is missing`);
  }
  return parsed;
}

/** Resolves capability conditionals and returns OCI seccomp for a container holding `caps`. */
export function profileToOci(profile: ProfileFile, caps: readonly string[]): OciSeccomp {
  const architectures = profile.archMap
    ? profile.archMap.flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])])
    : profile.architectures;
  const syscalls: OciSeccompSyscall[] = [];
  for (const r of profile.syscalls ?? []) {
    if (r.includes?.caps && !r.includes.caps.every((c) => caps.includes(c))) continue;
    if (r.excludes?.caps && r.excludes.caps.some((c) => caps.includes(c))) continue;
    const names = r.names ?? (r.name ? [r.name] : []);
    if (names.length === 0) continue;
    const s: OciSeccompSyscall = { names, action: r.action };
    if (r.errnoRet !== undefined) s.errnoRet = r.errnoRet;
    if (r.args && r.args.length > 0) s.args = r.args;
    syscalls.push(s);
  }
  const out: OciSeccomp = { defaultAction: profile.defaultAction, syscalls };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  if (architectures && architectures.length > 0) out.architectures = architectures;
  if (profile.flags && profile.flags.length > 0) out.flags = profile.flags;
  return out;
}

/** The OCI seccomp section for a choice, or undefined for unconfined. */
export async function seccompFor(
  choice: SeccompChoice,
  caps: readonly string[],
  runtimeDefaultFile: string,
): Promise<OciSeccomp | undefined> {
  if (choice.kind === 'unconfined') return undefined;
  const file = choice.kind === 'localhost' ? choice.path : runtimeDefaultFile;
  return profileToOci(await loadSeccompProfile(file), caps);
}

/**
 * The shipped RuntimeDefault profile: config/seccomp/runtime-default.json of the crimux tree, found by walking
 * up from this module (works from src/ under tsx and from dist/src/ after a build).
 */
export function shippedRuntimeDefaultProfile(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'config', 'seccomp', 'runtime-default.json');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve('config/seccomp/runtime-default.json');
}

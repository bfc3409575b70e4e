/**
 * The runtime handlers the conformance suite runs against (not a test file): the five handlers of one crimux
 * daemon — `runc`, `runc-b` (a second runc handler with its own runtime root, as a node with two RuntimeClasses
 * on one runtime has), `docker`, `vm` and `rkt` — which of them this run selects (CRIMUX_CONFORMANCE_HANDLERS,
 * a comma-separated list, default all five) and why one cannot run on this machine.
 *
 * NOTE: CNI slots on the runc tests' naming scheme (bridge crimuxr<slot>, subnet 10.89.<50+slot>.0/24): the
 * conformance files take 20–29 (20–24 the pod/container/image/runtime files, 25–29 the security, namespace,
 * mount, sysctl, device, volume and streaming files); other test files use 0–13.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vmh from '../vm/helpers';

export type Backend = 'runc' | 'docker' | 'vm' | 'rkt';
export type HandlerName = 'runc' | 'runc-b' | 'docker' | 'vm' | 'rkt';

export interface Handler {
  readonly name: HandlerName;
  readonly backend: Backend;
  /** The handler's entry in the daemon config's `handlers` (runtime root given per daemon directory). */
  options(dir: string): Record<string, unknown>;
}

export const HANDLERS: readonly Handler[] = [
  { name: 'runc', backend: 'runc', options: (dir) => ({ runtimeRoot: path.join(dir, 'runc-root-a') }) },
  {
    name: 'runc-b',
    backend: 'runc',
    options: (dir) => ({ runtimeRoot: path.join(dir, 'runc-root-b'), runtimePath: '/usr/sbin/runc' }),
  },
  { name: 'docker', backend: 'docker', options: () => ({ dockerRuntime: 'runc' }) },
  { name: 'vm', backend: 'vm', options: () => ({}) },
  { name: 'rkt', backend: 'rkt', options: () => ({}) },
];

export const HANDLER_NAMES: readonly HandlerName[] = HANDLERS.map((h) => h.name);

/** Why a backend cannot run on this machine (node:test skips its specs with this reason), or undefined. */
export function unavailable(backend: Backend): string | undefined {
  switch (backend) {
    case 'runc':
      return existsSync('/usr/sbin/runc') || existsSync('/usr/bin/runc') ? undefined : 'runc is not installed';
    case 'docker':
      return existsSync('/usr/sbin/dockerd') || existsSync('/usr/bin/dockerd') ? undefined : 'dockerd is not installed';
    case 'rkt':
      return existsSync('/usr/bin/systemd-nspawn') ? undefined : 'systemd-nspawn (rkt built-in stage1) is missing';
    case 'vm':
      // No /dev/kvm is fine: the backend falls back to TCG.
      if (!existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed';
      if (!existsSync(path.join(vmh.GUEST_DIR, 'manifest.json'))) return `no VM guest in ${vmh.GUEST_DIR}`;
      return undefined;
  }
}

/** The handlers this run selects, in the table's order; an unknown name is a mistake worth stopping for. */
export function selectedHandlers(raw = process.env.CRIMUX_CONFORMANCE_HANDLERS ?? ''): readonly Handler[] {
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) return HANDLERS;
  for (const n of names) {
    if (!HANDLER_NAMES.includes(n as HandlerName)) {
      throw new Error(`CRIMUX_CONFORMANCE_HANDLERS: unknown handler "${n}" (known: ${HANDLER_NAMES.join(', ')})`);
    }
  }
  return HANDLERS.filter((h) => names.includes(h.name));
}

/** Small helpers of the guest agent: run busybox applets, signal numbers, sleeping. Node built-ins only. */
import { execFile } from 'node:child_process';
import os from 'node:os';

export const BUSYBOX = '/bin/busybox';
/** The optional static helper on the tools disk (guest/vmhelper.c): pty and CRNG reseed. */
export const HELPER = '/tools/bin/vmhelper';
/**
 * The host's console bridge (src/host/native/crimux-io.c), built into the tools disk too: it takes the terminal
 * `runc exec -t` hands over its console socket, so a tty exec is a runc exec like any other.
 */
export const CONSOLE_HELPER = '/tools/bin/crimux-io';

/** Run a busybox applet; rejects with its stderr when it exits non-zero. */
export function bb(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(BUSYBOX, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The number of a signal name ("SIGTERM", "TERM", "15"); throws for an unknown name. */
export function signalNumber(sig: string): number {
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = (sig.startsWith('SIG') ? sig : `SIG${sig}`).toUpperCase();
  const n = (os.constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new Error(`unknown signal ${sig}`);
  return n;
}

/** A request the guest cannot honour (not an agent failure): the host answers the CRI call FailedPrecondition. */
export class Refusal extends Error {}

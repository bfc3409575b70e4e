/**
 * Failpoints for the crash-consistency harness (test/reliability/crash.test.ts): named places in the router's
 * lifecycle code where, when the environment asks for it, the daemon kills itself with SIGKILL — exactly what a
 * power cut or an OOM kill would do there. Off unless CRIMUX_FAILPOINTS is set, and then a Set lookup.
 *
 *   CRIMUX_FAILPOINTS=sandbox.run.after-backend,container.remove.before-backend
 */
const armed = new Set(
  (process.env.CRIMUX_FAILPOINTS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** The failpoints the router passes through, in lifecycle order. */
export const FAILPOINTS = [
  'sandbox.run.before-backend',
  'sandbox.run.after-backend',
  'container.create.before-backend',
  'container.create.after-backend',
  'container.start.before-backend',
  'container.start.after-backend',
  'container.stop.before-backend',
  'container.stop.after-backend',
  'container.remove.before-backend',
  'container.remove.after-backend',
  'sandbox.stop.before-backend',
  'sandbox.stop.after-backend',
  'sandbox.remove.before-backend',
  'sandbox.remove.after-backend',
] as const;

export type Failpoint = (typeof FAILPOINTS)[number];

export function failpoint(name: Failpoint): void {
  if (armed.size > 0 && armed.has(name)) {
    process.stderr.write(`failpoint ${name}: SIGKILL\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

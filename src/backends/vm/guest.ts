/** The guest artefacts built by scripts/build-vm-guest.sh, read from <guestDir>/manifest.json. */
import fs from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, UnavailableError } from '../../errors';
import { PROTOCOL_VERSION } from './protocol';

export interface GuestArtefacts {
  readonly kernelVersion: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly tools: string;
  readonly protocolVersion: number;
  /** Changes whenever kernel, initramfs or agent change: keys the template snapshots and the probe cache. */
  readonly buildId: string;
}

/** Load and check the manifest; UnavailableError when missing, FailedPrecondition when built for another agent. */
export function loadGuest(guestDir: string): GuestArtefacts {
  const file = path.join(guestDir, 'manifest.json');
  let m: GuestArtefacts;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as GuestArtefacts;
  } catch (err) {
    throw new UnavailableError(`load vm guest: ${file}: ${(err as Error).message} (run scripts/build-vm-guest.sh)`, {
      cause: err,
    });
  }
  for (const f of [m.kernel, m.initrd, m.tools]) {
    if (!f || !fs.existsSync(f))
      throw new UnavailableError(`load vm guest: ${f} missing (run scripts/build-vm-guest.sh)`);
  }
  if (m.protocolVersion !== PROTOCOL_VERSION) {
    throw new FailedPreconditionError(
      `load vm guest: agent protocol ${m.protocolVersion}, crimux speaks ${PROTOCOL_VERSION}: rerun scripts/build-vm-guest.sh`,
    );
  }
  return m;
}

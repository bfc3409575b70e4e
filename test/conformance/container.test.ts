/**
 * Conformance: container lifecycle, idempotency, ExecSync, logs and stats on every selected handler (see
 * harness.ts; one daemon for the file, CNI slot 21).
 */
import { conformance } from './harness';
import { CONTAINER_SPECS, IDEMPOTENCE_SPECS } from './specs/container';
import { LOG_SPECS, STATS_SPECS } from './specs/logs-stats';

conformance({
  name: 'container',
  slot: 21,
  specs: [...CONTAINER_SPECS, ...IDEMPOTENCE_SPECS, ...LOG_SPECS, ...STATS_SPECS],
});

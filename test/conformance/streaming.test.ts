/**
 * Conformance: exec, attach and port-forward through the streaming server (specs/streaming.ts), on every
 * selected handler (see harness.ts; one daemon for the file, CNI slot 29).
 */
import { conformance } from './harness';
import { STREAMING_SPECS } from './specs/streaming';
import { specs } from './specs/workload';

conformance({ name: 'streaming', slot: 29, specs: specs(STREAMING_SPECS) });

/**
 * Conformance: the image manager on every selected handler's image store, one handler at a time (see
 * harness.ts; one daemon for the file, CNI slot 22).
 */
import { conformance } from './harness';
import { IMAGE_SPECS } from './specs/image';

conformance({ name: 'image', slot: 22, specs: IMAGE_SPECS, handlersInTurn: true });

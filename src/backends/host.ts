/**
 * BackendHost: the services the daemon lends every backend (issue #22), so that no backend folder carries its own
 * clock, record writer, undo stack, lock layer, CRI log writer or CNI client. A factory receives it in BackendDeps.host and
 * keeps it in the backend's shared context; the logger stays BackendDeps.log.
 *
 * The implementations live in src/util and src/host; this interface is what a backend may rely on, and the seam a
 * test uses to hand a backend, say, a clock it controls.
 */
import type { Config } from '../config/types';
import type { CriLogWriter } from '../host/cri-log';
import type { Logger } from '../log/logger';
import type { PodNetworking } from '../network';
import type { AtomicWriteOptions } from '../util/fs';
import type { KeyedMutex } from '../util/keyed-mutex';
import type { UndoStack } from '../util/undo';

export interface BackendClock {
  /** Nanoseconds since the epoch, never going backwards (CRI timestamps, stats). */
  nowNs(): bigint;
}

/** The backend's durable files: a crash leaves the old content or the new, never half (see src/util/fs.ts). */
export interface RecordFiles {
  exists(p: string): Promise<boolean>;
  writeAtomic(file: string, data: string | Buffer, opts?: AtomicWriteOptions): Promise<void>;
  writeAtomicSync(file: string, data: string | Buffer, opts?: AtomicWriteOptions): void;
}

export interface BackendHost {
  readonly clock: BackendClock;
  readonly files: RecordFiles;
  /** An undo stack for one multi-step create; each step gets its own deadline of `stepTimeoutMs` (default 30 s). */
  undoStack(log: Logger, stepTimeoutMs?: number): UndoStack;
  /** Runs `body` with an undo stack; on a throw, undoes what it registered and rethrows. */
  withUndo<T>(log: Logger, body: (undo: UndoStack) => Promise<T>): Promise<T>;
  /**
   * A lock per key, for work a backend must serialise on its own (its exit watchers, its hot-plug bookkeeping)
   * besides the router's per-sandbox lock around CRI calls.
   */
  keyedMutex(): KeyedMutex;
  /** The CRI log file of a container whose output the backend relays itself (no conmon, no Docker log driver). */
  criLogWriter(file: string): CriLogWriter;
  /**
   * The daemon's one pod network (namespaces + CNI, see src/network/pod-networking.ts), shared by every backend
   * given this host; built from the config on first use.
   */
  podNetwork(config: Config, log: Logger): PodNetworking;
}

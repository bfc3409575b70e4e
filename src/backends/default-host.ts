/**
 * The BackendHost the daemon (and the tests that build a backend directly) hand to backend factories. The daemon
 * makes one for all its backends, so they share one pod network.
 */
import type { BackendHost } from './host';
import { CriLogWriter } from '../host/cri-log';
import { nowNs } from '../util/clock';
import { exists, writeFileAtomic, writeFileAtomicSync } from '../util/fs';
import { KeyedMutex } from '../util/keyed-mutex';
import { PodNetworking } from '../network';
import { UndoStack, withUndo } from '../util/undo';

export function createBackendHost(): BackendHost {
  let network: PodNetworking | undefined;
  return {
    clock: { nowNs },
    files: { exists, writeAtomic: writeFileAtomic, writeAtomicSync: writeFileAtomicSync },
    undoStack: (log, stepTimeoutMs) => new UndoStack(log, stepTimeoutMs),
    withUndo: (log, body) => withUndo(log, body),
    keyedMutex: () => new KeyedMutex(),
    criLogWriter: (file) => new CriLogWriter(file),
    podNetwork: (config, log) =>
      (network ??= new PodNetworking({
        confDir: config.network.confDir,
        binDirs: config.network.binDirs,
        netnsDir: config.network.netnsDir,
        stateDir: config.stateDir,
        logger: log.child({ component: 'pod-network' }),
      })),
  };
}

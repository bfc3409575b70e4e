/** The BackendHost the daemon (and the tests that build a backend directly) hand to backend factories. */
import type { BackendHost } from './host';
import { CriLogWriter } from '../host/cri-log';
import { nowNs } from '../util/clock';
import { exists, writeFileAtomic, writeFileAtomicSync } from '../util/fs';
import { KeyedMutex } from '../util/keyed-mutex';
import { UndoStack, withUndo } from '../util/undo';

export function createBackendHost(): BackendHost {
  return {
    clock: { nowNs },
    files: { exists, writeAtomic: writeFileAtomic, writeAtomicSync: writeFileAtomicSync },
    undoStack: (log, stepTimeoutMs) => new UndoStack(log, stepTimeoutMs),
    withUndo: (log, body) => withUndo(log, body),
    keyedMutex: () => new KeyedMutex(),
    criLogWriter: (file) => new CriLogWriter(file),
  };
}

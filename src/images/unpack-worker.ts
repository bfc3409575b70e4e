/**
 * Worker-thread entry of unpack-offload.ts: runs one layer's unpack (layer-unpack.ts) off the event loop. The
 * parent sends the compressed bytes as transferred buffers and learns, per chunk, when it may send more.
 *
 * Messages in: { chunk: ArrayBuffer } | { end: true } | { kill: true }.
 * Messages out: { ack: bytes } | { done: UnpackResult } | { error: WireError }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { unpackLayer, type UnpackOptions } from './layer-unpack';
import { toWire } from './worker-errors';

type Inbound = { chunk: ArrayBuffer } | { end: true } | { kill: true };

const port = parentPort;
if (!port) throw new Error('unpack-worker.ts runs as a worker thread only');

let unpacking: ReturnType<typeof unpackLayer> | undefined;
try {
  unpacking = unpackLayer(workerData as UnpackOptions);
} catch (err) {
  port.postMessage({ error: toWire(err) });
}

if (unpacking) {
  const { input, result, kill } = unpacking;
  // The parent's writes fail through `result`; the stream's own 'error' is the same failure.
  input.on('error', () => {});
  port.on('message', (m: Inbound) => {
    if ('chunk' in m) {
      const n = m.chunk.byteLength;
      input.write(Buffer.from(m.chunk), () => port.postMessage({ ack: n }));
    } else if ('end' in m) {
      input.end();
    } else {
      kill();
      input.destroy();
    }
  });
  result
    .then(
      (done) => port.postMessage({ done }),
      (err: unknown) => port.postMessage({ error: toWire(err) }),
    )
    .finally(() => port.close());
}

/**
 * The client-to-server half of an HTTP/2 connection, parsed just enough to rewrite header blocks: it checks the
 * preface, streams every frame that carries no header block through untouched (without buffering its payload),
 * and holds HEADERS + CONTINUATION frames until END_HEADERS so a field split across frames is seen whole. A block
 * that needs no change is passed on as its original bytes; one that does is re-framed (same stream, END_STREAM
 * and priority kept, padding dropped).
 *
 * Anything the server would treat as a connection error (bad preface, a header block interrupted by another
 * frame, an oversize header frame, PUSH_PROMISE from a client, undecodable HPACK) raises, and the caller ends
 * that one connection: past such a point the filter's HPACK state could no longer be trusted to match the server's.
 */
import { rewriteHeaderBlock } from './authority';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  Flag,
  FrameError,
  FrameType,
  FRAME_HEADER_LENGTH,
  frameHeaderBlock,
  headersFragment,
  readFrameHeader,
  type FrameHeader,
} from './frames';
import { HpackDecoder } from './hpack-decoder';

/**
 * Largest header block held: well above what the server accepts (its SETTINGS_MAX_HEADER_LIST_SIZE counts
 * decoded octets, and a block is never larger than what it decodes to by more than a few bytes per field).
 */
export const MAX_HEADER_BLOCK = 256 * 1024;

type Stage = 'preface' | 'frame-header' | 'pass-payload' | 'hold-payload';

interface OpenBlock {
  readonly streamId: number;
  readonly firstFlags: number;
  readonly priority?: Buffer;
  readonly raw: Buffer[];
  readonly fragments: Buffer[];
  size: number;
}

export interface FrameFilterOptions {
  /** Drop the client's first SETTINGS ACK: it answers a SETTINGS frame crimux sent itself (see connection.ts). */
  dropFirstSettingsAck?: boolean;
}

export class FrameFilter {
  /** Complete header blocks seen, and how many of them had to be rewritten. */
  headerBlocks = 0;
  rewrittenBlocks = 0;
  /** Whether the first SETTINGS ACK was seen (and dropped). */
  settingsAckDropped = false;
  private readonly decoder = new HpackDecoder();
  private stage: Stage = 'preface';
  /** Bytes wanted for the current preface / frame header / held payload, and those gathered so far. */
  private need = CLIENT_PREFACE.length;
  private gathered: Buffer[] = [];
  private gatheredLength = 0;
  private passRemaining = 0;
  private frame?: { header: FrameHeader; bytes: Buffer };
  private block?: OpenBlock;

  constructor(private readonly options: FrameFilterOptions = {}) {}

  /** Feeds bytes from the client; returns the bytes to hand to the server, in order. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.stage === 'pass-payload') {
        const n = Math.min(this.passRemaining, chunk.length - pos);
        out.push(chunk.subarray(pos, pos + n));
        pos += n;
        this.passRemaining -= n;
        if (this.passRemaining === 0) this.expectFrameHeader();
        continue;
      }
      const take = Math.min(this.need - this.gatheredLength, chunk.length - pos);
      let whole: Buffer | undefined;
      if (this.gatheredLength === 0 && take === this.need) {
        whole = chunk.subarray(pos, pos + take);
      } else {
        this.gathered.push(chunk.subarray(pos, pos + take));
        this.gatheredLength += take;
        if (this.gatheredLength === this.need) whole = Buffer.concat(this.gathered, this.need);
      }
      pos += take;
      if (whole) {
        this.gathered = [];
        this.gatheredLength = 0;
        this.complete(whole, out);
      }
    }
    return out;
  }

  private complete(bytes: Buffer, out: Buffer[]): void {
    if (this.stage === 'preface') {
      if (!bytes.equals(CLIENT_PREFACE)) throw new FrameError('connection preface expected');
      out.push(bytes);
      this.expectFrameHeader();
    } else if (this.stage === 'frame-header') {
      this.onFrameHeader(readFrameHeader(bytes, 0), bytes, out);
    } else {
      this.onHeaderPayload(bytes, out);
    }
  }

  private onFrameHeader(header: FrameHeader, bytes: Buffer, out: Buffer[]): void {
    const { type, length, streamId } = header;
    if (this.block && (type !== FrameType.CONTINUATION || streamId !== this.block.streamId)) {
      throw new FrameError(`header block on stream ${this.block.streamId} interrupted by frame type ${type}`);
    }
    if (type === FrameType.PUSH_PROMISE) throw new FrameError('PUSH_PROMISE from a client');
    if (
      type === FrameType.SETTINGS &&
      header.flags & Flag.ACK &&
      length === 0 &&
      this.options.dropFirstSettingsAck &&
      !this.settingsAckDropped
    ) {
      this.settingsAckDropped = true;
      return;
    }
    if (type === FrameType.HEADERS || type === FrameType.CONTINUATION) {
      if (type === FrameType.CONTINUATION && !this.block) throw new FrameError('CONTINUATION without HEADERS');
      if (length > DEFAULT_MAX_FRAME_SIZE) throw new FrameError(`header frame of ${length} bytes`);
      this.frame = { header, bytes };
      if (length === 0) {
        this.onHeaderPayload(Buffer.alloc(0), out);
      } else {
        this.stage = 'hold-payload';
        this.need = length;
      }
      return;
    }
    out.push(bytes);
    if (length > 0) {
      this.stage = 'pass-payload';
      this.passRemaining = length;
    }
  }

  private onHeaderPayload(payload: Buffer, out: Buffer[]): void {
    const { header, bytes } = this.frame!;
    this.frame = undefined;
    let block = this.block;
    if (header.type === FrameType.HEADERS) {
      const { fragment, priority } = headersFragment(payload, header.flags);
      block = { streamId: header.streamId, firstFlags: header.flags, priority, raw: [], fragments: [], size: 0 };
      this.block = block;
      block.fragments.push(fragment);
      block.size += fragment.length;
    } else {
      block!.fragments.push(payload);
      block!.size += payload.length;
    }
    block!.raw.push(bytes, payload);
    if (block!.size > MAX_HEADER_BLOCK) throw new FrameError(`header block over ${MAX_HEADER_BLOCK} bytes`);
    if (header.flags & Flag.END_HEADERS) this.finishBlock(block!, out);
    this.expectFrameHeader();
  }

  private finishBlock(block: OpenBlock, out: Buffer[]): void {
    this.block = undefined;
    this.headerBlocks++;
    const whole = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments, block.size);
    const rewritten = rewriteHeaderBlock(this.decoder, whole);
    if (rewritten) this.rewrittenBlocks++;
    if (rewritten) out.push(...frameHeaderBlock(block.streamId, block.firstFlags, rewritten, block.priority));
    else out.push(...block.raw);
  }

  /**
   * The bytes received but not yet passed on (an open header block, a partial frame), as sent; after this the
   * filter must not be used again. For handing the connection to the server unfiltered.
   */
  takeUnprocessed(): Buffer[] {
    const held = [...(this.block?.raw ?? []), ...(this.frame ? [this.frame.bytes] : []), ...this.gathered];
    this.block = undefined;
    this.frame = undefined;
    this.gathered = [];
    return held;
  }

  private expectFrameHeader(): void {
    this.stage = 'frame-header';
    this.need = FRAME_HEADER_LENGTH;
  }
}

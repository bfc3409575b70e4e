/**
 * Decodes the resize stream: a sequence of JSON objects {"Width":W,"Height":H} (Go's json.Encoder writes one
 * per line; the kubelet reads them with a json.Decoder, so we accept any whitespace between objects and split
 * on brace depth rather than on newlines). Keys are matched case-insensitively, as Go's decoder does.
 */

export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/** An object larger than this is not a terminal size; the stream is then ignored from there on. */
const MAX_PENDING = 4096;

export class ResizeDecoder {
  private pending = '';
  private broken = false;

  push(chunk: Buffer | string): TerminalSize[] {
    if (this.broken) return [];
    this.pending += chunk.toString();
    const sizes: TerminalSize[] = [];
    let depth = 0;
    let inString = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const c = this.pending[i];
      if (inString) {
        if (c === '\\') i++;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{') {
        if (depth++ === 0) start = i;
      } else if (c === '}' && depth > 0 && --depth === 0) {
        const size = parseSize(this.pending.slice(start, i + 1));
        if (size) sizes.push(size);
        consumed = i + 1;
      }
    }
    this.pending = this.pending.slice(consumed);
    if (this.pending.length > MAX_PENDING) {
      this.broken = true;
      this.pending = '';
    }
    return sizes;
  }
}

function parseSize(text: string): TerminalSize | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!obj || typeof obj !== 'object') return undefined;
  const get = (key: string): number => {
    const entry = Object.entries(obj).find(([k]) => k.toLowerCase() === key);
    const v = entry?.[1];
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff ? v : 0;
  };
  const width = get('width');
  const height = get('height');
  return width || height ? { width, height } : undefined;
}

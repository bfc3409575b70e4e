/**
 * Plain HTTP refusals for the streaming server, on a normal response or on a raw upgrade socket (Node hands
 * upgrade requests over as a bare socket, so the status line has to be written by hand there). Every refusal
 * ends the connection: a half-upgraded socket is never reused.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Refusal text is printable ASCII only: messages may quote request headers, which must not inject bytes. */
function body(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, '?') + '\n';
}

export function refuseResponse(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string | string[]> = {},
): void {
  const text = body(message);
  res.writeHead(status, {
    ...headers,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}

export function refuseSocket(
  socket: Duplex,
  status: number,
  message: string,
  headers: Record<string, string | string[]> = {},
): void {
  const text = body(message);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`];
  for (const [k, v] of Object.entries(headers)) for (const one of [v].flat()) lines.push(`${k}: ${one}`);
  lines.push(
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
  );
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(lines.join('\r\n') + '\r\n\r\n' + text);
  // A peer that never reads could keep the socket half-open; end() flushes, this bounds the wait.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** The comma- or line-separated values of a request header, trimmed, empty ones dropped. */
export function headerList(v: string | string[] | undefined): string[] {
  return [v ?? []]
    .flat()
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

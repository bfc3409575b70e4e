/**
 * The remote-command protocol versions (k8s.io/apimachinery/pkg/util/remotecommand) and what each implies:
 *   channel.k8s.io (v1), v2.channel.k8s.io: stdin/stdout/stderr/error streams; failures as plain text.
 *   v3.channel.k8s.io: adds the resize stream for TTYs.
 *   v4.channel.k8s.io: the error stream carries a metav1.Status JSON, with the exit code (and Success).
 *   v5.channel.k8s.io (WebSocket only): v4 plus the stream-close signal, so stdin can end.
 * Over WebSocket, "" / channel.k8s.io / base64.channel.k8s.io are the pre-v4 (text status) variants.
 */

/** SPDY protocols we serve, most preferred first (the client's order decides; see upgrade.ts). */
export const SPDY_REMOTECOMMAND_PROTOCOLS = [
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;

/** WebSocket subprotocols for exec/attach ("" = no Sec-WebSocket-Protocol header: legacy binary channels). */
export const WS_REMOTECOMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
  '',
] as const;

export interface ProtocolTraits {
  /** The final status is a metav1.Status JSON object (v4+); otherwise only a failure message, as text. */
  readonly statusJson: boolean;
  /** SPDY: the client opens a resize stream for TTY sessions (v3+). WebSocket always has the resize channel. */
  readonly resizeStream: boolean;
  /** WebSocket: channel bytes are ASCII digits and payloads base64, in text messages. */
  readonly base64: boolean;
  /** WebSocket v5: [255, channel] half-closes a channel. */
  readonly closeSignal: boolean;
}

export function protocolTraits(protocol: string): ProtocolTraits {
  const v4plus = protocol.startsWith('v4.') || protocol.startsWith('v5.');
  return {
    statusJson: v4plus,
    resizeStream: v4plus || protocol.startsWith('v3.'),
    base64: protocol.includes('base64.'),
    closeSignal: protocol.startsWith('v5.'),
  };
}

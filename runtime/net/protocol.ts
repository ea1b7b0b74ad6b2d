/**
 * The wire protocol.
 *
 * Plain (no subprotocol): WebSocket text frames (RFC 6455 §5.6). For every text frame a
 * client sends, the sketch sends back exactly one text frame, in order: the acknowledgement.
 * That is all a client written for the original Python asyncio sketches (connect, send,
 * recv) ever sees. When `loop` fails, the plain reply is the text `error: <message>`.
 *
 * `sketchnet.v1` (opt-in, negotiated with the `Sec-WebSocket-Protocol` header,
 * RFC 6455 §1.9): requests are still plain text frames; every reply is a JSON object,
 * `{"ack": "<text>"}` or `{"error": {"code": "SKETCH_ERR_…", "message": "…"}}`, and frames a
 * sketch publishes to the connection's channel arrive as `{"push": "<text>"}`.
 */

/** The opt-in WebSocket subprotocol name. */
export const SUBPROTOCOL = 'sketchnet.v1';
/** Protocol version announced in the DNS-SD TXT record (`protocol=1`). */
export const PROTOCOL_VERSION = 1;
/** DNS-SD service type every sketch registers (RFC 6763 §7): `_sketch._tcp`. */
export const SERVICE_TYPE = 'sketch';
/** What a reactive sketch answers when `loop` returned nothing (`undefined` or `null`). */
export const NO_ACK = 'n/a';
/** Prefix of the plain-text error reply: `error: <message>`. */
export const PLAIN_ERROR_PREFIX = 'error: ';

/** A decoded `sketchnet.v1` reply frame. */
export type Reply =
  | { ack: string }
  | { error: { code: string; message: string } }
  | { push: string };

/** The acknowledgement text for whatever `loop` returned: strings as they are, nothing as `n/a`, anything else JSON. */
export function ackText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return NO_ACK;
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}

/** Encodes an acknowledgement for a connection speaking `protocol` (`''` = plain). */
export function encodeAck(protocol: string, text: string): string {
  return protocol === SUBPROTOCOL ? JSON.stringify({ ack: text }) : text;
}

/** Encodes an error reply for a connection speaking `protocol` (`''` = plain). */
export function encodeError(protocol: string, code: string, message: string): string {
  return protocol === SUBPROTOCOL
    ? JSON.stringify({ error: { code, message } })
    : PLAIN_ERROR_PREFIX + message;
}

/** Encodes a published frame for a connection speaking `protocol` (`''` = plain). */
export function encodePush(protocol: string, text: string): string {
  return protocol === SUBPROTOCOL ? JSON.stringify({ push: text }) : text;
}

/**
 * Decodes a `sketchnet.v1` reply frame.
 * @throws SyntaxError when the frame is not one of the three reply shapes.
 */
export function decodeReply(frame: string): Reply {
  const value: unknown = JSON.parse(frame);
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (typeof v.ack === 'string') return { ack: v.ack };
    if (typeof v.push === 'string') return { push: v.push };
    const e = v.error as Record<string, unknown> | undefined;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return { error: { code: e.code, message: e.message } };
    }
  }
  throw new SyntaxError(`not a ${SUBPROTOCOL} reply: ${frame.slice(0, 80)}`);
}

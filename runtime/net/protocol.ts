/**
 * The wire protocol.
 *
 * Plain (no subprotocol): WebSocket text frames (RFC 6455 §5.6). For every text frame a
 * client sends, the sketch sends back exactly one text frame, in order: the acknowledgement.
 * That is all a client written for the original Python asyncio sketches (connect, send,
 * recv) ever sees. When `loop` fails, the plain reply is the text `error: <message>`. A plain
 * client connected on a stream's path receives each item's data exactly as published, one
 * text frame per item.
 *
 * `sketchnet.v2` (opt-in, negotiated with the `Sec-WebSocket-Protocol` header,
 * RFC 6455 §1.9): requests are still plain text frames; every frame the sketch sends is one
 * JSON object:
 * - `{"ack": <value>}` — the loop's return value as a JSON value (`null` for nothing);
 * - `{"error": {"code": "SKETCH_ERR_…", "message": "…"}}` — the loop failed;
 * - `{"subscribed": {"stream", "epoch", "first", "last", "delivery"}}` — first frame on a stream's path;
 * - `{"stream": "/readings", "seq": 42, "time": 1763737200.125, "published": 1763737200.127, "data": <value>}` — one item;
 * - `{"gap": {"stream", "from", "to", "reason": "evicted" | "dropped"}}` — items asked for that will not come.
 *
 * v2 replaced `sketchnet.v1` (acks as strings, `{"push": "<text>"}` for published frames).
 */

/** The opt-in WebSocket subprotocol name. */
export const SUBPROTOCOL = 'sketchnet.v2';
/** Protocol version announced in the DNS-SD TXT record (`protocol=2`). */
export const PROTOCOL_VERSION = 2;
/** DNS-SD service type every sketch registers (RFC 6763 §7): `_sketch._tcp`. */
export const SERVICE_TYPE = 'sketch';
/** What a reactive sketch answers a plain client when `loop` returned nothing (`undefined` or `null`). */
export const NO_ACK = 'n/a';
/** Prefix of the plain-text error reply: `error: <message>`. */
export const PLAIN_ERROR_PREFIX = 'error: ';

/** Why a subscriber misses items: no longer held in the history, or skipped for a slow subscriber (`delivery: 'latest'`). */
export type GapReason = 'evicted' | 'dropped';

/** One stream item as a `sketchnet.v2` client receives it. Times in seconds since the Unix epoch. */
export interface ItemFrame {
  /** The stream's path, e.g. `/readings`. */
  stream: string;
  /** Per-stream sequence number: 1, 2, 3… with no holes within one epoch. */
  seq: number;
  /** When the sample was taken (given by the producer; default: when published), s. */
  time: number;
  /** When the runtime published it, s. */
  published: number;
  /** The data as published, as a JSON value. */
  data: unknown;
}

/** Items `from`…`to` (inclusive) of `stream` that a `sketchnet.v2` subscriber will not receive. */
export interface GapFrame {
  stream: string;
  from: number;
  to: number;
  reason: GapReason;
}

/** First frame a `sketchnet.v2` subscriber gets: where the stream stands. */
export interface SubscribedFrame {
  stream: string;
  /** Random id made when the stream started: a new epoch means `seq` restarted at 1. */
  epoch: string;
  /** Oldest seq held (`last + 1` when nothing is held). */
  first: number;
  /** Newest seq published so far (0 before the first). */
  last: number;
  /** The stream's slow-subscriber policy. */
  delivery: 'all' | 'latest';
}

/** A decoded `sketchnet.v2` frame. */
export type Reply =
  | { ack: unknown }
  | { error: { code: string; message: string } }
  | { item: ItemFrame }
  | { gap: GapFrame }
  | { subscribed: SubscribedFrame };

/** The acknowledgement text for whatever `loop` returned: strings as they are, nothing as `n/a`, anything else JSON. */
export function ackText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return NO_ACK;
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}

/** `value` as JSON text, for v2 frames: nothing (and what JSON cannot encode) as `null`. */
export function jsonValue(value: unknown): string {
  if (value === undefined) return 'null';
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return JSON.stringify(String(value));
  }
}

/** Encodes an acknowledgement of `value` (what `loop` returned) for a connection speaking `protocol` (`''` = plain). */
export function encodeAck(protocol: string, value: unknown): string {
  return protocol === SUBPROTOCOL ? `{"ack":${jsonValue(value)}}` : ackText(value);
}

/** Encodes an error reply for a connection speaking `protocol` (`''` = plain). */
export function encodeError(protocol: string, code: string, message: string): string {
  return protocol === SUBPROTOCOL ? JSON.stringify({ error: { code, message } }) : PLAIN_ERROR_PREFIX + message;
}

/**
 * Encodes one item's `sketchnet.v2` envelope. `json` is the data as JSON text (already
 * encoded once for every subscriber).
 */
export function encodeItem(stream: string, seq: number, time: number, published: number, json: string): string {
  return `{"stream":${JSON.stringify(stream)},"seq":${seq},"time":${time},"published":${published},"data":${json}}`;
}

/** Encodes a `sketchnet.v2` gap frame. */
export function encodeGap(gap: GapFrame): string {
  return JSON.stringify({ gap });
}

/** Encodes a `sketchnet.v2` subscribed frame. */
export function encodeSubscribed(frame: SubscribedFrame): string {
  return JSON.stringify({ subscribed: frame });
}

/**
 * Decodes a `sketchnet.v2` frame.
 * @throws SyntaxError when the frame is not one of the v2 shapes.
 */
export function decodeReply(frame: string): Reply {
  const value: unknown = JSON.parse(frame);
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if ('ack' in v) return { ack: v.ack };
    if (typeof v.stream === 'string' && typeof v.seq === 'number') return { item: v as unknown as ItemFrame };
    const e = v.error as Record<string, unknown> | undefined;
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      return { error: { code: e.code, message: e.message } };
    }
    if (v.gap && typeof v.gap === 'object') return { gap: v.gap as GapFrame };
    if (v.subscribed && typeof v.subscribed === 'object') return { subscribed: v.subscribed as SubscribedFrame };
  }
  throw new SyntaxError(`not a ${SUBPROTOCOL} frame: ${frame.slice(0, 80)}`);
}

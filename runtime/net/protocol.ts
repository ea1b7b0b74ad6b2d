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
 * Flow control (v2 and v3, on a stream's path): a subscriber that asked for credit
 * (`?credit=N`) gets `"credit": N` in its `subscribed` frame and at most the items it granted;
 * it grants more with `{"credit": N}` text frames (reactive streams' `request(n)`), which the
 * sketch takes out before `loop` sees anything. See runtime/streams/flow.ts.
 *
 * `sketchnet.v3` (preferred by both sides when offered) is v2 plus request ids, so that a
 * message resent after a dropped connection is applied once (exactly-once, per sending session):
 * - each request is `{"session": "<id>", "seq": <n>, "done": <k>, "msg": "<text>"}` — `session`
 *   a random id per sender (1–64 characters `A–Z a–z 0–9 - _`), `seq` 1, 2, 3… per session,
 *   `done` the highest seq whose reply the sender holds (every earlier one too; 0 for none) —
 *   and, when the sender traces, `"traceparent": "00-<trace>-<span>-<flags>"` (W3C Trace Context
 *   §3.2; see trace-context.ts), which the receiver's spans continue;
 * - each reply carries its request's seq: `{"ack": <value>, "seq": <n>}` or
 *   `{"error": {…}, "seq": <n>}`; a resent request already applied gets the same reply again.
 * Everything else (items, gaps, subscribed) is as in v2.
 *
 * v2 replaced `sketchnet.v1` (acks as strings, `{"push": "<text>"}` for published frames).
 */
import { printable } from '../text.js';

/** The opt-in WebSocket subprotocol with envelopes: `sketchnet.v2`. */
export const SUBPROTOCOL = 'sketchnet.v2';
/** v2 plus request ids for exactly-once delivery: `sketchnet.v3`. */
export const SUBPROTOCOL_V3 = 'sketchnet.v3';
/**
 * The subprotocols a client offers, in this order: v2 first, so that a server which blindly
 * takes the first one offered keeps getting plain-text requests as before v3; a sketchnet
 * sketch picks v3 whenever it is offered ({@link pickSubprotocol}).
 */
export const SUBPROTOCOLS: readonly string[] = [SUBPROTOCOL, SUBPROTOCOL_V3];
/** Protocol version announced in the DNS-SD TXT record (`protocol=3`). */
export const PROTOCOL_VERSION = 3;

/** Whether a connection speaking `protocol` gets JSON envelopes (v2 and v3), not plain text. */
export function usesEnvelopes(protocol: string): boolean {
  return protocol === SUBPROTOCOL || protocol === SUBPROTOCOL_V3;
}

/** The subprotocol a server picks from those a client offered: v3, else v2, else none (plain). */
export function pickSubprotocol(offered: ReadonlySet<string>): string | false {
  if (offered.has(SUBPROTOCOL_V3)) return SUBPROTOCOL_V3;
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}
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
  /** Only for a subscriber that asked for credit (`?credit=N`): the items it may be sent now (N, at most the stream's `maxCredit`). */
  credit?: number;
}

/** A decoded `sketchnet.v2` frame. */
export type Reply =
  | { ack: unknown; seq?: number }
  | { error: { code: string; message: string }; seq?: number }
  | { item: ItemFrame }
  | { gap: GapFrame }
  | { subscribed: SubscribedFrame };

/** The acknowledgement text for whatever `loop` returned: strings as they are, nothing as `n/a`, anything else JSON. */
export function ackText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return NO_ACK;
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch {
    // a BigInt, a cycle, a throwing toJSON: the text below, as jsonValue does
  }
  return asText(value);
}

/**
 * `value` as JSON text, for v2 frames: nothing (and what JSON cannot encode) as `null`; a
 * value JSON.stringify throws on (a BigInt, a cycle) as the JSON string of its text. Never throws.
 */
export function jsonValue(value: unknown): string {
  if (value === undefined) return 'null';
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return JSON.stringify(asText(value));
  }
}

/** `String(value)`, or `[object]` for a value without a usable toString (a null-prototype object). */
function asText(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '[object]';
  }
}

/**
 * Encodes an acknowledgement of `value` (what `loop` returned) for a connection speaking
 * `protocol` (`''` = plain); `seq`: the v3 request it answers.
 */
export function encodeAck(protocol: string, value: unknown, seq?: number): string {
  if (!usesEnvelopes(protocol)) return ackText(value);
  const json = typeof value === 'string' ? jsonString(value) : jsonValue(value);
  return seq === undefined ? `{"ack":${json}}` : `{"ack":${json},"seq":${seq}}`;
}

/** A character JSON.stringify would write otherwise than as it is: `"`, `\\`, a control character, a surrogate (it escapes lone ones). */
const NEEDS_ESCAPE = /[^\u0020-\u0021\u0023-\u005b\u005d-\ud7ff\ue000-\uffff]/;

/**
 * `JSON.stringify(text)`, the same text, made faster: a string with nothing to escape (most
 * messages) is only quoted (one regular-expression scan instead of JSON.stringify's per-character
 * escaping: ~2× faster for 1 KiB on Node.js 20).
 */
export function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** Encodes an error reply for a connection speaking `protocol` (`''` = plain); `seq`: the v3 request it answers. */
export function encodeError(protocol: string, code: string, message: string, seq?: number): string {
  if (!usesEnvelopes(protocol)) return PLAIN_ERROR_PREFIX + message;
  return JSON.stringify(seq === undefined ? { error: { code, message } } : { error: { code, message }, seq });
}

/** One `sketchnet.v3` request. */
export interface Request {
  /** The sender's session id. */
  session: string;
  /** 1, 2, 3… per session. */
  seq: number;
  /** Highest seq whose reply the sender holds, with every earlier one (0: none). */
  done: number;
  /** The message for `loop`. */
  msg: string;
  /**
   * The sender's W3C trace context (`00-<trace id>-<span id>-<flags>`, Trace Context §3.2), when it
   * traces: the receiver continues that trace. Optional; one that does not parse is ignored.
   */
  traceparent?: string;
}

/** Longest v3 session id, in characters. */
export const MAX_SESSION_CHARS = 64;
const SESSION = /^[A-Za-z0-9_-]{1,64}$/;

/** Encodes a `sketchnet.v3` request. */
export function encodeRequest(r: Request): string {
  const trace = r.traceparent === undefined ? '' : `,"traceparent":${JSON.stringify(r.traceparent)}`;
  return `{"session":${JSON.stringify(r.session)},"seq":${r.seq},"done":${r.done},"msg":${jsonString(r.msg)}${trace}}`;
}

/**
 * Decodes a `sketchnet.v3` request.
 * @throws SyntaxError (one line) when it is not one: not JSON, a session id that is not 1–64
 *   characters of `A–Z a–z 0–9 - _`, a seq that is not a whole number ≥ 1, a `done` that is
 *   not a whole number from 0 to seq − 1, or a `msg` that is not a string.
 */
export function decodeRequest(frame: string): Request {
  const fast = readRequest(frame);
  if (fast) return fast;
  let v: Record<string, unknown> | undefined;
  try {
    v = record(JSON.parse(frame));
  } catch {
    v = undefined;
  }
  if (v && typeof v.session === 'string' && SESSION.test(v.session) && isSeq(v.seq) && v.seq >= 1 && typeof v.msg === 'string') {
    const done = v.done ?? 0;
    if (isSeq(done) && done < v.seq) {
      const r: Request = { session: v.session, seq: v.seq, done, msg: v.msg };
      if (typeof v.traceparent === 'string') r.traceparent = v.traceparent;
      return r;
    }
  }
  throw new SyntaxError(`not a ${SUBPROTOCOL_V3} request: ${printable(frame, 80)}`);
}

const QUOTE = 34;

/** A control character: not allowed raw in a JSON string. */
const CONTROL = /[\u0000-\u001f]/;

/**
 * The end (index of the closing quote) of a JSON string whose text starts at `at` and needs no
 * unescaping: -1 at a backslash, a control character (not allowed raw in JSON) or no closing quote.
 * Native scans (indexOf, a regular expression): a loop over charCodeAt is 3–5× slower for 1 KiB.
 */
function plainStringEnd(f: string, at: number): number {
  const end = f.indexOf('"', at);
  if (end < 0) return -1;
  const backslash = f.indexOf('\\', at);
  if (backslash >= 0 && backslash < end) return -1;
  if (end - at <= 16) {
    for (let i = at; i < end; i++) if (f.charCodeAt(i) < 32) return -1;
    return end;
  }
  return CONTROL.test(f.slice(at, end)) ? -1 : end;
}

/** A JSON whole number ≥ 0 of at most 15 digits (a safe integer) at `at`: its value and end, or -1 (leading zero, no digit, too long, a fraction). */
function wholeAt(f: string, at: number): number {
  let n = 0;
  let i = at;
  for (; i < f.length && i - at < 16; i++) {
    const c = f.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  const digits = i - at;
  if (digits === 0 || digits > 15 || (digits > 1 && f.charCodeAt(at) === 48)) return -1;
  const next = f.charCodeAt(i);
  if (next === 46 || next === 101 || next === 69) return -1; // . e E: not a whole number as written
  wholeEnd = i;
  return n;
}
/** Where the last {@link wholeAt} stopped. */
let wholeEnd = 0;

/** The session of the last request {@link readRequest} read: always a valid one (1–64 characters of the set; `-` before the first), so a frame that starts with it and a quote has a valid session. */
let lastSession = '-';

const isSessionChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95;

/**
 * {@link decodeRequest} of a request written exactly as {@link encodeRequest} and Peer write one
 * (`{"session":"…","seq":N,"done":K,"msg":"…"}` and an optional `"traceparent"` last, no
 * whitespace, no escapes in the strings), read without JSON.parse and its object: undefined for
 * anything else, which then goes through JSON.parse. Same result either way.
 */
function readRequest(f: string): Request | undefined {
  if (!f.startsWith('{"session":"')) return undefined;
  let i = 12;
  let session: string;
  if (f.startsWith(lastSession, 12) && f.charCodeAt(12 + lastSession.length) === QUOTE) {
    // the sender of the last request again (the usual case): its session is known to be valid
    session = lastSession;
    i += lastSession.length;
  } else {
    while (i < f.length && isSessionChar(f.charCodeAt(i))) i++;
    if (i === 12 || i - 12 > MAX_SESSION_CHARS || f.charCodeAt(i) !== QUOTE) return undefined;
    session = f.slice(12, i);
  }
  if (!f.startsWith(',"seq":', i + 1)) return undefined;
  const seq = wholeAt(f, i + 8);
  if (seq < 1 || !f.startsWith(',"done":', wholeEnd)) return undefined;
  const done = wholeAt(f, wholeEnd + 8);
  if (done < 0 || done >= seq || !f.startsWith(',"msg":"', wholeEnd)) return undefined;
  const at = wholeEnd + 8;
  const end = plainStringEnd(f, at);
  if (end < 0) return undefined;
  lastSession = session;
  const r: Request = { session, seq, done, msg: f.slice(at, end) };
  i = end + 1;
  if (f.startsWith(',"traceparent":"', i)) {
    const tEnd = plainStringEnd(f, i + 16);
    if (tEnd < 0) return undefined;
    r.traceparent = f.slice(i + 16, tEnd);
    i = tEnd + 1;
  }
  return i === f.length - 1 && f.charCodeAt(i) === 125 ? r : undefined;
}

/**
 * {@link decodeReply} of a reply written exactly as {@link encodeAck} writes a string one,
 * `{"ack":"…","seq":N}` or `{"ack":"…"}` with no escapes in the string: undefined for anything
 * else (JSON.parse reads it then). Same result either way.
 */
function readAck(f: string): Reply | undefined {
  if (!f.startsWith('{"ack":"')) return undefined;
  const end = plainStringEnd(f, 8);
  if (end < 0) return undefined;
  const ack = f.slice(8, end);
  if (end === f.length - 2 && f.charCodeAt(end + 1) === 125) return { ack };
  if (!f.startsWith(',"seq":', end + 1)) return undefined;
  const seq = wholeAt(f, end + 8);
  return seq >= 0 && wholeEnd === f.length - 1 && f.charCodeAt(wholeEnd) === 125 ? { ack, seq } : undefined;
}

/**
 * Encodes one item's `sketchnet.v2` envelope. `json` is the data as JSON text (already
 * encoded once for every subscriber); `seq`, `time` and `published` must be finite numbers
 * (the stream refuses a sample time that is not), or the envelope is not JSON.
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
 * Decodes a `sketchnet.v2` frame into exactly one of the shapes above, every field of the
 * documented type: seqs whole numbers ≥ 0, times finite numbers, `reason` and `delivery` one
 * of their words, an item with its `data`. Other keys are ignored.
 * @throws SyntaxError (one line, quoting at most 80 characters of the frame) when the frame is
 * not JSON or not one of the v2 shapes.
 */
export function decodeReply(frame: string): Reply {
  const fast = readAck(frame);
  if (fast) return fast;
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    value = undefined;
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if ('ack' in v) return isSeq(v.seq) ? { ack: v.ack, seq: v.seq } : { ack: v.ack };
    if (typeof v.stream === 'string' && isSeq(v.seq) && isTime(v.time) && isTime(v.published) && 'data' in v) {
      return { item: { stream: v.stream, seq: v.seq, time: v.time, published: v.published, data: v.data } };
    }
    const e = record(v.error);
    if (e && typeof e.code === 'string' && typeof e.message === 'string') {
      const error = { code: e.code, message: e.message };
      return isSeq(v.seq) ? { error, seq: v.seq } : { error };
    }
    const g = record(v.gap);
    if (g && typeof g.stream === 'string' && isSeq(g.from) && isSeq(g.to) && (g.reason === 'evicted' || g.reason === 'dropped')) {
      return { gap: { stream: g.stream, from: g.from, to: g.to, reason: g.reason } };
    }
    const s = record(v.subscribed);
    if (
      s &&
      typeof s.stream === 'string' &&
      typeof s.epoch === 'string' &&
      isSeq(s.first) &&
      isSeq(s.last) &&
      (s.delivery === 'all' || s.delivery === 'latest')
    ) {
      const subscribed: SubscribedFrame = { stream: s.stream, epoch: s.epoch, first: s.first, last: s.last, delivery: s.delivery };
      if (isSeq(s.credit)) subscribed.credit = s.credit;
      return { subscribed };
    }
  }
  throw new SyntaxError(`not a ${SUBPROTOCOL} frame: ${printable(frame, 80)}`);
}

/** Most items one grant may carry, and most credit a stream's `maxCredit` may allow: 1 000 000. */
export const MAX_CREDIT = 1_000_000;
const CREDIT_FRAME = /^\s*\{\s*"credit"\s*:/;

/** Encodes a subscriber's grant of `n` more items: `{"credit":N}`. */
export function encodeCredit(n: number): string {
  return `{"credit":${n}}`;
}

/**
 * Reads a subscriber's grant, `{"credit": N}`.
 * @returns N, or undefined when `frame` is not a credit frame at all (it is a message for `loop` then).
 * @throws SyntaxError (one line, quoting at most 80 characters) for a frame that starts as a
 *   credit frame but is not exactly `{"credit": N}` with N a whole number from 1 to {@link MAX_CREDIT}.
 */
export function decodeCredit(frame: string): number | undefined {
  if (!CREDIT_FRAME.test(frame)) return undefined;
  let v: Record<string, unknown> | undefined;
  try {
    v = record(JSON.parse(frame));
  } catch {
    v = undefined;
  }
  const n = v?.credit;
  if (v && Object.keys(v).length === 1 && Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= MAX_CREDIT) return n as number;
  throw new SyntaxError(`a credit frame is {"credit":N} with N a whole number from 1 to ${MAX_CREDIT}, got ${printable(frame, 80)}`);
}

const isSeq = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const record = (x: unknown): Record<string, unknown> | undefined =>
  x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;

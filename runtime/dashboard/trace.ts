/**
 * The dashboard's traces: asks every sketch up for its spans (`GET /.well-known/sketch/spans`)
 * and merges them — one trace across sketches for the page's waterfall (`/api/trace`), or the
 * latest messages one sketch sent to one peer (`/api/tail`). The HTTP request is injected, so
 * tests run it with fakes.
 */
import type { SketchCard } from './directory.js';

/** Where a sketch answers its spans (same gate as its status). */
export const SPANS_PATH = '/.well-known/sketch/spans';
/** Longest wait for one sketch's spans, ms: 2000 (then the trace is merged without them, and says so). */
export const SPANS_TIMEOUT_MS = 2000;
/** Most messages `/api/tail` answers (`?limit=`): 500; default 50. */
export const MAX_TAIL = 500;
/** How far back `/api/tail` reads by default, s: 300. */
export const TAIL_SECONDS = 300;

/** One span as a sketch answers it (OTLP JSON style: times are decimal strings of ns since the epoch). */
export interface SpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: 'client' | 'server' | 'internal';
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  status: { code: 'ok' | 'error' | 'unset'; message?: string };
}

/** A span in a merged answer: the sketch that answered it added. */
export interface TraceSpan extends SpanJson {
  /** Instance name of the sketch that recorded it. */
  sketch: string;
}

/** What `GET /api/trace?id=` answers. */
export interface TraceAnswer {
  trace: string;
  /** Every span of the trace from every sketch that answered, by start time (ties: parents first). */
  spans: TraceSpan[];
  /** The sketches asked. */
  asked: string[];
  /** Sketches that did not answer, each with one line saying why. */
  missing: { sketch: string; error: string }[];
}

/** One message of a tail: a client span of the sketch to the peer. Times in s since the epoch. */
export interface TailMessage {
  /** When it was sent, s since the epoch. */
  time: number;
  /** Send → acknowledgement (the span's duration), ms. */
  ms: number;
  /** The peer, as the sketch named it (`sketch.peer`). */
  to: string;
  /** The message's first 64 characters (`sketch.message`). */
  message: string;
  /** The acknowledgement's first 64 characters (`sketch.ack`), when there was one. */
  ack?: string;
  /** `ok`, `error` or `unset`, and the error's message. */
  status: string;
  error?: string;
  traceId: string;
}

/** What `GET /api/tail` answers. */
export interface TailAnswer {
  sketch: string;
  /** The peer asked for (`null`: every peer). */
  to: string | null;
  /** The latest messages, oldest first. */
  messages: TailMessage[];
}

/** Fetches JSON with the dashboard's credentials: `getJson` of runtime/net/client.ts, bound. */
export type FetchJson = (card: SketchCard, path: string, query: Record<string, string | number>, timeoutMs: number) => Promise<unknown>;

const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const NANOS = /^\d{1,25}$/;

/**
 * A sketch's `/spans` answer, checked span by span (it comes from the network): spans of the
 * wrong shape are left out.
 * @throws Error (one line) when the answer is not `{ spans: [...] }`.
 */
export function checkSpans(x: unknown): SpanJson[] {
  const spans = x && typeof x === 'object' ? (x as { spans?: unknown }).spans : undefined;
  if (!Array.isArray(spans)) throw new Error('its spans answer has no spans list');
  const out: SpanJson[] = [];
  for (const s of spans as Record<string, unknown>[]) {
    if (!s || typeof s !== 'object') continue;
    if (typeof s.traceId !== 'string' || !HEX32.test(s.traceId) || typeof s.spanId !== 'string' || !HEX16.test(s.spanId)) continue;
    if (typeof s.startTimeUnixNano !== 'string' || !NANOS.test(s.startTimeUnixNano) || typeof s.endTimeUnixNano !== 'string' || !NANOS.test(s.endTimeUnixNano)) continue;
    const attributes: Record<string, string | number | boolean> = {};
    if (s.attributes && typeof s.attributes === 'object') {
      for (const [k, v] of Object.entries(s.attributes as Record<string, unknown>)) {
        if (typeof v === 'string') attributes[k] = v.slice(0, 256);
        else if (typeof v === 'number' || typeof v === 'boolean') attributes[k] = v;
      }
    }
    const st = (s.status && typeof s.status === 'object' ? s.status : {}) as { code?: unknown; message?: unknown };
    const code = st.code === 'ok' || st.code === 'error' ? st.code : 'unset';
    out.push({
      traceId: s.traceId,
      spanId: s.spanId,
      ...(typeof s.parentSpanId === 'string' && HEX16.test(s.parentSpanId) ? { parentSpanId: s.parentSpanId } : {}),
      name: typeof s.name === 'string' ? s.name.slice(0, 200) : '',
      kind: s.kind === 'client' || s.kind === 'server' ? s.kind : 'internal',
      startTimeUnixNano: s.startTimeUnixNano,
      endTimeUnixNano: s.endTimeUnixNano,
      attributes,
      status: typeof st.message === 'string' ? { code, message: st.message.slice(0, 200) } : { code },
    });
  }
  return out;
}

/** Orders spans by start time; at equal starts a parent before its children. */
function byStart(a: TraceSpan, b: TraceSpan): number {
  const d = BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano);
  if (d !== 0n) return d < 0n ? -1 : 1;
  if (b.parentSpanId === a.spanId) return -1;
  if (a.parentSpanId === b.spanId) return 1;
  return 0;
}

/** The cards whose spans are asked: every sketch not down (dashboards left out). */
function asked(cards: SketchCard[]): SketchCard[] {
  return cards.filter((c) => c.state !== 'down' && c.kind !== 'dashboard');
}

/**
 * One trace across sketches: asks every sketch not down for `?trace=ID` at once (each within
 * {@link SPANS_TIMEOUT_MS}), keeps the spans of that trace, drops repeats (same span id) and
 * orders them by start. A sketch that fails is listed in `missing` with why.
 */
export async function mergeTrace(cards: SketchCard[], id: string, fetchJson: FetchJson): Promise<TraceAnswer> {
  const targets = asked(cards);
  const missing: TraceAnswer['missing'] = [];
  const lists = await Promise.all(
    targets.map(async (c) => {
      try {
        return checkSpans(await fetchJson(c, SPANS_PATH, { trace: id }, SPANS_TIMEOUT_MS)).map((s) => ({ ...s, sketch: c.name }));
      } catch (err) {
        missing.push({ sketch: c.name, error: (err as Error).message.split('\n')[0]!.slice(0, 200) });
        return [];
      }
    }),
  );
  const seen = new Set<string>();
  const spans: TraceSpan[] = [];
  for (const s of lists.flat()) {
    if (s.traceId !== id || seen.has(s.spanId)) continue;
    seen.add(s.spanId);
    spans.push(s);
  }
  spans.sort(byStart);
  missing.sort((a, b) => a.sketch.localeCompare(b.sketch));
  return { trace: id, spans, asked: targets.map((c) => c.name), missing };
}

/**
 * The latest messages `card`'s sketch sent (its client spans since `since`, s since the epoch),
 * to `to` only when given (`sketch.peer`, compared without case and a `.local` suffix), newest
 * `limit` of them, oldest first.
 * @throws Error (one line) when the sketch does not answer.
 */
export async function tail(card: SketchCard, to: string | null, since: number, limit: number, fetchJson: FetchJson): Promise<TailAnswer> {
  const spans = checkSpans(await fetchJson(card, SPANS_PATH, { since }, SPANS_TIMEOUT_MS));
  const peer = to === null ? null : bare(to);
  const messages = spans
    .filter((s) => s.kind === 'client' && (peer === null || bare(String(s.attributes['sketch.peer'] ?? '')) === peer))
    .map((s): TailMessage => {
      const start = BigInt(s.startTimeUnixNano);
      const end = BigInt(s.endTimeUnixNano);
      const ack = s.attributes['sketch.ack'];
      return {
        time: Number(start / 1000n) / 1e6,
        ms: Number(end - start) / 1e6,
        to: String(s.attributes['sketch.peer'] ?? ''),
        message: String(s.attributes['sketch.message'] ?? ''),
        ...(ack !== undefined ? { ack: String(ack) } : {}),
        status: s.status.code,
        ...(s.status.message ? { error: s.status.message } : {}),
        traceId: s.traceId,
      };
    })
    .sort((a, b) => a.time - b.time);
  return { sketch: card.name, to, messages: messages.slice(-limit) };
}

/** A peer name as compared: lower case, no trailing `.local` or dot. */
function bare(name: string): string {
  return name.toLowerCase().replace(/\.$/, '').replace(/\.local$/, '');
}

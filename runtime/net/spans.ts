/**
 * A sketch's spans: what it did with each request, as OpenTelemetry's span data model has it
 * (https://opentelemetry.io/docs/specs/otel/trace/api/#span: trace id, span id, parent span id,
 * name, kind, start and end, attributes, status), kept in a bounded ring and handed to exporters.
 *
 * Per request handled: a `receive <path>` span (kind server) from its arrival to its reply, and
 * inside it a `loop <path>` span (internal) while `loop` runs. Per request sent (`stream()`,
 * `--to`, an outbox): a `send <peer>` span (kind client) from the send to its acknowledgement.
 * A request that carries a trace context (`traceparent`, see ./trace-context.ts) continues its
 * trace; any other starts one (every trace is sampled at its root here; a root elsewhere that
 * did not sample is respected: nothing recorded, the context passed on). While `loop` runs, the
 * requests it sends continue its trace: the context follows the async calls through
 * AsyncLocalStorage.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent, SAMPLED, type TraceContext } from './trace-context.js';

/** Spans a sketch keeps by default (`SketchConfig.spans`): 2048, the oldest dropped first. */
export const SPAN_RING_SIZE = 2048;
/** Characters of a message (and an acknowledgement) kept in a span's attributes: 64. */
export const SPAN_TEXT_MAX = 64;

/** OpenTelemetry's span kinds used here. */
export type SpanKind = 'server' | 'client' | 'internal';

/** One span as `GET /.well-known/sketch/spans` answers it. */
export interface SpanJson {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** The parent's span id; absent for a trace's root. */
  parentSpanId?: string;
  /** `receive /path`, `loop /path` or `send PEER`. */
  name: string;
  kind: SpanKind;
  /** Start, ns since the Unix epoch, as a decimal string (OTLP/JSON's encoding of a 64-bit integer). */
  startTimeUnixNano: string;
  /** End, ns since the Unix epoch, decimal string. */
  endTimeUnixNano: string;
  /**
   * `sketch.name`, `sketch.kind` (this sketch); receive: `sketch.channel`, `sketch.from`,
   * `sketch.message`; send: `sketch.peer`, `sketch.via`, `sketch.message`, `sketch.ack`. Texts cut at
   * {@link SPAN_TEXT_MAX} characters.
   */
  attributes: Record<string, string | number | boolean>;
  /** `ok`, `error` (with the error's line), or `unset`. */
  status: { code: 'ok' | 'error' | 'unset'; message?: string };
}

/** One finished span as kept. Times in ms since the Unix epoch, with µs precision. */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: SpanKind;
  start: number;
  end: number;
  attributes: Record<string, string | number | boolean>;
  status: 'ok' | 'error' | 'unset';
  statusMessage?: string;
}

/** Options of {@link Tracer}. */
export interface TracerOptions {
  /** Spans kept, at least 1. Default {@link SPAN_RING_SIZE}. */
  capacity?: number;
  /** This sketch's instance name now, and its kind (attributes of every span). */
  name: () => string;
  kind: string;
  /** Clock, ms since the epoch with a fraction. Default `performance.timeOrigin + performance.now()`. */
  now?: () => number;
  /**
   * Traces this sketch starts (as their root) and records, per second at most: a token bucket
   * of `rate` tokens refilled at `rate` per second, so bursts of up to `rate` are all recorded.
   * The others are sent on unsampled (flags `00`: no sketch records them). A trace started
   * elsewhere follows its root's decision. `Infinity`: every one; 0: none started here.
   * Default {@link TRACE_RATE} (100).
   */
  rate?: number;
  /**
   * Whether `loop` runs in its trace context from the first request on (requests it sends then
   * continue the trace). Default false: from the first request sent on (`client()`), so a sketch
   * that never sends pays nothing for the context. A sketch with a peer (`to`) sets it true.
   */
  propagate?: boolean;
  /** Monotonic clock for the rate, ms. Default `performance.now`. */
  monotonic?: () => number;
}

/** Default {@link TracerOptions.rate}: 100 traces started and recorded per second per sketch. */
export const TRACE_RATE = 100;

const storage = new AsyncLocalStorage<TraceContext>();
/** performance.timeOrigin, read once (it is a getter): the default clock is read 4 times per message handled. */
const ORIGIN = performance.timeOrigin;
const wallClock = () => ORIGIN + performance.now();
const noop = () => {};
const cut = (text: string) => (text.length > SPAN_TEXT_MAX ? `${text.slice(0, SPAN_TEXT_MAX)}…` : text);

/** A span in progress. */
class Active {
  readonly record: SpanRecord;
  readonly #tracer: Tracer;
  constructor(tracer: Tracer, record: SpanRecord) {
    this.#tracer = tracer;
    this.record = record;
  }
  /** Ends it (once): `ok`, or `error` with its line; `extra` attributes added. */
  end(ok: boolean, message?: string, extra?: Record<string, string>): void {
    const r = this.record;
    if (r.end) return;
    r.end = this.#tracer.now();
    r.status = ok ? 'ok' : 'error';
    if (!ok && message) r.statusMessage = message;
    if (extra) Object.assign(r.attributes, extra);
    this.#tracer.add(r);
  }
}

/** A request sent: its span and the `traceparent` to send with it. */
export interface ClientSpan {
  /** The `traceparent` value that carries this span as the receiver's parent. */
  readonly traceparent: string;
  /** Whether it is recorded (false: a trace not sampled; `end` does nothing). */
  readonly recording: boolean;
  /** Ends the span: `text` the acknowledgement on success, else the error's line; `via`: how it travelled, once known (a route is chosen on the first send). */
  end(ok: boolean, text?: string, via?: string): void;
}

/** A request received: its spans, and `loop` run inside them. */
export interface ServerSpan {
  /** Whether anything is recorded (false: a trace not sampled; the calls below do nothing, or only pass the context on). */
  readonly recording: boolean;
  /** Runs `fn` (the loop) in a `loop` span: requests it sends continue this trace. */
  run<T>(fn: () => T): T;
  /** Ends the `loop` span. */
  looped(ok: boolean, error?: string): void;
  /** Ends the `receive` span (the reply was written). */
  answered(ok: boolean, error?: string): void;
}

/** A request whose trace is not recorded: nothing kept; `ctx` (when the sketch propagates) passed on to what `loop` sends. */
const unsampledServer = (ctx: TraceContext): ServerSpan => ({
  recording: false,
  run: (fn) => storage.run(ctx, fn),
  looped() {},
  answered() {},
});
/** The same for a sketch that has sent nothing yet: `loop` runs as it is (no context, no cost). */
export const NO_SPAN: ServerSpan = { recording: false, run: (fn) => fn(), looped() {}, answered() {} };

/** See the module comment. */
export class Tracer {
  readonly #ring: (SpanRecord | undefined)[];
  #at = 0;
  readonly #o: Required<Pick<TracerOptions, 'capacity' | 'name' | 'kind' | 'now'>>;
  readonly #listeners: Array<(span: SpanRecord) => void> = [];
  readonly #rate: number;
  readonly #monotonic: () => number;
  #tokens: number;
  #filledAt: number;
  /** Whether `loop` runs in its trace context (see {@link TracerOptions.propagate}). */
  #propagate: boolean;

  constructor(options: TracerOptions) {
    this.#o = { name: options.name, kind: options.kind, capacity: options.capacity ?? SPAN_RING_SIZE, now: options.now ?? wallClock };
    if (!Number.isSafeInteger(this.#o.capacity) || this.#o.capacity < 1) throw new RangeError(`span ring capacity must be a whole number ≥ 1, got ${this.#o.capacity}`);
    this.#ring = new Array(this.#o.capacity);
    const rate = options.rate ?? TRACE_RATE;
    if (typeof rate !== 'number' || Number.isNaN(rate) || rate < 0) throw new RangeError(`trace rate must be a number of traces per second ≥ 0, got ${rate}`);
    this.#rate = rate;
    this.#tokens = rate;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.#filledAt = this.#monotonic();
    this.#propagate = options.propagate ?? false;
  }

  /** Whether a trace starting here now is recorded (the token bucket of {@link TracerOptions.rate}). */
  #sample(): boolean {
    if (this.#rate === Infinity) return true;
    const now = this.#monotonic();
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#filledAt) / 1000) * this.#rate);
    this.#filledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** The clock, ms since the epoch. */
  now(): number {
    return this.#o.now();
  }

  /** The trace context of the code running now (inside a `loop` run), if any. */
  current(): TraceContext | undefined {
    return storage.getStore();
  }

  /** Calls `listener` with every span as it ends (exporters). Returns a function that stops it. */
  onEnd(listener: (span: SpanRecord) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  /** Keeps a finished span (and hands it to the listeners). */
  add(span: SpanRecord): void {
    this.#ring[this.#at] = span;
    this.#at = (this.#at + 1) % this.#ring.length;
    for (const l of this.#listeners) l(span);
  }

  #span(traceId: string, parent: string | undefined, name: string, kind: SpanKind, attributes: Record<string, string | number | boolean>): Active {
    attributes['sketch.name'] = this.#o.name();
    attributes['sketch.kind'] = this.#o.kind;
    return new Active(this, { traceId, spanId: newSpanId(), parentSpanId: parent, name, kind, start: this.#o.now(), end: 0, attributes, status: 'unset' });
  }

  /**
   * A request to `peer` is sent now (`via` how it travels, `''` when known only at the end): its
   * `send` span, a child of the running `loop`'s span, or the root of a new trace — or, not
   * sampled, only the `traceparent` to pass on.
   */
  client(peer: string, via: string, message: string): ClientSpan {
    this.#propagate = true;
    const parent = storage.getStore();
    if (parent && !(parent.flags & SAMPLED)) return { traceparent: formatTraceparent(parent), recording: false, end: noop };
    if (!parent && !this.#sample()) return { traceparent: `00-${newTraceId()}-${newSpanId()}-00`, recording: false, end: noop };
    const attributes: Record<string, string> = { 'sketch.peer': peer, 'sketch.message': cut(message) };
    if (via) attributes['sketch.via'] = via;
    const span = this.#span(parent?.traceId ?? newTraceId(), parent?.spanId, `send ${peer}`, 'client', attributes);
    const r = span.record;
    return {
      traceparent: `00-${r.traceId}-${r.spanId}-01`,
      recording: true,
      end: (ok, text, via) => {
        if (via) r.attributes['sketch.via'] = via;
        span.end(ok, ok ? undefined : text, ok && text !== undefined ? { 'sketch.ack': cut(text) } : undefined);
      },
    };
  }

  /**
   * Runs `fn` in a new trace, in an internal span named `name` (the clock's `tick N`) that ends
   * when what `fn` returns settles; `fn` gets the trace id. Requests `fn` sends are its children.
   * A trace the rate does not let through is run unsampled: `fn` gets null, nothing is recorded.
   */
  root<T>(name: string, fn: (traceId: string | null) => Promise<T>): Promise<T> {
    this.#propagate = true;
    if (!this.#sample()) return storage.run({ traceId: newTraceId(), spanId: newSpanId(), flags: 0 }, () => fn(null));
    const span = this.#span(newTraceId(), undefined, name, 'internal', {});
    const r = span.record;
    const done = storage.run({ traceId: r.traceId, spanId: r.spanId, flags: SAMPLED }, () => fn(r.traceId));
    done.then(
      () => span.end(true),
      (err: Error) => span.end(false, err?.message),
    );
    return done;
  }

  /**
   * A request arrived on `channel` from `from` (a sketch's name or an address): its `receive`
   * span, continuing `traceparent` when it is a valid one, else a new trace.
   */
  server(channel: string, from: string, message: string, traceparent?: string): ServerSpan {
    if (!this.#propagate && traceparent !== undefined && traceparent.endsWith('-00')) return NO_SPAN; // not sampled, nothing to pass on
    const parent = traceparent === undefined ? undefined : parseTraceparent(traceparent);
    if (parent && !(parent.flags & SAMPLED)) return this.#propagate ? unsampledServer(parent) : NO_SPAN;
    if (!parent && !this.#sample()) return this.#propagate ? unsampledServer({ traceId: newTraceId(), spanId: newSpanId(), flags: 0 }) : NO_SPAN;
    const receive = this.#span(parent?.traceId ?? newTraceId(), parent?.spanId, `receive ${channel}`, 'server', {
      'sketch.channel': channel,
      'sketch.from': from,
      'sketch.message': cut(message),
    });
    let loop: Active | undefined;
    return {
      recording: true,
      run: (fn) => {
        loop = this.#span(receive.record.traceId, receive.record.spanId, `loop ${channel}`, 'internal', {});
        return this.#propagate ? storage.run({ traceId: loop.record.traceId, spanId: loop.record.spanId, flags: SAMPLED }, fn) : fn();
      },
      looped: (ok, error) => loop?.end(ok, error),
      answered: (ok, error) => receive.end(ok, error),
    };
  }

  /**
   * The spans kept, oldest first: those of trace `trace` (32 hex digits), else those that ended
   * after `since` (s since the epoch), else all.
   */
  query(q: { trace?: string; since?: number } = {}): SpanJson[] {
    const out: SpanJson[] = [];
    const n = this.#ring.length;
    const after = q.since === undefined ? -Infinity : q.since * 1000;
    for (let i = 0; i < n; i++) {
      const s = this.#ring[(this.#at + i) % n];
      if (!s) continue;
      if (q.trace !== undefined ? s.traceId !== q.trace : s.end <= after) continue;
      out.push(spanJson(s));
    }
    return out;
  }
}

/** A kept span in `GET /.well-known/sketch/spans`' shape. */
export function spanJson(s: SpanRecord): SpanJson {
  const j: SpanJson = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: unixNano(s.start),
    endTimeUnixNano: unixNano(s.end),
    attributes: s.attributes,
    status: s.statusMessage ? { code: s.status, message: s.statusMessage } : { code: s.status },
  };
  if (s.parentSpanId) j.parentSpanId = s.parentSpanId;
  return j;
}

/** ms since the epoch (with a fraction) as ns since the epoch, a decimal string, to the µs (a double holds no finer at today's epoch). */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  const us = Math.round((ms - whole) * 1000);
  return us >= 1000 ? `${whole + 1}000000` : `${whole}${String(us).padStart(3, '0')}000`;
}

/** A trace id as a query asks for one: 32 lower-case hex digits. */
export const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * OTLP/HTTP exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp): a sketch's finished
 * spans (see ./spans.ts), POSTed in batches to `<endpoint>/v1/traces` as opentelemetry-proto's
 * `ExportTraceServiceRequest` in the JSON encoding (`Content-Type: application/json`; ids as hex
 * strings, enums as integers, 64-bit times as decimal strings). Jaeger, Tempo, the OpenTelemetry
 * Collector and most vendors take it on port 4318.
 *
 * Batching as the OpenTelemetry SDK's BatchSpanProcessor does it
 * (https://opentelemetry.io/docs/specs/otel/trace/sdk/#batching-processor): a bounded queue
 * (spans past it are dropped and counted, one log line per burst), an export when a batch is full
 * or the schedule delay after the first span queued, one export at a time. An export is retried
 * on 429, 502, 503, 504 and network errors with exponential backoff (or after the `Retry-After`
 * the collector asks for) until the export timeout; any other answer drops the batch (one log
 * line per run of failures). Nothing here throws into the message path: `add` only queues.
 *
 * Settings follow the OTLP exporter's environment variables
 * (https://opentelemetry.io/docs/specs/otel/protocol/exporter/): `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (base; spans to `${base}/v1/traces`), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is),
 * `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` (`k=v,k2=v2`, URL-decoded),
 * `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` (ms), `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` (only
 * `http/json`), `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SDK_DISABLED`, and the
 * batch processor's `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_EXPORT_TIMEOUT`,
 * `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`. Options given in code win.
 *
 * Why not `@opentelemetry/exporter-trace-otlp-http` 0.223.1 + `@opentelemetry/sdk-trace-base`
 * 2.12.1 (measured on Node.js 20.20, x86-64, `node --expose-gc`, 5 runs each): importing the two
 * takes 104–153 ms and adds 15 MiB RSS (2.9 MiB heap) to a bare process, 113–148 ms and
 * 1.9–2.1 MiB heap to one that has the sketch runtime loaded; they are 12 packages, 28 MiB on
 * disk. This module adds 4–10 ms and under 0.13 MiB heap to the runtime, and the span model is
 * ours already (spans.ts). Requests go through node:http(s), which a sketch has loaded: its
 * first request costs 9–15 ms and 1.5 MiB RSS, where global `fetch` (undici, loaded on first
 * use) cost 71–217 ms and 17 MiB RSS.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, oneLine } from '../errors.js';
import { sketchnetVersion } from './broker-link.js';
import { unixNano, type SpanKind, type SpanRecord, type Tracer } from './spans.js';

/** Default `OtlpOptions.maxQueueSize`: 2048 spans (the OpenTelemetry SDK's default). */
export const OTLP_QUEUE_SIZE = 2048;
/** Default `OtlpOptions.maxExportBatchSize`: 512 spans per request. */
export const OTLP_BATCH_SIZE = 512;
/** Default `OtlpOptions.scheduleDelay`, ms: 1000 (a span leaves at most about 1 s after it ended). */
export const OTLP_SCHEDULE_DELAY_MS = 1000;
/** Default `OtlpOptions.timeout`, ms: 10 000 for one export, retries included. */
export const OTLP_TIMEOUT_MS = 10_000;
/** Default `OtlpOptions.closeTimeout`, ms: 1000 — the longest `close()` waits for the last export. */
export const OTLP_CLOSE_TIMEOUT_MS = 1000;
/** Attempts per batch at most (the first and four retries). */
const MAX_ATTEMPTS = 5;
/** Backoff: the first retry waits `retryDelay` (± 20 %), each next one 1.5 × longer, at most this, ms. */
const MAX_BACKOFF_MS = 5000;
/** HTTP statuses worth retrying (OTLP/HTTP "Retryable Response Codes"). */
const RETRYABLE = new Set([429, 502, 503, 504]);
/** The only protocol spoken: OTLP/HTTP with JSON bodies. */
const PROTOCOL = 'http/json';

/** How spans are exported: {@link OtlpExporter}, `SketchConfig.otlp`, `sketch run --otlp URL`. Every field is optional. */
export interface OtlpOptions {
  /**
   * The collector's base URL, e.g. `http://localhost:4318`: spans go to `<endpoint>/v1/traces`.
   * Default `$OTEL_EXPORTER_OTLP_ENDPOINT`.
   */
  endpoint?: string;
  /** The traces URL itself, used as is; wins over `endpoint`. Default `$OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. */
  url?: string;
  /** Request headers (an API key…), over those of `$OTEL_EXPORTER_OTLP_HEADERS` and `…_TRACES_HEADERS`. */
  headers?: Record<string, string>;
  /** Longest one export may take, retries included, ms. Default `$OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT`, else 10 000. */
  timeout?: number;
  /** Spans waiting at most; more are dropped and counted. Default `$OTEL_BSP_MAX_QUEUE_SIZE`, else 2048. */
  maxQueueSize?: number;
  /** Spans per request at most. Default `$OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, else 512. */
  maxExportBatchSize?: number;
  /** Wait after the first span queued before a partial batch is sent, ms. Default `$OTEL_BSP_SCHEDULE_DELAY`, else 1000. */
  scheduleDelay?: number;
  /** First retry's wait when the collector names none (`Retry-After`), ms; then × 1.5 each time, at most 5000. Default 1000. */
  retryDelay?: number;
  /** Longest `close()` waits for the spans still queued, ms. Default 1000. */
  closeTimeout?: number;
  /** Resource `service.name`. Default `$OTEL_SERVICE_NAME`, else `service.name` of `$OTEL_RESOURCE_ATTRIBUTES`, else the sketch's instance name. */
  serviceName?: string;
  /** More resource attributes, over those of `$OTEL_RESOURCE_ATTRIBUTES`. */
  resource?: Record<string, string | number | boolean>;
  /** Where the `OTEL_*` variables are read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where warnings go (one line each). Default stderr. */
  log?: (line: string) => void;
}

/** {@link OtlpOptions} with every setting decided: what {@link resolveOtlp} returns. */
export interface OtlpSettings {
  /** The URL spans are POSTed to. */
  url: string;
  headers: Record<string, string>;
  /** ms */
  timeout: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
  /** ms */
  scheduleDelay: number;
  /** ms */
  retryDelay: number;
  /** ms */
  closeTimeout: number;
  /** undefined: the sketch's instance name. */
  serviceName: string | undefined;
  resource: Record<string, string | number | boolean>;
}

/** What an exporter did so far. */
export interface OtlpStats {
  /** Spans the collector took. */
  exported: number;
  /** Spans dropped because the queue was full. */
  dropped: number;
  /** Spans dropped because their export failed (after retries) or the collector rejected them. */
  failed: number;
  /** Spans waiting now. */
  queued: number;
}

const stderr = (line: string) => console.error(`sketch: warning: ${line}`);
const on = (v: string | undefined) => v !== undefined && v.trim() !== '';

/**
 * The exporter settings for `options` over the `OTEL_*` variables of `env` (default
 * `options.env`, else `process.env`); undefined when export is off: no endpoint given nor in
 * the environment, or `OTEL_SDK_DISABLED=true` and no endpoint given in `options`. Bad values
 * of variables are warned about (`warn`) and replaced by the defaults, as the OpenTelemetry
 * specification asks.
 * @throws SketchError `SKETCH_ERR_OTLP_PROTOCOL` when `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`
 *   asks for anything but `http/json` (grpc, http/protobuf) while export is on;
 *   `SKETCH_ERR_INVALID_OPTION` for an endpoint that is not an http(s) URL or a bad number in `options`.
 */
export function resolveOtlp(options: OtlpOptions = {}, env: Readonly<Record<string, string | undefined>> = options.env ?? process.env, warn: (line: string) => void = options.log ?? stderr): OtlpSettings | undefined {
  const given = options.url !== undefined || options.endpoint !== undefined;
  if (!given && env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  // [the URL as given, whether it is a base that gets /v1/traces, where it came from]
  let where: [string, boolean, string];
  if (options.url !== undefined) where = [options.url, false, 'the OTLP traces URL'];
  else if (options.endpoint !== undefined) where = [options.endpoint, true, 'the OTLP endpoint (--otlp)'];
  else if (on(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)) where = [env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT!.trim(), false, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  else if (on(env.OTEL_EXPORTER_OTLP_ENDPOINT)) where = [env.OTEL_EXPORTER_OTLP_ENDPOINT!.trim(), true, 'OTEL_EXPORTER_OTLP_ENDPOINT'];
  else return undefined;
  const [raw, base, from] = where;
  checkUrl(raw, from);
  const url = base ? tracesUrl(raw) : raw;
  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const p = env[name]?.trim();
    if (p) {
      if (p !== PROTOCOL) throw errors.OTLP_PROTOCOL(name, p);
      break; // the traces variable, when set, decides
    }
  }
  const number = (name: string, value: number | undefined, vars: string[], fallback: number, min: number): number => {
    if (value !== undefined) {
      if (!Number.isFinite(value) || value < min) throw errors.INVALID_OPTION(`OtlpOptions.${name} must be a number ≥ ${min}, got ${JSON.stringify(value)}`);
      return value;
    }
    for (const v of vars) {
      const text = env[v]?.trim();
      if (!text) continue;
      const n = Number(text);
      if (Number.isFinite(n) && n >= min) return n;
      warn(`${v}=${JSON.stringify(text)} is not a number ≥ ${min}: using ${fallback}`);
      return fallback;
    }
    return fallback;
  };
  const whole = (name: string, value: number | undefined, vars: string[], fallback: number) => Math.floor(number(name, value, vars, fallback, 1));
  const resource: Record<string, string | number | boolean> = { ...keyValues(env.OTEL_RESOURCE_ATTRIBUTES, 'OTEL_RESOURCE_ATTRIBUTES', warn), ...options.resource };
  const serviceName = options.serviceName ?? (env.OTEL_SERVICE_NAME?.trim() || (typeof resource['service.name'] === 'string' ? resource['service.name'] : undefined));
  delete resource['service.name'];
  const maxQueueSize = whole('maxQueueSize', options.maxQueueSize, ['OTEL_BSP_MAX_QUEUE_SIZE'], OTLP_QUEUE_SIZE);
  let maxExportBatchSize = whole('maxExportBatchSize', options.maxExportBatchSize, ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], OTLP_BATCH_SIZE);
  if (maxExportBatchSize > maxQueueSize) maxExportBatchSize = maxQueueSize; // the SDK's rule: a batch never exceeds the queue
  return {
    url,
    headers: {
      ...keyValues(env.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS', warn),
      ...keyValues(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', warn),
      ...options.headers,
    },
    timeout: number('timeout', options.timeout, ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_BSP_EXPORT_TIMEOUT'], OTLP_TIMEOUT_MS, 1),
    maxQueueSize,
    maxExportBatchSize,
    scheduleDelay: number('scheduleDelay', options.scheduleDelay, ['OTEL_BSP_SCHEDULE_DELAY'], OTLP_SCHEDULE_DELAY_MS, 0),
    retryDelay: number('retryDelay', options.retryDelay, [], 1000, 0),
    closeTimeout: number('closeTimeout', options.closeTimeout, [], OTLP_CLOSE_TIMEOUT_MS, 0),
    serviceName,
    resource,
  };
}

/** `http://host:4318` → `http://host:4318/v1/traces` (a base with a path keeps it: `…/otlp` → `…/otlp/v1/traces`). */
function tracesUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

function checkUrl(url: string, from: string): void {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    // reported below
  }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    throw errors.INVALID_OPTION(`${from} ${JSON.stringify(url)} is not an http:// or https:// URL: give the collector's OTLP/HTTP address, e.g. http://localhost:4318`);
  }
}

/**
 * `k=v,k2=v2` (W3C Baggage-like, as `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_RESOURCE_ATTRIBUTES`
 * are written): keys and values trimmed and URL-decoded. A pair without `=` or that does not
 * decode is skipped with a warning.
 */
export function keyValues(text: string | undefined, name: string, warn: (line: string) => void = stderr): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text?.trim()) return out;
  for (const part of text.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    try {
      if (eq < 1) throw new Error('no key=value');
      const key = decodeURIComponent(part.slice(0, eq).trim());
      if (!key) throw new Error('empty key');
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      warn(`${name}: skipping ${JSON.stringify(part.trim().slice(0, 40))}: not key=value (URL-encoded)`);
    }
  }
  return out;
}

/** OTLP `SpanKind` (opentelemetry-proto trace.proto): INTERNAL 1, SERVER 2, CLIENT 3. */
const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3 };
/** OTLP `Status.StatusCode`: UNSET 0, OK 1, ERROR 2. */
const STATUS = { unset: 0, ok: 1, error: 2 } as const;

/** One attribute as OTLP/JSON writes a `KeyValue`. */
export interface OtlpKeyValue {
  key: string;
  value: { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
}

/** One span as OTLP/JSON writes it (opentelemetry-proto `Span`, the fields sketchnet fills). */
export interface OtlpSpan {
  /** 32 hex digits. */
  traceId: string;
  /** 16 hex digits. */
  spanId: string;
  /** 16 hex digits; absent for a root. */
  parentSpanId?: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  /** ns since the Unix epoch, decimal string. */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  /** `code` 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

/** The body of one export: opentelemetry-proto's `ExportTraceServiceRequest` in its JSON encoding. */
export interface OtlpTraceRequest {
  resourceSpans: Array<{
    resource: { attributes: OtlpKeyValue[] };
    scopeSpans: Array<{ scope: { name: string; version: string }; spans: OtlpSpan[] }>;
  }>;
}

/** A value as an OTLP `AnyValue`: whole numbers as `intValue` (a decimal string: int64), others as `doubleValue`. */
function anyValue(v: string | number | boolean): OtlpKeyValue['value'] {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Number.isSafeInteger(v)) return { intValue: String(v) };
  return Number.isFinite(v) ? { doubleValue: v } : { stringValue: String(v) };
}

const keyValueList = (attrs: Record<string, string | number | boolean>): OtlpKeyValue[] => Object.entries(attrs).map(([key, v]) => ({ key, value: anyValue(v) }));

/** A kept span as OTLP/JSON writes it. */
export function otlpSpan(s: SpanRecord): OtlpSpan {
  const span: OtlpSpan = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: KIND[s.kind],
    startTimeUnixNano: unixNano(s.start),
    endTimeUnixNano: unixNano(s.end),
    attributes: keyValueList(s.attributes),
    status: s.statusMessage ? { code: STATUS[s.status], message: s.statusMessage } : { code: STATUS[s.status] },
  };
  if (s.parentSpanId) span.parentSpanId = s.parentSpanId;
  return span;
}

/**
 * One export's body: the spans grouped by the sketch that recorded them (its `sketch.name`
 * attribute — the instance name, which can change on an mDNS rename), each group a resource with
 * `service.name` (the settings' `serviceName`, else that name), `service.namespace` `sketchnet`,
 * `sketchnet.kind`, and the settings' resource attributes; one scope `sketchnet` with its version.
 */
export function otlpRequest(spans: readonly SpanRecord[], settings: Pick<OtlpSettings, 'serviceName' | 'resource'>, fallback: { name: string; kind: string }): OtlpTraceRequest {
  const groups = new Map<string, { kind: string; spans: OtlpSpan[] }>();
  for (const s of spans) {
    const name = typeof s.attributes['sketch.name'] === 'string' ? s.attributes['sketch.name'] : fallback.name;
    const kind = typeof s.attributes['sketch.kind'] === 'string' ? s.attributes['sketch.kind'] : fallback.kind;
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { kind, spans: [] }));
    g.spans.push(otlpSpan(s));
  }
  const scope = { name: 'sketchnet', version: sketchnetVersion() };
  return {
    resourceSpans: [...groups].map(([name, g]) => ({
      resource: {
        attributes: keyValueList({
          'service.name': settings.serviceName ?? name,
          'service.namespace': 'sketchnet',
          'service.instance.id': name,
          'sketchnet.kind': g.kind,
          ...settings.resource,
        }),
      },
      scopeSpans: [{ scope, spans: g.spans }],
    })),
  };
}

/** `Retry-After` (RFC 9110 §10.2.3: seconds, or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Options of {@link OtlpExporter} beyond {@link OtlpOptions}: whose spans they are. */
export interface OtlpExporterOptions extends OtlpOptions {
  /** The sketch's instance name now: `service.name` of spans without a `sketch.name` attribute. Default `() => 'sketch'`. */
  name?: () => string;
  /** The sketch's kind (`sketchnet.kind`) for spans without a `sketch.kind` attribute. Default `'sketch'`. */
  kind?: string;
}

/** See the module comment. `new OtlpExporter(options).attach(sketch.tracer)`; `SketchConfig.otlp` does it for a sketch. */
export class OtlpExporter {
  /** Where the spans go, and how. */
  readonly settings: OtlpSettings;
  readonly #name: () => string;
  readonly #kind: string;
  readonly #log: (line: string) => void;
  readonly #queue: SpanRecord[] = [];
  readonly #detach: Array<() => void> = [];
  readonly #abort = new AbortController();
  /** Keeps the connection to the collector between exports; destroyed by close(). */
  readonly #agent: http.Agent;
  #timer?: NodeJS.Timeout;
  #running?: Promise<void>;
  /** Spans taken into the queue, and of those, whose export is over (sent or given up). */
  #accepted = 0;
  #settled = 0;
  /** Export the queue up to this many accepted spans, partial batches too (flush). */
  #flushTo = 0;
  #exported = 0;
  #dropped = 0;
  #failed = 0;
  /** Dropping for a full queue now: one line per burst. */
  #dropping = false;
  /** Failing since this many spans failed (undefined: not failing): one line per run of failures. */
  #failing?: number;
  /** Spans given up because `close()` ran out of time: one line at the end. */
  #lostOnClose = 0;
  #closing?: Promise<void>;

  /**
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` when there is no endpoint (neither in
   *   `options` nor in the environment) or a bad one; `SKETCH_ERR_OTLP_PROTOCOL` (see {@link resolveOtlp}).
   */
  constructor(options: OtlpExporterOptions = {}) {
    this.#log = options.log ?? stderr;
    const settings = resolveOtlp(options, options.env ?? process.env, this.#log);
    if (!settings) throw errors.INVALID_OPTION('OtlpExporter needs a collector: give OtlpOptions.endpoint (e.g. http://localhost:4318) or set OTEL_EXPORTER_OTLP_ENDPOINT');
    this.settings = settings;
    this.#name = options.name ?? (() => 'sketch');
    this.#kind = options.kind ?? 'sketch';
    this.#agent = new (settings.url.startsWith('https:') ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 1 });
  }

  /** Exports every span `tracer` finishes from now on, until {@link close}. Returns a function that stops it. */
  attach(tracer: Tracer): () => void {
    const stop = tracer.onEnd((span) => this.add(span));
    this.#detach.push(stop);
    return stop;
  }

  /** Queues one finished span (dropped and counted when the queue is full or the exporter closed). Never throws. */
  add(span: SpanRecord): void {
    if (this.#closing) return;
    const s = this.settings;
    if (this.#queue.length >= s.maxQueueSize) {
      this.#dropped++;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#log(`OTLP: ${s.maxQueueSize} spans wait for ${s.url} already: dropping spans until it catches up`);
      }
      return;
    }
    this.#queue.push(span);
    this.#accepted++;
    if (this.#running) return; // the export in progress looks at the queue when it is done
    if (this.#queue.length >= s.maxExportBatchSize) this.#start();
    else this.#timer ??= setTimeout(() => this.#start(), s.scheduleDelay).unref();
  }

  /** What it did so far. */
  get stats(): OtlpStats {
    return { exported: this.#exported, dropped: this.#dropped, failed: this.#failed, queued: this.#queue.length };
  }

  /** Exports every span queued now, partial batches too; resolves when they are sent or given up. Never rejects. */
  async flush(): Promise<void> {
    const upTo = this.#accepted;
    this.#flushTo = Math.max(this.#flushTo, upTo);
    while (this.#settled < upTo) {
      if (!this.#running) this.#start();
      await this.#running;
    }
  }

  /**
   * Stops taking spans and exports those queued, waiting at most `closeTimeout` ms (default
   * 1000): what is left then is dropped and counted in one log line. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const stop of this.#detach.splice(0)) stop();
      const bound = setTimeout(() => this.#abort.abort(), this.settings.closeTimeout);
      bound.unref();
      await this.flush();
      clearTimeout(bound);
      clearTimeout(this.#timer);
      this.#agent.destroy();
      if (this.#lostOnClose) this.#log(`OTLP: ${this.#lostOnClose} spans not exported: ${this.settings.url} did not take them within ${this.settings.closeTimeout} ms of closing`);
    })();
    return this.#closing;
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      if (this.#queue.length && !this.#abort.signal.aborted) {
        if (this.#queue.length >= this.settings.maxExportBatchSize || this.#flushTo > this.#settled) this.#start();
        else this.#timer ??= setTimeout(() => this.#start(), this.settings.scheduleDelay).unref();
      }
    });
  }

  /** Sends one batch, then more while full batches wait (or a flush asks for all). */
  async #drain(): Promise<void> {
    do {
      const batch = this.#queue.splice(0, this.settings.maxExportBatchSize);
      this.#dropping = false; // room again: the next overflow is a new burst
      if (batch.length) await this.#export(batch);
      this.#settled += batch.length;
    } while (this.#queue.length >= this.settings.maxExportBatchSize || (this.#flushTo > this.#settled && this.#queue.length));
  }

  /** POSTs one batch, retrying as the module comment says. Never rejects. */
  async #export(batch: SpanRecord[]): Promise<void> {
    const s = this.settings;
    const closing = this.#abort.signal;
    if (closing.aborted) return this.#giveUp(batch, 'closed');
    let body: string;
    try {
      body = JSON.stringify(otlpRequest(batch, s, { name: this.#name(), kind: this.#kind }));
    } catch (err) {
      return this.#giveUp(batch, `cannot encode them: ${oneLine(err)}`);
    }
    const deadline = Date.now() + s.timeout;
    let backoff = s.retryDelay;
    for (let attempt = 1; ; attempt++) {
      let why: string;
      let wait: number | undefined;
      const timeout = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      try {
        const res = await post(s.url, body, s.headers, this.#agent, AbortSignal.any([closing, timeout]));
        if (res.status >= 200 && res.status < 300) return this.#sent(batch, res.text);
        why = `${res.status} ${http.STATUS_CODES[res.status] ?? ''}${firstLine(res.text)}`;
        if (!RETRYABLE.has(res.status)) return this.#giveUp(batch, why);
        wait = retryAfterMs(res.retryAfter);
      } catch (err) {
        if (closing.aborted) return this.#giveUp(batch, 'closed');
        why = timeout.aborted ? `no answer within ${s.timeout} ms` : ((err as NodeJS.ErrnoException).code ?? oneLine(err));
      }
      const delay = wait ?? backoff * (0.8 + Math.random() * 0.4);
      backoff = Math.min(backoff * 1.5, MAX_BACKOFF_MS);
      if (attempt >= MAX_ATTEMPTS || Date.now() + delay >= deadline) return this.#giveUp(batch, `${why} (${attempt} attempt${attempt > 1 ? 's' : ''})`);
      try {
        await sleep(delay, undefined, { signal: closing, ref: false });
      } catch {
        return this.#giveUp(batch, 'closed');
      }
    }
  }

  /** The collector answered 2xx: counts, and reads a partial success (`rejectedSpans`). */
  #sent(batch: SpanRecord[], text: string): void {
    let rejected = 0;
    let message = '';
    if (text.trim().startsWith('{')) {
      try {
        const partial = (JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string | number; errorMessage?: string } }).partialSuccess;
        rejected = Math.min(batch.length, Math.max(0, Number(partial?.rejectedSpans ?? 0) || 0));
        message = partial?.errorMessage ?? '';
      } catch {
        // a 2xx without a readable body is a success
      }
    }
    this.#exported += batch.length - rejected;
    if (rejected) {
      this.#failed += rejected;
      this.#log(`OTLP: ${this.settings.url} rejected ${rejected} of ${batch.length} spans${message ? `: ${oneLine(message).slice(0, 200)}` : ''}`);
      return;
    }
    if (this.#failing !== undefined) {
      this.#log(`OTLP: exports to ${this.settings.url} work again (${this.#failed - this.#failing} spans lost meanwhile)`);
      this.#failing = undefined;
    }
  }

  #giveUp(batch: SpanRecord[], why: string): void {
    this.#failed += batch.length;
    if (this.#abort.signal.aborted) return void (this.#lostOnClose += batch.length); // close() says it once
    if (this.#failing !== undefined) return; // said already
    this.#failing = this.#failed - batch.length;
    this.#log(`OTLP: ${batch.length} spans not exported to ${this.settings.url}: ${why}; dropping spans until it answers`);
  }
}

/** Most bytes of a collector's answer read: 64 KiB (a partial success's message, an error's line). */
const MAX_ANSWER_BYTES = 64 * 1024;

/** POSTs `body` as JSON; resolves with the answer's status, `Retry-After` and (first 64 KiB of) body. */
function post(url: string, body: string, headers: Record<string, string>, agent: http.Agent, signal: AbortSignal): Promise<{ status: number; retryAfter: string | null; text: string }> {
  const request = url.startsWith('https:') ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, signal, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < MAX_ANSWER_BYTES) text += chunk;
      });
      res.once('end', () => {
        const ra = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : null, text: text.slice(0, MAX_ANSWER_BYTES) });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** `: <first non-empty line of an answer's body>`, or nothing. */
function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200);
  return line ? `: ${line}` : '';
}

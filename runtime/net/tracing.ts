/**
 * A sketch's tracing, set up from its config: the {@link Tracer} (spans ring, sampling, context)
 * and, when asked, the OTLP exporter it feeds. Kept out of `Sketch`, which only holds the result.
 */
import { errors } from '../errors.js';
import { OtlpExporter, resolveOtlp, type OtlpOptions } from './otlp.js';
import { Tracer } from './spans.js';

/** The tracing fields of `SketchConfig`. */
export interface TracingConfig {
  /**
   * Record spans (`GET /.well-known/sketch/spans`) and carry W3C trace context on the requests
   * sent (`--no-trace` turns it off: nothing recorded, no `traceparent` sent). Default true.
   */
  trace?: boolean;
  /** Spans kept in the ring, the oldest dropped first (`--spans`); a whole number ≥ 1. Default 2048 (`SPAN_RING_SIZE`). */
  spans?: number;
  /**
   * Traces this sketch starts (a tick, a request from a plain client, a send outside any
   * `loop`) and records, per second at most, bursts of as many (`--trace-rate`); the rest are
   * sent on unsampled, and nobody records them. A number ≥ 0. Default 100 (`TRACE_RATE`); `Infinity`: all.
   */
  traceRate?: number;
  /**
   * Export the spans to an OpenTelemetry collector over OTLP/HTTP JSON (`--otlp URL`; see
   * {@link OtlpOptions}); `false`: never. Default: on when `OTEL_EXPORTER_OTLP_ENDPOINT` or
   * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not `true`).
   */
  otlp?: OtlpOptions | false;
}

/** Whose tracing it is. */
export interface TracedSketch {
  /** Its instance name now. */
  name: () => string;
  kind: string;
  /** Whether it has a peer (`to`): `loop` then runs in its trace context from the start. */
  sends: boolean;
  /** Where one-line warnings go. */
  warn: (line: string) => void;
}

/**
 * The tracer and exporter for `config` (none with `trace: false`).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for `spans` or `traceRate` out of bounds, or a
 *   bad OTLP endpoint or number; `SKETCH_ERR_OTLP_PROTOCOL` when export is on and
 *   `OTEL_EXPORTER_OTLP_PROTOCOL` is not `http/json`.
 */
export function startTracing(config: TracingConfig, sketch: TracedSketch): { tracer?: Tracer; otlp?: OtlpExporter } {
  const { spans, traceRate } = config;
  if (spans !== undefined && (!Number.isSafeInteger(spans) || spans < 1)) {
    throw errors.INVALID_OPTION(`SketchConfig.spans must be a whole number of spans ≥ 1, got ${JSON.stringify(spans)}`);
  }
  if (traceRate !== undefined && (typeof traceRate !== 'number' || !(traceRate >= 0))) {
    throw errors.INVALID_OPTION(`SketchConfig.traceRate must be a number of traces per second ≥ 0, got ${JSON.stringify(traceRate)}`);
  }
  if (config.trace === false) return {};
  const tracer = new Tracer({ capacity: spans, rate: traceRate, propagate: sketch.sends, name: sketch.name, kind: sketch.kind });
  const otlp = config.otlp === false ? undefined : resolveOtlp(config.otlp, undefined, sketch.warn);
  if (!otlp) return { tracer };
  const exporter = new OtlpExporter({ ...otlp, env: {}, name: sketch.name, kind: sketch.kind, log: sketch.warn });
  exporter.attach(tracer);
  return { tracer, otlp: exporter };
}

/**
 * `GET /.well-known/sketch/spans`: a sketch's kept spans as JSON, `{ "name": "<instance name>",
 * "spans": [SpanJson…] }`, oldest first — `?trace=<32 hex>` those of one trace, `?since=<s>`
 * those that ended after that time (s since the epoch), neither: all kept. Behind the same gate
 * as the status (keys, Origin).
 */
import type http from 'node:http';
import { sendJson, sendText } from './routes.js';
import { TRACE_ID, type Tracer } from './spans.js';
import { STATUS_PATH } from '../streams/status.js';

/** Where a sketch answers its spans: `/.well-known/sketch/spans`. */
export const SPANS_PATH = `${STATUS_PATH}/spans`;

/** Whether a request URL asks for the spans (any query string). */
export function spansPath(url: string | undefined): boolean {
  if (!url) return false;
  const q = url.indexOf('?');
  return (q === -1 ? url : url.slice(0, q)) === SPANS_PATH;
}

/** Answers a spans request: 400 with one line for a bad query, 404 when the sketch does not trace (`--no-trace`). */
export function answerSpans(req: http.IncomingMessage, res: http.ServerResponse, name: string, tracer: Tracer | undefined): void {
  if (!tracer) return sendText(res, 404, `sketch "${name}" runs with --no-trace: it keeps no spans`);
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const trace = q.get('trace') ?? undefined;
  const sinceText = q.get('since');
  if (trace !== undefined && !TRACE_ID.test(trace)) return sendText(res, 400, `?trace must be a trace id of 32 lower-case hex digits, got ${JSON.stringify(trace.slice(0, 40))}`);
  const since = sinceText === null ? undefined : Number(sinceText);
  if (since !== undefined && (sinceText === '' || !Number.isFinite(since))) {
    return sendText(res, 400, `?since must be a time in s since the Unix epoch, got ${JSON.stringify(sinceText!.slice(0, 40))}`);
  }
  sendJson(res, { name, spans: tracer.query({ trace, since }) });
}

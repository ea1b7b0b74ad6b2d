/**
 * The recorder's HTTP API over its sketch's port: `GET /recorded` and `GET /history`
 * (docs/API.md, "Recorder"). Requests reach it after the sketch's gate (Origin, keys).
 */
import type http from 'node:http';
import { oneLine, SketchError } from '../errors.js';
import { DEFAULT_MAX_POINTS, MAX_POINTS, type RecordStore } from './store.js';

/** Paths the recorder answers. */
export const RECORDED_PATH = '/recorded';
export const HISTORY_PATH = '/history';

/**
 * Answers `GET /recorded` and `GET /history` from `store`; anything else is left alone.
 * @returns whether it answered.
 */
export function serveRecorder(store: RecordStore, req: http.IncomingMessage, res: http.ServerResponse, now: () => number = () => Date.now() / 1000): boolean {
  const url = new URL(req.url ?? '/', 'http://recorder');
  if (url.pathname !== RECORDED_PATH && url.pathname !== HISTORY_PATH) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    text(res, 405, `${url.pathname} answers GET only`, { allow: 'GET, HEAD' });
    return true;
  }
  try {
    store.flush(); // what was received is in the answer
    if (url.pathname === RECORDED_PATH) json(res, store.recorded());
    else {
      const q = parseHistoryQuery(url.searchParams, now());
      if ('error' in q) return text(res, 400, q.error), true;
      const answer = store.history(q);
      if (!answer) text(res, 404, `${q.sketch}${q.stream} was never recorded (GET ${RECORDED_PATH} lists what was)`);
      else json(res, answer);
    }
  } catch (err) {
    if (err instanceof SketchError && err.code === 'SKETCH_ERR_INVALID_OPTION') text(res, 400, err.message);
    else text(res, 500, `the recorder could not answer: ${oneLine(err)}`);
  }
  return true;
}

/** A parsed `/history` query, or one line saying what is wrong with it. */
export type ParsedHistoryQuery =
  | { sketch: string; stream: string; since: number; until: number; maxPoints: number; raw: boolean }
  | { error: string };

/**
 * Reads `sketch`, `stream` (required), `since`, `until` (s since the epoch; defaults: until =
 * now, since = until − 3600), `max_points` (1–100 000, default 2000) and `raw` (`1`/`true`).
 */
export function parseHistoryQuery(p: URLSearchParams, now: number): ParsedHistoryQuery {
  const sketch = p.get('sketch');
  const stream = p.get('stream');
  if (!sketch) return { error: 'name the sketch: ?sketch=NAME&stream=/PATH' };
  if (!stream || !stream.startsWith('/')) return { error: 'name the stream, starting with "/": ?sketch=NAME&stream=/readings' };
  const time = (name: string): number | undefined | { error: string } => {
    const v = p.get(name);
    if (v === null || v === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : { error: `${name} must be a time in seconds since the epoch, got ${JSON.stringify(v.slice(0, 40))}` };
  };
  const u = time('until');
  const s = time('since');
  if (typeof u === 'object') return u;
  if (typeof s === 'object') return s;
  const until = u ?? now;
  const since = s ?? until - 3600;
  if (since > until) return { error: `since (${since}) is after until (${until})` };
  const mp = p.get('max_points');
  const maxPoints = mp === null || mp === '' ? DEFAULT_MAX_POINTS : /^\d{1,7}$/.test(mp) ? Number(mp) : NaN;
  if (!(maxPoints >= 1 && maxPoints <= MAX_POINTS)) {
    return { error: `max_points must be a whole number from 1 to ${MAX_POINTS}, got ${JSON.stringify((mp ?? '').slice(0, 40))}` };
  }
  const r = p.get('raw');
  if (r !== null && !['', '0', '1', 'true', 'false'].includes(r)) return { error: `raw takes 1 or 0, got ${JSON.stringify(r.slice(0, 40))}` };
  return { sketch, stream, since, until, maxPoints, raw: r === '' || r === '1' || r === 'true' };
}

function json(res: http.ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(value)}\n`);
}

function text(res: http.ServerResponse, status: number, line: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`${line}\n`);
}

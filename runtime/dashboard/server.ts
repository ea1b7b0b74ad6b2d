/**
 * The dashboard's page protocol: the static page, the JSON API the page reads with its key
 * (`/api/sketches`, `/api/history`, `/api/trace`, `/api/tail`), the relays (one subscription per sketch and stream) and
 * what is published to the pages' WebSocket stream (`/live`). No server in it: the dashboard
 * sketch serves these routes and publishes what this hands it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type http from 'node:http';
import { errors } from '../errors.js';
import { sendJson, sendText, type HttpRoute, type HttpRoutes } from '../net/routes.js';
import type { Directory, SketchCard } from './directory.js';
import { getJson, httpUrl, type ClientSecurity } from '../net/client.js';
import { Relay, TRACE_ID, type Point } from './relay.js';
import { MAX_TAIL, mergeTrace, tail, TAIL_SECONDS, type FetchJson } from './trace.js';

/** History windows the page offers, in seconds: 5 min, 1 h, 24 h, 7 d (the last three only with a recorder). */
export const WINDOWS = [300, 3600, 86_400, 604_800] as const;
/** Points asked of the recorder per plot (`max_points`): 1500. */
export const HISTORY_POINTS = 1500;
/** Points each relay keeps per stream, by default: 5000. */
export const RELAY_POINTS = 5000;
/** Longest wait for the recorder's `/history`, ms: 5000 (then the sketch's own history is used). */
export const RECORDER_TIMEOUT_MS = 5000;

/** What `GET /api/history` answers: columnar, ready for uPlot. Times in s since the epoch. */
export interface PlotHistory {
  sketch: string;
  stream: string;
  /** Where it came from: the recorder (`recorder`, with its name in `recorder`) or the dashboard's subscription to the sketch (`sketch`). */
  source: 'recorder' | 'sketch';
  recorder?: string;
  /** Window asked for, s. */
  window: number;
  fields: string[];
  /** Units by field, when the data says (`"unit": "°C"`). */
  units: Record<string, string>;
  time: number[];
  values: Record<string, (number | null)[]>;
  /** Newest point included: live points at or before it (same epoch) are duplicates. */
  last: { epoch: string; seq: number; time: number } | null;
  /** Trace id of each point (`null`: none), when any has one (the clock's `/ticks`); the recorder's points have none. */
  traces?: (string | null)[];
  /** Why the recorder was not used, when one exists but failed. */
  note?: string;
}

/** A message published on `/live` for the pages: one point of one stream. */
export interface LivePoint {
  /** `[sketch, stream, epoch, seq, time, values]`, compact; a 7th element, the trace id, when the item has one (`/ticks`). */
  p: [string, string, string, number, number, Record<string, number>] | [string, string, string, number, number, Record<string, number>, string];
}

/** Options of {@link DashboardServer}. */
export interface DashboardServerOptions {
  directory: Directory;
  /** The dashboard's credentials for the sketches (never sent to the browser). */
  security: ClientSecurity;
  /** Publishes one JSON value to the pages (`/live`). */
  publish(value: unknown): void;
  /** Points kept per stream. Default {@link RELAY_POINTS}. */
  relayPoints?: number;
  /** `max_points` asked of the recorder. Default {@link HISTORY_POINTS}. */
  historyPoints?: number;
  /** Clock, s since the epoch. */
  now?: () => number;
  /** How the spans of a sketch are read (tests pass a fake). Default: `getJson` with `security`. */
  fetchJson?: FetchJson;
  log(line: string): void;
}

/** See the module comment. */
export class DashboardServer {
  readonly #o: Required<DashboardServerOptions>;
  readonly #relays = new Map<string, Relay>();
  readonly #files: Map<string, { type: string; body: Buffer; cache: string }>;
  readonly #warned = new Set<string>();

  constructor(options: DashboardServerOptions) {
    const fetchJson: FetchJson = (card, path, query, timeoutMs) => getJson(httpUrl(card.url, path, query), card.name, this.#o.security, timeoutMs, (l) => this.#warn(l));
    this.#o = { relayPoints: RELAY_POINTS, historyPoints: HISTORY_POINTS, now: () => Date.now() / 1000, fetchJson, ...options };
    this.#files = loadPageFiles();
    this.#o.directory.on('change', (cards) => this.#sync(cards));
  }

  /** The dashboard's HTTP routes: the page's files (open: the page must load to ask for a key) and the API (gated). */
  routes(): HttpRoutes {
    const routes: Record<string, HttpRoute> = {};
    for (const [path, file] of this.#files) {
      routes[path] = {
        open: true,
        handle: (_req, res) => {
          res.writeHead(200, { 'content-type': file.type, 'cache-control': file.cache, 'content-length': file.body.length });
          res.end(file.body);
        },
      };
    }
    routes['/api/sketches'] = { handle: (_req, res) => sendJson(res, this.overview()) };
    routes['/api/history'] = { handle: (req, res) => this.#history(req, res) };
    routes['/api/trace'] = { handle: (req, res) => this.#trace(req, res) };
    routes['/api/tail'] = { handle: (req, res) => this.#tail(req, res) };
    return routes;
  }

  /** What `GET /api/sketches` answers: the cards, the recorder in use (or null) and the windows offered. */
  overview(): { sketches: SketchCard[]; recorder: string | null; windows: number[] } {
    const recorder = this.#recorder();
    return { sketches: this.#o.directory.cards(), recorder: recorder?.name ?? null, windows: recorder ? [...WINDOWS] : [WINDOWS[0]] };
  }

  /** The relay of `sketch`'s `stream`, if the dashboard subscribes to it. */
  relay(sketch: string, stream: string): Relay | undefined {
    return this.#relays.get(key(sketch, stream));
  }

  /** How many subscriptions to sketches are held (one per sketch and stream, however many pages). */
  get subscriptions(): number {
    return this.#relays.size;
  }

  /** Stops every subscription. */
  close(): void {
    for (const r of this.#relays.values()) r.close();
    this.#relays.clear();
  }

  /**
   * The history of one plot over the last `window` s: the recorder's (decimated to
   * `historyPoints`) followed by the points the dashboard received after the recorder's newest,
   * else the dashboard's own points of the window (the sketch's history and what followed).
   * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when no such sketch and stream is known.
   */
  async history(sketch: string, stream: string, window: number): Promise<PlotHistory> {
    const relay = this.#relays.get(key(sketch, stream));
    if (!relay) throw errors.PEER_NOT_FOUND(`${sketch}${stream}`, 0);
    const now = this.#o.now();
    const since = now - window;
    const recorder = this.#recorder();
    const base = { sketch, stream, window, units: relay.units };
    let note: string | undefined;
    if (recorder) {
      try {
        const url = httpUrl(recorder.url, '/history', { sketch, stream, since, until: now + 60, max_points: this.#o.historyPoints });
        const rec = checkHistory(await getJson(url, recorder.name, this.#o.security, RECORDER_TIMEOUT_MS, (l) => this.#warn(l)));
        const tail = rec.last ? relay.points().filter((p) => after(p, rec.last!)) : relay.points().filter((p) => p.time >= since);
        const fields = [...new Set([...rec.fields, ...tail.flatMap((p) => Object.keys(p.values))])];
        const time = [...rec.time, ...tail.map((p) => p.time)];
        const values: Record<string, (number | null)[]> = {};
        for (const f of fields) values[f] = [...(rec.values[f] ?? rec.time.map(() => null)), ...tail.map((p) => p.values[f] ?? null)];
        const end = tail.at(-1);
        const last = end ? { epoch: end.epoch, seq: end.seq, time: end.time } : rec.last;
        const traces = tail.some((p) => p.trace) ? [...rec.time.map(() => null), ...tail.map((p) => p.trace ?? null)] : undefined;
        return { ...base, source: 'recorder', recorder: recorder.name, fields, time, values, last, ...(traces ? { traces } : {}) };
      } catch (err) {
        note = `recorder ${recorder.name}: ${(err as Error).message}`;
      }
    }
    const points = relay.points().filter((p) => p.time >= since).slice(-this.#o.historyPoints * 2);
    return { ...base, source: 'sketch', ...columns(points), ...(note ? { note } : {}) };
  }

  async #trace(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const id = (new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '').toLowerCase();
    if (!TRACE_ID.test(id)) return sendText(res, 400, `give ?id=TRACE (32 hex digits), got ${JSON.stringify(id).slice(0, 40)}`);
    sendJson(res, await mergeTrace(this.#o.directory.cards(), id, this.#o.fetchJson));
  }

  async #tail(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const sketch = q.get('sketch');
    const to = q.get('to') || null;
    const limit = Number(q.get('limit') ?? 50);
    const since = Number(q.get('since') ?? this.#o.now() - TAIL_SECONDS);
    if (!sketch) return sendText(res, 400, 'give ?sketch=NAME (and &to=PEER, &since=S, &limit=N)');
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TAIL) return sendText(res, 400, `?limit must be a whole number from 1 to ${MAX_TAIL}, got ${JSON.stringify(q.get('limit')).slice(0, 40)}`);
    if (!Number.isFinite(since) || since < 0) return sendText(res, 400, `?since must be seconds since the epoch, got ${JSON.stringify(q.get('since')).slice(0, 40)}`);
    const card = this.#o.directory.get(sketch);
    if (!card) return sendText(res, 404, `no sketch ${sketch.slice(0, 60)} is known here`);
    try {
      sendJson(res, await tail(card, to, since, limit, this.#o.fetchJson));
    } catch (err) {
      sendText(res, 502, `${sketch.slice(0, 60)}: ${(err as Error).message.split('\n')[0]!.slice(0, 200)}`);
    }
  }

  async #history(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const sketch = q.get('sketch');
    const stream = q.get('stream');
    const window = Number(q.get('window') ?? WINDOWS[0]);
    if (!sketch || !stream?.startsWith('/')) return sendText(res, 400, 'give ?sketch=NAME&stream=/PATH (and &window=SECONDS)');
    if (!Number.isFinite(window) || window <= 0 || window > WINDOWS.at(-1)!) {
      return sendText(res, 400, `?window must be seconds from 1 to ${WINDOWS.at(-1)}, got ${JSON.stringify(q.get('window')).slice(0, 40)}`);
    }
    if (!this.#relays.has(key(sketch, stream))) return sendText(res, 404, `no stream ${stream.slice(0, 100)} of a sketch ${sketch.slice(0, 60)} is known here`);
    sendJson(res, await this.history(sketch, stream, window));
  }

  /** The recorder in use: the first one up, by name. */
  #recorder(): SketchCard | undefined {
    return this.#o.directory.cards().find((c) => c.kind === 'recorder' && c.up);
  }

  #warn(line: string): void {
    if (this.#warned.has(line)) return;
    this.#warned.add(line);
    this.#o.log(line);
  }

  /** One relay per stream of every sketch listed (recorders and dashboards have none plotted). */
  #sync(cards: SketchCard[]): void {
    this.#o.publish({ sketches: cards });
    for (const card of cards) {
      if (card.kind === 'recorder' || card.kind === 'dashboard') continue;
      for (const s of card.streams) {
        const k = key(card.name, s.path);
        let relay = this.#relays.get(k);
        if (!relay) {
          relay = new Relay({
            sketch: card.name,
            stream: s.path,
            maxPoints: this.#o.relayPoints,
            url: card.url,
            security: this.#o.security,
            onPoint: (p: Point) =>
              this.#o.publish({ p: p.trace ? [card.name, s.path, p.epoch, p.seq, p.time, p.values, p.trace] : [card.name, s.path, p.epoch, p.seq, p.time, p.values] } satisfies LivePoint),
            log: this.#o.log,
          });
          this.#relays.set(k, relay);
          relay.start();
        } else if (card.up && !relay.connected) {
          relay.retarget(card.url);
          relay.nudge();
        }
      }
    }
  }
}

/** Whether point `p` comes after `last` (same epoch: a higher seq; another epoch: a later time). */
function after(p: Point, last: { epoch: string; seq: number; time: number }): boolean {
  return p.epoch === last.epoch ? p.seq > last.seq : p.time > last.time;
}

function key(sketch: string, stream: string): string {
  return `${sketch}\u0000${stream}`;
}

/** Points as uPlot's columns. */
function columns(points: Point[]): Pick<PlotHistory, 'fields' | 'time' | 'values' | 'last' | 'traces'> {
  const fields = [...new Set(points.flatMap((p) => Object.keys(p.values)))];
  const values: Record<string, (number | null)[]> = {};
  for (const f of fields) values[f] = points.map((p) => p.values[f] ?? null);
  const end = points.at(-1);
  const traces = points.some((p) => p.trace) ? { traces: points.map((p) => p.trace ?? null) } : {};
  return { fields, time: points.map((p) => p.time), values, last: end ? { epoch: end.epoch, seq: end.seq, time: end.time } : null, ...traces };
}

/** The recorder's `/history` answer, checked field by field (it comes from the network). */
function checkHistory(x: unknown): { fields: string[]; time: number[]; values: Record<string, (number | null)[]>; last: { epoch: string; seq: number; time: number } | null } {
  const h = x as Record<string, unknown>;
  const bad = (what: string) => new Error(`its /history answer has ${what}`);
  if (!h || typeof h !== 'object') throw bad('no object');
  if (!Array.isArray(h.time) || !h.time.every((t) => typeof t === 'number')) throw bad('no time column');
  const fields = Array.isArray(h.fields) ? h.fields.filter((f): f is string => typeof f === 'string' && f !== 'time') : [];
  const values: Record<string, (number | null)[]> = {};
  const v = (h.values ?? {}) as Record<string, unknown>;
  for (const f of fields) {
    const col = v[f];
    if (!Array.isArray(col) || col.length !== h.time.length) throw bad(`a values.${f} column of the wrong length`);
    values[f] = col.map((n) => (typeof n === 'number' ? n : null));
  }
  const l = h.last as Record<string, unknown> | null | undefined;
  const last = l && typeof l.epoch === 'string' && typeof l.seq === 'number' && typeof l.time === 'number' ? { epoch: l.epoch, seq: l.seq, time: l.time } : null;
  return { fields, time: h.time as number[], values, last };
}

/** The folder of the page's files: `runtime/dashboard/page` under the package root (found from the source tree and from `dist/`). */
export function pageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'sketchnet') return join(dir, 'runtime', 'dashboard', 'page');
    } catch {
      // not the root: look higher
    }
    dir = dirname(dir);
  }
  throw new Error('cannot find the dashboard page files (runtime/dashboard/page in the sketchnet package)');
}

/** The page's files, uPlot's and dagre's, read once (~200 KiB): served from memory. */
function loadPageFiles(): Map<string, { type: string; body: Buffer; cache: string }> {
  const dir = pageDir();
  const require = createRequire(import.meta.url);
  const uplot = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  // dagre's package exports only its modules: its browser build is found beside its package.json.
  const dagre = join(dirname(require.resolve('@dagrejs/dagre/package.json')), 'dist', 'dagre.min.js');
  const files = new Map<string, { type: string; body: Buffer; cache: string }>();
  const add = (path: string, file: string, type: string, cache = 'no-cache') => files.set(path, { type, body: readFileSync(file), cache });
  add('/', join(dir, 'index.html'), 'text/html; charset=utf-8');
  // app.js and the modules it imports (circuit.js, lanes.js, waterfall.js): every .js of the folder.
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.js')).sort()) add(`/${f}`, join(dir, f), 'text/javascript; charset=utf-8');
  add('/style.css', join(dir, 'style.css'), 'text/css; charset=utf-8');
  add('/uPlot.iife.min.js', join(uplot, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8', 'max-age=86400');
  add('/uPlot.min.css', join(uplot, 'uPlot.min.css'), 'text/css; charset=utf-8', 'max-age=86400');
  add('/dagre.min.js', dagre, 'text/javascript; charset=utf-8', 'max-age=86400');
  return files;
}

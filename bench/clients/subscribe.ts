/**
 * Many plain WebSocket connections to one URL (e.g. ws://127.0.0.1:PORT/readings).
 *
 * Opens `--count` connections (at most `--batch` connecting at once; `--protocol sketchnet.v2`
 * asks for that subprotocol, whose item envelopes carry the data last), prints
 * `{"ready":{"open":N}}`, then for each `go MS` (at most MAX_RUNS): for MS ms it counts every
 * frame received and, for JSON readings with a `time` (seconds since the epoch; the last
 * `"time":` in the frame, so the data's own in a v2 envelope), the latency from sample time
 * to receipt, then prints `{"result":{received, closed, cpuUs, ms, histogram, maxGapMs}}`:
 * maxGapMs is the longest time any one connection waited between two consecutive frames.
 *
 * `go until TIMEOUT_MS` counts until every item is delivered instead of for a fixed window: once
 * `expect N [END]` arrives (N: the items published in the run, the frames each connection should
 * get; END: when publishing ended, epoch ms) it goes on until every connection received N frames
 * in this window or was closed, or TIMEOUT_MS after `expect`. The result then also has `complete`
 * (every open connection got all N), `tailMs` (from END, else from `expect`, to the last frame
 * counted) and `keptUp`: the latency histogram of
 * the connections not closed during the window (the subscribers that kept up; needs `--until`).
 * With `--timeline`, the result also has `timeline`: frames received per 10 ms of wall clock
 * (`{"<floor(epoch ms / 10)>": count}`, comparable across processes).
 * Without `go` the connections just stay open and idle (the memory case). Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { args, fail } from '../lib/child.js';
import { openAll, serveCountingWindows } from '../lib/rounds.js';
import { Histogram } from '../lib/stats.js';

const a = args({ url: '', count: '10', batch: '50', timeline: 'false', protocol: '', until: 'false' });
const withTimeline = a.timeline === 'true';
const count = Number(a.count);
const MAX_RUNS = 20;
const sockets: WebSocket[] = [];
let counting = false;
let received = 0;
let closed = 0;
let latency = new Histogram();
let maxGapMs = 0;
/** Counting window number (a gap is measured only between two frames of the same window). */
let windowNo = 0;
let timeline = new Map<number, number>();
/** `--until`: for `go until` windows, latencies are kept per connection too (for `keptUp`). */
const untilMode = a.until === 'true';
/** When the last frame counted arrived, epoch ms. */
let lastFrameAt = 0;

/** One connection's frames in the current window, and (`go until` only) their latencies. */
interface Conn {
  got: number;
  window: number;
  /** The window it was closed in (-1: open). */
  closedIn: number;
  latencies: number[];
}
const conns: Conn[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const got = (c: Conn) => (c.window === windowNo ? c.got : 0);

/** Whether every connection got `n` frames in this window or is closed. */
const allDelivered = (n: number) => conns.every((c) => c.closedIn !== -1 || got(c) >= n);

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(a.url!, a.protocol ? [a.protocol] : [], { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    /** When this connection last received a frame in counting window `lastWindow` (performance.now()). */
    let last = 0;
    let lastWindow = -1;
    const conn: Conn = { got: 0, window: -1, closedIn: -1, latencies: [] };
    conns.push(conn);
    ws.on('message', (data) => {
      if (!counting) return;
      received++;
      if (conn.window !== windowNo) {
        conn.window = windowNo;
        conn.got = 0;
        conn.latencies = [];
      }
      conn.got++;
      const now = performance.now();
      if (lastWindow === windowNo && now - last > maxGapMs) maxGapMs = now - last;
      last = now;
      lastWindow = windowNo;
      const epochMs = performance.timeOrigin + now;
      if (withTimeline) {
        const bucket = Math.floor(epochMs / 10);
        timeline.set(bucket, (timeline.get(bucket) ?? 0) + 1);
      }
      const text = data.toString();
      const at = text.lastIndexOf('"time":');
      if (at !== -1) {
        const ms = epochMs - parseFloat(text.slice(at + 7)) * 1000;
        latency.add(ms);
        if (untilMode) conn.latencies.push(ms);
      }
      lastFrameAt = epochMs;
    });
    ws.on('close', () => {
      closed++;
      lastWindow = -1;
      conn.closedIn = windowNo;
    });
  });
}

try {
  sockets.push(...(await openAll(count, Number(a.batch), open)));
  await serveCountingWindows(
    { open: sockets.length },
    {
      start: () => {
        received = 0;
        closed = 0;
        latency = new Histogram();
        maxGapMs = 0;
        timeline = new Map();
        windowNo++;
        counting = true;
      },
      until: async (n, timeoutMs, endEpochMs) => {
        const expectedAt = performance.now();
        const end = endEpochMs ?? performance.timeOrigin + expectedAt;
        const deadline = expectedAt + timeoutMs;
        while (!allDelivered(n) && performance.now() < deadline) await sleep(5);
        const keptUp = new Histogram();
        for (const c of conns) if (c.closedIn !== windowNo && c.window === windowNo) for (const ms of c.latencies) keptUp.add(ms);
        for (const c of conns) c.latencies = [];
        return { complete: allDelivered(n), tailMs: Math.max(0, lastFrameAt - end), keptUp: keptUp.toJSON() };
      },
      stop: () => {
        counting = false;
        return {
          received,
          closed,
          histogram: latency.toJSON(),
          maxGapMs,
          ...(withTimeline ? { timeline: Object.fromEntries(timeline) } : {}),
        };
      },
    },
    MAX_RUNS,
  );
} catch (err) {
  fail(err);
}

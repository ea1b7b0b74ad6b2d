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
 * With `--timeline`, the result also has `timeline`: frames received per 10 ms of wall clock
 * (`{"<floor(epoch ms / 10)>": count}`, comparable across processes).
 * Without `go` the connections just stay open and idle (the memory case). Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { args, command, epochSeconds, fail, report } from '../lib/child.js';
import { Histogram } from '../lib/stats.js';

const a = args({ url: '', count: '10', batch: '50', timeline: 'false', protocol: '' });
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

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(a.url!, a.protocol ? [a.protocol] : [], { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    /** When this connection last received a frame in counting window `lastWindow` (performance.now()). */
    let last = 0;
    let lastWindow = -1;
    ws.on('message', (data) => {
      if (!counting) return;
      received++;
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
      if (at !== -1) latency.add(epochMs - parseFloat(text.slice(at + 7)) * 1000);
    });
    ws.on('close', () => {
      closed++;
      lastWindow = -1;
    });
  });
}

try {
  for (let i = 0; i < count; i += Number(a.batch)) {
    const n = Math.min(Number(a.batch), count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, open))));
  }
  report('ready', { open: sockets.length });
  for (let run = 0; run < MAX_RUNS; run++) {
    const [ms = '1000'] = await command('go');
    received = 0;
    closed = 0;
    latency = new Histogram();
    maxGapMs = 0;
    timeline = new Map();
    windowNo++;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    counting = true;
    await new Promise((r) => setTimeout(r, Math.min(Number(ms), 60_000)));
    counting = false;
    const cpu = process.cpuUsage(cpu0);
    report('result', {
      received,
      closed,
      cpuUs: cpu.user + cpu.system,
      ms: performance.now() - t0,
      histogram: latency.toJSON(),
      maxGapMs,
      ...(withTimeline ? { timeline: Object.fromEntries(timeline) } : {}),
    });
  }
  process.exit(0);
} catch (err) {
  fail(err);
}

/**
 * One subscriber of a stream (`--url ws://127.0.0.1:PORT/readings`), plain (`--protocol plain`)
 * or `sketchnet.v2` (`--protocol v2`), for the catch-up case. Commands, one at a time:
 *
 *   catchup N   connects with `?history=all` and reads until it has N items; reports
 *               `{"catchup":{items, bytes, ms, firstMs, cpuUs, inOrder, other}}` (ms: from the
 *               connection request to the Nth item; bytes: payload bytes of the items; inOrder:
 *               v2 seqs consecutive; other: v2 frames that are not items) and disconnects
 *   live        connects with `?new`; reports `{"subscribed":{}}` once open
 *   go MS       (after `live`) counts the items received for MS ms; reports
 *               `{"live":{items, bytes, spanMs, cpuUs, closed}}` (spanMs: first to last item) and disconnects
 *
 * Items are decoded as a client would need to: every frame as text; for v2, the seq read from
 * the envelope (not a full JSON.parse). Exits when stdin closes or after `--max-ms` (default 120 s).
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { args, command, fail, onCommand, report } from '../lib/child.js';

const a = args({ url: '', protocol: 'plain', 'max-ms': '120000' });
const v2 = a.protocol === 'v2';
const SUBPROTOCOL = 'sketchnet.v2';
/** Longest a catch-up may take before it reports what it got. */
const CATCHUP_TIMEOUT_MS = 60_000;

setTimeout(() => process.exit(0), Number(a['max-ms'])).unref();

interface Counter {
  items: number;
  bytes: number;
  other: number;
  first: number;
  last: number;
  lastSeq: number;
  inOrder: boolean;
}

const counter = (): Counter => ({ items: 0, bytes: 0, other: 0, first: 0, last: 0, lastSeq: 0, inOrder: true });

/** Counts one frame: true when it was an item. */
function count(c: Counter, data: Buffer): boolean {
  const text = data.toString();
  if (v2) {
    if (!text.startsWith('{"stream":')) {
      c.other++;
      return false;
    }
    const at = text.indexOf('"seq":');
    const seq = parseInt(text.slice(at + 6), 10);
    if (c.lastSeq !== 0 && seq !== c.lastSeq + 1) c.inOrder = false;
    c.lastSeq = seq;
  }
  const now = performance.now();
  if (c.items === 0) c.first = now;
  c.last = now;
  c.items++;
  c.bytes += data.length;
  return true;
}

function connect(query: string): WebSocket {
  const ws = new WebSocket(`${a.url}?${query}`, v2 ? [SUBPROTOCOL] : [], { perMessageDeflate: false });
  ws.on('error', () => {}); // 'close' follows
  return ws;
}

async function catchup(n: number): Promise<void> {
  const c = counter();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ws = connect('history=all');
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CATCHUP_TIMEOUT_MS);
    ws.on('message', (data: Buffer) => {
      if (count(c, data) && c.items >= n) {
        clearTimeout(timer);
        resolve();
      }
    });
    ws.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const cpu = process.cpuUsage(cpu0);
  ws.terminate();
  report('catchup', { items: c.items, bytes: c.bytes, ms: c.last - t0, firstMs: c.first - t0, cpuUs: cpu.user + cpu.system, inOrder: c.inOrder, other: c.other });
}

async function live(): Promise<void> {
  const c = counter();
  let counting = false;
  let closed = false;
  const ws = connect('new');
  ws.on('message', (data: Buffer) => {
    if (counting) count(c, data);
  });
  ws.once('close', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  report('subscribed', {});
  const [ms = '1000'] = await command('go');
  const cpu0 = process.cpuUsage();
  counting = true;
  await new Promise((r) => setTimeout(r, Math.min(Number(ms), 60_000)));
  counting = false;
  const cpu = process.cpuUsage(cpu0);
  ws.terminate();
  report('live', { items: c.items, bytes: c.bytes, spanMs: c.last - c.first, cpuUs: cpu.user + cpu.system, closed });
}

/** One command at a time, in order. */
let busy = Promise.resolve();
const serially = (job: () => Promise<void>) => {
  busy = busy.then(job).catch(fail);
};
onCommand('catchup', ([n = '0']) => serially(() => catchup(Number(n))));
onCommand('live', () => serially(live));
report('ready', {});

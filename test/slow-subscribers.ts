/**
 * Slow subscribers with real sockets: ten normal subscribers (in their own process) and one
 * or two hundred that stop reading. The producer publishes 5000 readings of 1.5 kB a second
 * (7.5 MB/s per subscriber): the most ten readers in one process sustain here beside it, and
 * enough to fill a stalled socket's kernel buffers within a second. The unthrottled case is
 * in the bench (`npm run bench`, case 8), where figures belong.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Sketch, type Delivery } from '../runtime/index.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { ROOT } from './helpers/child.js';
import { sleep, stalled } from './helpers/net.js';

const CHILD = fileURLToPath(new URL('./helpers/subscribers-child.ts', import.meta.url));
/** Bound on the producer's RSS growth during a run: history (1 MiB) + maxBuffered (1 MiB) + 200 × 64 KiB of socket buffers, rounded up generously for the test runner's own garbage. */
const RSS_GROWTH_BOUND = 96 * 1024 * 1024;
/** Publishing goes on until the stalled subscribers are handled, at least MIN and at most MAX ms. */
const MIN_PUBLISH_MS = 2000;
const MAX_PUBLISH_MS = 10_000;
const PER_TICK = 50; // every 10 ms: 5000 readings/s
const NORMAL = 10;
const PAD = 'x'.repeat(1500); // ~1.5 kB readings: stalled sockets fill their kernel buffers within the run

function producer(delivery: Delivery, log: string[]) {
  const cls = class Producer extends Sketch {
    static override streams = { '/readings': { history: 1000, delivery } };
  };
  return new cls({ discovery: false, log: (l) => log.push(l) });
}

/** Ten plain subscribers in a child process; `report()` returns what each received. */
async function normalSubscribers(url: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, String(NORMAL)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  for (let i = 0; i < 500 && !out.includes('ready'); i++) await sleep(10);
  assert.ok(out.includes('ready'), 'subscribers ready');
  return {
    async report(): Promise<{ counts: number[]; maxPauseMs: number; closed: number[] }> {
      out = '';
      child.stdin.write('report\n');
      for (let i = 0; i < 500 && !out.includes('\n'); i++) await sleep(10);
      return JSON.parse(out);
    },
    kill: () => child.kill('SIGKILL'),
  };
}

async function scenario(delivery: Delivery, stalledCount: number) {
  const log: string[] = [];
  const s = producer(delivery, log);
  const { port } = await s.run({ host: '127.0.0.1' });
  const url = `ws://127.0.0.1:${port}/readings?new`;
  const stalls = await Promise.all(Array.from({ length: stalledCount }, () => stalled(url)));
  const normal = await normalSubscribers(url);
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let rssPeak = rss0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  let published = 0;
  const t0 = Date.now();
  const handled = () => {
    const st = s.status().streams['/readings']!;
    return delivery === 'all'
      ? st.closedSlow >= stalledCount
      : st.subscribers.filter((x) => x.behind > 100).length >= stalledCount;
  };
  let handledAt: number | undefined;
  for (let tick = 1; Date.now() - t0 < MAX_PUBLISH_MS; tick++) {
    for (let k = 0; k < PER_TICK; k++) s.publish('/readings', { i: ++published, time: Date.now() / 1000, pad: PAD });
    if (handledAt === undefined && tick % 10 === 0 && handled()) handledAt = Date.now();
    if (handledAt !== undefined && Date.now() - t0 > MIN_PUBLISH_MS && Date.now() - handledAt > 500) break;
    await sleep(Math.max(0, t0 + tick * 10 - Date.now()));
  }
  // let the normal subscribers finish reading what was sent to them
  for (let i = 0; i < 300; i++) {
    const subs = s.status().streams['/readings']!.subscribers;
    if (subs.filter((x) => x.behind === 0 && x.buffered === 0).length >= NORMAL) break;
    await sleep(10);
  }
  await sleep(200);
  clearInterval(sampler);
  const status = s.status().streams['/readings']!;
  const report = await normal.report();
  normal.kill();
  return { s, stalls, log, published, report, status, rssGrowth: rssPeak - rss0 };
}

async function finish(r: Awaited<ReturnType<typeof scenario>>) {
  for (const ws of r.stalls) ws.terminate();
  await r.s.close();
}

for (const stalledCount of [1, 200]) {
  test(`delivery 'all': ${stalledCount} stalled subscriber(s) are closed with 1013 while ten normal ones get every item`, async () => {
    const r = await scenario('all', stalledCount);
    try {
      for (const c of r.report.counts) assert.ok(c >= 0.95 * r.published, `normal subscriber got ${c} of ${r.published}`);
      assert.is(r.report.closed.length, 0, 'no normal subscriber was closed');
      assert.is(r.status.closedSlow, stalledCount, `closed for being too slow: ${r.status.closedSlow}`);
      assert.is(r.status.subscribers.length, NORMAL);
      assert.ok(r.log.some((l) => /subscriber .* on \/readings is too slow .*: closing it with 1013/.test(l)), r.log.join('\n'));
      assert.ok(r.rssGrowth < RSS_GROWTH_BOUND, `RSS grew by ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
      console.log(`    all/${stalledCount}: published ${r.published}, normal min ${Math.min(...r.report.counts)}, longest pause ${r.report.maxPauseMs} ms, RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
    } finally {
      await finish(r);
    }
  });

  test(`delivery 'latest': ${stalledCount} stalled subscriber(s) are conflated, never closed, while ten normal ones keep their rate`, async () => {
    const r = await scenario('latest', stalledCount);
    try {
      for (const c of r.report.counts) assert.ok(c >= 0.95 * r.published, `normal subscriber got ${c} of ${r.published}`);
      assert.is(r.status.closedSlow, 0);
      assert.is(r.status.subscribers.length, NORMAL + stalledCount, 'the stalled ones are still subscribed');
      const stalledStatus = r.status.subscribers.filter((x) => x.behind > 100);
      assert.is(stalledStatus.length, stalledCount);
      for (const x of stalledStatus) assert.is(x.drops, x.behind - 1, 'all it is behind but the newest will be skipped');
      assert.ok(r.rssGrowth < RSS_GROWTH_BOUND, `RSS grew by ${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB`);
      // One stalled subscriber reads again: what its socket held, a gap, then the newest item — not the whole backlog.
      const ws = r.stalls[0]!;
      const frames: Array<Record<string, any>> = [];
      ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
      ws.resume();
      for (let i = 0; i < 300 && frames.at(-1)?.seq !== r.status.seq; i++) await sleep(10);
      assert.is(frames.at(-1)?.seq, r.status.seq, 'it ends at the newest item');
      const gap = frames.find((f) => f.gap)?.gap;
      assert.ok(gap && gap.reason === 'dropped', JSON.stringify(frames.filter((f) => !f.seq)));
      assert.ok(frames.length < r.published / 2, `${frames.length} frames, not the ${r.published} published`);
      const seqs = frames.filter((f) => f.seq).map((f) => f.seq as number);
      assert.ok(seqs.every((q, k) => k === 0 || q > seqs[k - 1]!), 'in order');
      console.log(`    latest/${stalledCount}: published ${r.published}, normal min ${Math.min(...r.report.counts)}, longest pause ${r.report.maxPauseMs} ms, RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB, resumed got ${frames.length} frames`);
    } finally {
      await finish(r);
    }
  });
}

test.run();

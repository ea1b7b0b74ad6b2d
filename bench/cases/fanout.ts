/**
 * Case 3: fan-out. A thermometer sketch publishes readings (`this.publish('/readings', …)`,
 * each stamped with its sample time) at 10 Hz and as fast as it can to 10, 100 and 1000
 * plain WebSocket subscribers on `/readings`, held by one or two separate client processes.
 * The subscribers count until every item published is delivered (or a generous timeout), so
 * the latency of the last items is measured too.
 */
import { performance } from 'node:perf_hooks';
import { openFileLimit, sample } from '../lib/cpu.js';
import { spawnTs, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtCpu, fmtMs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { Histogram } from '../lib/stats.js';

/** What a subscriber process (bench/clients/subscribe.ts, mqtt-subscribe.ts) reports at the end. */
export interface SubResult {
  received: number;
  closed: number;
  cpuUs: number;
  ms: number;
  histogram: Record<string, number>;
  /** With `go until` (clients/subscribe.ts): whether every open connection got every item. */
  complete?: boolean;
  /** With `go until`: ms from the end of publishing to the last frame received. */
  tailMs?: number;
  /** With `go until`: the latency histogram of the connections not closed during the run. */
  keptUp?: Record<string, number>;
}

/** How long subscribers wait, after publishing ended, for the items still on their way before they report anyway, in ms. */
const DELIVERY_TIMEOUT_MS = { paced: 10_000, max: 60_000 };
/** Goal for subscribers that keep up at the maximum rate: p99 latency below this, ms. */
const KEPT_UP_P99_MS = 50;

interface Fanout {
  /** The publishing window in process.hrtime µs of the server (for profiles). */
  hrtimeUs: [number, number];
  n: number;
  procs: number;
  published: number;
  publishMs: number;
  received: number;
  closed: number;
  latency: Histogram;
  /** Latency of the connections that were not closed (kept up). */
  keptUp: Histogram;
  /** Every open connection got every item before the timeout. */
  complete: boolean;
  /** The longest time a subscriber process received items after publishing ended, ms. */
  tailMs: number;
  calls: Histogram;
  serverCpu: string;
  subscriberCpu: string;
  /** The subscriber processes' CPU time ÷ frames received, µs. */
  subscriberUsPerMsg: number;
  serverRss: number;
}

/** A thermometer sketch and `n` subscribers (in one process, two from 1000 on), all connected. */
async function setUp(ctx: Ctx, n: number, profile = false): Promise<{ server: Child; subs: Child[] }> {
  const server = spawnTs(ctx, 'server', 'thermometer', 'servers/sketch.ts', ['--mode', 'thermometer', '--max-connections', String(n + 100)], { profile });
  const port = (await server.report<{ port: number }>('ready', 20_000)).port;
  const procs = n >= 1000 ? 2 : 1;
  const subs: Child[] = [];
  for (let i = 0; i < procs; i++) {
    const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
    subs.push(spawnTs(ctx, 'client', `subscribers-${i}`, 'clients/subscribe.ts', ['--url', `ws://127.0.0.1:${port}/readings`, '--count', String(share), '--until']));
  }
  await Promise.all(subs.map((c) => c.report('ready', 60_000)));
  return { server, subs };
}

/**
 * Subscribers start counting, then the server publishes at `hz` (0: max) for `ms`; then the
 * subscribers count on until every item published has arrived on every open connection (or
 * {@link DELIVERY_TIMEOUT_MS}).
 */
async function publishRun(server: Child, subs: Child[], n: number, hz: number, ms: number): Promise<Fanout> {
  const timeout = hz ? DELIVERY_TIMEOUT_MS.paced : DELIVERY_TIMEOUT_MS.max;
  const before = await sample(server, true);
  const t0 = performance.now();
  const results = subs.map((c) => c.report<SubResult>('result', ms + timeout + 30_000));
  for (const c of subs) c.send(`go until ${timeout}`);
  await new Promise((r) => setTimeout(r, 50));
  const published = server.report<{ count: number; ms: number; callMs: Record<string, number>; hrtimeUs: [number, number]; epoch?: [number, number] }>(
    'published',
    ms + 30_000,
  );
  server.send(`start ${hz} ${ms}`);
  const pub = await published;
  for (const c of subs) c.send(`expect ${pub.count}${pub.epoch ? ` ${Math.round(pub.epoch[1] * 1000)}` : ''}`);
  const after = await sample(server, true);
  const wall = performance.now() - t0;
  const out: Fanout = {
    hrtimeUs: pub.hrtimeUs,
    n,
    procs: subs.length,
    published: pub.count,
    publishMs: pub.ms,
    received: 0,
    closed: 0,
    latency: new Histogram(),
    keptUp: new Histogram(),
    complete: true,
    tailMs: 0,
    calls: new Histogram(),
    serverCpu: fmtCpu(after.cpuUs - before.cpuUs, wall),
    subscriberCpu: '',
    subscriberUsPerMsg: NaN,
    serverRss: after.rss,
  };
  out.calls.merge(pub.callMs);
  let subCpuUs = 0;
  let subMs = 0;
  for (const r of await Promise.all(results)) {
    out.latency.merge(r.histogram);
    out.keptUp.merge(r.keptUp ?? {});
    out.complete &&= r.complete ?? false;
    out.tailMs = Math.max(out.tailMs, r.tailMs ?? NaN);
    out.received += r.received;
    out.closed += r.closed;
    subCpuUs += r.cpuUs;
    subMs = Math.max(subMs, r.ms);
  }
  out.subscriberCpu = `${fmtCpu(subCpuUs, subMs)}${subs.length > 1 ? ` (${subs.length} procs)` : ''}`;
  out.subscriberUsPerMsg = out.received ? subCpuUs / out.received : NaN;
  return out;
}

const describe = (f: Fanout, hz: number) =>
  `${f.n} subscribers, ${hz ? `${hz} Hz` : 'max'}: published ${f.published}, delivered ${f.received}/${f.published * f.n}${f.complete ? '' : ' (timed out)'}, last item ${fmtMs(f.tailMs)} after publishing ended, p50 ${fmtMs(f.latency.percentile(50))} p99 ${fmtMs(f.latency.percentile(99))} (kept up: p50 ${fmtMs(f.keptUp.percentile(50))} p99 ${fmtMs(f.keptUp.percentile(99))}), publish() p50 ${fmtMs(f.calls.percentile(50))} p99 ${fmtMs(f.calls.percentile(99))}, server CPU ${f.serverCpu}, subscribers ${f.subscriberCpu}, RSS ${fmtBytes(f.serverRss)}, closed ${f.closed}`;

export async function fanout(ctx: Ctx): Promise<Section> {
  const ms = ctx.counts.fanoutMs;
  const s = section(
    '3. Fan-out to subscribers',
    `A thermometer sketch calls \`this.publish('/readings', {celsius, time})\` at 10 Hz, then as fast as its event loop turns (one reading per turn), for ${ms} ms each after ${ctx.counts.fanoutWarmupMs} ms of unmeasured 10 Hz warm-up, to N plain \`ws\` subscribers on \`/readings\`. The subscribers count until every item published has arrived on every connection still open (or ${DELIVERY_TIMEOUT_MS.max / 1000} s after publishing ended, ${DELIVERY_TIMEOUT_MS.paced / 1000} s at 10 Hz), so the latency of the last items counts too; "last item after" is how long after publishing ended the last one arrived. Latency is from the reading's sample time (seconds since the epoch, in the message) to its receipt by the subscriber process; "kept up" is over the subscribers not closed during the run. "delivered" counts frames received, "of expected" is delivered ÷ (published × subscribers). Server RSS is read at the end of publishing.`,
  );
  const rows: string[][] = [];
  const limit = openFileLimit().soft;
  for (const wanted of ctx.counts.fanoutSubscribers) {
    const n = Math.min(wanted, Math.floor((limit - 200) / 2));
    if (n < wanted) s.notes.push(`${wanted} subscribers wanted, but the open-file limit is ${limit}: ran ${n}.`);
    try {
      const { server, subs } = await setUp(ctx, n);
      await publishRun(server, subs, n, 10, ctx.counts.fanoutWarmupMs); // warm-up, not measured
      for (const hz of [10, 0]) {
        const f = await publishRun(server, subs, n, hz, ms);
        const p99 = f.latency.percentile(99);
        const keptUpP99 = f.keptUp.percentile(99);
        let goal = '';
        if (hz === 10 && wanted === 1000) {
          // What no server removes: the subscriber processes share one core, so reading one
          // reading on every connection takes them n × their CPU per message.
          const floorMs = (f.subscriberUsPerMsg * n) / 1000;
          if (ctx.pin && Number.isFinite(floorMs)) {
            s.notes.push(
              `${n} subscribers at 10 Hz: the subscriber processes spent ${f.subscriberUsPerMsg.toFixed(1)} µs of CPU per frame received; as they share one core (the other is the server's), one reading reaches the last of the ${n} no sooner than ${fmtMs(floorMs)} after the first, whatever the server does.`,
            );
          }
          const met = judge(p99, '≤', 10);
          goal = goalCell('p99 ≤ 10 ms', met);
          s.goals.push({ goal: '1000 subscribers at 10 Hz: p99 ≤ 10 ms', figure: `p99 ${fmtMs(p99)}`, met });
        }
        if (hz === 0) {
          const met = Number.isFinite(keptUpP99) ? keptUpP99 < KEPT_UP_P99_MS : undefined;
          goal = goalCell(`p99 < ${KEPT_UP_P99_MS} ms (kept up)`, met);
          s.goals.push({
            goal: `${n} subscribers, max rate: p99 < ${KEPT_UP_P99_MS} ms for subscribers that keep up`,
            figure: `p99 ${fmtMs(keptUpP99)} (${f.closed} closed in the run)`,
            met,
          });
        }
        if (f.received > 0) s.figures++;
        const expected = f.published * n;
        rows.push([
          String(n),
          hz ? `${hz} Hz` : 'max',
          fmtCount((f.published * 1000) / f.publishMs),
          fmtCount((f.received * 1000) / f.publishMs),
          expected ? `${((f.received / expected) * 100).toFixed(1)}%` : '–',
          fmtMs(f.latency.percentile(50)),
          fmtMs(p99),
          `${fmtMs(f.keptUp.percentile(50))} / ${fmtMs(keptUpP99)}`,
          goal,
          `${fmtMs(f.tailMs)}${f.complete ? '' : ' (timed out)'}`,
          `${fmtMs(f.calls.percentile(50))} / ${fmtMs(f.calls.percentile(99))}`,
          f.serverCpu,
          f.subscriberCpu,
          fmtBytes(f.serverRss),
          String(f.closed),
        ]);
        ctx.log(`  ${describe(f, hz)}`);
      }
    } catch (err) {
      rows.push([String(n), '', `error: ${(err as Error).message.split('\n')[0]}`, '', '', '', '', '', '', '', '', '', '', '', '']);
      ctx.log(`  ${n} subscribers: error: ${(err as Error).message}`);
    } finally {
      await stopAll();
    }
  }
  if (!ctx.counts.fanoutSubscribers.includes(1000)) s.goals.push({ goal: '1000 subscribers at 10 Hz: p99 ≤ 10 ms', figure: 'not run (--quick)', met: undefined });
  s.blocks.push(
    table(
      ['subscribers', 'rate', 'published/s', 'delivered msgs/s', 'of expected', 'p50 latency', 'p99 latency', 'kept up: p50 / p99', 'goal', 'last item after', 'publish() call p50 / p99', 'server CPU', 'subscriber CPU', 'server RSS', 'closed (1013)'],
      rows,
    ),
  );
  s.notes.push('"publish() call" is how long one `publish()` call takes on the server (handing one reading to every subscriber); the last subscriber cannot get the reading sooner.');
  s.notes.push('Latencies are bucketed (0.05 ms below 50 ms): each figure is the upper edge of its bucket.');
  s.notes.push(
    "A subscriber more than 1 MiB behind, or whose oldest data not yet confirmed by its pong is older than the stream's `staleAfterMs` (750 ms by default; see docs/API.md, Streams), is closed by `publish()` with 1013; the last column counts those. Its latencies until then count in \"p50/p99 latency\", not in \"kept up\".",
  );
  s.notes.push(
    "The bench sketch does not declare `/readings`: the first `publish()` makes it a stream with the defaults (history of 1000 items / 1 MiB, `delivery: 'all'`). The subscribers connect (no query) before anything is published, so the newest item such a subscriber is sent first does not exist yet; every run counts only what arrives after its `go`.",
  );
  return s;
}

/**
 * `--profile`: the thermometer under `--cpu-prof`, 1000 subscribers at 10 Hz for 3 s; its
 * profile is summarised over the publishing window only.
 */
export async function profileFanout(ctx: Ctx): Promise<{ line: string; window: [number, number] }> {
  try {
    const { server, subs } = await setUp(ctx, 1000, true);
    await publishRun(server, subs, 1000, 10, ctx.counts.fanoutWarmupMs);
    const f = await publishRun(server, subs, 1000, 10, 3000);
    await server.stop(5000); // a normal exit writes the profile
    return { line: describe(f, 10), window: f.hrtimeUs };
  } finally {
    await stopAll();
  }
}

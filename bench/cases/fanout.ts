/**
 * Case 3: fan-out. A thermometer sketch publishes readings (`this.publish('/readings', …)`,
 * each stamped with its sample time) at 10 Hz and as fast as it can to 10, 100 and 1000
 * plain WebSocket subscribers on `/readings`, held by one or two separate client processes.
 */
import { performance } from 'node:perf_hooks';
import { openFileLimit, sample } from '../lib/cpu.js';
import { spawnTs, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtCpu, fmtMs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { Histogram } from '../lib/stats.js';

interface SubResult {
  received: number;
  closed: number;
  cpuUs: number;
  ms: number;
  histogram: Record<string, number>;
}

/** Time subscribers keep counting after the publisher stops, for frames still on their way. */
const GRACE_MS = { paced: 300, max: 1500 };

export async function fanout(ctx: Ctx): Promise<Section> {
  const ms = ctx.counts.fanoutMs;
  const s = section(
    '3. Fan-out to subscribers',
    `A thermometer sketch calls \`this.publish('/readings', {celsius, time})\` at 10 Hz, then as fast as its event loop turns (one reading per turn), for ${ms} ms each, to N plain \`ws\` subscribers on \`/readings\`. Latency is from the reading's sample time (seconds since the epoch, in the message) to its receipt by the subscriber process; "delivered" counts frames received, "of expected" is delivered ÷ (published × subscribers). Server RSS is read at the end of publishing.`,
  );
  const rows: string[][] = [];
  const limit = openFileLimit().soft;
  for (const wanted of ctx.counts.fanoutSubscribers) {
    const n = Math.min(wanted, Math.floor((limit - 200) / 2));
    if (n < wanted) s.notes.push(`${wanted} subscribers wanted, but the open-file limit is ${limit}: ran ${n}.`);
    try {
      const server = spawnTs(ctx, 'server', 'thermometer', 'servers/sketch.ts', ['--mode', 'thermometer']);
      const port = (await server.report<{ port: number }>('ready', 20_000)).port;
      const procs = n >= 1000 ? 2 : 1;
      const subs: Child[] = [];
      for (let i = 0; i < procs; i++) {
        const share = Math.floor(n / procs) + (i < n % procs ? 1 : 0);
        subs.push(spawnTs(ctx, 'client', `subscribers-${i}`, 'clients/subscribe.ts', ['--url', `ws://127.0.0.1:${port}/readings`, '--count', String(share)]));
      }
      await Promise.all(subs.map((c) => c.report('ready', 60_000)));
      for (const hz of [10, 0]) {
        const grace = hz ? GRACE_MS.paced : GRACE_MS.max;
        const before = await sample(server, true);
        const t0 = performance.now();
        const results = subs.map((c) => c.report<SubResult>('result', ms + grace + 30_000));
        for (const c of subs) c.send(`go ${ms + 50 + grace}`);
        await new Promise((r) => setTimeout(r, 50));
        const published = server.report<{ count: number; ms: number }>('published', ms + 30_000);
        server.send(`start ${hz} ${ms}`);
        const pub = await published;
        const after = await sample(server, true);
        const wall = performance.now() - t0;
        const subsDone = await Promise.all(results);
        const h = new Histogram();
        let received = 0;
        let closed = 0;
        let subCpuUs = 0;
        let subMs = 0;
        for (const r of subsDone) {
          h.merge(r.histogram);
          received += r.received;
          closed += r.closed;
          subCpuUs += r.cpuUs;
          subMs = Math.max(subMs, r.ms);
        }
        const p50 = h.percentile(50);
        const p99 = h.percentile(99);
        const expected = pub.count * n;
        let goal = '';
        if (hz === 10 && wanted === 1000) {
          const met = judge(p99, '≤', 10);
          goal = goalCell('p99 ≤ 10 ms', met);
          s.goals.push({ goal: '1000 subscribers at 10 Hz: p99 ≤ 10 ms', figure: `p99 ${fmtMs(p99)}`, met });
        }
        if (received > 0) s.figures++;
        rows.push([
          String(n),
          hz ? `${hz} Hz` : 'max',
          fmtCount((pub.count * 1000) / pub.ms),
          fmtCount((received * 1000) / pub.ms),
          expected ? `${((received / expected) * 100).toFixed(1)}%` : '–',
          fmtMs(p50),
          fmtMs(p99),
          goal,
          fmtCpu(after.cpuUs - before.cpuUs, wall),
          `${fmtCpu(subCpuUs, subMs)}${procs > 1 ? ` (${procs} procs)` : ''}`,
          fmtBytes(after.rss),
          String(closed),
        ]);
        ctx.log(`  ${n} subscribers, ${hz ? `${hz} Hz` : 'max'}: published ${pub.count}, delivered ${received}/${expected}, p50 ${fmtMs(p50)} p99 ${fmtMs(p99)}, server CPU ${fmtCpu(after.cpuUs - before.cpuUs, wall)}, RSS ${fmtBytes(after.rss)}, closed ${closed}`);
      }
    } catch (err) {
      rows.push([String(n), '', `error: ${(err as Error).message.split('\n')[0]}`, '', '', '', '', '', '', '', '', '']);
      ctx.log(`  ${n} subscribers: error: ${(err as Error).message}`);
    } finally {
      await stopAll();
    }
  }
  if (!ctx.counts.fanoutSubscribers.includes(1000)) s.goals.push({ goal: '1000 subscribers at 10 Hz: p99 ≤ 10 ms', figure: 'not run (--quick)', met: undefined });
  s.blocks.push(
    table(
      ['subscribers', 'rate', 'published/s', 'delivered msgs/s', 'of expected', 'p50 latency', 'p99 latency', 'goal', 'server CPU', 'subscriber CPU', 'server RSS', 'closed (1013)'],
      rows,
    ),
  );
  s.notes.push('Latencies are bucketed (0.05 ms below 50 ms): each figure is the upper edge of its bucket.');
  s.notes.push('A subscriber more than 1 MiB behind is closed by `publish()` with 1013; the last column counts those.');
  return s;
}

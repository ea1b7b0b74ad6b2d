/**
 * Cases 7 and 8: streams with history.
 * - 7, catch-up: a late subscriber asks a stream holding N items for all of them
 *   (`?history=all`); items/s during catch-up against the live rate (the producer at its
 *   maximum rate, one subscriber), plain and `sketchnet.v2`.
 * - 8, slow subscribers: the producer at its maximum rate to normal subscribers plus 1 or 200
 *   that stop reading, `delivery: 'all'` and `'latest'`: what the stalled ones cost the
 *   healthy ones (rate, longest pause) and the server (RSS), and what became of them.
 * Server and every client in separate processes, as in the other cases.
 */
import { performance } from 'node:perf_hooks';
import { procPeakRss, sample } from '../lib/cpu.js';
import { spawnTs, type Ctx } from '../lib/env.js';
import { withLoopbackMtu } from '../lib/mtu.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtCpu, fmtMs, fmtRatio, fmtSummary, goalCell, judge, section, table, type Goal, type Section } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';

/** The stream both cases declare: `/readings`, up to this many bytes of history (items: the case's count). */
const HISTORY_BYTES = 64 * 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmtInt = (n: number) => (n >= 1e4 ? fmtCount(n) : String(Math.round(n)));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

interface Published {
  count: number;
  ms: number;
  epoch: [number, number];
}

interface StreamServer {
  delivery: 'all' | 'latest';
  historyItems: number;
  historyBytes: number;
  nodeArgs?: string[];
}

function streamServer(ctx: Ctx, name: string, o: StreamServer): Child {
  const args = ['--mode', 'stream', '--delivery', o.delivery, '--history-items', String(o.historyItems), '--history-bytes', String(o.historyBytes)];
  return spawnTs(ctx, 'server', name, 'servers/sketch.ts', args, { nodeArgs: o.nodeArgs });
}

const ready = async (c: Child, timeoutMs = 20_000) => (await c.report<{ port: number }>('ready', timeoutMs)).port;

// ---------------------------------------------------------------------------------------------
// 7. Catch-up

interface CatchupRound {
  items: number;
  bytes: number;
  ms: number;
  firstMs: number;
  cpuUs: number;
  inOrder: boolean;
  other: number;
}

interface LiveRound {
  items: number;
  bytes: number;
  spanMs: number;
  cpuUs: number;
  closed: boolean;
}

/** Time the live subscriber keeps counting after the producer stops, for items still on their way. */
const LIVE_GRACE_MS = 500;

export async function catchup(ctx: Ctx): Promise<Section> {
  const n = ctx.counts.catchupItems;
  const rounds = ctx.counts.rounds;
  const liveRounds = ctx.quick ? 1 : 3;
  const s = section(
    '7. Catch-up from history',
    `A sketch declares \`/readings\` with \`history: { items: ${n}, maxBytes: ${HISTORY_BYTES / 1024 / 1024} MiB }\` and publishes ${fmtCount(n)} fan-out readings (\`{celsius, time}\`) before anyone subscribes; then a late subscriber in another process connects with \`?history=all\` and reads until it has all ${fmtCount(n)}: from the connection request to the last item, ${rounds} round(s) after an unmeasured one, median (min–max). The live rate is measured in the same run on the same sketch: the producer publishes as fast as its event loop turns (one reading per turn, as in case 3's "max") for ${ctx.counts.catchupLiveMinMs} ms (or as long as the catch-up took, if longer), ${liveRounds} round(s), to one subscriber of the same kind connected with \`?new\`; its rate is the items it received over the time from its first to its last. CPU is % of one core during the catch-up.`,
  );
  const rows: string[][] = [];
  const bytesPerItem: Partial<Record<'plain' | 'v2', number>> = {};
  try {
    const server = streamServer(ctx, 'stream-sketch', { delivery: 'all', historyItems: n, historyBytes: HISTORY_BYTES });
    const port = await ready(server);
    const filledP = server.report<{ count: number; ms: number; items: number; bytes: number }>('filled', 60_000);
    server.send(`fill ${n}`);
    const filled = await filledP;
    ctx.log(`  history: ${filled.items} items, ${fmtBytes(filled.bytes)} (published in ${fmtMs(filled.ms)})`);
    if (filled.items !== n) s.notes.push(`The history held ${filled.items} items, not ${n}.`);
    const url = `ws://127.0.0.1:${port}/readings`;
    const clients = {
      plain: spawnTs(ctx, 'client', 'catchup-plain', 'clients/catchup.ts', ['--url', url, '--protocol', 'plain']),
      v2: spawnTs(ctx, 'client', 'catchup-v2', 'clients/catchup.ts', ['--url', url, '--protocol', 'v2']),
    };
    await Promise.all(Object.values(clients).map((c) => c.report('ready', 20_000)));

    for (const [proto, client] of Object.entries(clients) as Array<['plain' | 'v2', Child]>) {
      const label = proto === 'plain' ? 'plain ws client' : '`sketchnet.v2` client (envelopes)';
      try {
        const one = async (): Promise<CatchupRound & { serverCpuUs: number }> => {
          const before = await sample(server, true);
          const result = client.report<CatchupRound>('catchup', 90_000);
          client.send(`catchup ${filled.items}`);
          const r = await result;
          const after = await sample(server, true);
          if (r.items !== filled.items) throw new Error(`caught up ${r.items} of ${filled.items} items`);
          if (!r.inOrder) throw new Error('v2 seqs out of order or with holes');
          return { ...r, serverCpuUs: after.cpuUs - before.cpuUs };
        };
        await one(); // warm-up, not measured
        const measured: Array<CatchupRound & { serverCpuUs: number }> = [];
        for (let i = 0; i < rounds; i++) measured.push(await one());
        const rate = summarize(measured.map((r) => (r.items * 1000) / r.ms));
        const mbps = summarize(measured.map((r) => r.bytes / 1e6 / (r.ms / 1000)));
        const ms = median(measured.map((r) => r.ms));
        bytesPerItem[proto] = measured[0]!.bytes / measured[0]!.items;
        const totalMs = measured.reduce((t, r) => t + r.ms, 0);
        const serverCpu = fmtCpu(
          measured.reduce((t, r) => t + r.serverCpuUs, 0),
          totalMs,
        );
        const clientCpuPct = measured.reduce((t, r) => t + r.cpuUs, 0) / 10 / totalMs;

        // The live rate, for as long as the catch-up took.
        const liveMs = Math.max(ctx.counts.catchupLiveMinMs, Math.round(ms));
        const live: Array<{ rate: number; published: number; closed: boolean }> = [];
        for (let i = 0; i < liveRounds; i++) {
          client.send('live');
          await client.report('subscribed', 20_000);
          const result = client.report<LiveRound>('live', liveMs + LIVE_GRACE_MS + 30_000);
          client.send(`go ${liveMs + 50 + LIVE_GRACE_MS}`);
          await sleep(50);
          const published = server.report<Published>('published', liveMs + 30_000);
          server.send(`start 0 ${liveMs}`);
          const pub = await published;
          const r = await result;
          live.push({ rate: r.items > 1 ? ((r.items - 1) * 1000) / r.spanMs : NaN, published: (pub.count * 1000) / pub.ms, closed: r.closed });
          ctx.log(`  ${proto} live: published ${pub.count} in ${fmtMs(pub.ms)}, received ${r.items}${r.closed ? ' (closed)' : ''}`);
        }
        const liveRate = summarize(live.map((l) => l.rate));
        const livePublished = summarize(live.map((l) => l.published));
        if (live.some((l) => l.closed)) s.notes.push(`The live ${proto} subscriber was closed during a live round (1013: it fell more than \`maxBuffered\` behind).`);
        const ratio = rate.median / liveRate.median;
        s.figures++;
        rows.push([
          label,
          fmtCount(filled.items),
          fmtMs(ms),
          `**${fmtSummary(rate)}/s**`,
          fmtSummary(mbps, (x) => x.toFixed(1)),
          fmtMs(median(measured.map((r) => r.firstMs))),
          serverCpu,
          `${Math.round(clientCpuPct)}%${clientCpuPct >= 90 ? ' (client-bound)' : ''}`,
          `${fmtSummary(livePublished)}/s`,
          `${fmtSummary(liveRate)}/s`,
          fmtRatio(ratio),
        ]);
        ctx.log(`  ${proto}: catch-up ${fmtSummary(rate)} items/s (${fmtSummary(mbps, (x) => x.toFixed(1))} MB/s) in ${fmtMs(ms)}; live ${fmtSummary(liveRate)} items/s; ratio ${fmtRatio(ratio)}`);
      } catch (err) {
        rows.push([label, String(n), `error: ${firstLine(err)}`, '', '', '', '', '', '', '', '']);
        ctx.log(`  ${proto}: error: ${(err as Error).message}`);
      }
    }
  } catch (err) {
    rows.push(['', String(n), `error: ${firstLine(err)}`, '', '', '', '', '', '', '', '']);
    ctx.log(`  error: ${(err as Error).message}`);
  } finally {
    await stopAll();
  }
  s.blocks.push(
    table(
      ['late subscriber', 'items', 'catch-up time', 'catch-up items/s', 'MB/s', 'first item after', 'server CPU', 'client CPU', 'live: published/s', 'live: received items/s', 'catch-up ÷ live'],
      rows,
    ),
  );
  const bpi = (p: 'plain' | 'v2') => (bytesPerItem[p] === undefined ? '' : ` (${Math.round(bytesPerItem[p]!)} B per item here)`);
  s.notes.push(
    `MB/s counts WebSocket payload bytes (frame headers excluded), MB = 10⁶ B. A plain client receives each reading as published${bpi('plain')}; a \`sketchnet.v2\` client receives it in an envelope with stream, seq, time and published${bpi('v2')}, after a first \`{"subscribed":…}\` frame. The v2 client reads each envelope's seq and checks that none is missing or out of order.`,
  );
  s.notes.push('Catch-up items are read from the history in order and written while the socket takes them; live items are written as each `publish()` hands them over, one per event-loop turn of the producer.');
  return s;
}

// ---------------------------------------------------------------------------------------------
// 8. Slow subscribers

interface SubResult {
  received: number;
  closed: number;
  cpuUs: number;
  ms: number;
  maxGapMs: number;
  timeline: Record<string, number>;
}

interface StreamStatusJson {
  connections: Record<string, number>;
  streams: Record<
    string,
    {
      seq: number;
      history: { items: number; bytes: number };
      drops: number;
      closedSlow: number;
      subscribers: Array<{ remote: string; sent: number; drops: number; behind: number; buffered: number; stale?: boolean }>;
    }
  >;
}

interface SlowRow {
  delivery: 'all' | 'latest';
  stalled: number;
  published: number;
  publishMs: number;
  /** Items per second each normal subscriber received during the publishing window, and in its last 40 %. */
  rate: number;
  tailRate: number;
  /** The same per second of the window (for the log). */
  perSecond: number[];
  received: number;
  normalClosed: number;
  maxGapMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  peakRss: number;
  historyBytes: number;
  serverCpu: string;
  closedSlow: number;
  /** Connections on `/readings` the sketch still holds after the run, stalled or normal (from the status). */
  connections: number;
  stillSubscribed: number;
  /** Stalled subscribers still subscribed that had not pushed back yet (nothing behind, nothing dropped). */
  notFull: number;
  stalledDrops: number;
  stalledBehind: number;
  stalledBuffered: number;
  /** Seconds from the start of publishing (the stalled ones stopped reading before it) until the first, and the last, of them was closed (`all`) or held stale (`latest`); undefined when that never happened. */
  handledFirst?: number;
  handledAll?: number;
}

/** The slow-subscriber case's stream history. */
const SLOW_HISTORY = { items: 100_000, bytes: 4 * 1024 * 1024 };
/** Loopback MTU during the slow-subscriber case (see ../lib/mtu.ts). */
const SLOW_MTU = 1500;
/** Time the normal subscribers keep counting after the producer stops, for items still on their way. */
const SLOW_GRACE_MS = { full: 1500, quick: 700 };
/** The share of the publishing window, at its end, that the "steady" rate is measured over. */
const TAIL = 0.4;
/** Per stalled subscriber, what the RSS bound allows on top of the baseline and the history. */
const PER_STALLED_BYTES = 64 * 1024;

/** How often the status is read during a slow-subscriber row, to see when the stalled ones are handled, in ms. */
const HANDLED_POLL_MS = 50;
/** Goal: a stalled subscriber is closed or conflated within this, s. */
const HANDLED_GOAL_S = 1;

/**
 * Reads the status every {@link HANDLED_POLL_MS} until `stop()`: when (epoch s) the first and
 * the last of `count` stalled subscribers (by remote address) were handled — closed with 1013
 * (`all`: `closedSlow`) or held as stale (`latest`: `stale` in their status line).
 */
function watchHandled(port: number, delivery: 'all' | 'latest', ports: Set<string>, count: number) {
  let first: number | undefined;
  let all: number | undefined;
  let running = true;
  const loop = (async () => {
    while (running && all === undefined) {
      try {
        const st = (await statusOf(port)).streams['/readings'];
        const now = Date.now() / 1000;
        const handled = !st ? 0 : delivery === 'all' ? st.closedSlow : st.subscribers.filter((x) => ports.has(x.remote) && x.stale === true).length;
        if (handled > 0) first ??= now;
        if (handled >= count) all = now;
      } catch {
        // a status read that failed or took long: the next one
      }
      await sleep(HANDLED_POLL_MS);
    }
  })();
  return {
    async stop(): Promise<{ first?: number; all?: number }> {
      running = false;
      await loop;
      return { first, all };
    },
  };
}

/** Frames received in the epoch window [from, to] s, from a timeline of 10 ms buckets. */
function inWindow(timeline: Record<string, number>, from: number, to: number): number {
  const lo = Math.floor(from * 100);
  const hi = Math.floor(to * 100);
  let n = 0;
  for (const [bucket, count] of Object.entries(timeline)) {
    const b = Number(bucket);
    if (b >= lo && b <= hi) n += count;
  }
  return n;
}

async function statusOf(port: number): Promise<StreamStatusJson> {
  const res = await fetch(`http://127.0.0.1:${port}/.well-known/sketch`, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /.well-known/sketch: HTTP ${res.status}`);
  return (await res.json()) as StreamStatusJson;
}

async function slowRow(ctx: Ctx, delivery: 'all' | 'latest', stalled: number): Promise<SlowRow> {
  const ms = ctx.counts.slowMs;
  const normal = ctx.counts.slowNormal;
  const grace = ctx.quick ? SLOW_GRACE_MS.quick : SLOW_GRACE_MS.full;
  try {
    const server = streamServer(ctx, `stream-${delivery}-${stalled}`, {
      delivery,
      historyItems: SLOW_HISTORY.items,
      historyBytes: SLOW_HISTORY.bytes,
      nodeArgs: ['--expose-gc'],
    });
    const port = await ready(server);
    const url = `ws://127.0.0.1:${port}/readings`;
    // The stalled ones connect first, so that publish() hands each item to them before the normal ones.
    let stalledPorts = new Set<string>();
    if (stalled > 0) {
      const st = spawnTs(ctx, 'client', 'stalled-subscribers', 'clients/stalled.ts', ['--url', url, '--count', String(stalled), '--max-ms', String(ms + 60_000)]);
      const r = await st.report<{ open: number; ports: number[] }>('ready', 60_000);
      stalledPorts = new Set(r.ports.map((p) => `127.0.0.1:${p}`));
    }
    const subs = spawnTs(ctx, 'client', 'normal-subscribers', 'clients/subscribe.ts', ['--url', url, '--count', String(normal), '--timeline']);
    await subs.report('ready', 60_000);

    const before = await sample(server, true);
    const t0 = performance.now();
    const result = subs.report<SubResult>('result', ms + grace + 30_000);
    subs.send(`go ${ms + 50 + grace}`);
    await sleep(50);
    const published = server.report<Published>('published', ms + 30_000);
    server.send(`start 0 ${ms}`);
    const watch = stalled > 0 ? watchHandled(port, delivery, stalledPorts, stalled) : undefined;
    const pub = await published;
    const handled = (await watch?.stop()) ?? {};
    const after = await sample(server, true);
    const peakRss = procPeakRss(server.proc.pid!);
    const wall = performance.now() - t0;
    const r = await result;
    const status = await statusOf(port);
    const stream = status.streams['/readings']!;
    const stalledSubs = stream.subscribers.filter((x) => stalledPorts.has(x.remote));

    const [e0, e1] = pub.epoch;
    const span = e1 - e0;
    return {
      delivery,
      stalled,
      published: pub.count,
      publishMs: pub.ms,
      rate: inWindow(r.timeline, e0, e1) / span / normal,
      tailRate: inWindow(r.timeline, e1 - span * TAIL, e1) / (span * TAIL) / normal,
      perSecond: Array.from({ length: Math.floor(span) }, (_, i) => inWindow(r.timeline, e0 + i, e0 + i + 0.99) / normal),
      received: r.received,
      normalClosed: r.closed,
      maxGapMs: r.maxGapMs,
      rss: after.rss,
      heapUsed: after.heapUsed ?? NaN,
      external: after.external ?? NaN,
      peakRss,
      historyBytes: stream.history.bytes,
      serverCpu: fmtCpu(after.cpuUs - before.cpuUs, wall),
      closedSlow: stream.closedSlow,
      connections: status.connections['/readings'] ?? 0,
      stillSubscribed: stalledSubs.length,
      notFull: stalledSubs.filter((x) => x.behind === 0 && x.drops === 0).length,
      stalledDrops: stalledSubs.reduce((t, x) => t + x.drops, 0),
      stalledBehind: stalledSubs.reduce((t, x) => t + x.behind, 0),
      stalledBuffered: stalledSubs.reduce((t, x) => t + x.buffered, 0),
      ...(handled.first === undefined ? {} : { handledFirst: handled.first - e0 }),
      ...(handled.all === undefined ? {} : { handledAll: handled.all - e0 }),
    };
  } finally {
    await stopAll();
  }
}

export async function slowSubscribers(ctx: Ctx): Promise<Section> {
  const ms = ctx.counts.slowMs;
  const normal = ctx.counts.slowNormal;
  const s = section(
    '8. Slow subscribers',
    `A sketch declares \`/readings\` with \`history: { items: ${SLOW_HISTORY.items}, maxBytes: ${fmtBytes(SLOW_HISTORY.bytes)} }\`, \`maxBuffered\` at its default (1 MiB), and \`delivery: 'all'\` or \`'latest'\`; it publishes fan-out readings as fast as its event loop turns (one per turn, as in case 3's "max") for ${ms} ms to ${normal} normal plain subscribers (one process) plus 0, ${ctx.counts.slowStalled.join(' or ')} stalled ones (another process): raw TCP clients that complete the WebSocket upgrade, connect before the normal ones, and then never read again (\`socket.pause()\`), so that the server's writes fill their kernel buffers. A fresh sketch for every row; loopback MTU ${SLOW_MTU} (see below). "items/s each" counts what each normal subscriber received during the publishing window, and "% of baseline" compares it with the row without stalled subscribers (same delivery, same run); "last ${TAIL * 100}%" is the same over the end of the window. "Longest pause" is the longest any normal subscriber waited between two consecutive items. Server RSS is read at the end of publishing after a GC (\`--expose-gc\`); peak RSS is its VmHWM. The stalled subscribers' fate is read from \`GET /.well-known/sketch\` after the run.`,
  );
  const rows: string[][] = [];
  await withLoopbackMtu(SLOW_MTU, async (mtu, why) => {
    if (why) s.notes.push(`Loopback MTU left at ${mtu ?? 'unknown'} (${why}): a stalled socket's kernel buffers then take ~4 MB before the server sees it, far more than over Ethernet, and may not fill within the run.`);
    ctx.log(`  loopback MTU ${mtu ?? 'unknown'}${why ? ` (${why})` : ''}`);
    for (const delivery of ['all', 'latest'] as const) {
      let baseline: SlowRow | undefined;
      for (const stalled of [0, ...ctx.counts.slowStalled]) {
        try {
          const row = await slowRow(ctx, delivery, stalled);
          if (stalled === 0) baseline = row;
          rows.push(slowCells(ctx, s, row, baseline));
          if (stalled > 0 && (row.notFull > 0 || (delivery === 'all' && row.closedSlow < stalled))) {
            s.notes.push(
              `'${delivery}', ${stalled} stalled: by the end of the ${ms} ms run ${delivery === 'all' ? `${row.closedSlow} of them were closed, ` : ''}${row.notFull} had not pushed back at all (their kernel buffers still took data)${delivery === 'all' && row.stillSubscribed > row.notFull ? `, ${row.stillSubscribed - row.notFull} were behind but under the bound` : ''}: the run is too short for them all to be handled.`,
            );
          }
        } catch (err) {
          rows.push([`'${delivery}'`, String(stalled), `error: ${firstLine(err)}`, ...Array<string>(16).fill('')]);
          ctx.log(`  '${delivery}', ${stalled} stalled: error: ${(err as Error).message}`);
        }
      }
    }
  });
  s.blocks.push(
    table(
      [
        'delivery',
        'stalled',
        'published/s',
        'normal: items/s each (per-second min–max)',
        `% of baseline (last ${TAIL * 100}%)`,
        'goal',
        'of expected',
        'normal closed',
        'longest pause',
        'goal',
        'server RSS (V8 heap)',
        'peak RSS',
        'goal',
        'server CPU',
        'stalled: closed (1013)',
        'stalled: still subscribed',
        'their drops / behind',
        'stalled → closed/held: first / all',
        'goal',
      ],
      rows,
    ),
  );
  s.notes.push(
    `RSS bound: the baseline row's RSS (same delivery; its history already in it) + the history's bytes at the end of the row (from the status) + 64 KiB per stalled subscriber. The issue this answers: 200 stalled subscribers took the server from 71 to 266 MiB, slowed healthy ones to a third, and when finally dropped (ws' 30 s close timeout) the healthy ones got nothing for 20–25 s.`,
  );
  s.notes.push(
    `"stalled → closed/held" is the time from the start of publishing (the stalled subscribers stopped reading before it, so its first item is the first they leave unread) until the first, and the last, of them was closed with 1013 (\`'all'\`, the status' \`closedSlow\`) or held as stale (\`'latest'\`, \`stale\` in its status line: sent nothing more until its pong confirms what it has, then only the newest item), read from \`GET /.well-known/sketch\` every ${HANDLED_POLL_MS} ms; "never" when it had not happened by the end of the run. The stream's staleness bound (\`staleAfterMs\`) is at its default, 1 s.`,
  );
  s.notes.push(
    "\"of expected\" is what the normal subscribers received, including after the window, ÷ (published × normal subscribers). A stalled subscriber closed with 1013 (`delivery: 'all'`) has its socket destroyed 500 ms later; \"still subscribed\" counts those the status still lists; \"drops\" are the items the status reports skipped for them, \"behind\" the items published that they have not been sent.",
  );
  s.notes.push(
    'At the maximum rate a normal subscriber that keeps up costs the producer one `write()` per item, while one that is behind gets many items per `write()` as its socket drains and the producer turns faster; which of the two a run settles in varies from second to second (the min–max per second) and from run to run, so a ratio to the baseline moves by ±25% without any stalled subscriber, and can exceed 100%.',
  );
  s.notes.push(
    `Loopback MTU ${SLOW_MTU}, set in the bench's own network namespace for this case only: at loopback's usual 64 KiB MTU, Linux sizes a socket's send buffer from a 64 KiB MSS and a peer that stops reading lets the sender's kernel take ~4 MB before \`write()\` pushes back (~100–130 KiB at MTU 1500), so 200 stalled sockets fed ~40 B readings would take minutes to fill.`,
  );
  return s;
}

/** One row of the slow-subscriber table, and its goals. */
function slowCells(ctx: Ctx, s: Section, row: SlowRow, baseline: SlowRow | undefined): string[] {
  const { delivery, stalled } = row;
  const normal = ctx.counts.slowNormal;
  const pct = baseline && stalled > 0 ? row.rate / baseline.rate : undefined;
  const tailPct = baseline && stalled > 0 ? row.tailRate / baseline.tailRate : undefined;
  const bound = baseline ? baseline.rss + row.historyBytes + stalled * PER_STALLED_BYTES : NaN;
  const cells = { rate: '', pause: '', rss: '', handled: '' };
  const fmtS = (x: number | undefined) => (x === undefined ? 'never' : fmtMs(x * 1000));
  if (stalled > 0) {
    const handled: Goal = {
      goal: `delivery '${delivery}', ${stalled} stalled: every stalled one ${delivery === 'all' ? 'closed (1013)' : 'conflated (held stale)'} ≤ ${HANDLED_GOAL_S} s after its first unread item`,
      figure: `${fmtS(row.handledAll)} (first ${fmtS(row.handledFirst)})`,
      met: row.handledAll === undefined ? false : row.handledAll <= HANDLED_GOAL_S,
    };
    s.goals.push(handled);
    cells.handled = goalCell(`≤ ${HANDLED_GOAL_S} s`, handled.met);
    const what = `delivery '${delivery}', ${stalled} stalled`;
    const rate: Goal = { goal: `${what}: normal subscribers ≥ 95% of their baseline rate`, figure: pct === undefined ? 'no baseline' : `${(pct * 100).toFixed(0)}%`, met: judge(pct, '≥', 0.95) };
    const pause: Goal = { goal: `${what}: longest pause between items < 1 s`, figure: fmtMs(row.maxGapMs), met: row.maxGapMs < 1000 };
    const rss: Goal = { goal: `${what}: server RSS ≤ baseline + history + ${stalled} × 64 KiB`, figure: `${fmtBytes(row.rss)} (bound ${fmtBytes(bound)})`, met: judge(row.rss, '≤', bound) };
    s.goals.push(rate, pause, rss);
    cells.rate = goalCell('≥ 95%', rate.met);
    cells.pause = goalCell('< 1 s', pause.met);
    cells.rss = goalCell(`≤ ${fmtBytes(bound)}`, rss.met);
  }
  if (row.received > 0) s.figures++;
  const expected = row.published * normal;
  const share = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(0)}%`);
  ctx.log(
    `  '${delivery}', ${stalled} stalled: published ${row.published} in ${fmtMs(row.publishMs)}, normal ${fmtCount(row.rate)}/s each` +
      `${pct === undefined ? '' : ` (${share(pct)} of baseline, last ${TAIL * 100}%: ${share(tailPct)})`}, delivered ${row.received}/${expected}` +
      `${row.normalClosed ? ` (${row.normalClosed} normal closed)` : ''}, longest pause ${fmtMs(row.maxGapMs)}, RSS ${fmtBytes(row.rss)} (peak ${fmtBytes(row.peakRss)}; heap ${fmtBytes(row.heapUsed)}, external ${fmtBytes(row.external)}),` +
      ` history ${fmtBytes(row.historyBytes)}, CPU ${row.serverCpu}, closed ${row.closedSlow}, connections left ${row.connections}, stalled still subscribed ${row.stillSubscribed}` +
      ` (drops ${row.stalledDrops}, behind ${row.stalledBehind}, buffered ${fmtBytes(row.stalledBuffered)})` +
      `${stalled ? `, handled after ${fmtS(row.handledFirst)} (first) / ${fmtS(row.handledAll)} (all)` : ''}` +
      `${row.perSecond.length > 1 ? `; normal items/s each, second by second: ${row.perSecond.map(fmtCount).join(' ')}` : ''}`,
  );
  const perSecond = row.perSecond.length > 1 ? ` (${fmtCount(Math.min(...row.perSecond))}–${fmtCount(Math.max(...row.perSecond))})` : '';
  return [
    `'${delivery}'`,
    String(stalled),
    fmtCount((row.published * 1000) / row.publishMs),
    `${fmtCount(row.rate)}${perSecond}`,
    pct === undefined ? '—' : `${share(pct)} (${share(tailPct)})`,
    cells.rate,
    expected ? `${((row.received / expected) * 100).toFixed(1)}%` : '–',
    String(row.normalClosed),
    fmtMs(row.maxGapMs),
    cells.pause,
    `${fmtBytes(row.rss)} (${fmtBytes(row.heapUsed)})`,
    fmtBytes(row.peakRss),
    cells.rss,
    row.serverCpu,
    stalled ? String(row.closedSlow) : '–',
    stalled ? String(row.stillSubscribed) : '–',
    stalled ? `${fmtInt(row.stalledDrops)} / ${fmtInt(row.stalledBehind)}` : '–',
    stalled ? `${fmtS(row.handledFirst)} / ${fmtS(row.handledAll)}` : '–',
    cells.handled,
  ];
}

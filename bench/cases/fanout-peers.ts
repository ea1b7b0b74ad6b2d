/**
 * Case 14: fan-out against its peers. One publisher, N subscribers in separate processes, the
 * same reading `{celsius, time}` (sample time in seconds since the epoch, from
 * `performance.timeOrigin + performance.now()`) through five servers, one after another:
 *
 * - sketchnet: the bench sketch in stream mode (`/readings` declared with the runtime's default
 *   history, 1000 items / 1 MiB, `delivery: 'all'`), plain `ws` subscribers on `/readings`;
 * - bare `ws`: a WebSocketServer broadcasting as ws' README does, the same plain subscribers;
 * - socket.io 4: `io.emit('reading', …)`, WebSocket transport only, socket.io-client subscribers;
 * - mosquitto at QoS 0 and at QoS 1: an mqtt.js publisher and mqtt.js subscribers at that QoS.
 *
 * Rates: 10 Hz; equal offered load (50 000 deliveries/s: 50 000 ÷ N readings per second); flat
 * out (one reading per event-loop turn of the publisher).
 */
import { openFileLimit, sample, type Sample } from '../lib/cpu.js';
import { freePort, mqttSkip, spawnTs, type Ctx } from '../lib/env.js';
import { startMosquitto } from '../lib/mqtt.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtMs, fmtRatio, fmtSummary, fmtUs, judge, section, table, type Section } from '../lib/report.js';
import { Histogram, summarize, type Summary } from '../lib/stats.js';
import type { SubResult } from './fanout.js';

const TITLE = '14. Fan-out against peers';
/** Deliveries per second offered by the "equal load" rate, whatever the number of subscribers. */
const EQUAL_DELIVERIES = 50_000;
/**
 * The goals' measurement: sketchnet, bare ws and mosquitto QoS 0, each with 1000 subscribers
 * connected at once, take turns publishing at 10 Hz for {@link GOAL_ROUND_MS}, this many rounds
 * each; the goals are the medians of the per-round ratios. One window per server, one server after
 * the other (the table), lets a change in the machine's other load between two servers decide a
 * verdict; rounds side by side do not.
 */
const GOAL_ROUNDS = 5;
/** Publishing time of one goal round, ms (30 readings at 10 Hz). */
const GOAL_ROUND_MS = 3000;
/** Unmeasured 10 Hz publishing on each goal server before the rounds, ms. */
const GOAL_WARMUP_MS = 500;
/** Goals at 1000 subscribers × 10 Hz: sketchnet ÷ the peer at most this (CPU per message against bare ws, p99 against the others). */
const GOAL_RATIO = 1.0;
/** The MQTT topic of the readings. */
const TOPIC = 'sketchnet-bench/readings';
/** Time subscribers keep counting after the publisher stops, for messages still on their way (ms). */
const GRACE_MS = { paced: 300, max: 1500 };

type PeerId = 'sketchnet' | 'ws' | 'socketio' | 'mqtt0' | 'mqtt1';
const PEERS: Array<{ id: PeerId; label: string }> = [
  { id: 'sketchnet', label: 'sketchnet stream (plain ws subscribers)' },
  { id: 'ws', label: 'bare ws broadcast' },
  { id: 'socketio', label: 'socket.io (websocket transport)' },
  { id: 'mqtt0', label: 'mosquitto QoS 0 (mqtt.js)' },
  { id: 'mqtt1', label: 'mosquitto QoS 1 (mqtt.js)' },
];

function counts(ctx: Ctx) {
  return ctx.quick
    ? { subscribers: [100], ms: 300, pacedMs: 300, warmupMs: 100, maxGrace: 600 }
    : { subscribers: [100, 1000], ms: 2000, pacedMs: 4000, warmupMs: 500, maxGrace: GRACE_MS.max };
}

/** The rates one fan-out runs at: readings per second (0 = flat out) and how the row names it (`--quick`: no 10 Hz row). */
function rates(n: number, quick = false): Array<{ hz: number; label: string }> {
  const equal = EQUAL_DELIVERIES / n;
  return [
    ...(quick ? [] : [{ hz: 10, label: '10 Hz' }]),
    { hz: equal, label: `equal load: ${fmtCount(equal)}/s (${fmtCount(EQUAL_DELIVERIES)} deliveries/s)` },
    { hz: 0, label: 'flat out' },
  ];
}

interface Proc {
  child: Child;
  stats: boolean;
}

interface SetUp {
  /** The process that answers `start` (the server, or the MQTT publisher). */
  publisher: Child;
  /** Every server-side process whose CPU and RSS the row pays (server; or broker + publisher). */
  server: Proc[];
  subs: Child[];
}

interface Measured {
  published: number;
  publishMs: number;
  received: number;
  closed: number;
  latency: Histogram;
  /** Server-side CPU per process (same order as SetUp.server), µs. */
  serverUs: number[];
  subscriberUs: number;
  /** Server-side RSS per process at the end of publishing. */
  rss: number[];
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

async function setUp(ctx: Ctx, id: PeerId, n: number): Promise<SetUp> {
  const procs = n >= 1000 ? 2 : 1;
  const share = (i: number) => String(Math.floor(n / procs) + (i < n % procs ? 1 : 0));
  const subs: Child[] = [];
  let server: Proc[];
  let publisher: Child;
  if (id === 'mqtt0' || id === 'mqtt1') {
    const qos = id === 'mqtt0' ? '0' : '1';
    const port = await freePort();
    const broker = await startMosquitto(ctx, (ctx.peers.mosquitto as { bin: string }).bin, port);
    const url = `mqtt://127.0.0.1:${port}`;
    publisher = spawnTs(ctx, 'server', `mqtt-publisher-qos${qos}`, 'servers/mqtt-publisher.ts', ['--url', url, '--topic', TOPIC, '--qos', qos]);
    await publisher.report('ready', 20_000);
    server = [{ child: broker, stats: false }, { child: publisher, stats: true }];
    for (let i = 0; i < procs; i++) {
      subs.push(spawnTs(ctx, 'client', `mqtt-subscribers-${i}`, 'clients/mqtt-subscribe.ts', ['--url', url, '--topic', TOPIC, '--qos', qos, '--count', share(i)]));
    }
  } else {
    const [script, args] =
      id === 'sketchnet'
        ? ['servers/sketch.ts', ['--mode', 'stream', '--history-items', '1000', '--history-bytes', String(1024 * 1024), '--max-connections', String(n + 100)]]
        : id === 'ws'
          ? ['servers/ws-broadcast.ts', []]
          : ['servers/socketio.ts', []];
    publisher = spawnTs(ctx, 'server', id, script, args);
    const port = (await publisher.report<{ port: number }>('ready', 20_000)).port;
    server = [{ child: publisher, stats: true }];
    for (let i = 0; i < procs; i++) {
      subs.push(
        id === 'socketio'
          ? spawnTs(ctx, 'client', `socketio-subscribers-${i}`, 'clients/socketio-subscribe.ts', ['--url', `http://127.0.0.1:${port}`, '--count', share(i)])
          : spawnTs(ctx, 'client', `subscribers-${i}`, 'clients/subscribe.ts', ['--url', `ws://127.0.0.1:${port}/readings`, '--count', share(i)]),
      );
    }
  }
  await Promise.all(subs.map((c) => c.report('ready', 60_000)));
  return { publisher, server, subs };
}

/** Subscribers start counting, then the publisher publishes at `hz` (0: flat out) for `ms`. */
async function run(s: SetUp, hz: number, ms: number, grace: number): Promise<Measured> {
  const before: Sample[] = await Promise.all(s.server.map((p) => sample(p.child, p.stats)));
  const results = s.subs.map((c) => c.report<SubResult>('result', ms + grace + 30_000));
  for (const c of s.subs) c.send(`go ${ms + 50 + grace}`);
  await new Promise((r) => setTimeout(r, 50));
  const published = s.publisher.report<{ count: number; ms: number }>('published', ms + 30_000);
  s.publisher.send(`start ${hz} ${ms}`);
  const pub = await published;
  const subs = await Promise.all(results);
  // After the subscribers' windows: the CPU the servers spent on the last deliveries counts too.
  const after: Sample[] = await Promise.all(s.server.map((p) => sample(p.child, p.stats)));
  const latency = new Histogram();
  let received = 0;
  let closed = 0;
  let subscriberUs = 0;
  for (const r of subs) {
    latency.merge(r.histogram);
    received += r.received;
    closed += r.closed;
    subscriberUs += r.cpuUs;
  }
  return {
    published: pub.count,
    publishMs: pub.ms,
    received,
    closed,
    latency,
    serverUs: after.map((a, i) => a.cpuUs - before[i]!.cpuUs),
    subscriberUs,
    rss: after.map((a) => a.rss),
  };
}

interface Row {
  n: number;
  rate: string;
  peer: PeerId;
  label: string;
  m?: Measured;
  error?: string;
  /** Run on a fresh server and subscribers, because the run before closed some. */
  fresh?: boolean;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const serverUsPerMsg = (m: Measured) => (m.received ? sum(m.serverUs) / m.received : NaN);
const subUsPerMsg = (m: Measured) => (m.received ? m.subscriberUs / m.received : NaN);

export async function fanoutPeers(ctx: Ctx): Promise<Section> {
  const c = counts(ctx);
  const s = section(
    TITLE,
    `One publisher and N subscribers (in one client process, two from 1000 on), the same reading \`{"celsius":…,"time":…}\` stamped with its sample time (\`performance.timeOrigin + performance.now()\`, same machine) through each server in turn: the bench sketch with \`/readings\` declared as a stream (history 1000 items / 1 MiB, \`delivery: 'all'\`; plain \`ws\` subscribers), a bare \`ws\` server broadcasting as ws' README does (the same subscribers), socket.io (\`io.emit\`, \`transports: ['websocket']\` on both sides, one socket.io-client connection per subscriber) and mosquitto (an mqtt.js publisher; mqtt.js subscribers; publish and subscribe at QoS 0, then at QoS 1). Rates: 10 Hz${ctx.quick ? ' (not with --quick)' : ''}; equal offered load, ${fmtCount(EQUAL_DELIVERIES)} deliveries/s (${rates(100)[1]!.hz} readings/s to 100 subscribers, ${rates(1000)[1]!.hz}/s to 1000); flat out (one reading per turn of the publisher's event loop). ${c.pacedMs} ms of publishing at 10 Hz, ${c.ms} ms at the other rates, after ${c.warmupMs} ms at 10 Hz unmeasured; subscribers count until ${GRACE_MS.paced} ms (flat out: ${c.maxGrace} ms) after publishing stops. Latency: sample time → receipt in the subscriber process. CPU µs per delivered message: server side (for mosquitto: broker + the mqtt.js publisher) and subscriber side, each ÷ messages delivered. Server on CPU 0, subscribers on CPU 1.`,
  );
  const rows: Row[] = [];
  const limit = openFileLimit().soft;
  const skip = mqttSkip(ctx.peers);
  for (const wanted of c.subscribers) {
    const n = Math.min(wanted, Math.floor((limit - 200) / 2));
    if (n < wanted) s.notes.push(`${wanted} subscribers wanted, but the open-file limit is ${limit}: ran ${n}.`);
    for (const peer of PEERS) {
      const mine = rates(n, ctx.quick).map((r) => ({ n, rate: r.label, peer: peer.id, label: peer.label }) as Row);
      rows.push(...mine);
      if ((peer.id === 'mqtt0' || peer.id === 'mqtt1') && skip) {
        for (const r of mine) r.error = `skipped: ${skip}`;
        continue;
      }
      try {
        let set = await setUp(ctx, peer.id, n);
        await run(set, 10, c.warmupMs, GRACE_MS.paced); // warm-up, not measured
        for (const [i, rate] of rates(n, ctx.quick).entries()) {
          try {
            if (i > 0 && (mine[i - 1]!.m?.closed ?? 0) > 0) {
              // The server closed subscribers in the last run: the next rate starts afresh with all N.
              await stopAll();
              set = await setUp(ctx, peer.id, n);
              await run(set, 10, c.warmupMs, GRACE_MS.paced);
              mine[i]!.fresh = true;
            }
            const m = await run(set, rate.hz, rate.hz === 10 ? c.pacedMs : c.ms, rate.hz ? GRACE_MS.paced : c.maxGrace);
            mine[i]!.m = m;
            if (m.received > 0) s.figures++;
            ctx.log(
              `  ${n} × ${rate.label}, ${peer.label}: published ${m.published}, delivered ${m.received}/${m.published * n}, p50 ${fmtMs(m.latency.percentile(50))} p99 ${fmtMs(m.latency.percentile(99))}, server ${fmtUs(serverUsPerMsg(m))} [${m.serverUs.map((u) => fmtUs(u / m.received)).join(' + ')}] subscribers ${fmtUs(subUsPerMsg(m))} per message, RSS ${m.rss.map(fmtBytes).join(' + ')}, closed ${m.closed}`,
            );
          } catch (err) {
            mine[i]!.error = `error: ${firstLine(err)}`;
            ctx.log(`  ${n} × ${rate.label}, ${peer.label}: error: ${(err as Error).message}`);
          }
        }
      } catch (err) {
        for (const r of mine) r.error ??= `error: ${firstLine(err)}`;
        ctx.log(`  ${n}, ${peer.label}: error: ${(err as Error).message}`);
      } finally {
        await stopAll();
      }
    }
  }

  const isMqtt = (p: PeerId) => p === 'mqtt0' || p === 'mqtt1';
  s.blocks.push(
    table(
      ['subscribers', 'rate', 'server', 'published/s', 'delivered/s', 'of expected', 'p50 latency', 'p99 latency', 'server CPU / msg', 'subscriber CPU / msg', 'server RSS', 'closed'],
      rows.map((r) => {
        const m = r.m;
        if (!m) return [String(r.n), r.rate, r.label, r.error ?? '–', '', '', '', '', '', '', '', ''];
        const expected = m.published * r.n;
        return [
          String(r.n),
          r.rate,
          r.label,
          fmtCount((m.published * 1000) / m.publishMs),
          fmtCount((m.received * 1000) / m.publishMs),
          expected ? `${((m.received / expected) * 100).toFixed(1)}%` : '–',
          fmtMs(m.latency.percentile(50)),
          fmtMs(m.latency.percentile(99)),
          isMqtt(r.peer) ? `${fmtUs(serverUsPerMsg(m))} (broker ${fmtUs(m.serverUs[0]! / m.received)} + publisher ${fmtUs(m.serverUs[1]! / m.received)})` : fmtUs(serverUsPerMsg(m)),
          fmtUs(subUsPerMsg(m)),
          isMqtt(r.peer) ? `${fmtBytes(sum(m.rss))} (broker ${fmtBytes(m.rss[0]!)} + publisher ${fmtBytes(m.rss[1]!)})` : fmtBytes(m.rss[0]!),
          `${m.closed}${r.fresh ? ' (fresh start)' : ''}`,
        ];
      }),
      'llrrrrrrrrrr',
    ),
  );

  // Ratios: sketchnet ÷ each peer, same subscribers and rate (below 1: sketchnet lower, better).
  const ratioRows: string[][] = [];
  for (const ours of rows.filter((r) => r.peer === 'sketchnet')) {
    for (const other of rows.filter((r) => r.peer !== 'sketchnet' && r.n === ours.n && r.rate === ours.rate)) {
      const a = ours.m;
      const b = other.m;
      const p99 = a && b ? a.latency.percentile(99) / b.latency.percentile(99) : undefined;
      const cpu = a && b ? serverUsPerMsg(a) / serverUsPerMsg(b) : undefined;
      const sub = a && b ? subUsPerMsg(a) / subUsPerMsg(b) : undefined;
      const delivered = a && b ? a.received / a.publishMs / (b.received / b.publishMs) : undefined;
      if (ours.n >= 1000 && ours.rate === '10 Hz' && (other.peer === 'socketio' || other.peer === 'mqtt1')) {
        // socket.io and QoS 1 keep their p99 ≤ 1× goals from before, read from the table; the
        // goals against bare ws and QoS 0 come from the interleaved rounds below.
        s.goals.push({ goal: `1000 subscribers at 10 Hz: p99 ≤ 1.0× ${other.label}'s`, figure: fmtRatio(p99), met: judge(p99, '≤', GOAL_RATIO) });
      }
      ratioRows.push([String(ours.n), ours.rate, other.label, fmtRatio(p99), fmtRatio(cpu), fmtRatio(sub), fmtRatio(delivered)]);
    }
  }
  s.blocks.push(table(['subscribers', 'rate', 'sketchnet ÷', 'p99 latency', 'server CPU / msg', 'subscriber CPU / msg', 'delivered/s'], ratioRows, 'lllrrrr'));
  if (c.subscribers.includes(1000)) await goalRounds(ctx, s, Math.min(1000, Math.floor((limit - 200) / 2)), skip);
  else {
    s.goals.push({ goal: '1000 subscribers at 10 Hz: server CPU per message ≤ 1.0× bare ws; p99 ≤ 1.0× mosquitto QoS 0 (and socket.io, QoS 1)', figure: 'not run (--quick)', met: undefined });
  }
  s.notes.push('Ratios are sketchnet ÷ the peer on the same subscribers and rate, from the rows above: below 1× sketchnet is lower (better) for latency and CPU; above 1× it delivered more per second.');
  s.notes.push(
    `Goals (printed, not asserted): at 1000 subscribers × 10 Hz, server CPU per message ≤ 1.0× bare ws's and p99 ≤ 1.0× mosquitto QoS 0's (issue 24), judged on the interleaved rounds (last table); p99 ≤ 1.0× socket.io's and mosquitto QoS 1's stay from before, judged on the rows above. At 10 Hz a p99 is set by the slowest publish of the window (${c.pacedMs / 100} publishes × 1000 subscribers: the worst 1% is fewer deliveries than one publish makes), i.e. by how long one publish takes to reach its last subscriber.`,
  );
  s.notes.push('After a run in which the server closed subscribers, the next rate starts on a fresh server with all N subscribers connected again ("fresh start" in the last column).');
  s.notes.push('"closed" counts subscriber connections the server closed during the run (sketchnet closes, with 1013, a subscriber its slow-subscriber policy gives up on — see "Slow subscribers" in docs/API.md; bare ws and socket.io never do, they buffer); mosquitto drops QoS 0 messages past its per-client queue and holds at most `max_queued_messages` (1000, default) QoS 1 ones, which shows as "of expected" below 100%.');
  s.notes.push('Latencies are bucketed (0.05 ms below 50 ms, 1 ms below 5 s): each figure is the upper edge of its bucket. Server RSS is read after the subscribers\' window.');
  return s;
}

/**
 * The goals' rounds (see {@link GOAL_ROUNDS}): sketchnet, bare ws and (unless `skip`) mosquitto
 * QoS 0, `n` subscribers each, all connected together; each round publishes 10 Hz for
 * {@link GOAL_ROUND_MS} through each in turn. Adds a table of the per-round ratios and the goals.
 */
async function goalRounds(ctx: Ctx, s: Section, n: number, skip: string | undefined): Promise<void> {
  const peers: PeerId[] = skip ? ['sketchnet', 'ws'] : ['sketchnet', 'ws', 'mqtt0'];
  const per = new Map<PeerId, Measured[]>(peers.map((p) => [p, []]));
  try {
    const sets = new Map<PeerId, SetUp>();
    for (const p of peers) sets.set(p, await setUp(ctx, p, n));
    for (const p of peers) await run(sets.get(p)!, 10, GOAL_WARMUP_MS, GRACE_MS.paced); // warm-up, not measured
    for (let r = 0; r < GOAL_ROUNDS; r++) {
      for (const p of r % 2 ? [...peers].reverse() : peers) per.get(p)!.push(await run(sets.get(p)!, 10, GOAL_ROUND_MS, GRACE_MS.paced));
    }
  } catch (err) {
    ctx.log(`  goal rounds: error: ${(err as Error).message}`);
    s.notes.push(`The goals' interleaved rounds failed: ${firstLine(err)}`);
  } finally {
    await stopAll();
  }
  const ours = per.get('sketchnet')!;
  const ratios = (other: PeerId, f: (m: Measured) => number): Summary | undefined => {
    const theirs = per.get(other) ?? [];
    const xs = ours.flatMap((m, i) => (theirs[i] ? [f(m) / f(theirs[i]!)] : [])).filter(Number.isFinite);
    return xs.length === GOAL_ROUNDS ? summarize(xs) : undefined;
  };
  const p99 = (m: Measured) => m.latency.percentile(99);
  const fmtX = (x: Summary | undefined) => fmtSummary(x, (v) => fmtRatio(v));
  const cpu = ratios('ws', serverUsPerMsg);
  const p99q0 = skip ? undefined : ratios('mqtt0', p99);
  const rows: string[][] = [];
  for (const p of peers) {
    const ms = per.get(p)!;
    const label = PEERS.find((x) => x.id === p)!.label;
    const pooled = new Histogram();
    for (const m of ms) pooled.merge(m.latency.toJSON());
    ctx.log(`  goal rounds, ${n} × 10 Hz, ${label}: server CPU / msg ${ms.map((m) => fmtUs(serverUsPerMsg(m))).join(' ')}; p99 ${ms.map((m) => fmtMs(p99(m))).join(' ')}`);
    rows.push([
      label,
      String(ms.length),
      ms.length ? fmtSummary(summarize(ms.map(serverUsPerMsg)), fmtUs) : '–',
      ms.length ? fmtSummary(summarize(ms.map(p99)), fmtMs) : '–',
      ms.length ? fmtMs(pooled.percentile(99)) : '–',
      p === 'sketchnet' ? '' : p === 'ws' ? `server CPU / msg ${fmtX(cpu)}` : `p99 ${fmtX(p99q0)}`,
    ]);
  }
  s.blocks.push(table([`${n} subscribers × 10 Hz, rounds interleaved`, 'rounds', 'server CPU / msg', 'p99 latency', 'p99 over all rounds', 'sketchnet ÷ this (median of per-round ratios)'], rows, 'lrrrrr'));
  s.notes.push(
    `Last table: the three servers of the goals with ${n} subscribers each, all connected at once, take turns publishing at 10 Hz for ${GOAL_ROUND_MS} ms (${GOAL_ROUNDS} rounds, the order reversed every other round); each figure is the median (min–max) over the rounds, each ratio the median of the per-round ratios.`,
  );
  s.goals.push({ goal: `${n} subscribers at 10 Hz: server CPU per message ≤ 1.0× bare ws (interleaved rounds)`, figure: fmtX(cpu), met: judge(cpu?.median, '≤', GOAL_RATIO) });
  s.goals.push({
    goal: `${n} subscribers at 10 Hz: p99 ≤ 1.0× mosquitto QoS 0 (mqtt.js)'s (interleaved rounds)`,
    figure: skip ? `skipped: ${skip}` : fmtX(p99q0),
    met: judge(p99q0?.median, '≤', GOAL_RATIO),
  });
}

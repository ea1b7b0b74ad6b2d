/**
 * Case 13: sketches through an MQTT 5 broker (mosquitto on a loopback port).
 *
 * - Acknowledged requests sketch → sketch through the broker (a sending sketch with
 *   `preferDirect: false` calling `Sketch.stream('bench-target', …)`, a reactive sketch serving
 *   `sketchnet/bench-target/in`), one and 50 in flight, against bare mqtt.js MQTT 5
 *   request/response (Response Topic + Correlation Data) through the same broker and against
 *   the same two sketches over a direct WebSocket (`Sketch.stream('ws://…/', …)`).
 * - Fan-out of one 10 Hz `'latest'` stream: N mqtt.js subscribers on its topic
 *   `sketchnet/bench-meter/readings` against N `sketchnet.v2` WebSocket subscribers of the
 *   same sketch.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { sample } from '../lib/cpu.js';
import { freePort, mqttSkip, spawnTs, type Ctx } from '../lib/env.js';
import { startMosquitto } from '../lib/mqtt.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtCount, fmtCpu, fmtMs, fmtRatio, fmtSummary, fmtUs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import type { Round } from '../lib/load.js';
import type { SubResult } from './fanout.js';
import { Histogram, median, summarize, type Summary } from '../lib/stats.js';

const TITLE = '13. Through an MQTT broker';
/** The serving sketch's instance name (its request topic is `sketchnet/bench-target/in`). */
const TARGET = 'bench-target';
/** The publishing sketch's instance name (its stream's topic is `sketchnet/bench-meter/readings`). */
const METER = 'bench-meter';
/** The bare MQTT 5 responder's request topic. */
const MQTT5_TOPIC = 'sketchnet-bench/request';
/** Goal: sketch → sketch through the broker ÷ bare mqtt.js request/response, both windows. */
const GOAL = 0.95;
/** Time subscribers keep counting after the publisher stops, for messages still on their way. */
const GRACE_MS = 300;

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/**
 * Counts: the rounds of cases 1–2 (at least 11 in a full run: three rows share the broker's
 * core, and more rounds steady the paired ratios), and a fan-out of 1000 (full) or 100 (`--quick`).
 */
function counts(ctx: Ctx) {
  const c = ctx.counts;
  return ctx.quick
    ? { rounds: c.rounds, roundMs: c.roundMs, warmupMs: c.warmupMs, subscribers: 100, procs: 2, fanoutMs: 600, fanoutWarmupMs: c.fanoutWarmupMs }
    : { rounds: Math.max(c.rounds, 11), roundMs: c.roundMs, warmupMs: c.warmupMs, subscribers: 1000, procs: 4, fanoutMs: 5000, fanoutWarmupMs: c.fanoutWarmupMs };
}

/**
 * The headline row's rate over another's: the median of the per-round ratios (round i of one
 * row ran right beside round i of the other), which a machine whose speed drifts during the run
 * (other work on its two cores) disturbs less than a ratio of medians.
 */
function pairedRatio(head: number[], other: number[]): number | undefined {
  const n = Math.min(head.length, other.length);
  if (n === 0) return undefined;
  return median(Array.from({ length: n }, (_, i) => head[i]! / other[i]!));
}

interface Proc {
  name: string;
  child: Child;
  /** Answers `stats` (a node child); otherwise read from /proc. */
  stats: boolean;
}

/** Where a row's client sends, and the server-side processes whose CPU the row pays. */
interface Target {
  via: 'broker' | 'ws' | 'mqtt5';
  url: string;
  target: string;
  /** The process answering (sketch or responder) and, through a broker, mosquitto. */
  server: Proc;
  broker?: Proc;
}

interface RowSpec {
  label: string;
  target: Target | { skip: string };
  window: number;
  goal?: boolean;
  headline?: boolean;
}

interface Measured {
  rate: Summary;
  /** Acknowledged requests per second, per round, in round order. */
  rates: number[];
  latency: Histogram;
  acks: number;
  serverUs: number;
  brokerUs: number;
  clientUs: number;
  wallMs: number;
  clientMs: number;
}

interface Row {
  spec: RowSpec;
  measured?: Measured;
  error?: string;
}

type AckRound = Round & { histogram: Record<string, number> };

/**
 * Runs rows as case 1 does: one client process per row, each connected and warmed up, then
 * the rounds interleaved (round 1 of every row, round 2 of every row…), sampling the CPU of
 * the row's server-side processes before and after each round.
 */
async function runRows(ctx: Ctx, specs: RowSpec[]): Promise<Row[]> {
  const n = counts(ctx);
  const rows: Row[] = specs.map((spec) => ({ spec }));
  const live: Array<{ row: Row; t: Target; client: Child; rounds: AckRound[]; serverUs: number; brokerUs: number; wallMs: number }> = [];
  try {
    for (const row of rows) {
      const t = row.spec.target;
      if ('skip' in t) continue;
      const client = spawnTs(ctx, 'client', `broker-client-${t.via}-${row.spec.window}`, 'clients/broker-ack.ts', [
        '--url', t.url, '--via', t.via, '--target', t.target, '--window', String(row.spec.window),
        '--warmup', String(n.warmupMs), '--round-ms', String(n.roundMs),
      ]);
      live.push({ row, t, client, rounds: [], serverUs: 0, brokerUs: 0, wallMs: 0 });
    }
    for (const l of [...live]) {
      try {
        await l.client.report('ready', 30_000);
        const warm = l.client.report('warm', n.warmupMs + 15_000);
        l.client.send('warm');
        await warm;
      } catch (err) {
        l.row.error = firstLine(err);
        live.splice(live.indexOf(l), 1);
        await l.client.stop();
      }
    }
    for (let r = 0; r < n.rounds; r++) {
      for (const l of [...live]) {
        try {
          const procs = [l.t.server, ...(l.t.broker ? [l.t.broker] : [])];
          const before = await Promise.all(procs.map((p) => sample(p.child, p.stats)));
          const t0 = performance.now();
          const round = l.client.report<AckRound>('round', n.roundMs + 15_000);
          l.client.send('go');
          l.rounds.push(await round);
          const after = await Promise.all(procs.map((p) => sample(p.child, p.stats)));
          l.wallMs += performance.now() - t0;
          l.serverUs += after[0]!.cpuUs - before[0]!.cpuUs;
          if (l.t.broker) l.brokerUs += after[1]!.cpuUs - before[1]!.cpuUs;
        } catch (err) {
          l.row.error = firstLine(err);
          live.splice(live.indexOf(l), 1);
          await l.client.stop();
        }
      }
    }
    for (const l of live) {
      const latency = new Histogram();
      for (const r of l.rounds) latency.merge(r.histogram);
      const rates = l.rounds.map((r) => (r.acks * 1000) / r.ms);
      l.row.measured = {
        rate: summarize(rates),
        rates,
        latency,
        acks: l.rounds.reduce((s, r) => s + r.acks, 0),
        serverUs: l.serverUs,
        brokerUs: l.brokerUs,
        clientUs: l.rounds.reduce((s, r) => s + r.cpuUs, 0),
        wallMs: l.wallMs,
        clientMs: l.rounds.reduce((s, r) => s + r.ms, 0),
      };
    }
  } finally {
    await Promise.all(live.map((l) => l.client.stop()));
  }
  for (const r of rows) {
    const m = r.measured;
    const t = r.spec.target;
    const what = 'skip' in t ? `skipped: ${t.skip}` : r.error ? `error: ${r.error}` : m ? `${fmtSummary(m.rate)}/s, p50 ${fmtMs(m.latency.percentile(50))} p99 ${fmtMs(m.latency.percentile(99))}, server ${fmtUs(m.serverUs / m.acks)}${!('skip' in t) && t.broker ? ` broker ${fmtUs(m.brokerUs / m.acks)}` : ''} client ${fmtUs(m.clientUs / m.acks)} per request` : '–';
    ctx.log(`  ${r.spec.label}, ${r.spec.window} in flight: ${what}`);
  }
  return rows;
}

/** The acknowledged-request tables, one per window. */
async function acknowledged(ctx: Ctx, s: Section, sketchPort: number, broker: { url: string; proc: Proc } | { skip: string }, sketch: Proc, responder: Proc | { skip: string }): Promise<void> {
  const viaBroker: Target | { skip: string } = 'skip' in broker ? broker : { via: 'broker', url: broker.url, target: TARGET, server: sketch, broker: broker.proc };
  const bare: Target | { skip: string } = 'skip' in broker ? broker : 'skip' in responder ? responder : { via: 'mqtt5', url: broker.url, target: MQTT5_TOPIC, server: responder, broker: broker.proc };
  const direct: Target = { via: 'ws', url: '', target: `ws://127.0.0.1:${sketchPort}/`, server: sketch };
  for (const window of [1, 50]) {
    ctx.log(` ${window} in flight`);
    const rows = await runRows(ctx, [
      { label: 'sketchnet: sketch → mosquitto → sketch (`Sketch.stream`, preferDirect: false)', target: viaBroker, window, headline: true },
      { label: 'bare MQTT 5: mqtt.js → mosquitto → mqtt.js responder (Response Topic + Correlation Data)', target: bare, window, goal: true },
      { label: 'sketchnet direct: sketch → sketch over WebSocket (`Sketch.stream(\'ws://…\')`)', target: direct, window },
    ]);
    const head = rows[0]!.measured;
    const cells: string[][] = [];
    for (const r of rows) {
      const m = r.measured;
      const t = r.spec.target;
      const ratio = head && m && r !== rows[0] ? pairedRatio(head.rates, m.rates) : undefined;
      let goal = '';
      if (r.spec.goal) {
        const met = judge(ratio, '≥', GOAL);
        goal = goalCell(`≥ ${GOAL}×`, met);
        s.goals.push({ goal: `${window} in flight: sketch → sketch through mosquitto ≥ ${GOAL}× bare mqtt.js request/response`, figure: 'skip' in t ? `skipped: ${t.skip}` : fmtRatio(ratio), met });
      }
      if (m) s.figures++;
      const status = 'skip' in t ? `skipped: ${t.skip}` : r.error ? `error: ${r.error}` : undefined;
      const per = (us: number | undefined) => (m && us !== undefined ? fmtUs(us / m.acks) : '–');
      cells.push([
        `${r.spec.headline ? '**' : ''}${r.spec.label}${r.spec.headline ? '**' : ''}`,
        status ?? `${fmtSummary(m?.rate)}/s`,
        r === rows[0] ? '—' : fmtRatio(ratio),
        goal,
        m ? fmtMs(m.latency.percentile(50)) : '–',
        m ? fmtMs(m.latency.percentile(99)) : '–',
        per(m?.serverUs),
        m && !('skip' in t) && t.broker ? per(m.brokerUs) : '–',
        per(m?.clientUs),
        m ? `${fmtCpu(m.serverUs, m.wallMs)} / ${!('skip' in t) && t.broker ? fmtCpu(m.brokerUs, m.wallMs) : '–'} / ${fmtCpu(m.clientUs, m.clientMs)}` : '–',
      ]);
    }
    s.blocks.push(
      `**${window === 1 ? 'Sequential: 1 in flight' : `Pipelined: ${window} in flight`}** (16 B messages)\n\n${table(
        ['sender → server', 'round trips/s', 'through broker ÷ this', 'goal', 'p50 latency', 'p99 latency', 'server CPU / request', 'mosquitto CPU / request', 'sender CPU / request', 'CPU % server / mosquitto / sender'],
        cells,
      )}`,
    );
  }
}

interface FanoutRun {
  published: number;
  publishMs: number;
  received: number;
  closed: number;
  latency: Histogram;
  serverUs: number;
  brokerUs: number;
  subscriberUs: number;
  wallMs: number;
  subMs: number;
}

/** Subscribers count, then the meter publishes at 10 Hz for `ms`; CPU of the meter (and mosquitto) around it. */
async function publishRun(meter: Child, broker: Proc | undefined, subs: Child[], ms: number): Promise<FanoutRun> {
  const procs = [{ child: meter, stats: true }, ...(broker ? [broker] : [])];
  const before = await Promise.all(procs.map((p) => sample(p.child, p.stats)));
  const t0 = performance.now();
  const results = subs.map((c) => c.report<SubResult>('result', ms + GRACE_MS + 30_000));
  for (const c of subs) c.send(`go ${ms + 50 + GRACE_MS}`);
  await new Promise((r) => setTimeout(r, 50));
  const published = meter.report<{ count: number; ms: number }>('published', ms + 30_000);
  meter.send(`start 10 ${ms}`);
  const pub = await published;
  const subResults = await Promise.all(results);
  const after = await Promise.all(procs.map((p) => sample(p.child, p.stats)));
  const out: FanoutRun = {
    published: pub.count,
    publishMs: pub.ms,
    received: 0,
    closed: 0,
    latency: new Histogram(),
    serverUs: after[0]!.cpuUs - before[0]!.cpuUs,
    brokerUs: broker ? after[1]!.cpuUs - before[1]!.cpuUs : 0,
    subscriberUs: 0,
    wallMs: performance.now() - t0,
    subMs: 0,
  };
  for (const r of subResults) {
    out.latency.merge(r.histogram);
    out.received += r.received;
    out.closed += r.closed;
    out.subscriberUs += r.cpuUs;
    out.subMs = Math.max(out.subMs, r.ms);
  }
  return out;
}

/** Printed when a through-mosquitto goal is missed: where the difference per request lies (issue 24). */
const BROKER_MISS =
  'Where the difference lies (issue 24): per request the sketch pair spends more CPU than the bare pair on all three sides ("server", "broker", "client" per request above). Its request carries what exactly-once needs (the `sketchnet.v3` session, seq and done, ~90 B against the bare 16 B), which mosquitto copies twice, and the serving sketch keeps dedupe state per sender and answers with the seq. ' +
  'Issue 24 took the async layers off the broker\'s serving path (the reply published as `loop`\'s promise settles), made the sender name, meter key and dedupe key once per sender, and made BrokerPeer match in-order replies at the head of its sent requests; with 50 in flight the pair is now within a few % of bare mqtt.js, and one at a time the exactly-once bookkeeping on both sketches is what is left (the same split as case 1\'s profile, paid twice here because the broker adds a hop each way). Not profiled separately through the broker.';

/** The fan-out table: the same 10 Hz `'latest'` stream to N MQTT subscribers, then to N WebSocket ones. */
async function fanoutRows(ctx: Ctx, s: Section, meterPort: number, meter: Child, broker: { url: string; proc: Proc } | { skip: string }): Promise<void> {
  const n = counts(ctx);
  const share = (i: number) => Math.floor(n.subscribers / n.procs) + (i < n.subscribers % n.procs ? 1 : 0);
  const kinds = [
    {
      label: `mqtt.js subscribers on \`sketchnet/${METER}/readings\` (QoS 0) through mosquitto`,
      skip: 'skip' in broker ? broker.skip : undefined,
      broker: 'skip' in broker ? undefined : broker.proc,
      spawn: (i: number) =>
        spawnTs(ctx, 'client', `mqtt-subscribers-${i}`, 'clients/mqtt-subscribe.ts', ['--url', 'skip' in broker ? '' : broker.url, '--topic', `sketchnet/${METER}/readings`, '--count', String(share(i))]),
    },
    {
      label: "`sketchnet.v2` WebSocket subscribers on the sketch's `/readings`",
      skip: undefined,
      broker: undefined,
      spawn: (i: number) =>
        spawnTs(ctx, 'client', `ws-subscribers-${i}`, 'clients/subscribe.ts', ['--url', `ws://127.0.0.1:${meterPort}/readings`, '--protocol', 'sketchnet.v2', '--count', String(share(i))]),
    },
  ];
  const runs: Array<{ label: string; run?: FanoutRun; error?: string; viaBroker?: boolean }> = [];
  for (const k of kinds) {
    if (k.skip) {
      runs.push({ label: k.label, error: `skipped: ${k.skip}` });
      continue;
    }
    const subs: Child[] = [];
    try {
      for (let i = 0; i < n.procs; i++) subs.push(k.spawn(i));
      await Promise.all(subs.map((c) => c.report('ready', 90_000)));
      await publishRun(meter, k.broker, subs, n.fanoutWarmupMs); // warm-up, not measured
      const run = await publishRun(meter, k.broker, subs, n.fanoutMs);
      runs.push({ label: k.label, run, viaBroker: k.broker !== undefined });
      ctx.log(
        `  ${k.label}: published ${run.published}, delivered ${run.received}/${run.published * n.subscribers}, p50 ${fmtMs(run.latency.percentile(50))} p99 ${fmtMs(run.latency.percentile(99))}, sketch CPU ${fmtCpu(run.serverUs, run.wallMs)}${k.broker ? `, mosquitto ${fmtCpu(run.brokerUs, run.wallMs)}` : ''}, subscribers ${fmtCpu(run.subscriberUs, run.subMs)}`,
      );
    } catch (err) {
      runs.push({ label: k.label, error: `error: ${firstLine(err)}` });
      ctx.log(`  ${k.label}: error: ${(err as Error).message}`);
    } finally {
      await Promise.all(subs.map((c) => c.stop()));
    }
  }
  const ws = runs[1]?.run;
  const cells = runs.map(({ label, run, error, viaBroker }, i) => {
    if (!run) return [label, String(n.subscribers), error ?? '–', '', '', '', '', '', '', ''];
    s.figures++;
    const expected = run.published * n.subscribers;
    const p50 = run.latency.percentile(50);
    const p99 = run.latency.percentile(99);
    const vs = ws && i === 0 ? `${fmtRatio(p50 / ws.latency.percentile(50))} / ${fmtRatio(p99 / ws.latency.percentile(99))}` : '—';
    return [
      label,
      String(n.subscribers),
      `${fmtCount(run.received)} / ${fmtCount(expected)} (${expected ? ((run.received / expected) * 100).toFixed(1) : '–'}%)`,
      fmtMs(p50),
      fmtMs(p99),
      vs,
      fmtCpu(run.serverUs, run.wallMs),
      viaBroker ? fmtCpu(run.brokerUs, run.wallMs) : '–',
      `${fmtCpu(run.subscriberUs, run.subMs)} (${n.procs} procs)`,
      String(run.closed),
    ];
  });
  s.blocks.push(
    `**Fan-out of one 10 Hz \`'latest'\` stream, ${n.fanoutMs / 1000} s**\n\n${table(
      ['subscribers', 'count', 'delivered / expected', 'p50 sample → receipt', 'p99 sample → receipt', 'p50 / p99 ÷ WebSocket', 'sketch CPU', 'mosquitto CPU', 'subscriber CPU', 'closed'],
      cells,
    )}`,
  );
}

export async function broker(ctx: Ctx): Promise<Section> {
  const n = counts(ctx);
  const s = section(
    TITLE,
    `Sketches through mosquitto (MQTT 5, one loopback listener, TCP_NODELAY). **Acknowledged requests:** a sending sketch (\`broker: { url, preferDirect: false }\`) calls \`Sketch.stream('${TARGET}', 16 B)\`, which goes as a \`sketchnet.v3\` request on \`sketchnet/${TARGET}/in\` (QoS 1, Response Topic + Correlation Data) to a \`@reactive\` sketch that acknowledges "ok" on the sender's Response Topic; compared with bare mqtt.js request/response through the same broker (a QoS 1 request with Response Topic + Correlation Data, a responder answering QoS 1 "ok" there) and with the same two sketches over a direct WebSocket (\`Sketch.stream('ws://127.0.0.1:PORT/', …)\`, no mDNS). ${n.rounds} round(s) of ${n.roundMs} ms after a ${n.warmupMs} ms warm-up per row, rounds interleaved; round trips/s is the median (min–max) of the per-round rates, "through broker ÷ this" the median of the per-round ratios (round by round, the rows ran side by side), latencies are per request over all rounds (call → acknowledgement), CPU per request is each process's CPU time over the measured rounds ÷ the requests acknowledged. **Fan-out:** a sketch publishes \`{celsius, time}\` (\`time\`: its sample time, seconds since the epoch from the monotonic clock) at 10 Hz on a \`'latest'\` stream for ${n.fanoutMs} ms after ${n.fanoutWarmupMs} ms of unmeasured warm-up, to ${n.subscribers} subscribers over ${n.procs} processes: first mqtt.js clients on its topic through mosquitto (the sketch mirrors each item there, QoS 0 retained), then \`sketchnet.v2\` WebSocket subscribers of the sketch itself; latency is sample time → receipt in the subscriber process.`,
  );
  const skip = mqttSkip(ctx.peers);
  const loadBefore = os.loadavg()[0]!;
  try {
    let broker: { url: string; proc: Proc } | { skip: string } = { skip: skip ?? 'mosquitto unavailable' };
    if (!skip && !('skip' in ctx.peers.mosquitto)) {
      try {
        const port = await freePort();
        const child = await startMosquitto(ctx, ctx.peers.mosquitto.bin, port);
        broker = { url: `mqtt://127.0.0.1:${port}`, proc: { name: 'mosquitto', child, stats: false } };
      } catch (err) {
        broker = { skip: `mosquitto did not start: ${firstLine(err)}` };
      }
    }
    const onBroker = 'skip' in broker ? [] : ['--broker', broker.url];
    // The serving sketch answers both the broker rows and the direct WebSocket rows.
    const target = spawnTs(ctx, 'server', 'broker-target', 'servers/sketch.ts', ['--mode', 'ack', '--quiet', '--name', TARGET, ...onBroker]);
    let responder: Proc | { skip: string } = { skip: 'no broker' };
    if (!('skip' in broker)) {
      const child = spawnTs(ctx, 'server', 'mqtt5-responder', 'servers/mqtt5-responder.ts', ['--url', broker.url, '--topic', MQTT5_TOPIC]);
      try {
        await child.report('ready', 20_000);
        responder = { name: 'responder', child, stats: true };
      } catch (err) {
        responder = { skip: `the responder did not start: ${firstLine(err)}` };
      }
    }
    const targetPort = (await target.report<{ port: number }>('ready', 20_000)).port;
    ctx.log(' acknowledged requests');
    await acknowledged(ctx, s, targetPort, broker, { name: 'sketch', child: target, stats: true }, responder);
    await target.stop();
    if (!('skip' in responder)) await responder.child.stop();

    ctx.log(` fan-out to ${n.subscribers} subscribers`);
    const meter = spawnTs(ctx, 'server', 'broker-meter', 'servers/sketch.ts', ['--mode', 'stream', '--delivery', 'latest', '--quiet', '--name', METER, '--max-connections', String(n.subscribers + 100), ...onBroker]);
    const meterPort = (await meter.report<{ port: number }>('ready', 20_000)).port;
    await fanoutRows(ctx, s, meterPort, meter, broker);
  } catch (err) {
    s.notes.push(`error: ${firstLine(err)}`);
    ctx.log(`  error: ${(err as Error).stack ?? String(err)}`);
  } finally {
    await stopAll();
  }
  s.notes.push(
    `Load average (1 min) of the machine: ${loadBefore.toFixed(2)} when the case started, ${os.loadavg()[0]!.toFixed(2)} when it ended (on ${os.cpus().length} cores; this bench's own processes count too). Other work on the machine widens the per-round ranges; the paired ratios are meant to hold up under it.`,
  );
  s.notes.push(
    'Placement as in cases 1–3: the serving sketch, the responder, the publishing sketch and mosquitto on the server CPU; senders and subscribers on the client CPU. "CPU % server / mosquitto / sender" is CPU time over wall time (% of one core); mosquitto\'s is read from /proc (10 ms ticks).',
  );
  s.notes.push(
    `Both MQTT senders connect as sketchnet's BrokerClient does (MQTT 5, clean start, Receive Maximum 1024, TCP_NODELAY); mosquitto's \`max_inflight_messages\` (20) paces QoS 1 deliveries to each client in both rows alike. The sketch's request carries what exactly-once needs (the \`sketchnet.v3\` session, seq and done, ~90 B) and its reply is \`{"ack":"ok","seq":N}\`; the bare request is the 16 B message and its reply "ok", with no ordering or dedupe.`,
  );
  if (s.goals.some((g) => g.goal.includes('through mosquitto') && g.met === false)) s.notes.push(BROKER_MISS);
  s.notes.push(
    `Fan-out latency is largely the subscribers' own: ${n.subscribers} mqtt.js clients take more CPU per message than ${n.subscribers} \`ws\` sockets ("subscriber CPU"), and all of them share one core, so the last client of a burst reads its copy that much later; mosquitto's and the sketch's CPU stay small.`,
  );
  s.notes.push("The publishing sketch is the same process for both fan-out rows (its broker link stays connected while the WebSocket row runs, mirroring each item to a topic nobody subscribes to then). Latencies are bucketed (0.05 ms below 50 ms): each figure is the upper edge of its bucket.");
  return s;
}

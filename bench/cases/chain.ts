/**
 * Case 15: the clock → iopin → buzzer circuit as separate processes, sketchnet's against the
 * same chain of Python seed-style servers (bench/servers/chain.py).
 *
 * sketchnet: `sketch run buzzer --gpio virtual` and `sketch run iopin --to 127.0.0.1:PORT --bit-ms 0`, the
 * `sketch` command by name (../lib/sketch-cmd.ts), `--no-mdns` and addresses so that discovery
 * is not measured. Python: `chain.py buzzer` and `chain.py iopin --to ws://127.0.0.1:PORT/`.
 * In the clock's place, for both chains, a clock-like driver (bench/clients/chain-driver.ts:
 * one tick at a time, each after the previous acknowledgement, as `sketch run clock --delay 0`)
 * that times every tick: the clock's log lines carry millisecond times, too coarse for a tick
 * of a few ms. Rounds interleaved, servers on CPU 0, drivers on CPU 1.
 */
import path from 'node:path';
import { procCpuUs, procRss } from '../lib/cpu.js';
import { BENCH, freePort, spawnOn, spawnTs, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtBytes, fmtCount, fmtMs, fmtRatio, fmtSummary, fmtUs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { spawnSketchCmdOn } from '../lib/sketch-cmd.js';
import { Histogram, summarize } from '../lib/stats.js';

const TITLE = '15. The clock → iopin → buzzer chain against Python';
const CHAIN_PY = path.join(BENCH, 'servers', 'chain.py');
/** Goal (issue 24): sketchnet's per-tick p99 at most this many times the Python chain's. */
const GOAL_P99 = 0.8;
/** Goal (issue 24): sketchnet's per-tick p50 at most this many times the Python chain's. */
const GOAL_P50 = 0.5;

interface ChainRound {
  ticks: number;
  ms: number;
  cpuUs: number;
  histogram: Record<string, number>;
  last: string;
}

interface Chain {
  label: string;
  /** The iopin's URL, which the driver ticks. */
  driverUrl: string;
  iopin: Child;
  buzzer: Child;
  driver: Child;
  latency: Histogram;
  ticks: number;
  rates: number[];
  iopinUs: number;
  buzzerUs: number;
  driverUs: number;
  last: string;
}

/**
 * Where a tick's time went when a goal is missed (issue 24's profiles: `--cpu-prof`, `--trace-gc`,
 * the sampling heap profiler and /proc/PID/task/TID/schedstat of both sketches over 3000–6000 ticks).
 */
const MISS_EVIDENCE =
  'Where the time goes (profiles of both sketches, issue 24): on the path of a tick the largest cost is the WebSocket frame writes (`ws` sendFrame → writev: 30–45 % of each sketch\'s CPU), then the acknowledged path in runtime/net (reactive request/apply/drain, the Peer\'s send, a span per message and AsyncLocalStorage, whose promise hooks run for every promise). ' +
  'Those allocate 20–25 KiB per tick in each sketch, so each scavenges every 150–250 ticks (0.5–1.5 ms, several ms when the core is shared): about 1.5 % of ticks carry a pause, right at p99. ' +
  'In the slow ticks that carry none, both sketches sat idle in their profiles while runnable time went to other processes on the core (schedstat run-queue waits of 150–700 µs per tick per sketch on a loaded machine): that part of the tail is the machine\'s, and it falls on the Python chain too. ' +
  'The default log lines (1–2 per message, each written before its acknowledgement, as the seed\'s print) cost each sketch under a fifth of its CPU per tick (`--quiet` against default).';

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** Starts one chain's buzzer and iopin (iopin → buzzer by address) and its driver, connected. */
async function startChain(ctx: Ctx, which: 'sketchnet' | 'python', python?: string): Promise<Chain> {
  const [buzzerPort, iopinPort] = [await freePort(), await freePort()];
  let buzzer: Child;
  let iopin: Child;
  if (which === 'sketchnet') {
    const common = ['--no-mdns', '--host', '127.0.0.1'];
    buzzer = spawnSketchCmdOn(ctx, 'server', 'sketch run buzzer', ['run', 'buzzer', '--gpio', 'virtual', ...common, '--port', String(buzzerPort)]);
    // --bit-ms 0: bits back to back and no final 0, as before held bits (default 100 ms) and as the
    // Python chain does, so the case goes on measuring the messaging, not the holds.
    iopin = spawnSketchCmdOn(ctx, 'server', 'sketch run iopin', ['run', 'iopin', '--to', `127.0.0.1:${buzzerPort}`, '--bit-ms', '0', ...common, '--port', String(iopinPort)]);
    await Promise.all([buzzer.line(/serving on/, 20_000), iopin.line(/serving on/, 20_000)]);
  } else {
    buzzer = spawnOn(ctx, 'server', 'python buzzer', python!, [CHAIN_PY, 'buzzer', '--port', String(buzzerPort)]);
    iopin = spawnOn(ctx, 'server', 'python iopin', python!, [CHAIN_PY, 'iopin', '--port', String(iopinPort), '--to', `ws://127.0.0.1:${buzzerPort}/`]);
    await Promise.all([buzzer.report('ready', 20_000), iopin.report('ready', 20_000)]);
  }
  const driver = spawnTs(ctx, 'client', `chain-driver-${which}`, 'clients/chain-driver.ts', ['--url', `ws://127.0.0.1:${iopinPort}/`]);
  await driver.report('ready', 20_000);
  const label = which === 'sketchnet' ? 'sketchnet (`sketch run iopin --to … --bit-ms 0`, `sketch run buzzer --gpio virtual`)' : 'Python seed-style (chain.py iopin --to …, chain.py buzzer)';
  return { label, driverUrl: `ws://127.0.0.1:${iopinPort}/`, iopin, buzzer, driver, latency: new Histogram(), ticks: 0, rates: [], iopinUs: 0, buzzerUs: 0, driverUs: 0, last: '' };
}

async function round(c: Chain, ticks: number, measure: boolean): Promise<void> {
  const io0 = procCpuUs(c.iopin.proc.pid!);
  const bz0 = procCpuUs(c.buzzer.proc.pid!);
  const reply = c.driver.report<ChainRound>('round', 120_000);
  c.driver.send(`go ${ticks}`);
  const r = await reply;
  if (!measure) return;
  c.iopinUs += procCpuUs(c.iopin.proc.pid!) - io0;
  c.buzzerUs += procCpuUs(c.buzzer.proc.pid!) - bz0;
  c.driverUs += r.cpuUs;
  c.ticks += r.ticks;
  c.rates.push((r.ticks * 1000) / r.ms);
  c.latency.merge(r.histogram);
  c.last = r.last;
}

/** The mean of rates weighted as equal-size rounds: ticks ÷ total time. */
const harmonic = (rates: number[]) => rates.length / rates.reduce((x, r) => x + 1 / r, 0);

/** Runs the real `sketch run clock` against a chain's iopin; mean ms per tick between its first `>` and last `<` lines. */
async function realClock(ctx: Ctx, c: Chain, ticks: number): Promise<number> {
  const port = Number(/:(\d+)\/$/.exec(c.driverUrl)![1]);
  const clock = spawnSketchCmdOn(ctx, 'client', 'sketch run clock', ['run', 'clock', '--tacks', String(ticks), '--delay', '0', '--no-mdns', '--host', '127.0.0.1', '--to', `127.0.0.1:${port}`, '--port', '0']);
  let first = NaN;
  let last = NaN;
  let acks = 0;
  clock.onLine((line, at) => {
    if (Number.isNaN(first) && / > 0$/.test(line)) first = at;
    if (/ < /.test(line)) {
      acks++;
      last = at;
    }
  });
  const code = await Promise.race([clock.exited, new Promise((r) => setTimeout(r, 60_000)).then(() => 'timeout')]);
  await clock.stop();
  if (code !== 0 || acks !== ticks) throw new Error(`sketch run clock ended (${code}) after ${acks} of ${ticks} acknowledgements: ${clock.tail.slice(-2).join(' / ')}`);
  return (last - first) / ticks;
}

export async function chain(ctx: Ctx): Promise<Section> {
  const rounds = ctx.quick ? 1 : 9;
  const ticks = ctx.quick ? 200 : 500;
  const warm = ctx.quick ? 50 : 300;
  const s = section(
    TITLE,
    `The circuit as three processes on loopback: a clock-like driver (one plain \`ws\` connection; ticks sent one at a time, each after the previous acknowledgement, like \`sketch run clock --delay 0\`; in both chains, because the clock's log lines carry only millisecond times) → iopin (3 random bits per tick, each sent to the buzzer and its acknowledgement awaited before the next, then the tick acknowledged with \`{"bits":…,"acks":…}\`) → buzzer (virtual pin; \`bzzz\` / \`...\`). sketchnet: \`sketch run iopin --to 127.0.0.1:PORT --bit-ms 0\` (bits back to back, as the Python iopin sends them) and \`sketch run buzzer --gpio virtual\`, the \`sketch\` command by name, \`--no-mdns\`, default logging; Python: bench/servers/chain.py in the seed's style (asyncio + websockets, a \`print\` per event like the seed's \`out\`), connected by address. ${rounds} round(s) of ${ticks} ticks after ${warm} unmeasured, chains interleaved; servers on CPU 0, drivers on CPU 1. Latency: the driver's send → the iopin's acknowledgement. CPU per tick: utime + stime (/proc) of the iopin and the buzzer over the rounds ÷ ticks.`,
  );
  const python = 'skip' in ctx.peers.python ? undefined : ctx.peers.python.bin;
  const chains: Chain[] = [];
  const errors: string[] = [];
  const rssOf = new Map<Chain, [number, number]>();
  try {
    for (const which of ['sketchnet', 'python'] as const) {
      if (which === 'python' && !python) continue;
      try {
        chains.push(await startChain(ctx, which, python));
      } catch (err) {
        errors.push(`${which}: ${firstLine(err)}`);
      }
    }
    for (const c of [...chains]) {
      try {
        await round(c, warm, false);
      } catch (err) {
        errors.push(`${c.label}, warm-up: ${firstLine(err)}`);
        chains.splice(chains.indexOf(c), 1);
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (const c of [...chains]) {
        try {
          await round(c, ticks, true);
        } catch (err) {
          errors.push(`${c.label}, round ${r + 1}: ${firstLine(err)}`);
          chains.splice(chains.indexOf(c), 1);
        }
      }
    }
    for (const c of chains) rssOf.set(c, [procRss(c.iopin.proc.pid!), procRss(c.buzzer.proc.pid!)]);
    const ours = chains.find((c) => c.label.startsWith('sketchnet'));
    if (ours) {
      try {
        const perTick = await realClock(ctx, ours, ticks);
        s.notes.push(
          `Cross-check with the real clock: \`sketch run clock --tacks ${ticks} --delay 0 --no-mdns --to 127.0.0.1:PORT\` against the same sketchnet chain took ${fmtMs(perTick)} per tick on average (from its \`> 0\` line to its last \`<\` line as the bench read them; it prints two lines per tick), against the driver's mean of ${fmtMs(1000 / harmonic(ours.rates))}.`,
        );
      } catch (err) {
        errors.push(`real clock: ${firstLine(err)}`);
      }
    }
  } finally {
    await stopAll();
  }

  const perTick = (us: number, c: Chain) => (c.ticks ? us / c.ticks : NaN);
  const rows = chains.map((c) => {
    s.figures += c.ticks ? 1 : 0;
    const [ioRss, bzRss] = rssOf.get(c) ?? [NaN, NaN];
    ctx.log(
      `  ${c.label}: ${c.ticks} ticks, p50 ${fmtMs(c.latency.percentile(50))} p99 ${fmtMs(c.latency.percentile(99))}, ${fmtSummary(summarize(c.rates))} ticks/s, CPU per tick iopin ${fmtUs(perTick(c.iopinUs, c))} buzzer ${fmtUs(perTick(c.buzzerUs, c))} driver ${fmtUs(perTick(c.driverUs, c))}; last ack ${c.last}`,
    );
    return [
      c.label,
      String(c.ticks),
      fmtMs(c.latency.percentile(50)),
      fmtMs(c.latency.percentile(99)),
      fmtSummary(summarize(c.rates), fmtCount),
      fmtUs(perTick(c.iopinUs, c)),
      fmtUs(perTick(c.buzzerUs, c)),
      `**${fmtUs(perTick(c.iopinUs + c.buzzerUs, c))}**`,
      fmtUs(perTick(c.driverUs, c)),
      `${fmtBytes(ioRss)} + ${fmtBytes(bzRss)}`,
    ];
  });
  if (!python) rows.push(['Python seed-style', `skipped: ${(ctx.peers.python as { skip: string }).skip}`, '', '', '', '', '', '', '', '']);
  s.blocks.push(table(['chain', 'ticks', 'p50 per tick', 'p99 per tick', 'ticks/s (median of rounds)', 'iopin CPU / tick', 'buzzer CPU / tick', 'iopin + buzzer CPU / tick', 'driver CPU / tick', 'RSS iopin + buzzer'], rows));
  const ours = chains.find((c) => c.label.startsWith('sketchnet'));
  const py = chains.find((c) => c.label.startsWith('Python'));
  const p50Goal = `per-tick p50 ≤ ${GOAL_P50}× the Python chain`;
  const p99Goal = `per-tick p99 ≤ ${GOAL_P99}× the Python chain`;
  if (ours && py && ours.ticks && py.ticks) {
    const p50 = ours.latency.percentile(50) / py.latency.percentile(50);
    const p99 = ours.latency.percentile(99) / py.latency.percentile(99);
    const [p50Met, p99Met] = [judge(p50, '≤', GOAL_P50), judge(p99, '≤', GOAL_P99)];
    s.blocks.push(
      table(
        ['sketchnet ÷ Python', 'p50 per tick', 'p99 per tick', 'CPU per tick (iopin + buzzer)'],
        [
          ['ratio', fmtRatio(p50), fmtRatio(p99), fmtRatio(perTick(ours.iopinUs + ours.buzzerUs, ours) / perTick(py.iopinUs + py.buzzerUs, py))],
          ['goal', goalCell(`≤ ${GOAL_P50}×`, p50Met), goalCell(`≤ ${GOAL_P99}×`, p99Met), ''],
        ],
      ),
    );
    s.goals.push({ goal: p99Goal, figure: fmtRatio(p99), met: p99Met }, { goal: p50Goal, figure: fmtRatio(p50), met: p50Met });
    s.notes.push('Below 1×: sketchnet is faster / uses less CPU than the Python chain.');
    if (p50Met === false || p99Met === false) s.notes.push(MISS_EVIDENCE);
  } else {
    const why = python ? 'a chain failed' : 'Python skipped';
    s.goals.push({ goal: p99Goal, figure: why, met: undefined }, { goal: p50Goal, figure: why, met: undefined });
  }
  s.notes.push(`One tick is 1 + 3 acknowledged messages (driver → iopin, then iopin → buzzer for each bit); the last acknowledgement seen: ${ours?.last || py?.last || '–'}.`);
  s.notes.push('CPU on /proc has 10 ms resolution; over a round of hundreds of ticks that is well under 1 %. Latencies are bucketed (0.05 ms below 50 ms): each figure is the upper edge of its bucket.');
  for (const e of errors) s.notes.push(`error: ${e}`);
  return s;
}

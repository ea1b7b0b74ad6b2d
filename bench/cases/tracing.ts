/**
 * Case 18: what links and tracing cost on the acknowledged-message path, as users run it: a
 * sender sketch's `stream()` (its counted link: a meter per message and, traced, a `send` span
 * and a `traceparent` in the v3 envelope) → a receiving sketch (its incoming meter and, traced,
 * a `receive` span and a `loop` span run in AsyncLocalStorage). The same pair traced (the
 * default) and with `trace: false` on both sides, 1 and 64 messages in flight, rounds
 * interleaved; a bare `Peer` → the untraced sketch is the reference for what the sender
 * sketch's link adds. On every Node.js line found (.ci/.node, `--node`) in a full run: Node 20
 * and 22 run AsyncLocalStorage on async_hooks (promise hooks), Node 24+ on AsyncContextFrame.
 *
 * SKETCH_BENCH_TRACING_PROFILE=1 runs every server and client under `node --cpu-prof` (one
 * window, the bench's Node) and adds where each spends its time to the notes.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { sample } from '../lib/cpu.js';
import { BENCH, cpuProfArgs, OUT, ROOT, spawnOn, type Ctx, type NodeBin } from '../lib/env.js';
import type { Round } from '../lib/load.js';
import { stopAll, type Child } from '../lib/proc.js';
import { formatProfile, mainThreadProfile, summarizeProfile } from '../lib/profile.js';
import { fmtRatio, fmtSummary, fmtUs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { median, summarize, type Summary } from '../lib/stats.js';

const TITLE = '18. Links and tracing on the acknowledged path';
/** traced ÷ untraced acknowledged messages per second, at least. */
const GOAL = 0.95;
const WINDOWS = [1, 64];
const PAYLOAD = 16;

type Variant = 'traced' | 'untraced' | 'peer';
const LABELS: Record<Variant, string> = {
  traced: 'sender sketch `stream()` → sketch, traced (default)',
  untraced: 'the same, `trace: false` on both',
  peer: 'bare `Peer` → untraced sketch',
};

interface Row {
  variant: Variant;
  window: number;
  client: Child;
  server: Child;
  rounds: Round[];
  /** Server CPU per round, µs. */
  serverUs: number[];
  error?: string;
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** `node [--cpu-prof] --import tsx bench/<script> ARGS` with `node`, on `side`'s CPU. */
function spawnWith(ctx: Ctx, node: NodeBin, side: 'server' | 'client', name: string, script: string, args: string[], profile: boolean): Child {
  const nodeArgs = profile ? cpuProfArgs(name) : [];
  return spawnOn(ctx, side, name, node.bin, [...nodeArgs, '--import', 'tsx', path.join(BENCH, script), ...args], { cwd: ROOT });
}

/** One Node.js line: both servers, every row's client, warm-ups one after the other, then the rounds of every row interleaved. */
async function measureLine(ctx: Ctx, node: NodeBin, windows: number[], profile: boolean, rounds: number): Promise<Row[]> {
  const c = ctx.counts;
  const tag = node.version.replace(/^v/, 'node');
  const servers: Record<'traced' | 'untraced', Child> = {
    traced: spawnWith(ctx, node, 'server', `trace-server-traced-${tag}`, 'servers/sketch.ts', ['--mode', 'ack', '--quiet'], profile),
    untraced: spawnWith(ctx, node, 'server', `trace-server-untraced-${tag}`, 'servers/sketch.ts', ['--mode', 'ack', '--quiet', '--trace', 'false'], profile),
  };
  const ports = {
    traced: (await servers.traced.report<{ port: number }>('ready', 30_000)).port,
    untraced: (await servers.untraced.report<{ port: number }>('ready', 30_000)).port,
  };
  const rows: Row[] = [];
  for (const window of windows) {
    for (const variant of ['traced', 'untraced', 'peer'] as Variant[]) {
      const target = variant === 'traced' ? 'traced' : 'untraced';
      const client = spawnWith(
        ctx,
        node,
        'client',
        `trace-client-${variant}-w${window}-${tag}`,
        'clients/ack.ts',
        ['--url', `ws://127.0.0.1:${ports[target]}/`, '--via', variant === 'peer' ? 'peer' : 'sketch', '--trace', String(variant === 'traced'), '--payload', String(PAYLOAD), '--window', String(window), '--warmup', String(c.warmupMs), '--round-ms', String(c.roundMs)],
        profile,
      );
      rows.push({ variant, window, client, server: servers[target], rounds: [], serverUs: [] });
    }
  }
  const live = [...rows];
  const drop = async (row: Row, err: unknown) => {
    row.error = firstLine(err);
    live.splice(live.indexOf(row), 1);
    await row.client.stop();
  };
  for (const row of [...live]) {
    try {
      await row.client.report('ready', 30_000);
      const warm = row.client.report('warm', c.warmupMs + 15_000);
      row.client.send('warm');
      await warm;
    } catch (err) {
      await drop(row, err);
    }
  }
  for (let r = 0; r < rounds; r++) {
    for (const row of [...live]) {
      try {
        const before = await sample(row.server, true);
        const round = row.client.report<Round>('round', c.roundMs + 15_000);
        row.client.send('go');
        row.rounds.push(await round);
        const after = await sample(row.server, true);
        row.serverUs.push(after.cpuUs - before.cpuUs);
      } catch (err) {
        await drop(row, err);
      }
    }
  }
  await Promise.all(rows.map((row) => row.client.stop(5000)));
  await Promise.all(Object.values(servers).map((s) => s.stop(5000))); // SIGTERM: a profiled child writes its profile
  for (const row of rows) {
    const rate = row.rounds.length ? fmtSummary(rate_(row)) : `error: ${row.error}`;
    ctx.log(`  ${node.version} ${row.window} in flight, ${row.variant}: ${rate}/s, server ${fmtUs(serverPerAck(row))}/ack, client ${fmtUs(clientPerAck(row))}/ack`);
  }
  return rows;
}

const rates = (row: Row) => row.rounds.map((r) => (r.acks * 1000) / r.ms);
const rate_ = (row: Row): Summary => summarize(rates(row));
const acks = (row: Row) => row.rounds.reduce((s, r) => s + r.acks, 0);
const serverPerAck = (row: Row) => row.serverUs.reduce((s, x) => s + x, 0) / acks(row);
const clientPerAck = (row: Row) => row.rounds.reduce((s, r) => s + r.cpuUs, 0) / acks(row);

/** traced ÷ untraced per round (round i of one beside round i of the other: they ran back to back). */
function pairedRatios(traced: Row, untraced: Row): number[] {
  const a = rates(traced);
  const b = rates(untraced);
  return a.slice(0, Math.min(a.length, b.length)).map((x, i) => x / b[i]!);
}

export async function tracing(ctx: Ctx): Promise<Section> {
  const c = ctx.counts;
  const profile = !!process.env.SKETCH_BENCH_TRACING_PROFILE;
  const nodes = ctx.quick || profile ? ctx.nodes.slice(0, 1) : ctx.nodes;
  /** The bench's own Node.js (the goals' figures) gets more rounds than the other lines. */
  const rounds = ctx.quick ? 1 : Math.max(c.rounds, 9);
  const otherRounds = ctx.quick ? 1 : 5;
  const s = section(
    TITLE,
    `The whole path as users run it: a sender sketch's \`stream()\` (its counted link: a meter mark and an acknowledgement timing per message; traced, also a \`send\` span and a \`traceparent\` in the \`sketchnet.v3\` envelope) → a receiving sketch whose \`@reactive\` loop answers "ok" (its incoming meter; traced, a \`receive\` span and a \`loop\` span run in AsyncLocalStorage). Traced is the default; untraced is \`trace: false\` on both sketches. ${PAYLOAD} B messages, ${WINDOWS.join(' and ')} in flight, ${rounds} round(s) of ${c.roundMs} ms (${otherRounds} on the other Node.js lines) after a ${c.warmupMs} ms warm-up, every row's rounds interleaved; the bare \`Peer\` → untraced sketch row is the reference for what the sender sketch's link costs. Server and client separate processes${ctx.pin ? ', pinned to CPU 0 and 1' : ''}.`,
  );
  const profileDir = path.join(OUT, 'profiles');
  if (profile) rmSync(profileDir, { recursive: true, force: true });
  const tableRows: string[][] = [];
  for (const node of nodes) {
    ctx.log(` Node.js ${node.version}`);
    let rows: Row[];
    try {
      rows = await measureLine(ctx, node, profile ? [64] : WINDOWS, profile, node === ctx.nodes[0] ? rounds : otherRounds);
    } catch (err) {
      s.notes.push(`Node.js ${node.version}: error: ${firstLine(err)}`);
      ctx.log(`  error: ${(err as Error).stack ?? String(err)}`);
      continue;
    } finally {
      await stopAll();
    }
    for (const window of WINDOWS) {
      const get = (v: Variant) => rows.find((r) => r.window === window && r.variant === v && r.rounds.length > 0);
      const [traced, untraced, peer] = [get('traced'), get('untraced'), get('peer')];
      if (!traced && !untraced) continue;
      const paired = traced && untraced ? pairedRatios(traced, untraced) : [];
      const ratio = paired.length ? median(paired) : undefined;
      const met = judge(ratio, '≥', GOAL);
      const headline = node === ctx.nodes[0];
      if (headline) s.goals.push({ goal: `traced ÷ untraced acknowledged messages/s, ${window} in flight: ≥ ${GOAL}×`, figure: fmtRatio(ratio), met });
      const cell = (row: Row | undefined) => (row ? `${fmtSummary(rate_(row))}/s` : 'error');
      const cpu = (f: (r: Row) => number) => `${traced ? fmtUs(f(traced)) : '–'} / ${untraced ? fmtUs(f(untraced)) : '–'}`;
      tableRows.push([
        headline ? `**${node.version}**` : node.version,
        String(window),
        cell(traced),
        cell(untraced),
        `**${fmtRatio(ratio)}**${paired.length > 1 ? ` (${Math.min(...paired).toFixed(2)}–${Math.max(...paired).toFixed(2)})` : ''}`,
        goalCell(`≥ ${GOAL}×`, met),
        cpu(serverPerAck),
        cpu(clientPerAck),
        peer ? `${fmtSummary(rate_(peer))}/s (${untraced ? fmtRatio(median(rates(untraced)) / median(rates(peer))) : '–'})` : '–',
      ]);
      s.figures += [traced, untraced].filter(Boolean).length;
    }
    for (const row of rows) if (row.error) s.notes.push(`Node.js ${node.version}, ${row.window} in flight, ${row.variant}: error: ${row.error}`);
  }
  s.blocks.push(
    table(
      ['Node.js', 'in flight', 'traced acks/s', 'untraced acks/s', 'traced ÷ untraced', 'goal', 'server CPU per ack, traced / untraced', 'client CPU per ack, traced / untraced', 'bare Peer → untraced (untraced ÷ this)'],
      tableRows,
    ),
  );
  s.notes.push(
    `acks/s: median (min–max) of the per-round rates. "traced ÷ untraced": the median of the per-round ratios (round i traced ÷ round i untraced, run back to back) and their range. CPU per ack: the process's user + system CPU over the measured rounds ÷ the acknowledgements (the server's from its own \`process.cpuUsage\` before and after each round). The first Node.js line is the bench's own; the goal table takes its figures.`,
  );
  s.notes.push(
    'AsyncLocalStorage: Node.js 20 and 22 carry its store through promise hooks (async_hooks), which tracks every promise made while any store is in use; Node.js 24 and later carry it in an AsyncContextFrame (V8\'s continuation-preserved embedder data), with no hook per promise. The receiving sketch runs each traced `loop` in `storage.run()`; the sender\'s `stream()` only reads the store.',
  );
  if (profile) {
    for (const name of ['trace-server-traced', 'trace-server-untraced', 'trace-client-traced-w64', 'trace-client-untraced-w64']) {
      const tag = ctx.nodes[0]!.version.replace(/^v/, 'node');
      const main = mainThreadProfile(path.join(profileDir, `${name}-${tag}`));
      if (main) s.notes.push(`profile ${name} (64 in flight): ${formatProfile(summarizeProfile(main, 14)).replace(/\n/g, '\n  ')}`);
    }
  }
  return s;
}

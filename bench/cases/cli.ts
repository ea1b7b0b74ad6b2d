/**
 * Cases 4, 5 and 9: the real CLI as users start it — the `sketch` command by name, a symlink to
 * dist/bin/sketch.cjs first on PATH as `npm link` makes it (../lib/sketch-cmd.ts) — timed from
 * spawn to the line it prints. Needs multicast on loopback (the sandbox provides it).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { cpuProfArgs, ROOT, SKETCH_BIN, type Ctx } from '../lib/env.js';
import { spawnSketchCmd } from '../lib/sketch-cmd.js';
import { spawnChild, stopAll, type Child } from '../lib/proc.js';
import { fmtMs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { median, percentile } from '../lib/stats.js';

const CLOCK = ['run', 'clock', '--tacks', '1', '--delay', '0'];
const LINE_TIMEOUT_MS = 15_000;

/** Waits for a child to exit on its own for at most `ms`, then stops it. */
async function reap(child: Child, ms = 5000): Promise<void> {
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, ms))]);
  await child.stop();
}

/** One clock run: ms from spawn to its `serving on` line (listening) and to its first acknowledgement. */
async function clockOnce(): Promise<{ serving: number; ack: number }> {
  const clock = spawnSketchCmd('clock', CLOCK);
  try {
    const [serving, ack] = await Promise.all([clock.line(/serving on/, LINE_TIMEOUT_MS), clock.line(/\[ Clock \] < /, LINE_TIMEOUT_MS)]);
    return { serving: serving.at - clock.startedAt, ack: ack.at - clock.startedAt };
  } finally {
    await reap(clock);
  }
}

async function startIopin(): Promise<{ child: Child; ms: number }> {
  const child = spawnSketchCmd('iopin', ['run', 'iopin']);
  const { at } = await child.line(/announced as/, LINE_TIMEOUT_MS);
  return { child, ms: at - child.startedAt };
}

const dist = (xs: number[]) =>
  xs.length ? [String(xs.length), fmtMs(median(xs)), fmtMs(percentile(xs, 99)), `${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))}`] : ['0', '–', '–', '–'];

export async function discovery(ctx: Ctx): Promise<Section> {
  const { discoveryWarmRuns: warmRuns, discoveryColdRuns: coldRuns } = ctx.counts;
  const s = section(
    '4. Discovery to first acknowledgement',
    `\`sketch run clock --tacks 1 --delay 0\` (the \`sketch\` command by name, as \`npm link\` installs it), timed from spawn to its first \`[ Clock ] < \` line (the iopin's acknowledgement). Warm: \`sketch run iopin\` already announced; cold: both spawned at the same moment. The "clock listening" column is the clock's own \`serving on\` line; it looks for the iopin from then on, while its own mDNS announcement goes out in the background.`,
  );
  const warm: Array<{ serving: number; ack: number }> = [];
  const cold: Array<{ serving: number; ack: number }> = [];
  const errors: string[] = [];
  try {
    const iopin = await startIopin();
    for (let i = 0; i < warmRuns; i++) {
      try {
        warm.push(await clockOnce());
      } catch (err) {
        errors.push(`warm run ${i + 1}: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    await iopin.child.stop();
    for (let i = 0; i < coldRuns; i++) {
      const iopin2 = spawnSketchCmd('iopin', ['run', 'iopin']);
      try {
        cold.push(await clockOnce());
      } catch (err) {
        errors.push(`cold run ${i + 1}: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        await iopin2.stop();
      }
    }
  } catch (err) {
    errors.push((err as Error).message.split('\n')[0]!);
  } finally {
    await stopAll();
  }
  const wp50 = warm.length ? median(warm.map((r) => r.ack)) : undefined;
  const wp99 = warm.length ? percentile(warm.map((r) => r.ack), 99) : undefined;
  const g50 = judge(wp50, '≤', 150);
  const g99 = judge(wp99, '≤', 300);
  s.goals.push({ goal: 'warm p50 ≤ 150 ms', figure: fmtMs(wp50 ?? NaN), met: g50 });
  s.goals.push({ goal: 'warm p99 ≤ 300 ms', figure: fmtMs(wp99 ?? NaN), met: g99 });
  s.figures += warm.length + cold.length;
  s.blocks.push(
    table(
      ['scenario', 'runs', 'p50 to first ack', 'p99', 'min–max', 'goal', 'clock listening (p50)'],
      [
        ['warm (iopin already announced)', ...dist(warm.map((r) => r.ack)), `${goalCell('p50 ≤ 150 ms', g50)}; ${goalCell('p99 ≤ 300 ms', g99)}`, fmtMs(median(warm.map((r) => r.serving)))],
        ['cold (both started together)', ...dist(cold.map((r) => r.ack)), '', fmtMs(median(cold.map((r) => r.serving)))],
      ],
    ),
  );
  if (g50 === false || g99 === false)
    s.notes.push(
      `Where the time goes (issue 24; the clock\'s output lines and the mDNS packets timed): in this run spawn → the clock listening took ${fmtMs(median(warm.map((r) => r.serving)))} of the ${fmtMs(wp50 ?? NaN)}, the CLI\'s start-up on this Node.js (case 16 has it against \`node -e 0\`); then, timed on the wire over 15 warm runs (median): \`serving on\` → lookup query sent 3–5 ms; ` +
        ' query → answer 0.4–0.8 ms (the responder answers at once; resolve asks first for the instance\'s SRV and TXT, unique records a compliant responder answers without the 20–120 ms delay RFC 6762 §6 puts on shared PTR answers); answer → first acknowledgement 15–28 ms (WebSocket connect, upgrade, first message). mDNS is ~1 ms of the total: the goal waits on start-up.',
    );
  for (const e of errors) s.notes.push(`error: ${e}`);
  for (const [name, rs] of [['warm', warm], ['cold', cold]] as const) ctx.log(`  ${name}: ${dist(rs.map((r) => r.ack)).join('  ')}`);
  return s;
}

export async function startup(ctx: Ctx): Promise<Section> {
  const runs = ctx.counts.startupRuns;
  const s = section(
    '5. Start-up',
    `Wall time from spawn of the \`sketch\` command by name (as \`npm link\` installs it): to the \`announced as\` line of \`sketch run iopin\` (printed once it listens and its mDNS announcement went out), and for \`sketch --help\` to exit. \`node -e 0\` is the floor any Node CLI pays. ${runs} run(s) each.`,
  );
  const serving: number[] = [];
  const help: number[] = [];
  const bare: number[] = [];
  const errors: string[] = [];
  const timeExit = async (child: Child): Promise<number> => {
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, LINE_TIMEOUT_MS))]);
    if (child.exitCode !== 0) throw new Error(`${child.name} did not exit 0 (${child.exitCode})`);
    return performance.now() - child.startedAt;
  };
  try {
    for (let i = 0; i < runs; i++) {
      try {
        const iopin = await startIopin();
        serving.push(iopin.ms);
        await iopin.child.stop();
        help.push(await timeExit(spawnSketchCmd('sketch --help', ['--help'])));
        bare.push(await timeExit(spawnChild('node -e 0', process.execPath, ['-e', '0'])));
      } catch (err) {
        errors.push((err as Error).message.split('\n')[0]!);
      }
    }
  } finally {
    await stopAll();
  }
  const med = serving.length ? median(serving) : undefined;
  const met = judge(med, '≤', 300);
  s.goals.push({ goal: '≤ 300 ms to listening + announced (median)', figure: fmtMs(med ?? NaN), met });
  s.figures += serving.length + help.length;
  s.blocks.push(
    table(
      ['what', 'runs', 'median', 'p99', 'min–max', 'goal'],
      [
        ['`sketch run iopin` → listening + announced', ...dist(serving), goalCell('≤ 300 ms', met)],
        ['`sketch --help`', ...dist(help), ''],
        ['`node -e 0` (reference)', ...dist(bare), ''],
      ],
    ),
  );
  for (const e of errors) s.notes.push(`error: ${e}`);
  ctx.log(`  iopin serving: ${dist(serving).join('  ')}; --help: ${dist(help).join('  ')}`);
  return s;
}

/** Median wall time of `node --input-type=module -e "await import(SPEC)"` over `runs`, in ms. */
async function importCost(spec: string, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const child = spawnChild(`import ${spec}`, process.execPath, ['--input-type=module', '-e', spec ? `await import(${JSON.stringify(spec)})` : '']);
    times.push(await Promise.race([child.exited, new Promise((r) => setTimeout(r, LINE_TIMEOUT_MS))]).then(() => performance.now() - child.startedAt));
    await child.stop();
  }
  return median(times);
}

/**
 * `--profile` for cases 4 and 5: what importing each dependency costs, and CPU profiles of
 * `sketch --help`, `sketch run iopin` up to `announced as`, and a warm `sketch run clock`.
 */
export async function profileCli(): Promise<string[]> {
  const out = ['Import cost: median wall time of `node -e "await import(X)"` (5 runs) minus `node -e ""`:'];
  const floor = await importCost('', 5);
  out.push(`  node alone: ${fmtMs(floor)}`);
  const dist = (p: string) => pathToFileURL(path.join(ROOT, 'dist', p)).href;
  for (const spec of ['ws', 'yargs', 'bonjour-service', 'tsx/esm/api', dist('runtime/index.js'), dist('sketches/iopin.js'), dist('bin/run.js')]) {
    out.push(`  ${spec.replace(pathToFileURL(ROOT).href + '/', '')}: +${fmtMs((await importCost(spec, 5)) - floor)}`);
  }
  const prof = cpuProfArgs;
  try {
    const help = spawnChild('help', process.execPath, [...prof('cli-help'), SKETCH_BIN, '--help'], { cwd: ROOT });
    await Promise.race([help.exited, new Promise((r) => setTimeout(r, LINE_TIMEOUT_MS))]);
    const iopin = spawnChild('iopin', process.execPath, [...prof('cli-run-iopin'), SKETCH_BIN, 'run', 'iopin'], { cwd: ROOT });
    const { at } = await iopin.line(/announced as/, LINE_TIMEOUT_MS);
    out.push(`\nprofiled \`sketch run iopin\`: announced after ${fmtMs(at - iopin.startedAt)}`);
    const clock = spawnChild('clock', process.execPath, [...prof('cli-run-clock-warm'), SKETCH_BIN, ...CLOCK], { cwd: ROOT });
    const serving = await clock.line(/serving on/, LINE_TIMEOUT_MS);
    const ack = await clock.line(/\[ Clock \] < /, LINE_TIMEOUT_MS);
    out.push(`profiled warm \`sketch run clock\`: serving on after ${fmtMs(serving.at - clock.startedAt)}, first ack after ${fmtMs(ack.at - clock.startedAt)}`);
    await reap(clock);
    await iopin.stop(5000);
  } finally {
    await stopAll();
  }
  return out;
}

/** One start of `sketch --help` (to exit) or `sketch run iopin --no-mdns` (to `serving on`), in ms. */
async function startOnce(what: 'help' | 'iopin', node: string, env: Record<string, string>): Promise<number> {
  if (what === 'help') {
    const child = spawnSketchCmd('sketch --help', ['--help'], { node, env });
    await Promise.race([child.exited, new Promise((r) => setTimeout(r, LINE_TIMEOUT_MS))]);
    if (child.exitCode !== 0) throw new Error(`sketch --help did not exit 0 (${child.exitCode}): ${child.tail.join(' | ')}`);
    return performance.now() - child.startedAt;
  }
  const child = spawnSketchCmd('iopin', ['run', 'iopin', '--no-mdns', '--port', '0'], { node, env });
  try {
    const { at } = await child.line(/serving on/, LINE_TIMEOUT_MS);
    return at - child.startedAt;
  } finally {
    await child.stop();
  }
}

/**
 * Case 9: what Node's compile cache (`module.enableCompileCache()`, Node ≥ 22.1, turned on by
 * dist/bin/sketch.cjs) saves at start-up, per Node.js line. Each round, for every Node binary:
 * cache off (`NODE_DISABLE_COMPILE_CACHE=1`), first start with an empty cache, then a start
 * with the cache that one wrote. The cache goes where users get it (`os.tmpdir()`), here a
 * private TMPDIR per Node binary. mDNS is off so that only loading and listening are timed.
 */
export async function compileCache(ctx: Ctx): Promise<Section> {
  const runs = ctx.counts.startupRuns;
  const s = section(
    '9. Start-up by Node.js line: compile cache off and on',
    `Wall time from spawn of \`sketch --help\` to its exit, and of \`sketch run iopin --no-mdns\` to its \`serving on\` line, on each Node.js binary found (this one, lines fetched by \`.ci/fetch-node\`, \`--node PATH\`), each started as users start it: the \`sketch\` command by name, its \`#!/usr/bin/env node\` finding that binary first on PATH. "off": \`NODE_DISABLE_COMPILE_CACHE=1\` (what every start costs without the cache); "first": the cache directory emptied just before (the start that writes it); "on": the next start, reading it. Node 20 has no compile cache: its three columns measure the same thing. ${runs} round(s), modes and binaries interleaved; median (min–max).`,
  );
  type Mode = 'off' | 'first' | 'on';
  const modes: Mode[] = ['off', 'first', 'on'];
  const key = (node: string, what: string, mode: Mode) => `${node}\u0000${what}\u0000${mode}`;
  const times = new Map<string, number[]>();
  const errors: string[] = [];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sketch-bench-cache-'));
  try {
    for (let round = 0; round < runs; round++) {
      for (const node of ctx.nodes) {
        const dir = path.join(tmp, node.version);
        for (const what of ['help', 'iopin'] as const) {
          for (const mode of modes) {
            if (mode === 'first') rmSync(dir, { recursive: true, force: true });
            mkdirSync(dir, { recursive: true });
            const env: Record<string, string> = { TMPDIR: dir };
            if (mode === 'off') env.NODE_DISABLE_COMPILE_CACHE = '1';
            try {
              const ms = await startOnce(what, node.bin, env);
              const k = key(node.version, what, mode);
              times.set(k, [...(times.get(k) ?? []), ms]);
            } catch (err) {
              errors.push(`${node.version} ${what} ${mode}: ${(err as Error).message.split('\n')[0]}`);
            }
          }
        }
      }
    }
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  const cell = (xs: number[] | undefined) =>
    xs?.length ? `${fmtMs(median(xs))} (${fmtMs(Math.min(...xs))}–${fmtMs(Math.max(...xs))})` : '–';
  const rows: string[][] = [];
  for (const node of ctx.nodes) {
    for (const what of ['help', 'iopin'] as const) {
      const [off, first, on] = modes.map((m) => times.get(key(node.version, what, m)));
      s.figures += (off?.length ?? 0) + (on?.length ?? 0);
      const gain = off?.length && on?.length ? `${(median(off) / median(on)).toFixed(2)}×` : '–';
      rows.push([node.version, what === 'help' ? '`sketch --help`' : '`sketch run iopin --no-mdns` → serving', cell(off), cell(first), cell(on), gain]);
      ctx.log(`  ${node.version} ${what}: off ${cell(off)}  first ${cell(first)}  on ${cell(on)}  ${gain}`);
    }
  }
  s.blocks.push(table(['Node.js', 'start', 'cache off', 'first (writes cache)', 'cache on', 'off ÷ on'], rows));
  for (const e of errors) s.notes.push(`error: ${e}`);
  return s;
}

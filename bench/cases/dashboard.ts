/**
 * Case 12: the dashboard page in headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core; never a downloaded browser).
 *
 * (a) Page load to the first plotted history: `sketch run recorder` serving a database that
 *     holds one hour of one stream at 10 Hz (36 000 rows, written beforehand with the
 *     recorder's own RecordStore, then extended live by the recorder as the sketch publishes),
 *     `sketch run dashboard`, one `sketch run thermometer --sensor simulated --interval 0.1`.
 *     Each load is a fresh browser context (empty cache). Timed from just before `page.goto`
 *     (orchestrator's wall clock) to the first draw of a plot holding history (the page's wall
 *     clock in uPlot's `draw` hook: same machine, same CLOCK_REALTIME, 1 ms resolution). The
 *     hook comes from an init script that wraps the global `uPlot` constructor to add a draw
 *     hook, so runtime/dashboard/page/app.js is measured as shipped. The page opens on its
 *     5-min window; then "1 h" is chosen in the window picker and timed to the draw of the hour.
 *     Three ways of feeding the same page: as shipped (the dashboard asks the recorder for
 *     1500 min/max-decimated points), the same answer relayed through Playwright's
 *     `context.route` (the control for the next row: both pay the interception), and the raw
 *     rows: `/api/history` answered through `context.route` with every row of the window,
 *     fetched from the recorder with `raw=1&max_points=100000` and put in the same columnar
 *     shape (the dashboard has no switch to ask the recorder for raw rows).
 * (b) Browser CPU with 20 streams at 10 Hz: 20 simulated thermometers (`sketch run
 *     thermometer --interval 0.1 --name bench-N`), the dashboard, one page showing them all; Chromium's own metrics
 *     (CDP `Performance.getMetrics` `TaskDuration`, thread time) over a measured interval
 *     divided by its wall time, beside the CPU time of every Chromium process (/proc).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, BrowserContext, CDPSession, Page, Route } from 'playwright-core';
import { RecordStore } from '../../dist/runtime/recorder/store.js';
import { launchBrowser, noBrowserReason } from '../../test/helpers/browser.js';
import { procCpuUs } from '../lib/cpu.js';
import { SKETCH_BIN, spawnOn, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtMs, fmtRatio, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';

const TITLE = '12. Dashboard';
/** Rows written before the recorder starts: one hour at 10 Hz. */
const HOUR_ROWS = 36_000;
const RATE_HZ = 10;
const STREAMS = 20;
const SKETCH = 'bench-1';
const STREAM = '/readings';
/** Goals of the issue. */
const LOAD_GOAL_MS = 500;
const CPU_GOAL_PCT = 10;

interface Counts {
  /** Page loads per way of feeding the page. */
  loads: number;
  /** Live updates before the CPU interval starts, ms. */
  warmupMs: number;
  /** The measured CPU interval, ms. */
  intervalMs: number;
}
const FULL: Counts = { loads: 7, warmupMs: 3000, intervalMs: 10_000 };
const QUICK: Counts = { loads: 1, warmupMs: 1000, intervalMs: 3000 };

/** One draw of a uPlot instance, as the init script records it. */
interface Draw {
  /** Date.now() in the page when the draw hook ran, ms. */
  at: number;
  /** Points drawn. */
  points: number;
  /** Time of the first point, s since the epoch. */
  first: number;
}

type Feed = 'shipped' | 'relayed' | 'raw';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function dashboard(ctx: Ctx): Promise<Section> {
  const counts = ctx.quick ? QUICK : FULL;
  const s = section(
    TITLE,
    `The dashboard page (runtime/dashboard/page, unchanged) in headless Chromium (Debian's, through playwright-core). ` +
      `(a) \`sketch run recorder\` holding one hour of one 10 Hz stream (${HOUR_ROWS.toLocaleString('en')} rows written beforehand with the recorder's RecordStore, extended live), \`sketch run dashboard\` and a simulated thermometer publishing at 10 Hz; ` +
      `${counts.loads} loads per row, each in a fresh browser context (empty cache), timed from just before \`page.goto\` to the first draw of a plot holding history (uPlot's \`draw\` hook, added by an init script that wraps the global \`uPlot\`: the page is measured as shipped), then from choosing "1 h" in the window picker to the draw of the hour. ` +
      `The dashboard has no switch to ask the recorder for raw rows, so the raw row feeds the same page through Playwright's \`context.route\`: \`/api/history\` answered with every row of the window from the recorder's \`/history?raw=1&max_points=100000\`, in the same columnar shape; the "relayed" row passes the shipped answer through the same interception, the ratio's peer. ` +
      `(b) ${STREAMS} \`sketch run thermometer --sensor simulated --interval 0.1\` sketches announced over mDNS (\`bench-1\` … \`bench-${STREAMS}\`, on any CPU), each publishing one stream at ${RATE_HZ} Hz, and one page plotting all of them: Chromium's own \`Performance.getMetrics\` \`TaskDuration\` (the page's main thread, thread time) over ${counts.intervalMs / 1000} s ÷ the interval, beside the CPU time of every Chromium process (/proc).`,
  );
  const skip = noBrowserReason();
  if (skip) {
    s.notes.push(`skipped: ${skip}`);
    ctx.log(`  skipped: ${skip}`);
    return s;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketchnet-bench-dashboard-'));
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    s.intro = s.intro.replace('headless Chromium', `headless Chromium ${browser.version()}`);
    try {
      await pageLoad(ctx, s, browser, dir, counts);
    } catch (err) {
      s.notes.push(`page load: error: ${(err as Error).message.split('\n')[0]}`);
      ctx.log(`  page load: error: ${(err as Error).stack ?? String(err)}`);
    } finally {
      await stopAll();
    }
    try {
      await browserCpu(ctx, s, browser, counts);
    } catch (err) {
      s.notes.push(`browser CPU: error: ${(err as Error).message.split('\n')[0]}`);
      ctx.log(`  browser CPU: error: ${(err as Error).stack ?? String(err)}`);
    }
  } finally {
    await browser?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  return s;
}

// ---- (a) page load -----------------------------------------------------------------------

async function pageLoad(ctx: Ctx, s: Section, browser: Browser, dir: string, counts: Counts): Promise<void> {
  const t0 = performance.now();
  const db = path.join(dir, 'hour.db');
  // One hour of 10 Hz readings ending now; the sketch goes on live from here.
  const prefillMs = prefill(db, Date.now() / 1000);
  ctx.log(`  wrote ${HOUR_ROWS} rows in ${fmtMs(prefillMs)}`);
  const sketch = thermometer(ctx, SKETCH);
  const recorder = cli(ctx, 'recorder', ['run', 'recorder', '--db', db, '--port', '0']);
  const dash = cli(ctx, 'dashboard', ['run', 'dashboard', '--port', '0']);
  await sketch.line(/announced as/, 20_000);
  const recorderPort = await servingPort(recorder);
  const port = await servingPort(dash);
  const base = `http://127.0.0.1:${port}`;
  const recorderBase = `http://127.0.0.1:${recorderPort}`;
  await listed(base, [SKETCH], true);
  ctx.log(`  set up in ${fmtMs(performance.now() - t0)}`);
  const rows = { 300: await rowsIn(recorderBase, 300), 3600: await rowsIn(recorderBase, 3600) };
  ctx.log(`  rows in the recorder's window: 5 min ${rows[300]}, 1 h ${rows[3600]}`);

  const feeds: Array<[Feed, string]> = [
    ['shipped', 'recorder, decimated (as shipped)'],
    ['relayed', 'recorder, decimated, relayed by `context.route`'],
    ['raw', 'raw rows, through `context.route`'],
  ];
  const results = new Map<Feed, { load: number[]; hour: number[]; points: { load: number; hour: number } }>();
  // One warm-up load (the dashboard's first /api/history, Chromium's first page), not counted.
  await oneLoad(browser, base, recorderBase, 'shipped');
  for (const [feed] of feeds) results.set(feed, { load: [], hour: [], points: { load: 0, hour: 0 } });
  for (let i = 0; i < counts.loads; i++) {
    // Interleaved, so that a slow moment of the machine does not fall on one row only.
    for (const [feed] of feeds) {
      const r = await oneLoad(browser, base, recorderBase, feed);
      const acc = results.get(feed)!;
      acc.load.push(r.loadMs);
      acc.hour.push(r.hourMs);
      acc.points = { load: r.loadPoints, hour: r.hourPoints };
    }
  }
  const load = (f: Feed) => summarize(results.get(f)!.load);
  const hour = (f: Feed) => summarize(results.get(f)!.hour);
  const tableRows: string[][] = [];
  for (const [feed, label] of feeds) {
    const acc = results.get(feed)!;
    const l = load(feed);
    const h = hour(feed);
    const vs = (x: (f: Feed) => Summary) => (feed === 'raw' ? fmtRatio(x('raw').median / x('relayed').median) : '');
    const lMet = feed === 'shipped' ? judge(l.median, '≤', LOAD_GOAL_MS) : undefined;
    const hMet = feed === 'shipped' ? judge(h.median, '≤', LOAD_GOAL_MS) : undefined;
    tableRows.push([
      label,
      `${rows[300]} → ${acc.points.load}`,
      `**${fmtSpread(l)}**`,
      vs(load),
      `${rows[3600]} → ${acc.points.hour}`,
      `**${fmtSpread(h)}**`,
      vs(hour),
      feed === 'shipped' ? `${goalCell(`≤ ${LOAD_GOAL_MS} ms`, lMet)}; 1 h ${goalCell(`≤ ${LOAD_GOAL_MS} ms`, hMet)}` : '',
    ]);
    s.figures += 2;
    ctx.log(`  ${feed}: load ${fmtSpread(l)} (${acc.points.load} points), 1 h ${fmtSpread(h)} (${acc.points.hour} points)`);
  }
  s.goals.push({ goal: `page load → first plotted history (recorder, decimated) ≤ ${LOAD_GOAL_MS} ms`, figure: fmtMs(load('shipped').median), met: judge(load('shipped').median, '≤', LOAD_GOAL_MS) });
  s.goals.push({ goal: `"1 h" chosen → the hour plotted (${HOUR_ROWS.toLocaleString('en')} rows, decimated) ≤ ${LOAD_GOAL_MS} ms`, figure: fmtMs(hour('shipped').median), met: judge(hour('shipped').median, '≤', LOAD_GOAL_MS) });
  s.blocks.push(
    table(
      ['history fed to the page', '5 min: rows → points', 'page load → first history drawn', 'raw ÷ relayed', '1 h: rows → points', '"1 h" chosen → hour drawn', 'raw ÷ relayed', 'goal'],
      tableRows,
    ),
  );
  s.notes.push(
    `Median (min–max) of ${counts.loads} loads per row, rows interleaved, after one unmeasured load. "rows → points": rows in the recorder's window → points in the first draw holding them (the page keeps at most 20 000 points per plot, so it trims the raw hour at its next frame).`,
  );
}

/** Writes one hour of 10 Hz readings of `SKETCH`'s `STREAM`, ending at `now` (s), with the recorder's own store; returns ms taken. */
function prefill(file: string, now: number): number {
  const t0 = performance.now();
  const store = new RecordStore({ file });
  let celsius = 21;
  for (let i = 0; i < HOUR_ROWS; i++) {
    const time = now - (HOUR_ROWS - i) / RATE_HZ;
    celsius += (Math.sin(i / 600) + Math.random() - 0.5) / 20;
    // The shape of `sketch run thermometer`'s readings.
    const data = JSON.stringify({ time, temperature: Math.round(celsius * 100) / 100, unit: '°C', sensor: 'simulated' });
    store.add({ sketch: SKETCH, kind: 'thermometer', stream: STREAM, epoch: 'bench-hour', seq: i + 1, time, published: time, received: time, data });
  }
  store.close();
  return performance.now() - t0;
}

/** Items the recorder holds in the last `window` s of the stream. */
async function rowsIn(recorder: string, window: number): Promise<number> {
  const now = Date.now() / 1000;
  const h = await getJson<{ count: number }>(`${recorder}/history?sketch=${SKETCH}&stream=${encodeURIComponent(STREAM)}&since=${now - window}&until=${now + 60}&max_points=1`);
  return h.count;
}

/**
 * Installed before the page's own scripts: wraps `uPlot` so that every instance records its
 * draws in `window.__benchDraws` ({@link Draw}). A string, not a function: tsx's transform
 * would add helpers to a function that do not exist in the page.
 */
const DRAW_HOOK = `(() => {
  const draws = (window.__benchDraws = []);
  let wrapped;
  Object.defineProperty(window, 'uPlot', {
    configurable: true,
    get: () => wrapped,
    set(real) {
      function Wrapped(opts, data, target) {
        const hooks = (opts.hooks = opts.hooks || {});
        (hooks.draw = hooks.draw || []).push((u) => {
          const xs = u.data[0] || [];
          if (xs.length) draws.push({ at: Date.now(), points: xs.length, first: xs[0] });
        });
        return new real(opts, data, target);
      }
      Object.setPrototypeOf(Wrapped, real);
      Wrapped.prototype = real.prototype;
      wrapped = Wrapped;
    },
  });
})();`;

/** One load in a fresh context: ms to the first history drawn (5-min window), then ms from choosing "1 h" to the hour drawn. */
async function oneLoad(
  browser: Browser,
  base: string,
  recorder: string,
  feed: Feed,
): Promise<{ loadMs: number; hourMs: number; loadPoints: number; hourPoints: number }> {
  const context = await browser.newContext();
  try {
    await context.addInitScript(DRAW_HOOK);
    if (feed !== 'shipped') await context.route((url) => url.pathname === '/api/history', (route) => answerHistory(route, base, recorder, feed));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const t0 = Date.now();
    await page.goto(`${base}/`, { waitUntil: 'commit' });
    const first = await drawWhere(page, 0, 0, errors);
    // The hour: a draw whose first point is more than 10 min old.
    const before = await page.evaluate(() => {
      const t = Date.now();
      const select = document.getElementById('window') as HTMLSelectElement;
      select.value = '3600';
      select.dispatchEvent(new Event('change'));
      return t;
    });
    const hour = await drawWhere(page, before, Date.now() / 1000 - 600, errors);
    return { loadMs: first.at - t0, hourMs: hour.at - before, loadPoints: first.points, hourPoints: hour.points };
  } finally {
    await context.close();
  }
}

/** The first recorded draw at or after `after` (ms) whose first point is before `olderThan` (s; 0: any). */
async function drawWhere(page: Page, after: number, olderThan: number, errors: string[]): Promise<Draw> {
  const handle = await page
    .waitForFunction(
      ([a, o]) => (window as unknown as { __benchDraws: Draw[] }).__benchDraws.find((d) => d.at >= a && (o === 0 || d.first < o)),
      [after, olderThan] as const,
      { timeout: 20_000, polling: 20 },
    )
    .catch((err: Error) => {
      throw new Error(`no plot drew its history${errors.length ? ` (page error: ${errors[0]})` : ''}: ${err.message.split('\n')[0]}`);
    });
  return (await handle.jsonValue()) as Draw;
}

/** `/api/history` through `context.route`: the dashboard's own answer relayed, or every raw row of the window from the recorder. */
async function answerHistory(route: Route, base: string, recorder: string, feed: Feed): Promise<void> {
  const url = new URL(route.request().url());
  let body: string;
  if (feed === 'relayed') {
    body = await (await fetch(`${base}${url.pathname}${url.search}`)).text();
  } else {
    const window = Number(url.searchParams.get('window'));
    const sketch = url.searchParams.get('sketch')!;
    const stream = url.searchParams.get('stream')!;
    const now = Date.now() / 1000;
    const h = await getJson<{ rows: Array<{ epoch: string; seq: number; time: number; data: unknown }> }>(
      `${recorder}/history?sketch=${encodeURIComponent(sketch)}&stream=${encodeURIComponent(stream)}&since=${now - window}&until=${now + 60}&max_points=100000&raw=1`,
    );
    body = JSON.stringify(rawToPlot(sketch, stream, window, h.rows));
  }
  await route.fulfill({ status: 200, contentType: 'application/json', body });
}

/** Raw recorder rows in the shape of the dashboard's `PlotHistory`: a column per numeric field of the data (`time` is the x axis). */
function rawToPlot(sketch: string, stream: string, window: number, rows: Array<{ epoch: string; seq: number; time: number; data: unknown }>): unknown {
  const fields: string[] = [];
  const values: Record<string, (number | null)[]> = {};
  rows.forEach((r, i) => {
    if (!r.data || typeof r.data !== 'object') return;
    for (const [k, v] of Object.entries(r.data as Record<string, unknown>)) {
      if (k === 'time' || typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (!values[k]) {
        fields.push(k);
        values[k] = new Array<number | null>(rows.length).fill(null);
      }
      values[k]![i] = v;
    }
  });
  const end = rows.at(-1);
  return {
    sketch,
    stream,
    source: 'recorder',
    recorder: 'raw',
    window,
    fields,
    units: {},
    time: rows.map((r) => r.time),
    values,
    last: end ? { epoch: end.epoch, seq: end.seq, time: end.time } : null,
  };
}

// ---- (b) browser CPU ---------------------------------------------------------------------

async function browserCpu(ctx: Ctx, s: Section, browser: Browser, counts: Counts): Promise<void> {
  const names = Array.from({ length: STREAMS }, (_, i) => `bench-${i + 1}`);
  const started = performance.now();
  const sketches: Child[] = names.map((name) => thermometer(ctx, name));
  try {
    await Promise.all(sketches.map((c) => c.line(/announced as/, 60_000)));
    ctx.log(`  ${STREAMS} sketches ready in ${fmtMs(performance.now() - started)}`);
    const dash = cli(ctx, 'dashboard', ['run', 'dashboard', '--port', '0', '--name', 'dashboard-cpu']);
    const base = `http://127.0.0.1:${await servingPort(dash)}`;
    await listed(base, names, false);
    ctx.log(`  ${STREAMS} sketches and the dashboard set up in ${fmtMs(performance.now() - started)}`);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${base}/`);
      // Every plot loaded its history and is live.
      await page
        .waitForFunction((n) => {
          const plots = (window as unknown as { sketchnetDashboard: { plots(): Array<{ loaded: boolean; points: number }> } }).sketchnetDashboard.plots();
          return plots.length >= n && plots.every((p) => p.loaded && p.points > 0);
        }, STREAMS, { timeout: 20_000, polling: 100 })
        .catch((err: Error) => {
          throw new Error(`the page never showed ${STREAMS} live plots${errors.length ? ` (page error: ${errors[0]})` : ''}: ${err.message.split('\n')[0]}`);
        });
      await sleep(counts.warmupMs);
      const { domain, metrics } = await pageMetrics(context, page);
      const seqs = () => page.evaluate(() => (window as unknown as { sketchnetDashboard: { plots(): Array<{ last: { seq: number } | null }> } }).sketchnetDashboard.plots().map((p) => p.last?.seq ?? 0));
      const pids = chromiumPids();
      const cpu0 = pids.reduce((sum, pid) => sum + safeCpu(pid), 0);
      const seq0 = await seqs();
      const m0 = await metrics();
      const t0 = performance.now();
      await sleep(counts.intervalMs);
      const m1 = await metrics();
      const wallMs = performance.now() - t0;
      const seq1 = await seqs();
      const cpu1 = pids.reduce((sum, pid) => sum + safeCpu(pid), 0);
      const pct = (key: string) => ((m1[key]! - m0[key]!) * 1000 * 100) / wallMs;
      const task = pct('TaskDuration');
      const script = pct('ScriptDuration');
      const layout = pct('LayoutDuration') + pct('RecalcStyleDuration');
      const other = task - script - layout;
      const all = (cpu1 - cpu0) / 10 / wallMs;
      const points = seq1.reduce((sum, v, i) => sum + (v - (seq0[i] ?? 0)), 0) / (wallMs / 1000);
      const met = judge(task, '≤', CPU_GOAL_PCT);
      s.goals.push({ goal: `browser CPU, ${STREAMS} streams at ${RATE_HZ} Hz: < ${CPU_GOAL_PCT} % of one core (TaskDuration)`, figure: `${task.toFixed(1)} %`, met });
      s.figures++;
      s.blocks.push(
        table(
          ['page', 'points plotted/s', 'page main thread (TaskDuration)', 'of which script', 'style + layout', 'other tasks', `all ${pids.length} Chromium processes (/proc)`, 'goal'],
          [[`${STREAMS} streams × ${RATE_HZ} Hz, ${seq1.length} plots`, points.toFixed(0), `**${task.toFixed(1)} %**`, `${script.toFixed(1)} %`, `${layout.toFixed(1)} %`, `${other.toFixed(1)} %`, `${all.toFixed(1)} %`, goalCell(`< ${CPU_GOAL_PCT} %`, met)]],
        ),
      );
      s.notes.push(
        `CPU as % of one core over ${(wallMs / 1000).toFixed(1)} s, after ${counts.warmupMs / 1000} s of live updates; \`Performance.enable\` time domain \`${domain}\`${domain === 'threadTicks' ? ' (thread CPU time, not wall time)' : ''}. "Other tasks": TaskDuration less script, style and layout (paint and commit of each animation frame, garbage collection, message dispatch). The /proc column adds the browser, GPU, network and renderer processes (their compositor and raster threads too). "points plotted/s": seqs the plots advanced by, per second (${STREAMS * RATE_HZ} expected). The page draws a plot's live points no more often than its window moves by one pixel (100 ms–1 s; every 500 ms for the 5-minute window here) and does not redraw plots scrolled out of view (Playwright's default 1280×720 viewport shows a few of the 20); measured with every plot redrawn each animation frame, this row was 32.5 %, and 10.3 % with the pixel rule alone.`,
      );
      ctx.log(`  ${seq1.length} plots, ${points.toFixed(0)} points/s: TaskDuration ${task.toFixed(1)} % (script ${script.toFixed(1)} %), all Chromium ${all.toFixed(1)} %`);
      if (errors.length) s.notes.push(`page errors: ${errors.slice(0, 3).join('; ')}`);
    } finally {
      await context.close();
    }
  } finally {
    await stopAll();
  }
}

/** Pids of this process's descendants (Chromium and its children: the sketches and dashboard are stopped by then or not Chromium). */
export function chromiumPids(): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      comm.set(Number(d), stat.slice(stat.indexOf('(') + 1, close));
      parent.set(Number(d), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && hops < 20; p = parent.get(p), hops++) if (p === process.pid) return true;
    return false;
  };
  return [...comm].filter(([pid, name]) => /chrom/i.test(name) && isOurs(pid)).map(([pid]) => pid);
}

export function safeCpu(pid: number): number {
  try {
    return procCpuUs(pid);
  } catch {
    return 0;
  }
}

// ---- helpers -----------------------------------------------------------------------------

/** `node dist/bin/sketch.cjs ARGS` on the server side (`pin`: false to let it run on any CPU). */
function cli(ctx: Ctx, name: string, args: string[], pin = true): Child {
  return spawnOn({ ...ctx, pin: ctx.pin && pin }, 'server', name, process.execPath, [SKETCH_BIN, ...args]);
}

/**
 * `sketch run thermometer` with its simulated sensor, one reading every 1/RATE_HZ s on
 * `/readings`, announced as `name`, on any CPU (twenty of them start in half the time on two
 * cores; at 10 Hz each needs little). The real CLI rather than `servers/sketch.ts`: twenty
 * `node --import tsx` processes took 28 s to start on one core, the compiled CLI 8 s.
 */
function thermometer(ctx: Ctx, name: string): Child {
  return cli(ctx, name, ['run', 'thermometer', '--sensor', 'simulated', '--interval', String(1 / RATE_HZ), '--name', name, '--port', '0'], false);
}

async function servingPort(c: Child): Promise<number> {
  const { line } = await c.line(/serving on [^:]+:\d+/, 20_000);
  return Number(/serving on [^:]+:(\d+)/.exec(line)![1]);
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${(await res.text()).trim()}`);
  return (await res.json()) as T;
}

/** Waits until the dashboard lists every sketch of `names` up (and a recorder when `recorder`). */
async function listed(base: string, names: string[], recorder: boolean): Promise<void> {
  const t0 = performance.now();
  let seen = 0;
  while (performance.now() - t0 < 30_000) {
    const o = await getJson<{ sketches: Array<{ name: string; up: boolean; streams: unknown[] }>; recorder: string | null }>(`${base}/api/sketches`);
    const up = new Set(o.sketches.filter((c) => c.up && c.streams.length > 0).map((c) => c.name));
    seen = names.filter((n) => up.has(n)).length;
    if (seen === names.length && (!recorder || o.recorder)) return;
    await sleep(100);
  }
  throw new Error(`the dashboard listed ${seen} of ${names.length} sketches${recorder ? ' (and a recorder)' : ''} within 30 s`);
}

function fmtSpread(x: Summary): string {
  return x.n > 1 ? `${fmtMs(x.median)} (${fmtMs(x.min)}–${fmtMs(x.max)})` : fmtMs(x.median);
}

/**
 * The page's CDP performance metrics (TaskDuration, ScriptDuration… in s), read on the page's
 * thread CPU clock where Chromium offers it (`domain` says which: threadTicks, else timeTicks).
 */
export async function pageMetrics(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; domain: string; metrics: () => Promise<Record<string, number>> }> {
  const cdp = await context.newCDPSession(page);
  let domain = 'threadTicks';
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' }).catch(async () => {
    domain = 'timeTicks';
    await cdp.send('Performance.enable');
  });
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value])) as Record<string, number>;
  return { cdp, domain, metrics };
}

/**
 * Case 19: the dashboard's circuit with a network of 50 sketches and 100 links at 20 msg/s
 * each, in headless Chromium (Debian's, through playwright-core).
 *
 * The network: bench/servers/links-host.ts, two processes of 25 reactive sketches each (real
 * servers on 127.0.0.1, announced over mDNS, traced as by default); sketch i sends to sketches
 * i+1 and i+7 (by name, through `stream()`) 20 times a second each. Then `sketch run dashboard
 * --poll 2`, and, once it lists every sketch with both its links:
 *
 * (a) page load → circuit drawn: each load a fresh browser context; from navigation start to
 *     the page's `sketchnetDashboard.drawnAt` (performance.now() when the circuit was first
 *     drawn), and to the moment the circuit's SVG held every node and edge (`#circuit
 *     [data-node]`, `[data-edge]`: an init script's MutationObserver), which is the figure
 *     judged (the first drawing may hold only part of the network).
 * (b) the browser's CPU with the circuit live (edges labelled and pulsing) for 20 s: the CPU
 *     time of every Chromium process (/proc: browser, GPU, network, renderer) ÷ the interval,
 *     beside Chromium's own `Performance.getMetrics` `TaskDuration` (the page's main thread).
 *
 * A page without the circuit view (no `#circuit`) is reported as such, not as a failure.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, noBrowserReason } from '../../test/helpers/browser.js';
import { chromiumPids, pageMetrics, safeCpu } from './dashboard.js';
import { BENCH, ROOT, SKETCH_BIN, spawnOn, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtMs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { summarize, type Summary } from '../lib/stats.js';

const TITLE = '19. Dashboard circuit: 50 sketches, 100 links';
const LOAD_GOAL_MS = 500;
const CPU_GOAL_PCT = 10;
const HZ = 20;
const OFFSETS = [1, 7];
const PREFIX = 'link';

interface Counts {
  sketches: number;
  /** Host processes the sketches are spread over. */
  hosts: number;
  loads: number;
  /** Live circuit before the CPU interval, ms. */
  warmupMs: number;
  intervalMs: number;
}
const FULL: Counts = { sketches: 50, hosts: 2, loads: 7, warmupMs: 3000, intervalMs: 20_000 };
const QUICK: Counts = { sketches: 50, hosts: 2, loads: 1, warmupMs: 1000, intervalMs: 3000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Installed before the page's scripts: `window.__benchCircuit` gets performance.now() when the circuit first holds `nodes` nodes and `edges` edges. */
const observer = (nodes: number, edges: number) => `(() => {
  const want = { nodes: ${nodes}, edges: ${edges} };
  const seen = (window.__benchCircuit = { full: null, firstNode: null, layouts: [] });
  // dagre.layout timed: the global is wrapped as the page's <script> sets it.
  let real;
  Object.defineProperty(window, 'dagre', {
    configurable: true,
    get: () => real,
    set(d) {
      // (its members are getters: the page gets a copy with layout wrapped)
      const layout = d.layout;
      real = Object.assign({}, d, {
        layout(...args) {
          const t = performance.now();
          try {
            return layout.apply(d, args);
          } finally {
            seen.layouts.push({ at: t, ms: performance.now() - t });
          }
        },
      });
    },
  });
  const check = () => {
    const box = document.getElementById('circuit');
    if (!box) return false;
    const n = box.querySelectorAll('[data-node]').length;
    if (n > 0 && seen.firstNode === null) seen.firstNode = performance.now();
    if (n >= want.nodes && box.querySelectorAll('[data-edge]').length >= want.edges) {
      seen.full = performance.now();
      return true;
    }
    return false;
  };
  const start = () => {
    const mo = new MutationObserver(() => check() && mo.disconnect());
    mo.observe(document.documentElement, { childList: true, subtree: true });
  };
  if (document.documentElement) start();
  else document.addEventListener('readystatechange', start, { once: true });
})();`;

interface LoadResult {
  /** performance.now() of the page when the circuit was first drawn (`sketchnetDashboard.drawnAt`). */
  drawnAt: number | null;
  /** performance.now() when the SVG held every node and edge. */
  full: number | null;
  nodes: number;
  edges: number;
  /** Where the time went (page ms): DOMContentLoaded, the first `/api/sketches` answered, and the dagre layout that drew the full circuit (start, ms). */
  dcl: number;
  api: number | null;
  layout: { at: number; ms: number } | null;
}

export async function circuit(ctx: Ctx): Promise<Section> {
  const counts = ctx.quick ? QUICK : FULL;
  const links = counts.sketches * OFFSETS.length;
  const s = section(
    TITLE,
    `The dashboard's circuit view in headless Chromium (Debian's, through playwright-core) with ${counts.sketches} sketches and ${links} links: ${counts.hosts} process(es) of reactive sketches (bench/servers/links-host.ts: real servers on 127.0.0.1, announced over mDNS, traced as by default), sketch i sending to sketches i+${OFFSETS.join(' and i+')} by name through \`stream()\`, ${HZ} msg/s per link (${links * HZ} msg/s in all), and \`sketch run dashboard --poll 2\`. ` +
      `(a) Page load → circuit drawn: ${counts.loads} loads, each in a fresh browser context after one unmeasured load, from navigation start to the page's \`sketchnetDashboard.drawnAt\` and to the moment the circuit's SVG held all ${counts.sketches} nodes and ${links} edges (a MutationObserver from an init script). ` +
      `(b) Browser CPU with the circuit live for ${counts.intervalMs / 1000} s: every Chromium process's CPU time (/proc) ÷ the interval, beside the page's main thread (CDP \`Performance.getMetrics\` \`TaskDuration\`).`,
  );
  const skip = noBrowserReason();
  if (skip) {
    s.notes.push(`skipped: ${skip}`);
    ctx.log(`  skipped: ${skip}`);
    return s;
  }
  let browser: Browser | undefined;
  try {
    const t0 = performance.now();
    const hosts = startNetwork(ctx, counts);
    const ready = await Promise.all(hosts.map((h) => h.report<{ names: string[] }>('ready', 60_000)));
    const names = ready.flatMap((r) => r.names);
    ctx.log(`  ${names.length} sketches announced in ${fmtMs(performance.now() - t0)}`);
    for (const h of hosts) h.send('go');
    await Promise.all(hosts.map((h) => h.report('going', 10_000)));
    const dash = spawnOn(ctx, 'server', 'dashboard-circuit', process.execPath, [SKETCH_BIN, 'run', 'dashboard', '--port', '0', '--poll', '2', '--name', 'dashboard-circuit'], { cwd: ROOT });
    const { line } = await dash.line(/serving on [^:]+:\d+/, 20_000);
    const base = `http://127.0.0.1:${/serving on [^:]+:(\d+)/.exec(line)![1]}`;
    await linked(base, names, OFFSETS.length);
    ctx.log(`  the dashboard lists ${names.length} sketches with ${links} links after ${fmtMs(performance.now() - t0)}`);
    browser = await launchBrowser();
    s.intro = s.intro.replace('headless Chromium', `headless Chromium ${browser.version()}`);

    // (a) page load → circuit drawn
    const first = await oneLoad(browser, base, counts.sketches, links);
    if (first === 'no circuit') {
      s.notes.push('page has no circuit view yet (no `#circuit` in runtime/dashboard/page): nothing measured.');
      ctx.log('  page has no circuit view yet');
      return s;
    }
    const loads: LoadResult[] = [];
    for (let i = 0; i < counts.loads; i++) {
      const r = await oneLoad(browser, base, counts.sketches, links);
      if (r !== 'no circuit') loads.push(r);
    }
    const full = summarize(loads.flatMap((r) => (r.full === null ? [] : [r.full])));
    const drawn = summarize(loads.flatMap((r) => (r.drawnAt === null ? [] : [r.drawnAt])));
    const incomplete = loads.filter((r) => r.full === null).length;
    const loadMet = incomplete ? false : judge(full.median, '≤', LOAD_GOAL_MS);
    s.goals.push({ goal: `page load → circuit of ${counts.sketches} sketches and ${links} links drawn ≤ ${LOAD_GOAL_MS} ms`, figure: incomplete ? `${incomplete} of ${loads.length} loads never drew it` : fmtMs(full.median), met: loadMet });
    if (full.n) s.figures++;
    ctx.log(`  circuit drawn: drawnAt ${fmtSpread(drawn)}, all nodes and edges ${fmtSpread(full)}${incomplete ? ` (${incomplete} incomplete)` : ''}`);

    // (b) browser CPU with the circuit live
    const cpu = await browserCpu(browser, base, counts);
    const cpuMet = Number.isFinite(cpu.all) ? cpu.all < CPU_GOAL_PCT : undefined;
    s.goals.push({ goal: `browser CPU, circuit of ${counts.sketches} sketches and ${links} links at ${HZ} msg/s each: < ${CPU_GOAL_PCT} % of one core (all Chromium processes)`, figure: `${cpu.all.toFixed(1)} %`, met: cpuMet });
    s.figures++;
    const sent = await hostCounts(hosts);
    s.blocks.push(
      table(
        ['network', 'page load → first drawn (`drawnAt`)', `page load → all ${counts.sketches} nodes and ${links} edges`, 'goal', 'edges pulsing', 'all Chromium processes (/proc)', 'page main thread (TaskDuration)', 'of which script', 'style + layout', 'goal', 'circuit panel hidden: all / main thread'],
        [
          [
            `${counts.sketches} sketches, ${links} links × ${HZ} msg/s`,
            fmtSpread(drawn),
            `**${incomplete ? `${incomplete} of ${loads.length} never` : fmtSpread(full)}**`,
            goalCell(`≤ ${LOAD_GOAL_MS} ms`, loadMet),
            `${cpu.pulsing} of ${cpu.edges}`,
            `**${cpu.all.toFixed(1)} %**`,
            `${cpu.task.toFixed(1)} %`,
            `${cpu.script.toFixed(1)} %`,
            `${cpu.style.toFixed(1)} %`,
            goalCell(`< ${CPU_GOAL_PCT} %`, cpuMet),
            cpu.hidden ? `${cpu.hidden.all.toFixed(1)} % / ${cpu.hidden.task.toFixed(1)} %` : '–',
          ],
        ],
      ),
    );
    s.notes.push(
      `Load times: median (min–max) of ${loads.length} loads, ms from navigation start (the page's performance.now()). CPU: % of one core over ${(cpu.wallMs / 1000).toFixed(1)} s after ${counts.warmupMs / 1000} s of the live circuit, ${cpu.pids} Chromium processes; \`Performance.enable\` time domain \`${cpu.domain}\`. The network acknowledged ${sent.rate.toFixed(0)} msg/s during the interval (${links * HZ} asked; ${sent.errors} errors, ${sent.skipped} sends skipped for ${'>'} 100 in flight on a link since the start). Edge labels as drawn, e.g. "${cpu.label}".`,
    );
    const med = (xs: number[]) => (xs.length ? fmtMs(summarize(xs).median) : '–');
    s.notes.push(
      `Page load, medians: DOMContentLoaded ${med(loads.map((r) => r.dcl).filter(Number.isFinite))}; first \`/api/sketches\` answered ${med(loads.flatMap((r) => (r.api === null ? [] : [r.api])))}; the dagre layout that drew the whole circuit started at ${med(loads.flatMap((r) => (r.layout ? [r.layout.at] : [])))} and took ${med(loads.flatMap((r) => (r.layout ? [r.layout.ms] : [])))}.`,
    );
    if (cpu.hidden) s.notes.push(`"circuit panel hidden": the same page, the circuit's panel set to \`display: none\` from the page for the last ${Math.min(10, counts.intervalMs / 1000)} s (its pulses stop while it is not visible; nothing of it is styled, laid out or painted): the control for what drawing the circuit costs.`);
    if (cpu.hot.length) s.notes.push(`Script self time in the page over ${Math.min(5, counts.intervalMs / 1000)} s (CDP Profiler, after the measured interval): ${cpu.hot.join('; ')}.`);
    if (cpu.errors.length) s.notes.push(`page errors: ${cpu.errors.slice(0, 3).join('; ')}`);
    ctx.log(`  browser CPU: all Chromium ${cpu.all.toFixed(1)} %, TaskDuration ${cpu.task.toFixed(1)} % (script ${cpu.script.toFixed(1)} %, style + layout ${cpu.style.toFixed(1)} %); ${cpu.pulsing}/${cpu.edges} edges pulsing; circuit hidden: ${cpu.hidden ? `${cpu.hidden.all.toFixed(1)} % / ${cpu.hidden.task.toFixed(1)} %` : '–'}; network ${sent.rate.toFixed(0)} msg/s`);
    ctx.log(`  page load: DCL ${med(loads.map((r) => r.dcl))}, /api/sketches ${med(loads.flatMap((r) => (r.api === null ? [] : [r.api])))}, layout at ${med(loads.flatMap((r) => (r.layout ? [r.layout.at] : [])))} for ${med(loads.flatMap((r) => (r.layout ? [r.layout.ms] : [])))}; hot: ${cpu.hot.join('; ')}`);
  } finally {
    await browser?.close().catch(() => {});
    await stopAll();
  }
  return s;
}

/** The sketches, spread over `counts.hosts` processes (server side). */
function startNetwork(ctx: Ctx, counts: Counts): Child[] {
  const per = Math.ceil(counts.sketches / counts.hosts);
  const hosts: Child[] = [];
  for (let from = 0, h = 0; from < counts.sketches; from += per, h++) {
    const args = ['--prefix', PREFIX, '--from', String(from), '--count', String(Math.min(per, counts.sketches - from)), '--total', String(counts.sketches), '--offsets', OFFSETS.join(','), '--hz', String(HZ)];
    hosts.push(spawnOn(ctx, 'server', `links-host-${h}`, process.execPath, ['--import', 'tsx', path.join(BENCH, 'servers', 'links-host.ts'), ...args], { cwd: ROOT }));
  }
  return hosts;
}

/** Messages acknowledged per second over the next 2 s, and the errors and skips so far. */
async function hostCounts(hosts: Child[]): Promise<{ rate: number; errors: number; skipped: number }> {
  const read = () =>
    Promise.all(
      hosts.map((h) => {
        const r = h.report<{ acked: number; errors: number; skipped: number }>('counts', 5000);
        h.send('counts');
        return r;
      }),
    );
  const a = await read();
  const t0 = performance.now();
  await sleep(2000);
  const b = await read();
  const sum = (xs: typeof a, k: 'acked' | 'errors' | 'skipped') => xs.reduce((s, x) => s + x[k], 0);
  return { rate: ((sum(b, 'acked') - sum(a, 'acked')) * 1000) / (performance.now() - t0), errors: sum(b, 'errors'), skipped: sum(b, 'skipped') };
}

/** Waits until the dashboard lists every one of `names` up, each with `out` outgoing links that have sent. */
async function linked(base: string, names: string[], out: number): Promise<void> {
  const t0 = performance.now();
  let ok = 0;
  while (performance.now() - t0 < 60_000) {
    try {
      const res = await fetch(`${base}/api/sketches`);
      const o = (await res.json()) as { sketches: Array<{ name: string; up: boolean; links?: { out: Array<{ sent: number }> } }> };
      const good = new Set(o.sketches.filter((c) => c.up && (c.links?.out.filter((l) => l.sent > 0).length ?? 0) >= out).map((c) => c.name));
      ok = names.filter((n) => good.has(n)).length;
      if (ok === names.length) return;
    } catch {
      // not answering yet
    }
    await sleep(200);
  }
  throw new Error(`the dashboard listed ${ok} of ${names.length} sketches with ${out} sending links within 60 s`);
}

/** One load in a fresh context: when the circuit was first drawn and when it held every node and edge (page ms); 'no circuit' when the page has none. */
async function oneLoad(browser: Browser, base: string, nodes: number, edges: number): Promise<LoadResult | 'no circuit'> {
  const context = await browser.newContext();
  try {
    await context.addInitScript(observer(nodes, edges));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
    if (!(await page.evaluate(() => !!document.getElementById('circuit')))) return 'no circuit';
    await page
      .waitForFunction(() => (window as unknown as { __benchCircuit: { full: number | null } }).__benchCircuit.full !== null, undefined, { timeout: 15_000, polling: 50 })
      .catch(() => {});
    return await page.evaluate(() => {
      const w = window as unknown as { __benchCircuit: { full: number | null; layouts: Array<{ at: number; ms: number }> }; sketchnetDashboard?: { drawnAt?: number | null } };
      const box = document.getElementById('circuit')!;
      // (no named function in here: tsx would wrap it in a helper the page does not have)
      const perf = performance as unknown as { getEntriesByType(t: string): Array<{ name: string; responseEnd: number; domContentLoadedEventEnd?: number }> };
      const nav = perf.getEntriesByType('navigation')[0];
      const api = perf.getEntriesByType('resource').find((e) => e.name.includes('/api/sketches'));
      const full = w.__benchCircuit.full;
      const layouts = w.__benchCircuit.layouts.filter((l) => full === null || l.at <= full);
      return {
        drawnAt: w.sketchnetDashboard?.drawnAt ?? null,
        full,
        nodes: box.querySelectorAll('[data-node]').length,
        edges: box.querySelectorAll('[data-edge]').length,
        dcl: nav?.domContentLoadedEventEnd ?? NaN,
        api: api ? api.responseEnd : null,
        layout: layouts.at(-1) ?? null,
      };
    });
  } finally {
    await context.close();
  }
}

interface CpuResult {
  all: number;
  task: number;
  script: number;
  /** Style recalculation + layout, % of one core. */
  style: number;
  /** The same page with the circuit panel hidden (`display: none`) for `controlMs`: all Chromium, main thread. */
  hidden: { all: number; task: number } | null;
  /** Script self time over a few seconds of the live circuit (CDP Profiler), the top functions. */
  hot: string[];
  wallMs: number;
  pids: number;
  domain: string;
  edges: number;
  pulsing: number;
  label: string;
  errors: string[];
}

async function browserCpu(browser: Browser, base: string, counts: Counts): Promise<CpuResult> {
  const context = await browser.newContext();
  try {
    const page: Page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/`);
    await page.waitForFunction((n) => document.querySelectorAll('#circuit [data-node]').length >= n, counts.sketches, { timeout: 20_000, polling: 100 });
    await sleep(counts.warmupMs);
    const { cdp, domain, metrics } = await pageMetrics(context, page);
    const pids = chromiumPids();
    /** CPU over `ms`: all Chromium processes (/proc) and the page's metrics, % of one core. */
    const measure = async (ms: number) => {
      const cpu0 = pids.reduce((sum, pid) => sum + safeCpu(pid), 0);
      const m0 = await metrics();
      const t0 = performance.now();
      await sleep(ms);
      const m1 = await metrics();
      const cpu1 = pids.reduce((sum, pid) => sum + safeCpu(pid), 0);
      const wallMs = performance.now() - t0;
      const pct = (key: string) => (((m1[key] ?? 0) - (m0[key] ?? 0)) * 1000 * 100) / wallMs;
      return { all: (cpu1 - cpu0) / 10 / wallMs, pct, wallMs };
    };
    const { all, pct, wallMs } = await measure(counts.intervalMs);
    const info = await page.evaluate(() => {
      const c = (window as unknown as { sketchnetDashboard?: { circuit?: () => { edges: Array<{ pulsing: boolean; label: string }> } } }).sketchnetDashboard?.circuit?.();
      return c ? { edges: c.edges.length, pulsing: c.edges.filter((e) => e.pulsing).length, label: c.edges[0]?.label ?? '' } : { edges: document.querySelectorAll('#circuit [data-edge]').length, pulsing: 0, label: '' };
    });
    // Where the script time goes: a short CDP profile (after the measured interval: the profiler costs CPU too).
    let hot: string[] = [];
    try {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
      await sleep(Math.min(5000, counts.intervalMs));
      const { profile } = await cdp.send('Profiler.stop');
      hot = hotFunctions(profile as unknown as JsProfile, 6);
    } catch {
      // no profile: the figures stand without it
    }
    // Control: the same page with the circuit panel not rendered.
    let hidden: CpuResult['hidden'] = null;
    const panel = await page.evaluate(() => {
      const box = document.getElementById('circuit')?.closest('.panel') ?? document.getElementById('circuit');
      if (!box) return false;
      (box as HTMLElement).style.display = 'none';
      return true;
    });
    if (panel) {
      await sleep(1000);
      const h = await measure(Math.min(10_000, counts.intervalMs));
      hidden = { all: h.all, task: h.pct('TaskDuration') };
    }
    return { all, task: pct('TaskDuration'), script: pct('ScriptDuration'), style: pct('RecalcStyleDuration') + pct('LayoutDuration'), hidden, hot, wallMs, pids: pids.length, domain, ...info, errors };
  } finally {
    await context.close();
  }
}

interface JsProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  samples?: number[];
  timeDeltas?: number[];
}

/** The `top` functions by self time in a CDP profile, as "12.3 % name (file:line)", idle and GC aside. */
function hotFunctions(p: JsProfile, top: number): string[] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  (p.samples ?? []).forEach((id, i) => {
    const n = byId.get(id);
    const dt = p.timeDeltas?.[i] ?? 0;
    if (!n || n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)') return;
    busy += dt;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'}${f.url ? ` (${f.url.replace(/^.*\//, '')}:${f.lineNumber + 1})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `${((us * 100) / (busy || 1)).toFixed(1)} % ${k}`);
}

function fmtSpread(x: Summary): string {
  if (!x.n) return '–';
  return x.n > 1 ? `${fmtMs(x.median)} (${fmtMs(x.min)}–${fmtMs(x.max)})` : fmtMs(x.median);
}

/**
 * The circuit, live, in headless Chromium: buzzer, iopin --to buzzer, clock and the dashboard
 * as four `sketch run` processes over real mDNS (in the sandbox). The page shows clock → iopin →
 * buzzer with rates, the buzzer's lane holds what its /pin stream published, a waterfall shows
 * one tick across the three sketches; a SIGKILLed buzzer turns down and its link stops; the page
 * recovers when the dashboard restarts on the same port. Skipped when Chromium is missing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, noBrowserReason } from './helpers/browser.js';
import { cli, connect, sleep, type Cli } from './helpers/net.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';

const skip = noBrowserReason();
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e4)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);
/** Longest time from a SIGKILL to the sketch's node shown down, ms: a poll (0.5 s) and a browse (1 s + 0.5 s pause) at the options used, with room for a loaded machine. */
const DOWN_WITHIN_MS = 8000;

interface CircuitInfo {
  nodes: { id: string; name: string; kind: string; state: string; x: number; y: number }[];
  edges: { from: string; to: string; rate: number; p99: number | null; sent: number; down: boolean; dashed: boolean; pulsing: boolean; pulses: number; spawned: number; label: string }[];
  layouts: number;
  drawnAt: number | null;
}
interface LaneInfo {
  id: string;
  sketch: string;
  stream: string;
  pin: number | null;
  points: [number, number][];
  drawn: { transitions: number } | null;
}
interface WaterfallInfo {
  trace: string;
  spans: { sketch: string; name: string; kind: string; depth: number; start: number; ms: number }[];
  sketches: string[];
  hops: number;
}
interface BannerInfo {
  visible: boolean;
  text: string;
  losses: number;
  recoveries: number;
}
type Hooks = { circuit(): CircuitInfo; lanes(): LaneInfo[]; waterfall(): WaterfallInfo | null; banner(): BannerInfo; plots(): { sketch: string; loaded: boolean }[] };

const children: Cli[] = [];
function start(args: string[]): Cli {
  const c = cli(args);
  children.push(c);
  return c;
}

/** Evaluates `fn(hooks)` in the page until `check` holds (polling every 100 ms, up to `timeout` ms). */
async function until<T>(page: Page, fn: string, check: (x: T) => boolean, timeout = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const x = (await page.evaluate(`window.sketchnetDashboard.${fn}`)) as T;
    if (check(x)) return x;
    if (Date.now() - t0 > timeout) throw new Error(`${fn}: ${JSON.stringify(x).slice(0, 1500)}`);
    await sleep(100);
  }
}

/** The items of a stream from its first, over a sketchnet.v2 subscription (`?history=all`), read for `ms`. */
async function streamItems(url: string, ms: number): Promise<{ time: number; data: { value: number } }[]> {
  const items: { time: number; data: { value: number } }[] = [];
  const ws = await connect(url, [SUBPROTOCOL], (text) => {
    const f = JSON.parse(text) as { data?: { value: number }; time?: number };
    if (f.data && typeof f.time === 'number') items.push(f as { time: number; data: { value: number } });
  });
  await sleep(ms);
  ws.close();
  return items;
}

if (skip) {
  test('the circuit in Chromium', () => console.log(`  skipped: dashboard circuit tests because ${skip}`));
} else {
  let browser: Browser;
  test.before(async () => {
    browser = await launchBrowser();
  });
  test.after(async () => {
    await browser?.close();
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  });

  test('the page draws clock → iopin → buzzer live; the lane matches /pin; a waterfall spans the three; a killed buzzer turns down; the page recovers from a dashboard restart', async () => {
    const [B, I, C] = [unique('buzzer'), unique('iopin'), unique('clock')];
    const buzzer = start(['run', 'buzzer', '--gpio', 'virtual', '--name', B]);
    const buzzerPort = portOf(await buzzer.waitFor(/serving on [^:]+:\d+/));
    await buzzer.waitFor(/announced as/);
    const iopin = start(['run', 'iopin', '--name', I, '--to', B, '--bit-ms', '20']);
    await iopin.waitFor(/announced as/);
    const clock = start(['run', 'clock', '--name', C, '--to', I, '--tacks', '100000', '--delay', '0.2']);
    await clock.waitFor(/announced as/, 15_000);
    let dash = start(['run', 'dashboard', '--poll', '0.5', '--browse', '0.5']);
    const port = portOf(await dash.waitFor(/serving on [^:]+:\d+/));
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const pageErrors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);

    // 1. The circuit: clock → iopin → buzzer, left to right, with non-zero rates, pulsing.
    const circuit = await until<CircuitInfo>(page, 'circuit()', (c) => {
      const e1 = c.edges.find((e) => e.from === C && e.to === I);
      const e2 = c.edges.find((e) => e.from === I && e.to === B);
      return !!e1 && !!e2 && e1.rate > 0 && e2.rate > 0 && e2.spawned > 0;
    }, 30_000);
    const x = (id: string) => circuit.nodes.find((n) => n.id === id)!.x;
    assert.ok(x(C) < x(I) && x(I) < x(B), `left to right: ${x(C)} ${x(I)} ${x(B)}`);
    const e2 = circuit.edges.find((e) => e.from === I && e.to === B)!;
    assert.ok(e2.p99 !== null && e2.p99 > 0, `ack p99 shown: ${e2.label}`);
    assert.match(e2.label, /msg\/s.*p99 .* ms/);
    assert.not.ok(e2.dashed);
    assert.ok(circuit.nodes.every((n) => n.state === 'up'));
    assert.ok(typeof circuit.drawnAt === 'number');
    const layouts = circuit.layouts;

    // 2. The buzzer's lane holds exactly what its /pin stream published (over the same span of time).
    const lane = await until<LaneInfo[]>(page, 'lanes()', (ls) => (ls.find((l) => l.sketch === B)?.points.length ?? 0) >= 10, 20_000);
    const mine = lane.find((l) => l.sketch === B && l.stream === '/pin')!;
    assert.is(mine.pin, 18);
    const items = await streamItems(`ws://127.0.0.1:${buzzerPort}/pin?history=all`, 1000);
    const [first, last] = [mine.points[0]![0], mine.points.at(-1)![0]];
    const published = items.filter((it) => it.time >= first && it.time <= last).map((it) => `${it.time}:${it.data.value}`);
    assert.equal(mine.points.map(([t, v]) => `${t}:${v}`), published, 'the lane holds every /pin item of its span, and nothing else');
    const changes = (vs: number[]) => vs.filter((v, i) => i > 0 && v !== vs[i - 1]).length;
    assert.is(changes(mine.points.map(([, v]) => v)), changes(items.filter((it) => it.time >= first && it.time <= last).map((it) => it.data.value)));
    assert.ok(mine.drawn && mine.drawn.transitions > 0, 'the lane was drawn with its transitions');

    // 3. A waterfall of one tick across the three sketches.
    const wf = await until<WaterfallInfo | null>(page, 'waterfall()', (w) => !!w && [C, I, B].every((s) => w.sketches.includes(s)), 20_000);
    assert.equal(wf!.sketches, [C, I, B], 'clock first, then iopin, then buzzer');
    assert.ok(wf!.hops >= 2, `hops: ${wf!.hops}`);
    const root = wf!.spans[0]!;
    assert.is(root.depth, 0);
    assert.ok(wf!.spans.some((s) => s.sketch === B && s.depth > 2 && s.kind === 'server'), 'the buzzer\'s receive is nested under iopin\'s send');

    // Zoom: plots and lanes share the range; the CSV of a plot holds only the visible window.
    const now = Date.now() / 1000;
    await page.evaluate(`window.sketchnetDashboard.setView([${now - 3}, ${now - 1}])`);
    const view = (await page.evaluate('window.sketchnetDashboard.view()')) as { range: [number, number]; zoomed: boolean };
    assert.ok(view.zoomed);
    assert.ok(await page.locator('#reset-view').isVisible(), 'the ↺ live button shows while zoomed');
    const csv = (await page.evaluate(`window.sketchnetDashboard.csv(${JSON.stringify(B)}, '/pin')`)) as string;
    const rows = csv.trim().split('\n');
    assert.match(rows[0]!, /^time,iso,/);
    assert.ok(rows.length > 1 && rows.slice(1).every((r) => Number(r.split(',')[0]) >= now - 3 && Number(r.split(',')[0]) <= now - 1), csv.slice(0, 300));
    await page.click('#reset-view');
    assert.not.ok(((await page.evaluate('window.sketchnetDashboard.view()')) as { zoomed: boolean }).zoomed);
    assert.equal(errors, []);

    // 4. SIGKILL the buzzer: its node turns down within the bound, its link is dashed and stops pulsing.
    const killedAt = Date.now();
    buzzer.child.kill('SIGKILL');
    const down = await until<CircuitInfo>(page, 'circuit()', (c) => c.nodes.find((n) => n.id === B)?.state === 'down', DOWN_WITHIN_MS);
    const took = Date.now() - killedAt;
    const link = down.edges.find((e) => e.from === I && e.to === B)!;
    assert.ok(link.down && link.dashed, 'the link to a down sketch is dashed');
    assert.not.ok(link.pulsing, 'and does not pulse');
    await sleep(1000);
    const later = (await page.evaluate('window.sketchnetDashboard.circuit()')) as CircuitInfo;
    assert.is(later.edges.find((e) => e.from === I && e.to === B)!.pulses, 0, 'no pulse left on it');
    assert.is(later.layouts, layouts, 'the layout was not recomputed: same nodes and edges');
    assert.ok(await page.locator(`[data-sketch="${B}"].down`).count(), 'its card says down');
    assert.match((await page.textContent(`[data-sketch="${B}"] .seen`))!, /last seen \d+ s ago/);
    console.log(`  buzzer shown down ${took} ms after SIGKILL (bound ${DOWN_WITHIN_MS} ms)`);

    // 5. The dashboard restarts on the same port: the banner shows, then the page reloads everything.
    dash.child.kill('SIGTERM');
    await dash.exited();
    await until<BannerInfo>(page, 'banner()', (b) => b.visible && b.losses === 1, 5000);
    assert.ok(await page.locator('#banner').isVisible());
    dash = start(['run', 'dashboard', '--poll', '0.5', '--browse', '0.5', '--port', String(port)]);
    await dash.waitFor(/serving on/);
    const back = await until<BannerInfo>(page, 'banner()', (b) => !b.visible && b.recoveries === 1, 20_000);
    assert.is(back.losses, 1);
    assert.ok(await page.locator('#banner').isHidden());
    await until<CircuitInfo>(page, 'circuit()', (c) => c.edges.some((e) => e.from === C && e.to === I && e.rate > 0), 20_000);
    await until<{ sketch: string; loaded: boolean }[]>(page, 'plots()', (ps) => ps.some((p) => p.sketch === C && p.loaded), 20_000);
    assert.equal(pageErrors, []);

    // A synthetic network (the shape of /api/sketches), as a benchmark would draw it: 50 sketches, 100 links.
    const drawn = (await page.evaluate(`(() => {
      const cards = Array.from({ length: 50 }, (_, i) => ({ name: 's' + i, kind: 'bench', url: 'ws://10.0.0.' + i + ':1/', address: '10.0.0.' + i + ':1', up: true, state: 'up', seen: Date.now(), acknowledges: true, streams: [],
        links: { in: [], out: [1, 7].map((k) => ({ to: 's' + ((i + k) % 50), via: 'mdns', state: 'connected', sent: 1000, acked: 1000, errors: 0, inFlight: 0, queued: 0, dropped: 0, rate: 1000, ackMs: { p50: 1, p99: 2 }, lastAt: 1 })) } }));
      const t0 = performance.now();
      window.sketchnetDashboard.drawCircuit(cards);
      const c = window.sketchnetDashboard.circuit();
      return { nodes: c.nodes.length, edges: c.edges.length, ms: performance.now() - t0 };
    })()`)) as { nodes: number; edges: number; ms: number };
    assert.is(drawn.nodes, 50);
    assert.is(drawn.edges, 100);
    console.log(`  50 sketches and 100 links laid out and drawn in ${drawn.ms.toFixed(0)} ms`);
    await context.close();
    for (const c of [clock, iopin, dash]) c.child.kill('SIGTERM');
    await Promise.all([clock, iopin, dash].map((c) => c.exited()));
  });
}

test.run();

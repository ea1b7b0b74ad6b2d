/**
 * The dashboard page in headless Chromium (Debian's /usr/bin/chromium through playwright-core),
 * against real sketches over real mDNS, in the sandbox. Skipped when Chromium is missing.
 */
import { existsSync } from 'node:fs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, noBrowserReason } from './helpers/browser.js';
import { cli, sleep, type Cli } from './helpers/net.js';

const skip = noBrowserReason();
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);
const thermometer = (name: string) => ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.1', '--name', name, '--verbose']; // --verbose: each reading printed
const RECORDER = fileURLToPath(new URL('../sketches/recorder.ts', import.meta.url));

interface PlotInfo {
  sketch: string;
  stream: string;
  points: number;
  fields: string[];
  last: { epoch: string; seq: number; time: number } | null;
  source: string | null;
  loaded: boolean;
  /** Live points that did not follow the one before them in their epoch. */
  holes: number;
  /** Whether the plot's times strictly ascend (no duplicate). */
  ascending: boolean;
}

const children: Cli[] = [];
function start(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const c = cli(args, env);
  children.push(c);
  return c;
}
async function stop(c: Cli): Promise<void> {
  c.child.kill('SIGTERM');
  await c.exited();
}

/** A page on the dashboard that records console errors and page errors. */
async function open(browser: Browser, port: number, key?: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  if (key) await context.addInitScript((k) => localStorage.setItem('sketchnet.dashboard.key', k), key);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  return { page, errors };
}

const plots = (page: Page) => page.evaluate(() => (window as unknown as { sketchnetDashboard: { plots(): PlotInfo[] } }).sketchnetDashboard.plots());
async function plotOf(page: Page, sketch: string): Promise<PlotInfo | undefined> {
  return (await plots(page)).find((p) => p.sketch === sketch);
}
/** Waits (polling, up to `timeout` ms) until `check` holds for the sketch's plot. */
async function until(page: Page, sketch: string, check: (p: PlotInfo) => boolean, timeout = 15_000): Promise<PlotInfo> {
  const t0 = Date.now();
  for (;;) {
    const p = await plotOf(page, sketch);
    if (p && check(p)) return p;
    if (Date.now() - t0 > timeout) throw new Error(`plot of ${sketch}: ${JSON.stringify(p)}`);
    await sleep(100);
  }
}

/** Waits until the dashboard's API lists `name` up (its first browse and poll are done). */
async function listed(port: number, name: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await fetch(`http://127.0.0.1:${port}/api/sketches`, { headers });
    const o = (await r.json()) as { sketches: { name: string; up: boolean }[] };
    if (o.sketches.some((s) => s.name === name && s.up)) return;
    await sleep(100);
  }
  throw new Error(`${name} never listed by the dashboard`);
}

if (skip) {
  test('dashboard page in Chromium', () => console.log(`  skipped: dashboard browser tests because ${skip}`));
} else {
  let browser: Browser;
  test.before(async () => {
    browser = await launchBrowser();
  });
  test.after(async () => {
    await browser?.close();
    await Promise.all(children.map((c) => (c.child.exitCode === null ? stop(c).catch(() => {}) : undefined)));
  });

  test('the page lists a simulated thermometer within 2 s, its plot holds the readings published before it opened and gains new ones, with no console error', async () => {
    const name = unique('thermo');
    const t = start(thermometer(name));
    await t.waitFor(/announced as/);
    await t.waitFor(/(?:.*°C from simulated.*\n){10}/); // ten readings before the page opens
    const d = start(['run', 'dashboard']);
    const port = portOf(await d.waitFor(/serving on [^:]+:\d+/));
    await listed(port, name);
    const opened = Date.now() / 1000;
    const { page, errors } = await open(browser, port);
    await page.waitForSelector(`[data-sketch="${name}"]`, { timeout: 2000 });
    const first = await until(page, name, (p) => p.loaded && p.points > 0);
    assert.is(first.source, 'sketch');
    assert.equal(first.fields, ['temperature']);
    const history = Number(await page.getAttribute(`[data-sketch="${name}"] .plot`, 'data-history'));
    assert.ok(history >= 10, `history points: ${history}`);
    assert.ok((await page.locator(`[data-sketch="${name}"] .plot .uplot canvas`).count()) > 0, 'uPlot drew the plot');
    // the history holds readings sampled before the page opened
    const firstTime = await page.evaluate((n) => Number(document.querySelector(`[data-sketch="${n}"] .plot`)!.getAttribute('data-first')), name);
    assert.ok(firstTime < opened, `first point ${firstTime} before the page opened at ${opened}`);
    const later = await until(page, name, (p) => p.points >= first.points + 5 && p.last!.seq > first.last!.seq);
    assert.is(later.last!.epoch, first.last!.epoch);
    assert.is(later.holes, 0, 'no gap at the seam between history and live');
    assert.ok(later.ascending, 'no duplicate at the seam');
    assert.match((await page.textContent(`[data-sketch="${name}"] .streams`))!, /\/readings/);
    assert.equal(errors, []);
    await page.context().close();
    await stop(d);
    await stop(t);
  });

  test('after the thermometer restarts (new epoch) the plot goes on with the new readings, keeping the old ones', async () => {
    const name = unique('restart');
    let t = start(thermometer(name));
    await t.waitFor(/announced as/);
    const d = start(['run', 'dashboard', '--poll', '0.5', '--browse', '0.5']);
    const port = portOf(await d.waitFor(/serving on [^:]+:\d+/));
    await listed(port, name);
    const { page, errors } = await open(browser, port);
    const before = await until(page, name, (p) => p.loaded && p.points >= 5);
    await stop(t);
    await page.waitForSelector(`[data-sketch="${name}"].gone`, { timeout: 10_000 });
    t = start(thermometer(name));
    await t.waitFor(/announced as/);
    const after = await until(page, name, (p) => p.last !== null && p.last.epoch !== before.last!.epoch && p.points >= before.points + 5, 20_000);
    assert.ok(after.last!.time > before.last!.time);
    assert.ok(after.ascending);
    assert.is(after.holes, 0);
    await page.waitForSelector(`[data-sketch="${name}"]:not(.gone)`, { timeout: 10_000 });
    assert.equal(errors, []);
    await page.context().close();
    await stop(d);
    await stop(t);
  });

  test('sending 1 to a buzzer with virtual GPIO shows bzzz and drives its pin to 1; a bad message shows the error', async () => {
    const name = unique('buzz');
    const b = start(['run', 'buzzer', '--gpio', 'virtual', '--name', name]);
    await b.waitFor(/announced as/);
    const d = start(['run', 'dashboard']);
    const port = portOf(await d.waitFor(/serving on [^:]+:\d+/));
    await listed(port, name);
    const { page, errors } = await open(browser, port);
    const card = `[data-sketch="${name}"]`;
    await page.waitForSelector(card);
    await page.fill(`${card} input`, '1');
    await page.click(`${card} button`);
    await page.waitForFunction((c) => document.querySelector(`${c} .reply`)?.textContent === 'bzzz', card, { timeout: 10_000 });
    await b.waitFor(/pin 18 -> 1/);
    await page.fill(`${card} input`, 'x');
    await page.click(`${card} button`);
    await page.waitForSelector(`${card} .reply.error`, { timeout: 10_000 });
    assert.match((await page.textContent(`${card} .reply`))!, /SKETCH_ERR_REMOTE.*takes 1 or 0/);
    assert.equal(errors, []);
    await page.context().close();
    await stop(d);
    await stop(b);
  });

  test('with keys, a page without a key sees no sketch and is asked for one; with the key it sees them', async () => {
    const name = unique('locked');
    const t = start(thermometer(name));
    await t.waitFor(/announced as/);
    const dir = mkdtempSync(join(tmpdir(), 'dash-keys-'));
    const key = 'k'.repeat(43);
    const keyFile = join(dir, 'keys');
    writeFileSync(keyFile, `read ${key} page\n`, { mode: 0o600 });
    const d = start(['run', 'dashboard', '--key-file', keyFile]);
    const port = portOf(await d.waitFor(/serving on [^:]+:\d+/));
    await listed(port, name, { authorization: `Bearer ${key}` });
    const locked = await open(browser, port);
    await locked.page.waitForSelector('#key:not([hidden])');
    await sleep(500);
    assert.is(await locked.page.locator('[data-sketch]').count(), 0);
    await locked.page.context().close();
    const { page, errors } = await open(browser, port, key);
    await page.waitForSelector(`[data-sketch="${name}"]`, { timeout: 5000 });
    await until(page, name, (p) => p.loaded && p.points > 0);
    assert.ok(await page.locator('#key').isHidden());
    assert.equal(errors, []);
    await page.context().close();
    await stop(d);
    await stop(t);
  });

  if (existsSync(RECORDER)) {
    test('with a recorder, the plot\'s history comes from it: points recorded before the page opened, across the window picked; the recorder card has no message box', async () => {
      const name = unique('rec');
      const dir = mkdtempSync(join(tmpdir(), 'dash-rec-'));
      const r = start(['run', 'recorder', '--db', join(dir, 'db.sqlite')]);
      await r.waitFor(/announced as/);
      const t = start(thermometer(name));
      await t.waitFor(/announced as/);
      await sleep(3000); // the recorder records a few seconds
      const d = start(['run', 'dashboard']);
      const port = portOf(await d.waitFor(/serving on [^:]+:\d+/));
      await listed(port, name);
      for (let i = 0; i < 100; i++) {
        const o = (await (await fetch(`http://127.0.0.1:${port}/api/sketches`)).json()) as { recorder: string | null };
        if (o.recorder) break;
        await sleep(100);
      }
      const { page, errors } = await open(browser, port);
      const p = await until(page, name, (x) => x.loaded && x.points > 0);
      assert.is(p.source, 'recorder');
      const live = await until(page, name, (x) => x.points >= p.points + 5);
      assert.is(live.holes, 0, 'no gap between the recorder history and live');
      assert.ok(live.ascending, 'no duplicate between the recorder history and live');
      await page.selectOption('#window', '3600');
      const hour = await until(page, name, (x) => x.loaded && x.source === 'recorder' && x.points > 0);
      assert.ok(hour.points > 0);
      // The recorder's loop is not @reactive (status `acknowledges: false`): no message box on its card.
      const boxes = await page.evaluate(() =>
        Object.fromEntries([...document.querySelectorAll('section.card')].map((c) => [c.querySelector('.kind')!.textContent, !(c.querySelector('form.send') as HTMLFormElement).hidden])),
      );
      assert.is(boxes.recorder, false, 'the recorder card has no message box');
      assert.is(boxes.thermometer, true, 'the thermometer card has one');
      assert.equal(errors, []);
      await page.context().close();
      await stop(d);
      await stop(t);
      await stop(r);
    });
  } else {
    test('dashboard history from a recorder', () => console.log('  skipped: recorder history because sketches/recorder.ts is not in this tree'));
  }
}

test.run();

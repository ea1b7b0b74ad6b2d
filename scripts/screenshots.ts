/**
 * The dashboard's screenshots for the docs: runs `sketch demo --dashboard` (the built CLI), opens
 * the page in headless Chromium at 1280 and 390 px wide, light and dark, once the circuit, the
 * lanes and a waterfall are drawn, and saves docs/dashboard.png, docs/dashboard-dark.png,
 * docs/dashboard-390.png and docs/dashboard-390-dark.png.
 *
 *     npm run build && ../shared/sandbox node --import tsx scripts/screenshots.ts [--port 8080] [--settle 12]
 *
 * `--settle` (s, default 25): how long the demo runs before the first shot (history to plot).
 * Each shot is zoomed to the last {@link ZOOM_S} s.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { launchBrowser } from '../test/helpers/browser.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, settle: { type: 'string', default: '25' } } });
const port = Number(values.port);
const settleMs = Number(values.settle) * 1000;
const docs = (name: string) => fileURLToPath(new URL(`../docs/${name}`, import.meta.url));
const bin = fileURLToPath(new URL('../dist/bin/sketch.cjs', import.meta.url));

const demo = spawn(process.execPath, [bin, 'demo', '--dashboard', '--port', String(port), '--gpio', 'virtual', '--delay', '0.5'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
demo.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
/** The range shown, s. */
const ZOOM_S = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  for (let i = 0; !/the dashboard is at/.test(out); i++) {
    if (i > 300 || demo.exitCode !== null) throw new Error(`the demo did not start: ${out}`);
    await sleep(100);
  }
  await sleep(settleMs);
  const browser = await launchBrowser();
  try {
    for (const [width, scheme, file] of [
      [1280, 'light', 'dashboard.png'],
      [1280, 'dark', 'dashboard-dark.png'],
      [390, 'light', 'dashboard-390.png'],
      [390, 'dark', 'dashboard-390-dark.png'],
    ] as const) {
      const context = await browser.newContext({ viewport: { width, height: width > 600 ? 900 : 844 }, colorScheme: scheme, deviceScaleFactor: 1 });
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction(() => {
        const d = (window as unknown as { sketchnetDashboard: { circuit(): { edges: unknown[] }; waterfall(): { spans: unknown[] } | null; plots(): { loaded: boolean }[] } }).sketchnetDashboard;
        return d.circuit().edges.length >= 2 && (d.waterfall()?.spans.length ?? 0) > 0 && d.plots().every((p) => p.loaded);
      }, undefined, { timeout: 30_000 });
      // Zoomed to the last 20 s: the lanes' pulses and the plots' points show one by one.
      await page.evaluate((s) => {
        const now = Date.now() / 1000;
        (window as unknown as { sketchnetDashboard: { setView(r: [number, number]): void } }).sketchnetDashboard.setView([now - s, now]);
      }, ZOOM_S);
      await sleep(1500); // a few pulses on their way, plots drawn
      const scroll = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (scroll > 0) console.error(`${file}: the page scrolls ${scroll} px sideways at ${width} px`);
      await page.screenshot({ path: docs(file) });
      console.log(`saved docs/${file}`);
      await context.close();
    }
  } finally {
    await browser.close();
  }
} finally {
  demo.kill('SIGTERM');
  await new Promise((r) => demo.once('exit', r));
}

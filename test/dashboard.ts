/**
 * The dashboard's parts without a browser: the directory with fake mDNS and status, numeric
 * fields, the page API's gate and answers, and the bound on a slow page.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import Dashboard, { LIVE_PATH } from '../sketches/dashboard.js';
import type { FoundSketch, SketchStatus } from '../runtime/index.js';
import { Directory, type SketchCard } from '../runtime/dashboard/directory.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { sleep, stalled } from './helpers/net.js';

const found = (name: string, port: number, streams = ['/readings']): FoundSketch => ({
  name,
  kind: 'thermometer',
  address: '127.0.0.1',
  addresses: ['127.0.0.1'],
  port,
  protocol: '3',
  streams,
  host: 'h.local',
  url: `ws://127.0.0.1:${port}/`,
  txt: {},
  tls: false,
});

const status = (rate: number): SketchStatus => ({
  name: 'x',
  kind: 'thermometer',
  protocol: 3,
  uptime: 1,
  acknowledges: true,
  connections: {},
  streams: { '/readings': { seq: 5, epoch: 'E1', rate, lag: { mean: 0.002, p99: 0.004 }, drops: 3 } as never },
});

test('the directory lists a sketch found with its streams from the status, marks it gone when a status poll fails, and up again at its new address', async () => {
  let list = [found('thermo', 1000)];
  let answering = true;
  const changes: SketchCard[][] = [];
  const d = new Directory({
    browse: async () => list,
    status: async () => {
      if (!answering) throw new Error('connection refused');
      return status(10);
    },
  });
  d.on('change', (c) => changes.push(c));
  await d.refresh();
  let card = d.get('thermo')!;
  assert.ok(card.up);
  assert.is(card.address, '127.0.0.1:1000');
  assert.equal(card.streams, [{ path: '/readings', rate: 10, lag: 0.002, drops: 3, seq: 5, epoch: 'E1' }]);
  answering = false;
  await d.refresh();
  card = d.get('thermo')!;
  assert.not.ok(card.up);
  assert.match(card.why!, /connection refused/);
  assert.is(card.streams[0]!.rate, 10, 'a gone sketch keeps its last figures');
  answering = true;
  list = [found('thermo', 2000)];
  await d.refresh();
  card = d.get('thermo')!;
  assert.ok(card.up);
  assert.is(card.url, 'ws://127.0.0.1:2000/');
  assert.is(changes.length, 3, 'one change per state: up, gone, up again');
  d.close();
});

test('the directory leaves out dashboards and its own name', async () => {
  const d = new Directory({
    browse: async () => [found('me', 1), { ...found('other', 2), kind: 'dashboard' }, found('thermo', 3)],
    status: async () => status(1),
    skipNames: () => ['me'],
  });
  await d.refresh();
  assert.equal(d.cards().map((c) => c.name), ['thermo']);
  d.close();
});

async function dashboard(config: ConstructorParameters<typeof Dashboard>[0] = {}) {
  const log: string[] = [];
  const dash = new Dashboard({ discovery: false, log: (l) => log.push(l), ...config });
  const { port } = await dash.run({ host: '127.0.0.1' });
  return { dash, port, log, base: `http://127.0.0.1:${port}` };
}

test('the page and uPlot are served from the dashboard itself, and the API answers the sketches and windows', async () => {
  const { dash, base } = await dashboard();
  try {
    const page = await fetch(`${base}/`);
    assert.is(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/app.js">/);
    for (const path of ['/app.js', '/style.css', '/uPlot.iife.min.js', '/uPlot.min.css']) {
      const r = await fetch(`${base}${path}`);
      assert.is(r.status, 200, path);
      assert.ok((await r.arrayBuffer()).byteLength > 100, path);
    }
    const overview = (await (await fetch(`${base}/api/sketches`)).json()) as { sketches: unknown[]; recorder: unknown; windows: number[] };
    assert.equal(overview, { sketches: [], recorder: null, windows: [300] });
    const bad = await fetch(`${base}/api/history?sketch=x&stream=/readings&window=-1`);
    assert.is(bad.status, 400);
    assert.is((await bad.text()).trim().split('\n').length, 1);
    const unknown = await fetch(`${base}/api/history?sketch=x&stream=/readings&window=300`);
    assert.is(unknown.status, 404);
  } finally {
    await dash.close();
  }
});

test('with keys, the page files load without one but the API and the /live WebSocket need one', async () => {
  const key = 'r'.repeat(43);
  const { dash, base, port } = await dashboard({ keys: [{ right: 'read', key }] as never });
  try {
    assert.is((await fetch(`${base}/`)).status, 200);
    assert.is((await fetch(`${base}/api/sketches`)).status, 401);
    assert.is((await fetch(`${base}/api/sketches`, { headers: { authorization: `Bearer ${key}` } })).status, 200);
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_PATH}?new`, [SUBPROTOCOL]);
      ws.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    assert.is(refused, 401);
    const ok = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${LIVE_PATH}?new`, [SUBPROTOCOL, `bearer.${key}`]);
      ws.on('open', () => resolve(ws.protocol));
      ws.on('error', reject);
    });
    assert.is(ok, SUBPROTOCOL);
  } finally {
    await dash.close();
  }
});

test('a page that stops reading is closed with 1013 once more than --page-buffer KiB wait for it, while a reading page keeps getting every item', async () => {
  const { dash, port, log } = await dashboard({ options: { pageBuffer: 64 } });
  const url = `ws://127.0.0.1:${port}${LIVE_PATH}?new`;
  const paused = await stalled(url);
  let got = 0;
  const reading = await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { data?: { p?: unknown } }).data?.p) got++;
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  await sleep(100);
  const values = { pad: 1 } as Record<string, number>;
  for (let i = 0; i < 200; i++) values[`field${i}`] = i + 0.5; // ~3 kB per point
  let published = 0;
  try {
    const deadline = Date.now() + 20_000;
    while (dash.status().streams[LIVE_PATH]!.closedSlow < 1 && Date.now() < deadline) {
      for (let k = 0; k < 50; k++) dash.publish(LIVE_PATH, { p: ['thermo', '/readings', 'E', ++published, Date.now() / 1000, values] });
      await sleep(5);
    }
    assert.is(dash.status().streams[LIVE_PATH]!.closedSlow, 1, 'the stalled page was closed');
    assert.ok(log.some((l) => /on \/live is too slow .*: closing it with 1013/.test(l)), log.join('\n'));
    for (let i = 0; i < 500 && got < published; i++) await sleep(10);
    assert.is(got, published, 'the reading page got every item');
  } finally {
    paused.terminate();
    reading.close();
    await dash.close();
  }
});

test.run();

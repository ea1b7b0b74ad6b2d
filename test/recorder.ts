import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { RecordStore } from '../runtime/recorder/store.js';
import Recorder, { parseDuration, RECORDER_CREDIT } from '../sketches/recorder.js';
import Thermometer from '../sketches/thermometer.js';
import { cli, sleep, type Cli } from './helpers/net.js';
import type { RecordedStream } from '../runtime/recorder/store.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'recorder-'));
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);
const thermometer = (name: string) => cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', name]);
const recorder = (db: string, name: string) => cli(['run', 'recorder', '--db', db, '--rescan', '0.5', '--name', name]);

/** GET over HTTP with node:http (a real client): status, content type and body. */
function get(port: number, pathAndQuery: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathAndQuery }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .once('error', reject);
  });
}

type Recorded = RecordedStream;
/** Polls `/recorded` until `ok` holds for the row of `sketch` (10 s at most). */
async function until(port: number, sketch: string, ok: (r: Recorded) => boolean): Promise<Recorded> {
  let last: Recorded | undefined;
  for (let i = 0; i < 200; i++) {
    const r = await get(port, '/recorded');
    last = (JSON.parse(r.body) as Recorded[]).find((x) => x.sketch === sketch);
    if (last && ok(last)) return last;
    await sleep(50);
  }
  throw new Error(`not reached: ${JSON.stringify(last)}`);
}

/** Every seq missing within each epoch of a stream is covered by a recorded gap; no seq twice. */
function assertNoHoles(db: string, sketch: string): Map<string, { min: number; max: number; n: number }> {
  const s = new RecordStore({ file: db });
  const epochs = new Map<string, { min: number; max: number; n: number }>();
  const rows = s.db.prepare('SELECT epoch, min(seq) AS min, max(seq) AS max, count(*) AS n, count(DISTINCT seq) AS d FROM items WHERE sketch = ? GROUP BY epoch').all(sketch) as Array<{ epoch: string; min: number; max: number; n: number; d: number }>;
  for (const r of rows) {
    assert.is(r.n, r.d, `no duplicate seq in epoch ${r.epoch}`);
    const seqs = new Set((s.db.prepare('SELECT seq FROM items WHERE sketch = ? AND epoch = ?').all(sketch, r.epoch) as Array<{ seq: number }>).map((x) => x.seq));
    const gaps = s.db.prepare('SELECT from_seq AS f, to_seq AS t FROM gaps WHERE sketch = ? AND epoch = ?').all(sketch, r.epoch) as Array<{ f: number; t: number }>;
    for (let q = 1; q <= r.max; q++) {
      if (!seqs.has(q)) assert.ok(gaps.some((g) => g.f <= q && q <= g.t), `seq ${q} of epoch ${r.epoch} is neither recorded nor in a gap`);
    }
    epochs.set(r.epoch, r);
  }
  s.close();
  return epochs;
}

async function stop(c: Cli, signal: NodeJS.Signals = 'SIGTERM') {
  c.child.kill(signal);
  await c.exited();
}

test('parseDuration reads 7d, 12h, 30m, 90s and bare seconds, and refuses anything else', () => {
  assert.is(parseDuration('7d'), 604_800);
  assert.is(parseDuration('12h'), 43_200);
  assert.is(parseDuration('30m'), 1800);
  assert.is(parseDuration('90s'), 90);
  assert.is(parseDuration('2.5'), 2.5);
  for (const bad of ['', '0', '7 days', '-1h', 'd']) assert.is(parseDuration(bad), undefined, bad);
});

test('the recorder records a stream found through discovery, skipping other recorders, and serves /recorded', async () => {
  const registry = new Map();
  const db = path.join(dir, 'memory.sqlite');
  const t = new Thermometer({ name: 'thermo', discovery: new MemoryDiscovery(registry), options: { sensor: 'simulated' }, log: () => {} });
  const other = new Recorder({ name: 'other-recorder', discovery: new MemoryDiscovery(registry), options: { db: path.join(dir, 'other.sqlite') }, log: () => {} });
  const r = new Recorder({ discovery: new MemoryDiscovery(registry), options: { db, rescan: 0.1 }, log: () => {} });
  await t.run({ host: '127.0.0.1' });
  await t.announced;
  await other.run({ host: '127.0.0.1' });
  await other.announced;
  for (let i = 0; i < 5; i++) await t.sample();
  await r.run({ host: '127.0.0.1' });
  try {
    const rec = await until(r.address!.port, 'thermo', (x) => x.count >= 5);
    assert.is(rec.kind, 'thermometer');
    assert.is(rec.stream, '/readings');
    assert.is(rec.epoch, t.streamAt('/readings')!.epoch);
    const all = JSON.parse((await get(r.address!.port, '/recorded')).body) as Recorded[];
    assert.equal(all.map((x) => x.sketch), ['thermo'], 'not itself nor the other recorder');
    const status = r.status().recorder as { recording: Array<{ sketch: string; connected: boolean }>; written: number; queued: number; dbBytes: number };
    assert.equal(status.recording.map((x) => x.sketch), ['thermo']);
    assert.ok(status.written >= 5 && status.dbBytes > 0);
    // Credit-based flow control: what the recorder has not taken waits in the thermometer's history.
    const subs = (t.status().streams as Record<string, { subscribers: Array<{ credit: number | null }> }>)['/readings']!.subscribers;
    assert.is(subs.length, 2, 'this recorder and the other one');
    for (const sub of subs) assert.ok(sub.credit !== null && sub.credit > 0 && sub.credit <= RECORDER_CREDIT, `credit ${sub.credit}`);
  } finally {
    await Promise.all([r.close(), other.close(), t.close()]);
  }
});

test('end to end over mDNS: recorded, thermometer restarted (new segment), recorder killed and resumed, /history and /recorded over HTTP', async () => {
  const name = unique('rec-thermo');
  const recName = unique('rec');
  const db = path.join(dir, 'e2e.sqlite');
  let t = thermometer(name);
  let r = recorder(db, recName);
  try {
    await t.waitFor(/announced as/);
    await r.waitFor(/announced as/);
    let port = portOf(r.stdout());
    const first = await until(port, name, (x) => x.count >= 20);
    assert.is(first.kind, 'thermometer');

    // /history over HTTP
    const h = await get(port, `/history?sketch=${encodeURIComponent(name)}&stream=/readings&max_points=10`);
    assert.is(h.status, 200, h.body);
    assert.match(h.type, /application\/json/);
    const hist = JSON.parse(h.body) as { count: number; decimated: boolean; fields: string[]; time: number[]; values: Record<string, Array<number | null>>; last: { epoch: string; seq: number } };
    assert.ok(hist.fields.includes('temperature'), hist.fields.join());
    assert.ok(hist.time.length <= 10);
    for (let i = 1; i < hist.time.length; i++) assert.ok(hist.time[i]! >= hist.time[i - 1]!);
    assert.ok(hist.decimated, 'more rows than 10');
    assert.is(hist.last.epoch, first.epoch);
    const raw = JSON.parse((await get(port, `/history?sketch=${encodeURIComponent(name)}&stream=/readings&raw=1&max_points=3`)).body) as { rows: Array<{ seq: number; data: { unit: string } }> };
    assert.equal(raw.rows.map((x) => x.seq), [1, 2, 3]);
    assert.is(raw.rows[0]!.data.unit, '°C');
    const bad = await get(port, `/history?sketch=${encodeURIComponent(name)}&stream=/readings&max_points=100001`);
    assert.is(bad.status, 400);
    assert.match(bad.body, /^max_points must be a whole number from 1 to 100000, got "100001"\n$/);
    const none = await get(port, '/history?sketch=nobody&stream=/readings');
    assert.is(none.status, 404);
    assert.is(none.body.split('\n').length, 2, 'one line');

    // The thermometer restarts: a new epoch, a new segment
    await stop(t);
    t = thermometer(name);
    await t.waitFor(/announced as/);
    const second = await until(port, name, (x) => x.epoch !== first.epoch && x.seq >= 20);
    assert.is.not(second.epoch, first.epoch);

    // The recorder is killed and restarted on the same file: it resumes after the newest stored item
    await stop(r, 'SIGKILL');
    const before = (() => {
      const s = new RecordStore({ file: db });
      const last = s.last(name, '/readings')!;
      s.close();
      return last;
    })();
    await sleep(500); // items published meanwhile stay in the thermometer's history
    r = recorder(db, recName);
    await r.waitFor(/announced as/);
    port = portOf(r.stdout());
    await until(port, name, (x) => x.epoch === before.epoch && x.seq >= before.seq + 30);
    await stop(r);
    const epochs = assertNoHoles(db, name);
    assert.is(epochs.size, 2, 'two segments');
    assert.is(epochs.get(second.epoch)!.min, 1, 'the new segment is recorded from its first item');
    assert.match(r.stdout(), /resum|recording/);
  } finally {
    t.child.kill('SIGTERM');
    r.child.kill('SIGTERM');
    await Promise.allSettled([t.exited(), r.exited()]);
  }
});

test('sketch run recorder without --db exits 2 with one line', async () => {
  const r = cli(['run', 'recorder', '--no-mdns']);
  assert.is(await r.exited(), 2);
  assert.match(r.stderr(), /^sketch: --db FILE is required[^\n]*\n$/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

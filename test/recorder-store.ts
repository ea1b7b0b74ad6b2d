import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/index.js';
import { RecordStore, type RecordItem } from '../runtime/recorder/store.js';
import { openDatabase } from '../runtime/recorder/sqlite.js';
import { sleep } from './helpers/net.js';

const T0 = 1_763_737_200;
const dir = mkdtempSync(path.join(os.tmpdir(), 'recorder-store-'));
let files = 0;
const dbFile = () => path.join(dir, `db-${files++}.sqlite`);

function item(seq: number, over: Partial<RecordItem> = {}): RecordItem {
  const time = T0 + seq / 10;
  return { sketch: 'thermometer', kind: 'thermometer', stream: '/readings', epoch: 'E1', seq, time, published: time + 0.001, received: time + 0.002, data: JSON.stringify({ celsius: 20 + (seq % 50) / 10 }), ...over };
}
const count = (s: RecordStore) => (s.db.prepare('SELECT count(*) AS n FROM items').get() as { n: number }).n;
/** The schema of a recorder file before the compact format (issue 22), as older versions wrote it. */
const OLD_SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY, sketch TEXT NOT NULL, kind TEXT NOT NULL, stream TEXT NOT NULL, epoch TEXT NOT NULL,
  seq INTEGER NOT NULL, time REAL NOT NULL, published REAL NOT NULL, received REAL NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX items_once ON items (sketch, stream, epoch, seq);
CREATE INDEX items_by_stream_time ON items (sketch, stream, time);
CREATE INDEX items_by_time ON items (time);
CREATE TABLE gaps (id INTEGER PRIMARY KEY, sketch TEXT NOT NULL, stream TEXT NOT NULL, epoch TEXT NOT NULL,
  from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, reason TEXT NOT NULL, time REAL NOT NULL);
`;


test('queued items are written in one transaction when the batch is full, and within flushMs otherwise', async () => {
  const s = new RecordStore({ file: dbFile(), batchItems: 10, flushMs: 20 });
  for (let i = 1; i <= 9; i++) s.add(item(i));
  assert.is(count(s), 0, 'nothing written before the batch is full');
  assert.is(s.queued, 9);
  s.add(item(10));
  assert.is(count(s), 10, 'a full batch is written at once');
  s.add(item(11));
  assert.is(count(s), 10);
  await sleep(60);
  assert.is(count(s), 11, 'the rest is written after flushMs');
  assert.is(s.written, 11);
  s.close();
});

test('an item resent with the same sketch, stream, epoch and seq is stored once; another epoch is a new row', () => {
  const s = new RecordStore({ file: dbFile() });
  s.add(item(1));
  s.add(item(2));
  s.flush();
  s.add(item(2));
  s.add(item(1, { epoch: 'E2' }));
  assert.is(s.flush(), 1);
  assert.is(count(s), 3);
  s.close();
});

test('the database is in WAL mode, can be reopened, and keeps what was written', () => {
  const file = dbFile();
  const a = new RecordStore({ file });
  assert.is(a.db.pragma('journal_mode', { simple: true }), 'wal');
  a.add(item(1));
  a.close();
  const b = new RecordStore({ file });
  assert.is(count(b), 1);
  assert.equal(b.last('thermometer', '/readings'), { kind: 'thermometer', epoch: 'E1', seq: 1, time: T0 + 0.1 });
  b.close();
});

test('a time-range query of one stream and the retention delete use an index, not a table scan', () => {
  const s = new RecordStore({ file: ':memory:' });
  const plan = (sql: string, ...args: unknown[]) =>
    (s.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  const range = plan('SELECT series, time, data, patch FROM samples WHERE series IN (?) AND time >= ? AND time <= ? ORDER BY time, seq', 1, 0, 1);
  assert.match(range, /SEARCH samples USING INDEX samples_by_time \(series=\? AND time>\? AND time<\?\)/);
  assert.not.match(range, /SCAN samples|TEMP B-TREE FOR ORDER BY/);
  const old = plan('SELECT seq FROM samples WHERE series = ? AND time < ? ORDER BY time LIMIT 500', 1, 1);
  assert.match(old, /samples_by_time/);
  const dedupe = plan('INSERT OR IGNORE INTO samples (series, seq, time, published, received, data, patch) VALUES (?, ?, ?, ?, ?, ?, ?)', 1, 1, 1, 0, 0, null, '{}');
  assert.not.match(dedupe, /SCAN/);
  s.close();
});

/** A reading as the thermometer publishes it: its sample time in the data too, a constant unit and sensor. */
function reading(seq: number, epoch = 'E1'): RecordItem {
  const time = +(T0 + seq / 100 + 0.000_123).toFixed(6);
  const value = { time, temperature: +(21 + Math.sin(seq / 300) + (seq % 7) / 1000).toFixed(3), unit: '°C', sensor: 'ds18b20:28-0316a2795aff' };
  return { sketch: 'thermometer', kind: 'thermometer', stream: '/readings', epoch, seq, time, published: time + 0.000_041, received: time + 0.001_873, data: JSON.stringify(value), value };
}

test('a thermometer reading takes at most 100 bytes on disk (file and WAL after a checkpoint), rollups included', () => {
  const file = dbFile();
  const s = new RecordStore({ file });
  const n = 30_000;
  for (let i = 1; i <= n; i++) s.add(reading(i));
  s.flush();
  s.db.pragma('wal_checkpoint(TRUNCATE)');
  const perItem = s.fileBytes / n;
  assert.ok(perItem <= 100, `${perItem.toFixed(1)} bytes per reading`);
  assert.is(count(s), n);
  s.close();
});

test('items of any shape read back as written: history rows and select() agree with what was added', () => {
  const s = new RecordStore({ file: dbFile() });
  const datas: unknown[] = [
    { time: T0 + 0.01, temperature: 21.5, unit: '°C' },
    { time: T0 + 0.02, temperature: 21.5, unit: '°C' },
    { time: 5, temperature: 21.5, unit: '°C' },
    { time: T0 + 0.04, unit: '°C', temperature: 21.5 },
    { time: T0 + 0.05, temperature: null, unit: { nested: [1, 2] } },
    { time: T0 + 0.06 },
    [1, 2, 3],
    'text',
    42,
    null,
    { time: T0 + 0.11, temperature: 21.500, unit: '°C' },
  ];
  datas.forEach((data, i) => {
    const time = T0 + (i + 1) / 100;
    s.add({ sketch: 'a', kind: 'k', stream: '/s', epoch: 'E', seq: i + 1, time, published: time + 0.25, received: time + 1.5, data: JSON.stringify(data) });
  });
  s.flush();
  const rows = s.history({ sketch: 'a', stream: '/s', since: T0, until: T0 + 1, raw: true })!.rows!;
  assert.equal(rows.map((r) => r.data), datas);
  assert.equal(rows.map((r) => r.seq), datas.map((_, i) => i + 1));
  assert.equal(rows[0]!.published, T0 + 0.01 + 0.25);
  assert.equal(rows[0]!.received, T0 + 0.01 + 1.5);
  assert.equal([...s.select()].map((i) => JSON.parse(i.data) as unknown), datas);
  s.close();
});

test('an item added with its value and no data text is stored and read back the same: as a patch, whole, and as the base of a series', () => {
  const s = new RecordStore({ file: ':memory:' });
  const values: unknown[] = [{ time: T0 + 0.01, celsius: 20 }, { time: T0 + 0.02, celsius: 20.5 }, [1, 'two'], undefined, { time: T0 + 0.05, celsius: -0 }];
  values.forEach((value, i) => {
    const time = T0 + (i + 1) / 100;
    s.add({ sketch: 'a', kind: 'k', stream: '/s', epoch: 'E', seq: i + 1, time, published: time, received: time, value });
  });
  s.flush();
  assert.equal([...s.select()].map((i) => i.data), values.map((v) => JSON.stringify(v) ?? 'null'));
  s.close();
});

test('queries and retention steps prepare their statements once: the second run prepares none', () => {
  const s = new RecordStore({ file: ':memory:', keepSeconds: 3600, now: () => T0 + 7200 });
  for (let seq = 1; seq <= 20; seq++) s.add(item(seq));
  s.flush();
  const run = () => {
    s.recorded();
    s.last('thermometer', '/readings');
    s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 10 });
    s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 10, raw: true });
    s.streams();
    s.retainStep();
  };
  run();
  const db = s.db as unknown as { prepare: (sql: string) => unknown };
  const prepare = db.prepare;
  const prepared: string[] = [];
  db.prepare = (sql: string) => (prepared.push(sql), prepare.call(db, sql));
  for (let seq = 21; seq <= 40; seq++) s.add(item(seq, { time: T0 + 7200 - 40 + seq / 10 }));
  s.flush();
  run();
  db.prepare = prepare;
  assert.equal(prepared, []);
  s.close();
});

test('a file written in the old row-per-item format is converted when opened: every item, gap and rollup kept', () => {
  const file = dbFile();
  const old = openDatabase(file);
  old.exec(OLD_SCHEMA);
  const ins = old.prepare('INSERT INTO items (sketch, kind, stream, epoch, seq, time, published, received, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  for (let i = 1; i <= 12_000; i++) {
    const r = reading(i, i <= 6000 ? 'E1' : 'E2');
    ins.run(r.sketch, r.kind, r.stream, r.epoch, r.seq, r.time, r.published, r.received, r.data);
  }
  old.prepare("INSERT INTO gaps (sketch, stream, epoch, from_seq, to_seq, reason, time) VALUES ('thermometer', '/readings', 'E1', 3, 4, 'evicted', ?)").run(T0 + 1);
  old.close();
  const lines: string[] = [];
  const s = new RecordStore({ file, log: (l) => lines.push(l) });
  assert.match(lines[0]!, /converting .* to the compact format \(12000 items\)/);
  assert.is(count(s), 12_000);
  assert.equal(s.last('thermometer', '/readings'), { kind: 'thermometer', epoch: 'E2', seq: 12_000, time: reading(12_000).time });
  const rows = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 1000, raw: true, maxPoints: 100_000 })!;
  assert.is(rows.rows!.length, 12_000);
  assert.equal(rows.rows![5]!.data, JSON.parse(reading(6).data));
  assert.is(rows.gaps.length, 1);
  assert.ok(!(s.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'").get()), 'the old table is gone');
  s.close();
});

test('keep: items sampled longer ago than keepSeconds are deleted in steps of retentionStep rows', () => {
  let now = T0 + 1000;
  const s = new RecordStore({ file: dbFile(), keepSeconds: 60, retentionStep: 100, now: () => now });
  for (let i = 1; i <= 10_000; i++) s.add(item(i)); // T0+0.1 … T0+1000
  s.flush();
  assert.is(s.retainStep(), 100, 'one step deletes at most retentionStep rows');
  while (s.retainStep() > 0);
  const kept = s.db.prepare('SELECT min(time) AS lo, count(*) AS n FROM items').get() as { lo: number; n: number };
  assert.ok(kept.lo >= now - 60, `oldest kept ${kept.lo - T0}`);
  assert.is(kept.n, 601, 'T0+940 … T0+1000');
  assert.is(s.deleted, 10_000 - 601);
  now += 1e6;
  while (s.retainStep() > 0);
  assert.is(count(s), 0);
  s.close();
});

test('keep after a forward step of the wall clock: nothing younger than keepSeconds of monotonic time is deleted', () => {
  let now = T0 + 1000;
  let ahead = 0; // ms the clock stepped ahead within the window
  const s = new RecordStore({ file: dbFile(), keepSeconds: 60, retentionStep: 100, now: () => now, steppedAhead: () => ahead });
  for (let i = 1; i <= 10_000; i++) s.add(item(i)); // T0+0.1 … T0+1000
  s.flush();
  while (s.retainStep() > 0);
  now += 86_400; // NTP set the clock a day ahead
  ahead = 86_400_000;
  assert.is(s.retainStep(), 0, 'the step alone deletes nothing');
  assert.is(count(s), 601);
  now += 61; // a minute later (monotonic), the step has left the window: the rows are 61 s old
  ahead = 0;
  while (s.retainStep() > 0);
  assert.is(count(s), 0);
  s.close();
});

test('a full disk (SQLITE_FULL) never throws: one line, storage full, items counted unstored, retried until space is back, then ok', async () => {
  const lines: string[] = [];
  const states: string[] = [];
  const s = new RecordStore({ file: dbFile(), retryMs: 20, log: (l) => lines.push(l), onStorage: (st) => states.push(st) });
  for (let i = 1; i <= 100; i++) s.add(item(i));
  s.flush();
  const pages = s.db.pragma('page_count', { simple: true }) as number;
  s.db.pragma(`max_page_count = ${pages + 2}`); // SQLite's own SQLITE_FULL, as on a full disk
  const pad = 'x'.repeat(2000);
  for (let i = 101; i <= 400; i++) s.add(item(i, { data: JSON.stringify({ celsius: i, pad }) }));
  assert.not.throws(() => s.flush());
  assert.is(s.storage, 'full');
  assert.equal(states, ['full']);
  assert.is(lines.filter((l) => /the disk is full/.test(l)).length, 1, lines.join('\n'));
  s.add(item(401));
  assert.ok(s.unstored >= 300, `${s.unstored} unstored`);
  await new Promise((r) => setTimeout(r, 100)); // retries keep failing: still one line
  assert.is(lines.filter((l) => /the disk is full/.test(l)).length, 1);
  s.db.pragma('max_page_count = 1000000'); // space is back
  for (let i = 0; i < 100 && s.storage !== 'ok'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.is(s.storage, 'ok');
  assert.equal(states, ['full', 'ok']);
  assert.match(lines.at(-1)!, /takes writes again/);
  s.add(item(500));
  assert.is(s.flush(), 1);
  assert.is(count(s), 101, 'what was stored before stays; the producers are asked again for the rest');
  s.close();
});

test('the resume point is the highest seq stored of the newest epoch, even when the clock went back between items', () => {
  const s = new RecordStore({ file: dbFile() });
  s.add(item(1, { time: T0 + 86_400 })); // stored while the clock was a day ahead
  s.add(item(2, { time: T0 + 86_401 }));
  s.add(item(3, { time: T0 + 1 })); // then stepped back
  s.flush();
  assert.is(s.last('thermometer', '/readings')?.seq, 3);
  s.close();
});

test('max size: past maxSizeMB the oldest items go until the data fits, the newest stay', () => {
  const s = new RecordStore({ file: dbFile(), maxSizeMB: 0.5, retentionStep: 200 });
  const pad = 'x'.repeat(200);
  for (let i = 1; i <= 10_000; i++) s.add(item(i, { data: JSON.stringify({ celsius: i, pad }) }));
  s.flush(); // schedules retention steps on the next turns of the event loop; finish them here
  while (s.retainStep() > 0);
  assert.ok(s.usedBytes <= 0.5e6, `${s.usedBytes} bytes used`);
  assert.ok(count(s) < 10_000 && count(s) > 500, `${count(s)} kept`);
  assert.is(s.last('thermometer', '/readings')!.seq, 10_000, 'the newest item stays');
  const oldest = (s.db.prepare('SELECT min(seq) AS m FROM items').get() as { m: number }).m;
  assert.is(oldest, 10_000 - count(s) + 1, 'only the oldest went');
  s.close();
});

test('recorded lists each stream with its count, first and last times and newest epoch and seq', () => {
  const s = new RecordStore({ file: ':memory:' });
  for (let i = 1; i <= 5; i++) s.add(item(i));
  s.add(item(1, { epoch: 'E2', time: T0 + 10 }));
  s.add(item(1, { sketch: 'barometer', kind: 'barometer', stream: '/pressure' }));
  s.flush();
  assert.equal(s.recorded(), [
    { sketch: 'barometer', kind: 'barometer', stream: '/pressure', count: 1, first: T0 + 0.1, last: T0 + 0.1, epoch: 'E1', seq: 1 },
    { sketch: 'thermometer', kind: 'thermometer', stream: '/readings', count: 6, first: T0 + 0.1, last: T0 + 10, epoch: 'E2', seq: 1 },
  ]);
  s.close();
});

test('history decimates a range to max_points, with its gaps and the newest item as last; raw gives the rows', () => {
  const s = new RecordStore({ file: ':memory:', now: () => T0 + 4000 });
  for (let i = 1; i <= 36_000; i++) s.add(item(i));
  s.addGap({ sketch: 'thermometer', stream: '/readings', epoch: 'E1', from: 41, to: 57, reason: 'evicted', time: T0 + 5 });
  s.flush();
  const h = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 3600, maxPoints: 2000 })!;
  assert.is(h.count, 36_000);
  assert.ok(h.decimated);
  assert.equal(h.fields, ['celsius']);
  assert.ok(h.time!.length <= 2000 && h.time!.length > 100);
  assert.is(Math.max(...(h.values!.celsius!.filter((v) => v !== null) as number[])), 24.9);
  assert.equal(h.gaps, [{ epoch: 'E1', from: 41, to: 57, reason: 'evicted', time: T0 + 5 }]);
  assert.equal(h.last, { epoch: 'E1', seq: 36_000, time: T0 + 3600 });
  const small = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 1 })!;
  assert.is(small.decimated, false);
  assert.is(small.time!.length, 10);
  assert.equal(small.last, h.last, 'last is the newest overall, not in the range');
  const raw = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 3600, maxPoints: 3, raw: true })!;
  assert.equal(raw.rows!.map((r) => r.seq), [1, 2, 3]);
  assert.equal(raw.rows![0]!.data, { celsius: 20.1 });
  assert.is(s.history({ sketch: 'nobody', stream: '/readings' }), undefined);
  s.close();
});

test('history refuses max_points past 100 000 and since after until', () => {
  const s = new RecordStore({ file: ':memory:' });
  s.add(item(1));
  s.flush();
  for (const q of [{ maxPoints: 100_001 }, { maxPoints: 0 }, { since: 10, until: 5 }]) {
    try {
      s.history({ sketch: 'thermometer', stream: '/readings', ...q });
      assert.unreachable(JSON.stringify(q));
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
    }
  }
  s.close();
});

test('a file that is not a database is refused with SKETCH_ERR_RECORD_DB in one line', () => {
  try {
    new RecordStore({ file: path.join(dir, 'no', 'such', 'dir.sqlite') });
    assert.unreachable();
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_RECORD_DB');
    assert.not.match((err as Error).message, /\n/);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();


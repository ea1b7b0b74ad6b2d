import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecordStore, type HistoryAnswer, type RecordItem } from '../runtime/recorder/store.js';
import { RollupAccumulator, seriesOf } from '../runtime/recorder/rollup.js';

const T0 = 1_763_737_200;
const dir = mkdtempSync(path.join(os.tmpdir(), 'recorder-rollup-'));

function item(seq: number, time: number, data: unknown, over: Partial<RecordItem> = {}): RecordItem {
  return { sketch: 'thermometer', kind: 'thermometer', stream: '/readings', epoch: 'E1', seq, time, published: time, received: time, data: JSON.stringify(data), ...over };
}
const rollupRows = (s: RecordStore, width: number) =>
  s.db.prepare('SELECT bucket, field, n, lo, lo_time AS loTime, hi, hi_time AS hiTime FROM rollups WHERE width = ? ORDER BY bucket, field').all(width) as Array<Record<string, number | string>>;
/** Every (time, field, value) point of an answer. */
const points = (h: HistoryAnswer) =>
  h.time!.flatMap((t, i) => Object.entries(h.values!).flatMap(([f, col]) => (col[i] === null ? [] : [`${t}|${f}|${col[i]}`])));

test('the accumulator keeps per bucket of 1 s and 1 min the count, minimum and maximum of each field at their first sample times', () => {
  const a = new RollupAccumulator();
  a.add('s', '/r', T0 + 0.1, { celsius: 20, volts: 3 });
  a.add('s', '/r', T0 + 0.5, { celsius: 19, volts: 3 });
  a.add('s', '/r', T0 + 0.9, { celsius: 19, volts: 4, name: 'x' });
  a.add('s', '/r', T0 + 1.2, 7);
  const rows = a.take();
  const one = rows.filter((r) => r.width === 1 && r.bucket === T0);
  assert.equal(
    one.map((r) => [r.field, r.n, r.lo, r.loTime, r.hi, r.hiTime]),
    [
      ['celsius', 3, 19, T0 + 0.5, 20, T0 + 0.1],
      ['volts', 3, 3, T0 + 0.1, 4, T0 + 0.9],
    ],
  );
  assert.equal(rows.filter((r) => r.width === 1 && r.bucket === T0 + 1).map((r) => [r.field, r.lo]), [['value', 7]]);
  assert.equal(rows.filter((r) => r.width === 60).map((r) => [r.bucket, r.field, r.n]), [
    [T0 - (T0 % 60), 'celsius', 3],
    [T0 - (T0 % 60), 'volts', 3],
    [T0 - (T0 % 60), 'value', 1],
  ]);
  assert.equal(a.take(), [], 'take() empties it');
});

test('a bucket written over several batches holds the same rollup as one written at once, and a resent item is not counted twice', () => {
  const whole = new RecordStore({ file: ':memory:', batchItems: 10_000 });
  const pieces = new RecordStore({ file: ':memory:', batchItems: 7 });
  for (let i = 0; i < 300; i++) {
    const it = item(i + 1, T0 + i / 10, { celsius: Math.sin(i) * 10 });
    whole.add(it);
    pieces.add(it);
    if (i % 50 === 0) pieces.add(it); // resent
  }
  whole.flush();
  pieces.flush();
  assert.equal(rollupRows(pieces, 1), rollupRows(whole, 1));
  assert.equal(rollupRows(pieces, 60), rollupRows(whole, 60));
  assert.is(rollupRows(whole, 1).reduce((n, r) => n + (r.n as number), 0), 300);
  whole.close();
  pieces.close();
});

test('an hour decimated to 2000 points is read from the 1 s rollups: what they hold is what is answered', () => {
  const s = new RecordStore({ file: ':memory:', now: () => T0 + 3600 });
  for (let i = 0; i < 36_000; i++) s.add(item(i + 1, T0 + i / 10, { celsius: 20 + Math.sin(i / 100) }));
  s.flush();
  // Mark one whole bucket in the middle: only an answer read from the rollups can show it.
  s.db.prepare('UPDATE rollups SET hi = 99 WHERE width = 1 AND bucket = ?').run(T0 + 1800);
  const h = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 3600, maxPoints: 2000 })!;
  assert.ok(h.decimated);
  assert.ok(h.time!.length <= 2000);
  assert.is(Math.max(...(h.values!.celsius!.filter((v) => v !== null) as number[])), 99);
  s.close();
});

test('decimated from rollups or from every item: at most max_points, times never going back, each point an item, and every field\'s extremes kept', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ dt: fc.double({ min: 0, max: 3, noNaN: true }), a: fc.integer({ min: -1000, max: 1000 }), b: fc.option(fc.integer({ min: -5, max: 5 })) }), { minLength: 50, maxLength: 3000 }),
      fc.integer({ min: 4, max: 400 }),
      fc.integer({ min: 1, max: 97 }),
      (steps, maxPoints, batch) => {
        const s = new RecordStore({ file: ':memory:', batchItems: batch });
        let t = T0 + 0.25;
        const items = steps.map((x, i) => {
          t += x.dt;
          return item(i + 1, t, x.b === null ? { a: x.a } : { a: x.a, b: x.b });
        });
        for (const it of items) s.add(it);
        s.flush();
        const q = { sketch: 'thermometer', stream: '/readings', since: items[5]!.time, until: items.at(-5)!.time, maxPoints };
        const h = s.history(q)!;
        const inRange = items.filter((it) => it.time >= q.since && it.time <= q.until);
        assert.is(h.count, inRange.length);
        assert.ok(h.time!.length <= Math.max(maxPoints, 0), `${h.time!.length} points > ${maxPoints}`);
        for (let i = 1; i < h.time!.length; i++) assert.ok(h.time![i]! >= h.time![i - 1]!, 'times never go back');
        const real = new Set(inRange.flatMap((it) => Object.entries(JSON.parse(it.data) as Record<string, number>).map(([f, v]) => `${it.time}|${f}|${v}`)));
        for (const p of points(h)) assert.ok(real.has(p), `${p} is not an item in range`);
        if (Object.keys(h.values!).length * 2 <= maxPoints) {
          for (const f of ['a', 'b']) {
            const vs = inRange.map((it) => (JSON.parse(it.data) as Record<string, number>)[f]).filter((v) => v !== undefined);
            if (vs.length === 0) continue;
            const got = h.values![f]!.filter((v) => v !== null) as number[];
            assert.is(Math.max(...got), Math.max(...vs), `max of ${f}`);
            assert.is(Math.min(...got), Math.min(...vs), `min of ${f}`);
          }
        }
        s.close();
      },
    ),
    { numRuns: 60, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
  );
});

test('retention deletes the rollup buckets that end before the oldest item left', () => {
  const s = new RecordStore({ file: ':memory:', keepSeconds: 120, now: () => T0 + 600, retentionStep: 100_000 });
  for (let i = 0; i < 6000; i++) s.add(item(i + 1, T0 + i / 10, { celsius: i }));
  s.flush();
  while (s.retainStep() > 0);
  const oldest = (s.db.prepare('SELECT min(time) AS t FROM items').get() as { t: number }).t;
  assert.ok(oldest >= T0 + 480);
  for (const width of [1, 60]) {
    const rows = rollupRows(s, width);
    assert.ok(rows.length > 0);
    for (const r of rows) assert.ok((r.bucket as number) + width > oldest, `a ${width} s bucket at ${r.bucket} outlived the items`);
  }
  s.close();
});

test('a file written before rollups existed answers from its items, and from rollups for what is recorded later', () => {
  const file = path.join(dir, 'old.sqlite');
  let s = new RecordStore({ file });
  for (let i = 0; i < 6000; i++) s.add(item(i + 1, T0 + i / 10, { celsius: i % 100 }));
  s.close();
  const old = new RecordStore({ file });
  old.db.exec("DELETE FROM rollups; DELETE FROM meta WHERE key = 'rollups_from'");
  old.close();
  s = new RecordStore({ file, now: () => T0 + 600 });
  const h = s.history({ sketch: 'thermometer', stream: '/readings', since: T0, until: T0 + 600, maxPoints: 200 })!;
  assert.ok(h.decimated);
  const vs = h.values!.celsius!.filter((v) => v !== null) as number[];
  assert.is(Math.max(...vs), 99, 'decimated from the items: the rollups are empty');
  assert.is(Math.min(...vs), 0);
  s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('series of candidates: one point per time, fields sharing it, null elsewhere, in the given field order', () => {
  const s = seriesOf(
    [
      { time: 2, field: 'b', value: 5 },
      { time: 1, field: 'a', value: 1 },
      { time: 2, field: 'a', value: 2 },
    ],
    ['a', 'b'],
  );
  assert.equal(s, { time: [1, 2], values: { a: [1, 2], b: [null, 5] } });
});

test.run();

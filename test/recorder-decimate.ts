import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decimate, toSeries, type Series } from '../runtime/recorder/decimate.js';
import { MAX_FIELDS } from '../runtime/streams/fields.js';
import { announceSeed, fuzz } from './helpers/fc.js';

announceSeed('recorder-decimate.ts');

/** A series of 1–3000 points over 1–3 fields, times ascending (ties allowed), some values null. */
const series = fc
  .record({
    steps: fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { minLength: 1, maxLength: 3000 }),
    fields: fc.integer({ min: 1, max: 3 }),
    seed: fc.integer(),
  })
  .map(({ steps, fields, seed }) => {
    let t = 1_763_737_200;
    const time = steps.map((d) => (t += d));
    let x = seed;
    const next = () => ((x = (x * 1103515245 + 12345) | 0), x);
    const values: Series['values'] = {};
    for (let f = 0; f < fields; f++) values[`f${f}`] = time.map(() => (next() % 7 === 0 ? null : (next() % 1000) / 10));
    return { time, values } as Series;
  });

fuzz(test, 'decimation keeps at most max_points points, times ascending, every value from its own sample', 300, fc.tuple(series, fc.integer({ min: 1, max: 500 })), ([s, max]) => {
  const out = decimate(s, max);
  assert.ok(out.time.length <= max, `${out.time.length} > ${max}`);
  for (let i = 1; i < out.time.length; i++) assert.ok(out.time[i]! >= out.time[i - 1]!);
  for (const [f, column] of Object.entries(out.values)) {
    assert.is(column.length, out.time.length);
    for (const [i, v] of column.entries()) {
      if (v === null) continue;
      // some input sample at that time has that value
      const found = s.time.some((t, j) => t === out.time[i] && s.values[f]![j] === v);
      assert.ok(found, `${f}=${v} at ${out.time[i]} is not an input sample`);
    }
  }
});

fuzz(test, 'decimation never averages a peak away: every field keeps its overall minimum and maximum', 300, fc.tuple(series, fc.integer({ min: 6, max: 500 })), ([s, max]) => {
  const out = decimate(s, max);
  for (const [f, column] of Object.entries(s.values)) {
    const present = column.filter((v): v is number => v !== null);
    if (!present.length) continue;
    const kept = out.values[f]!.filter((v): v is number => v !== null);
    assert.ok(kept.includes(Math.max(...present)), `${f} lost its maximum`);
    assert.ok(kept.includes(Math.min(...present)), `${f} lost its minimum`);
  }
});

test('a spike of one sample among 36 000 survives decimation to 2000 points with the other fields null at its time', () => {
  const time = Array.from({ length: 36_000 }, (_, i) => 1000 + i / 10);
  const celsius = time.map(() => 21.5);
  const humidity = time.map(() => 40);
  celsius[12_345] = 99;
  const out = decimate({ time, values: { celsius, humidity } }, 2000);
  assert.ok(out.time.length <= 2000);
  const at = out.time.indexOf(time[12_345]!);
  assert.ok(at >= 0, 'the spike time is kept');
  assert.is(out.values.celsius![at], 99);
  assert.is(out.values.humidity![at], null);
});

test('a series within max_points is returned as it is', () => {
  const s: Series = { time: [1, 2, 3], values: { v: [1, null, 3] } };
  assert.is(decimate(s, 3), s);
});

test('columns hold null where an item lacks a field, and at most MAX_FIELDS fields are kept', () => {
  const s = toSeries([
    { time: 1, data: { a: 1 } },
    { time: 2, data: { b: 2 } },
    { time: 3, data: 'text' },
  ]);
  assert.equal(s, { time: [1, 2, 3], values: { a: [1, null, null], b: [null, 2, null] } });
  const wide = Object.fromEntries(Array.from({ length: MAX_FIELDS + 5 }, (_, i) => [`k${i}`, i]));
  assert.is(Object.keys(toSeries([{ time: 1, data: wide }]).values).length, MAX_FIELDS);
});

test.run();

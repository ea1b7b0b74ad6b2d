import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_FIELDS, numericFields } from '../runtime/streams/fields.js';

test('the plotted fields are the finite numeric top-level fields, in order, without time; a bare number is value', () => {
  assert.equal(numericFields({ time: 1, temperature: 21.5, unit: '°C', ok: true, n: NaN, bad: Infinity, nested: { x: 1 }, rh: 40 }), [
    ['temperature', 21.5],
    ['rh', 40],
  ]);
  assert.equal(numericFields(3), [['value', 3]]);
  assert.equal(numericFields(Infinity), []);
  assert.equal(numericFields('3'), []);
  assert.equal(numericFields([1, 2]), []);
  assert.equal(numericFields(null), []);
});

test('at most MAX_FIELDS fields are taken from one item, the first ones', () => {
  const wide = Object.fromEntries(Array.from({ length: MAX_FIELDS + 5 }, (_, i) => [`k${i}`, i]));
  const got = numericFields(wide);
  assert.is(got.length, MAX_FIELDS);
  assert.equal(got.at(-1), [`k${MAX_FIELDS - 1}`, MAX_FIELDS - 1]);
});

test.run();

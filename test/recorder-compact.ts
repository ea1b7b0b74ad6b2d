import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baseOf, Codec } from '../runtime/recorder/compact.js';

const T0 = 1_765_000_000.123_456;
const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown); // -0 and the like as JSON has them

test('a thermometer reading is stored as its changed field only: unit, sensor and the sample time are left out', () => {
  const first = { time: T0, temperature: 21.437, unit: '°C', sensor: 'ds18b20:28-0316a2795aff' };
  const codec = new Codec(baseOf(first, JSON.stringify(first), T0));
  assert.is(codec.base.timeKey, 'time');
  const next = { time: T0 + 0.1, temperature: 21.5, unit: '°C', sensor: 'ds18b20:28-0316a2795aff' };
  const stored = codec.encode(next, JSON.stringify(next), T0 + 0.1);
  assert.equal(stored, { data: null, patch: '{"temperature":21.5}' });
  assert.equal(codec.decode(stored, T0 + 0.1), next);
});

test('data of another shape (keys, order, type) is stored whole', () => {
  const first = { a: 1, b: 2 };
  const codec = new Codec(baseOf(first, JSON.stringify(first), T0));
  for (const other of [{ b: 2, a: 1 }, { a: 1 }, { a: 1, b: 2, c: 3 }, [1, 2], 'a', null]) {
    assert.equal(codec.encode(other, JSON.stringify(other), T0), { data: JSON.stringify(other), patch: null });
  }
});

test('whatever the base and the item, decoding gives back the item (fast-check)', () => {
  fc.assert(
    fc.property(json, json, fc.double({ min: 0, max: 2e9, noNaN: true }), fc.double({ min: 0, max: 2e9, noNaN: true }), (base, item, baseTime, time) => {
      const codec = new Codec(baseOf(base, JSON.stringify(base), baseTime));
      const stored = codec.encode(item, JSON.stringify(item), time);
      assert.equal(codec.decode(stored, time), item);
      assert.equal(JSON.parse(codec.text(stored, time)), item);
    }),
    { numRuns: 2000 },
  );
});

/** A codec whose base is `base` with the sample time in its `at`-th field, and an item of the same keys taking every other value from `values`. */
function shapedItem(base: Record<string, unknown>, values: unknown[], at: number, time: number) {
  const keys = Object.keys(base);
  const timeKey = keys[at % keys.length]!;
  const first = { ...base, [timeKey]: time };
  const codec = new Codec(baseOf(first, JSON.stringify(first), time));
  const item: Record<string, unknown> = {};
  keys.forEach((k, i) => (item[k] = i % 2 === 0 ? base[k] : values[i]));
  return { codec, item, timeKey };
}

test('items sharing the base\'s shape round-trip too, with the sample time in any field (fast-check)', () => {
  const shaped = fc.dictionary(fc.string({ maxLength: 6 }), json, { minKeys: 1, maxKeys: 6 });
  fc.assert(
    fc.property(shaped, fc.array(json, { minLength: 6, maxLength: 6 }), fc.nat(5), fc.double({ min: 0, max: 2e9, noNaN: true }), (base, values, at, time) => {
      const { codec, item, timeKey } = shapedItem(base, values, at, time);
      item[timeKey] = time + 1;
      const stored = codec.encode(item, JSON.stringify(item), time + 1);
      assert.equal(codec.decode(stored, time + 1), item);
    }),
    { numRuns: 2000 },
  );
});

test('the patch text is what JSON.stringify gives the object of changed fields, and the whole text is made only when needed (fast-check)', () => {
  /** The patch as an object of the fields that differ, stringified: the encoding before it wrote text directly. */
  const reference = (codec: Codec, value: Record<string, unknown>, time: number): string => {
    const base = JSON.parse(codec.base.text) as Record<string, unknown>;
    const patch: Record<string, unknown> = {};
    for (const k of Object.keys(base)) {
      if (k === codec.base.timeKey) {
        if (value[k] !== time) patch[k] = value[k];
      } else if (JSON.stringify(value[k]) !== JSON.stringify(base[k])) patch[k] = value[k];
    }
    return JSON.stringify(patch);
  };
  const shaped = fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('0', '7', '10', '"q"', 'é')), json, { minKeys: 1, maxKeys: 6 });
  fc.assert(
    fc.property(shaped, fc.array(json, { minLength: 6, maxLength: 6 }), fc.nat(5), fc.double({ min: 0, max: 2e9, noNaN: true }), (base, values, at, time) => {
      if (Object.hasOwn(base, '__proto__')) return;
      const { codec, item } = shapedItem(base, values, at, time);
      let made = 0;
      const stored = codec.encode(item, () => (made++, JSON.stringify(item)), time);
      assert.is(stored.patch, reference(codec, item, time));
      assert.is(made, 0, 'no whole text for a patch');
      assert.equal(codec.decode(stored, time), item);
    }),
    { numRuns: 2000 },
  );
  const codec = new Codec(baseOf({ a: 1 }, '{"a":1}', T0));
  assert.equal(codec.encode([1], () => '[1]', T0), { data: '[1]', patch: null }, 'stored whole: the function makes the text');
});

test.run();

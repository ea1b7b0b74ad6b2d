import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { History } from '../runtime/streams/history.js';

const add = (h: History, n: number, at = (i: number) => i) => {
  for (let i = 0; i < n; i++) h.append(`x${i}`, `"x${i}"`, at(i), at(i));
};

test('append numbers items 1, 2, 3… and get() reads each back while held', () => {
  const h = new History({ maxItems: 10 });
  assert.is(h.lastSeq, 0);
  assert.is(h.firstSeq, 1);
  add(h, 3);
  assert.equal([1, 2, 3].map((s) => h.get(s)?.text), ['x0', 'x1', 'x2']);
  assert.is(h.get(4), undefined);
  assert.is(h.get(0), undefined);
});

test('past maxItems the oldest items are evicted and seq keeps counting without holes', () => {
  const h = new History({ maxItems: 5 });
  add(h, 12);
  assert.is(h.size, 5);
  assert.is(h.firstSeq, 8);
  assert.is(h.lastSeq, 12);
  for (let s = 8; s <= 12; s++) assert.is(h.get(s)!.seq, s);
  assert.is(h.get(7), undefined);
});

test('past maxBytes the oldest go, but the newest item is kept even when it alone is larger', () => {
  const h = new History({ maxItems: 100, maxBytes: 1024 });
  add(h, 10);
  const big = 'y'.repeat(5000);
  h.append(big, JSON.stringify(big), 11, 11);
  assert.is(h.size, 1);
  assert.is(h.newest!.text, big);
  assert.is(h.firstSeq, 11);
});

test('maxAgeSeconds evicts items published longer ago than that', () => {
  const h = new History({ maxItems: 100, maxAgeSeconds: 10 });
  add(h, 20, (i) => 1000 + i); // published at 1000…1019
  assert.is(h.oldest!.published, 1009);
  h.evict(1100);
  assert.is(h.size, 0);
  assert.is(h.firstSeq, 21);
});

test('seqAtTime finds the oldest held item sampled at or after a time', () => {
  const h = new History({ maxItems: 100 });
  add(h, 10, (i) => 100 + i * 0.5);
  assert.is(h.seqAtTime(0), 1);
  assert.is(h.seqAtTime(101), 3);
  assert.is(h.seqAtTime(101.2), 4);
  assert.is(h.seqAtTime(1e9), 11);
});

test('bytesFrom counts the bytes of the held items from a seq to the newest', () => {
  const h = new History({ maxItems: 4 });
  add(h, 6);
  const each = h.get(6)!.bytes;
  assert.is(h.bytesFrom(6), each);
  assert.is(h.bytesFrom(3), 4 * each, 'clamped to what is held');
  assert.is(h.bytesFrom(7), 0);
  assert.is(h.bytes, 4 * each);
});

test('a long run keeps memory bounded: the backing array is compacted', () => {
  const h = new History({ maxItems: 3 });
  add(h, 100_000);
  assert.is(h.size, 3);
  assert.is(h.firstSeq, 99_998);
  assert.is(h.get(100_000)!.text, 'x99999');
});

test('items from keepFrom on stay past the bounds until no longer needed', () => {
  const h = new History({ maxItems: 3 });
  add(h, 3);
  for (let i = 3; i < 8; i++) h.append(`x${i}`, `"x${i}"`, i, i, 2); // a subscriber still needs seq 2…
  assert.is(h.firstSeq, 2);
  assert.is(h.size, 7);
  h.evict(100); // …and then no longer
  assert.is(h.firstSeq, 6);
});

test.run();

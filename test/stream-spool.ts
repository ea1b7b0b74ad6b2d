import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../runtime/recorder/sqlite.js';
import { StreamHub } from '../runtime/streams/hub.js';
import { SqliteOutboxStore } from '../runtime/streams/spool.js';
import { StreamSpool, TRIM_STEP, type KeptItem, type KeptStream, type StreamStore } from '../runtime/streams/stream-spool.js';
import { Stream, type StreamSpec } from '../runtime/streams/stream.js';

const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'stream-spool-')), 'spool.db');
const clock = { s: 1_700_000_000 };
const host = { maxBuffered: 1 << 20, log: () => {}, now: () => clock.s, clock: () => clock.s * 1000 };
const BOOT = 'boot-1';

/** A stream on the spool `file` (opened in boot `boot`); `close()` closes the spool cleanly. */
function open(file: string, spec: StreamSpec = {}, boot = BOOT, path = '/readings') {
  const store = new StreamSpool(file, boot);
  return { stream: new Stream(path, spec, host, store), store };
}

const rows = (file: string, path = '/readings') => {
  const db = openDatabase(file, { readonly: true });
  try {
    return (db.prepare('SELECT seq FROM stream_items WHERE path = ? ORDER BY seq').all(path) as Array<{ seq: number }>).map((r) => r.seq);
  } finally {
    db.close();
  }
};

const held = (s: Stream) => Array.from({ length: s.history.size }, (_, i) => s.history.get(s.history.firstSeq + i)!);

test('a stream reopened on its spool goes on in the same epoch with the next seq and every item of its history', () => {
  const file = tmpFile();
  const a = open(file);
  for (let i = 1; i <= 5; i++) {
    clock.s += 0.1;
    a.stream.publish(i % 2 ? { reading: i } : `text ${i}`);
  }
  const before = held(a.stream).map(({ seq, time, published, text, json }) => ({ seq, time, published, text, json }));
  // no close: as after a SIGKILL
  const b = open(file);
  assert.is(b.stream.epoch, a.stream.epoch);
  assert.is(b.stream.history.lastSeq, 5);
  assert.equal(held(b.stream).map(({ seq, time, published, text, json }) => ({ seq, time, published, text, json })), before);
  assert.is(b.stream.publish({ reading: 6 }).seq, 6);
  assert.is(b.stream.history.bytesFrom(1), a.stream.history.bytesFrom(1) + b.stream.history.get(6)!.bytes);
  a.store.close();
  b.store.close();
});

test('the spool keeps no more items than the stream\'s history, by items and by bytes', () => {
  const file = tmpFile();
  const byItems = open(file, { history: 10 });
  for (let i = 0; i < 500; i++) byItems.stream.publish({ reading: i });
  assert.equal(rows(file), Array.from({ length: 10 }, (_, i) => 491 + i));
  const byBytes = open(file, { history: { maxBytes: 2048 } }, BOOT, '/big');
  for (let i = 0; i < 500; i++) byBytes.stream.publish('x'.repeat(200));
  assert.is(rows(file, '/big').length, byBytes.stream.history.size);
  assert.ok(byBytes.stream.history.size <= 8, `${byBytes.stream.history.size} held`);
  byItems.store.close();
  byBytes.store.close();
});

test(`a history made smaller is trimmed in the spool by at most ${TRIM_STEP} rows per publish, never below it`, () => {
  const file = tmpFile();
  const a = open(file, { history: 1000 });
  for (let i = 0; i < 1000; i++) a.stream.publish(i);
  a.store.close();
  const b = open(file, { history: 10 });
  assert.is(b.stream.history.size, 10);
  b.stream.publish(1000);
  assert.is(rows(file).length, 1001 - TRIM_STEP);
  for (let i = 0; i < 20; i++) b.stream.publish(i);
  assert.equal(rows(file), Array.from({ length: 10 }, (_, i) => 1012 + i));
  b.store.close();
});

test('a stream whose history kept nothing (all older than maxAgeSeconds) still goes on with its epoch and seq', () => {
  const file = tmpFile();
  const a = open(file, { history: { maxAgeSeconds: 1 } });
  for (let i = 0; i < 3; i++) a.stream.publish(i);
  a.store.close();
  clock.s += 60;
  const b = open(file, { history: { maxAgeSeconds: 1 } });
  assert.equal([b.stream.epoch, b.stream.history.lastSeq, b.stream.history.size], [a.stream.epoch, 3, 0]);
  assert.is(b.stream.publish(3).seq, 4);
  b.store.close();
});

test('after a power cut (another boot, not closed cleanly) the stream starts a new epoch at seq 1 with no history', () => {
  const file = tmpFile();
  const a = open(file, {}, 'boot-1');
  for (let i = 0; i < 3; i++) a.stream.publish(i);
  const b = open(file, {}, 'boot-2');
  assert.is.not(b.stream.epoch, a.stream.epoch);
  assert.equal([b.stream.history.lastSeq, b.stream.history.size, rows(file)], [0, 0, []]);
  assert.is(b.stream.publish('after').seq, 1);
  a.store.close();
  b.store.close();
});

test('after a clean close and a reboot the stream keeps its epoch, seq and history', () => {
  const file = tmpFile();
  const a = open(file, {}, 'boot-1');
  for (let i = 0; i < 3; i++) a.stream.publish(i);
  a.store.close();
  a.store.close(); // twice is safe
  const b = open(file, {}, 'boot-2');
  assert.equal([b.stream.epoch, b.stream.history.lastSeq, b.stream.history.size], [a.stream.epoch, 3, 3]);
  b.store.close();
});

test('a spool file written by an older version (its outboxes only) opens, keeps its outbox items, and its streams begin at seq 1', () => {
  const file = tmpFile();
  const old = new SqliteOutboxStore(file, 'peer');
  old.put(1, '{"reading":1}');
  old.close();
  const { stream, store } = open(file);
  assert.equal([stream.history.lastSeq, stream.publish('first').seq], [0, 1]);
  store.close();
  const outbox = new SqliteOutboxStore(file, 'peer');
  assert.equal([outbox.size, outbox.get(1)], [1, '{"reading":1}']);
  outbox.close();
});

test('a hub keeps every stream in its store, declared or first published to, and closes the store with it', () => {
  const store = new StreamSpool(':memory:', BOOT);
  const hub = new StreamHub({ '/declared': { history: 5 } }, host, { store });
  hub.publish('/declared', 1);
  hub.publish('/later', 2);
  const kept = store.open('/later', 'unused');
  assert.equal([kept.epoch, kept.lastSeq, kept.items.map((i) => i.json)], [hub.get('/later')!.epoch, 1, ['2']]);
  hub.close();
  store.append('/later', kept.items[0]!, 1); // closed: nothing kept, no throw
});

test('a stream whose store fails logs one line and goes on publishing without it', () => {
  const lines: string[] = [];
  const appended: number[] = [];
  const failing: StreamStore = {
    open: (_path, fresh): KeptStream => ({ epoch: fresh, lastSeq: 0, items: [] }),
    append: (_path, item: KeptItem) => {
      appended.push(item.seq);
      if (item.seq === 2) throw new Error('disk full');
    },
    close: () => {},
  };
  const s = new Stream('/readings', {}, { ...host, log: (l) => lines.push(l) }, failing);
  for (let i = 0; i < 4; i++) s.publish(i);
  assert.equal([s.history.lastSeq, appended, lines], [4, [1, 2], ['disk full']]);
});

test('a spool that cannot be kept any more forgets the epoch, so the next start begins a new one', () => {
  const file = tmpFile();
  const lines: string[] = [];
  const store = new StreamSpool(file, BOOT);
  const s = new Stream('/readings', {}, { ...host, log: (l) => lines.push(l) }, store);
  s.publish(1);
  const db = openDatabase(file);
  db.exec('CREATE TRIGGER fail BEFORE INSERT ON stream_items BEGIN SELECT RAISE(FAIL, \'disk I/O error\'); END');
  db.close();
  s.publish(2);
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /stream \/readings: seq 2 not kept \(disk I\/O error\), nor what follows; the next start begins a new epoch/);
  store.close();
  const again = open(file);
  assert.is.not(again.stream.epoch, s.epoch);
  again.store.close();
});

test.run();

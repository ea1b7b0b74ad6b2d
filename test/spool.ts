import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Outbox } from '../runtime/streams/outbox.js';
import { SqliteOutboxStore } from '../runtime/streams/spool.js';
import { outboxStoreContract } from './helpers/outbox-store-contract.js';

const tmpFile = () => join(mkdtempSync(join(tmpdir(), 'spool-')), 'spool.db');

outboxStoreContract('SqliteOutboxStore', () => new SqliteOutboxStore(tmpFile()), {
  reopen: (store) => {
    const file = (store as SqliteOutboxStore).file;
    store.close();
    return new SqliteOutboxStore(file, (store as SqliteOutboxStore).queue);
  },
});

test('a spool reopened after its process ended holds every item it held, in order, and its size', () => {
  const file = tmpFile();
  const a = new SqliteOutboxStore(file);
  for (let i = 1; i <= 1000; i++) a.put(i, JSON.stringify({ reading: i }));
  for (let i = 1; i <= 10; i++) a.del(i);
  a.close();
  const b = new SqliteOutboxStore(file);
  assert.is(b.size, 990);
  assert.equal(b.oldest(3), [11, 12, 13]);
  assert.is(b.newest(), 1000);
  assert.is(b.get(11), '{"reading":11}');
  b.close();
});

test('two queues in one spool file keep their items apart', () => {
  const file = tmpFile();
  const a = new SqliteOutboxStore(file, 'buzzer');
  const b = new SqliteOutboxStore(file, 'logger');
  a.put(1, 'a1');
  b.put(1, 'b1');
  b.put(2, 'b2');
  assert.equal([a.size, b.size, a.get(1), b.newest()], [1, 2, 'a1', 2]);
  a.close();
  b.close();
});

test('an outbox on a spool bounded in bytes drops the oldest unsent items past it and counts them', async () => {
  const store = new SqliteOutboxStore(tmpFile(), 'peer');
  const lines: string[] = [];
  const o = new Outbox({ target: 'peer', store, maxBytes: 10_000, send: () => new Promise(() => {}), log: (l) => lines.push(l) });
  for (let i = 0; i < 1000; i++) o.push({ reading: i, pad: 'x'.repeat(80) }); // ~100 B each: 100 KB pushed
  assert.ok(store.bytes <= 10_000, `${store.bytes} bytes held`);
  assert.ok(o.status().dropped >= 890, `${o.status().dropped} dropped`);
  assert.is(lines.filter((l) => /spool for peer is full \(10000 bytes\)/.test(l)).length, 1);
  await o.close();
});

test('a file that is not a database is refused with one line naming it', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'spool-')), 'not-a-db');
  writeFileSync(file, 'x'.repeat(4096));
  assert.throws(() => new SqliteOutboxStore(file), (err: Error) => err.message.includes(file));
});

test.run();

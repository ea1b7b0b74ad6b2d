import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdnsDiscovery } from '../runtime/index.js';
import { decodeReply, SUBPROTOCOL, type ItemFrame } from '../runtime/net/protocol.js';
import { RecordStore } from '../runtime/recorder/store.js';
import { cli, connect } from './helpers/net.js';

const T0 = 1_763_737_200;
const dir = mkdtempSync(path.join(os.tmpdir(), 'recorder-replay-'));

test('sketch replay --speed 10 announces NAME (replay) and a sketchnet.v2 subscriber gets every item in order with its original time, then exit 0', async () => {
  const db = path.join(dir, 'replay.sqlite');
  const name = `replayed-${process.pid}`;
  const s = new RecordStore({ file: db });
  // 20 items 0.2 s apart (4 s recorded: 0.4 s at --speed 10), one stream
  const times = Array.from({ length: 20 }, (_, i) => T0 + i * 0.2);
  times.forEach((time, i) => s.add({ sketch: name, kind: 'thermometer', stream: '/readings', epoch: 'E1', seq: i + 1, time, published: time, received: time, data: JSON.stringify({ temperature: 20 + i }) }));
  s.close();
  const replay = cli(['replay', '--db', db, '--speed', '10', '--delay', '1']);
  const discovery = new MdnsDiscovery();
  try {
    await replay.waitFor(/announced as/);
    const found = await discovery.resolve(`${name} (replay)`, 5000);
    assert.is(found.kind, 'thermometer');
    assert.equal(found.streams, ['/readings']);
    const items: ItemFrame[] = [];
    const ws = await connect(new URL('/readings?history=all', found.url).href, [SUBPROTOCOL], (text) => {
      const r = decodeReply(text);
      if ('item' in r) items.push(r.item);
    });
    const code = await replay.exited(20_000);
    await new Promise((r) => (ws.readyState === ws.CLOSED ? r(null) : ws.once('close', r)));
    assert.is(code, 0, replay.stderr());
    assert.is(items.length, 20);
    assert.equal(items.map((i) => i.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(items.map((i) => i.time), times, 'original sample times, so the original spacing');
    assert.equal(items.map((i) => (i.data as { temperature: number }).temperature), Array.from({ length: 20 }, (_, i) => 20 + i));
    assert.match(replay.stdout(), /replay done: 20 item\(s\)/);
  } finally {
    replay.child.kill('SIGTERM');
    await replay.exited().catch(() => {});
    await discovery.close();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Sketch } from '../runtime/index.js';
import type { GapFrame, ItemFrame } from '../runtime/net/protocol.js';
import { StreamSubscriber } from '../runtime/streams/subscriber.js';
import { sleep } from './helpers/net.js';

class Source extends Sketch {
  static override kind = 'source';
  static override streams = { '/data': { history: 5, delivery: 'all' as const } };
}

function collector() {
  const items: Array<{ seq: number; epoch: string }> = [];
  const gaps: Array<GapFrame & { epoch: string }> = [];
  const segments: Array<[string, string | undefined]> = [];
  return {
    items,
    gaps,
    segments,
    onItem: (i: ItemFrame, epoch: string) => items.push({ seq: i.seq, epoch }),
    onGap: (g: GapFrame, epoch: string) => gaps.push({ ...g, epoch }),
    onSegment: (e: string, p: string | undefined) => segments.push([e, p]),
  };
}
async function waitFor(ok: () => boolean, what: string) {
  for (let i = 0; i < 200 && !ok(); i++) await sleep(25);
  assert.ok(ok(), what);
}

test('a new subscriber asks for every item held, or those since a time; a resume asks after_seq and epoch', () => {
  const fresh = new StreamSubscriber({ url: 'ws://127.0.0.1:1/', path: '/data', name: 'x', ...collector() });
  assert.is(fresh.url().href, 'ws://127.0.0.1:1/data?history=all');
  const resumed = new StreamSubscriber({ url: 'ws://127.0.0.1:1/', path: '/data', name: 'x', resume: { epoch: 'Ab_c', seq: 41 }, ...collector() });
  assert.is(resumed.url().href, 'ws://127.0.0.1:1/data?after_seq=41&epoch=Ab_c');
  const recent = new StreamSubscriber({ url: 'ws://127.0.0.1:1/', path: '/data', name: 'x', since: 1_763_700_000, ...collector() });
  assert.is(recent.url().href, 'ws://127.0.0.1:1/data?since=1763700000');
  const both = new StreamSubscriber({ url: 'ws://127.0.0.1:1/', path: '/data', name: 'x', since: 1, resume: { epoch: 'E', seq: 2 }, ...collector() });
  assert.is(both.url().href, 'ws://127.0.0.1:1/data?after_seq=2&epoch=E', 'a resume point wins over since');
});

test('a resume whose missed items were evicted reports an evicted gap, then the rest in order', async () => {
  const s = new Source({ discovery: false, log: () => {} });
  const addr = await s.run({ host: '127.0.0.1' });
  for (let i = 0; i < 20; i++) s.publish('/data', { v: i });
  const epoch = s.streamAt('/data')!.epoch;
  const c = collector();
  const sub = new StreamSubscriber({ url: addr.url, path: '/data', name: 'src', resume: { epoch, seq: 2 }, ...c });
  sub.start();
  try {
    await waitFor(() => c.items.length >= 5, 'five items');
    assert.equal(c.gaps, [{ stream: '/data', from: 3, to: 15, reason: 'evicted', epoch }]);
    assert.equal(c.items.map((i) => i.seq), [16, 17, 18, 19, 20]);
    assert.equal(c.segments, [], 'same epoch: no new segment');
  } finally {
    sub.close();
    await s.close();
  }
});

test('after the connection drops the subscriber reconnects with backoff and resumes without duplicates or holes', async () => {
  const s = new Source({ discovery: false, log: () => {} });
  const addr = await s.run({ host: '127.0.0.1' });
  const c = collector();
  const opened: Array<{ search: string; ws: WebSocket }> = [];
  const sub = new StreamSubscriber({
    url: addr.url,
    path: '/data',
    name: 'src',
    backoffMs: 10,
    random: () => 0,
    connect: (u, p, o) => {
      const ws = new WebSocket(u, p, o);
      opened.push({ search: u.search, ws });
      return ws;
    },
    ...c,
  });
  sub.start();
  try {
    s.publish('/data', 1);
    s.publish('/data', 2);
    await waitFor(() => c.items.length === 2, 'two items');
    opened[0]!.ws.terminate(); // the link dies without a close frame
    s.publish('/data', 3);
    s.publish('/data', 4);
    await waitFor(() => c.items.length === 4, 'the items published while away, after the reconnect');
    assert.equal(c.items.map((i) => i.seq), [1, 2, 3, 4]);
    assert.is(opened[0]!.search, '?history=all');
    assert.match(opened[1]!.search, /^\?after_seq=2&epoch=/);
    assert.is(sub.status().reconnects, 1);
    assert.equal(c.gaps, []);
  } finally {
    sub.close();
    await s.close();
  }
});

test('while it waits out a long backoff, retarget to where the sketch now is and nudge subscribe at once', async () => {
  const c = collector();
  const tries: string[] = [];
  const sub = new StreamSubscriber({
    url: 'ws://127.0.0.1:1/', // nothing listens there
    path: '/data',
    name: 'src',
    backoffMs: 60_000,
    random: () => 0.99,
    connect: (u, p, o) => {
      tries.push(u.host);
      return new WebSocket(u, p, o);
    },
    ...c,
  });
  sub.start();
  await waitFor(() => tries.length === 1 && !sub.connected, 'the first attempt failed');
  await sleep(100);
  assert.is(tries.length, 1, 'a minute of backoff: no second attempt yet');
  const s = new Source({ discovery: false, log: () => {} });
  const addr = await s.run({ host: '127.0.0.1' });
  try {
    sub.retarget(addr.url);
    sub.nudge();
    await waitFor(() => sub.connected, 'subscribed at the new address without waiting out the backoff');
    s.publish('/data', 7);
    await waitFor(() => c.items.length === 1, 'the item');
    assert.is(tries.length, 2);
    sub.nudge(); // connected: nothing to do
    assert.is(tries.length, 2);
  } finally {
    sub.close();
    await s.close();
  }
});

test('a stream that restarted (new epoch) is a new segment, read from its first item held', async () => {
  const s = new Source({ discovery: false, log: () => {} });
  const addr = await s.run({ host: '127.0.0.1' });
  for (let i = 0; i < 7; i++) s.publish('/data', i);
  const c = collector();
  const sub = new StreamSubscriber({ url: addr.url, path: '/data', name: 'src', resume: { epoch: 'old-epoch', seq: 100 }, ...c });
  sub.start();
  try {
    await waitFor(() => c.items.length === 5, 'the five items held');
    const epoch = s.streamAt('/data')!.epoch;
    assert.equal(c.segments, [[epoch, 'old-epoch']]);
    assert.equal(c.gaps, [{ stream: '/data', from: 1, to: 2, reason: 'evicted', epoch }], 'items 1–2 of the new epoch are gone');
    assert.equal(c.items.map((i) => i.seq), [3, 4, 5, 6, 7]);
  } finally {
    sub.close();
    await s.close();
  }
});

test.run();

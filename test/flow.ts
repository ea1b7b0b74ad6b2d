/**
 * Flow control of stream subscribers (runtime/streams/flow.ts): the confirmation by ping and
 * pong without a network (a fake clock and a fake ping), the credit frame, and then real
 * clients: plain and `sketchnet.v2` subscribers that stop reading, that grant credit, that
 * push past the staleness bound and the credit maximum.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { reactive, Sketch, SketchError, type StreamSpec } from '../runtime/index.js';
import { Confirmation, Credit, DEFAULT_MAX_CREDIT, DEFAULT_STALE_AFTER_MS, PING_MIN_BYTES, pingPhase } from '../runtime/streams/flow.js';
import { parseCredit } from '../runtime/streams/query.js';
import { Stream } from '../runtime/streams/stream.js';
import { decodeCredit, encodeCredit, MAX_CREDIT, SUBPROTOCOL, SUBPROTOCOL_V3 } from '../runtime/net/protocol.js';
import { StreamSubscriber } from '../runtime/streams/subscriber.js';
import { closed, connect, frames, runCli, sleep, stalled, upgrade } from './helpers/net.js';

// ---------------------------------------------------------------------------------------------
// Confirmation, without a network

/** A confirmation with a bound of 1000 ms whose pings are recorded. */
function confirmation(bound = 1000) {
  const pings: Buffer[] = [];
  const c = new Confirmation(bound, (p) => pings.push(p));
  return { c, pings };
}

test('data written is followed by one ping; the pong for it confirms everything before it', () => {
  const { c, pings } = confirmation();
  c.wrote(0);
  assert.is(pings.length, 1);
  c.wrote(10);
  c.wrote(20);
  assert.is(pings.length, 1, 'at most one ping outstanding');
  assert.is(c.unconfirmedMs(500), 500);
  assert.ok(c.pong(pings[0]!, 501));
  assert.is(pings.length, 2, 'the pong came after an interval: the data written since is pinged at once…');
  assert.is(c.unconfirmedMs(501), 491, '…timed from when it was written');
  assert.ok(c.pong(pings[1]!, 502));
  assert.is(c.unconfirmedMs(600), 0);
  assert.not.ok(c.stale(10_000), 'nothing awaits confirmation: never stale');
});

test('pings go at most once per quarter of the bound, however many items are written', () => {
  const { c, pings } = confirmation(1000);
  for (let t = 0; t < 1000; t++) {
    c.wrote(t);
    if (pings.length > 0) c.pong(pings.at(-1)!, t); // a client that answers at once
  }
  assert.is(pings.length, 4, `${pings.length} pings for 1000 writes in 1 s`);
});

test('with a byte threshold (streams: PING_MIN_BYTES), no ping until that many bytes were written since the last: a slow stream costs few pings', () => {
  const pings: Buffer[] = [];
  const c = new Confirmation(1000, (p) => pings.push(p), PING_MIN_BYTES);
  // A 10 Hz stream of 43-byte readings to a client that answers at once.
  let t = 0;
  for (; pings.length === 0; t += 100) c.wrote(t, 43);
  assert.is(t / 100, Math.ceil(PING_MIN_BYTES / 43), 'the first ping after 4096 bytes, not after the first item');
  c.pong(pings[0]!, t);
  assert.not.ok(c.due(t + 300, 43), 'an interval passed, but not the bytes');
  assert.ok(c.due(t + 300, PING_MIN_BYTES), 'both passed: due');
  // A stalled reader on a fast stream is still found within the bound.
  const fast = new Confirmation(1000, () => {}, PING_MIN_BYTES);
  for (let ms = 0; ms <= 1100; ms++) fast.wrote(ms, 200);
  assert.ok(fast.stale(1100));
  assert.is(PING_MIN_BYTES, 4096);
});

test('a phase makes only the first ping earlier; subscribers of one stream with their pingPhase are pinged on different items, not all in one publish()', () => {
  // Phase 0 is the plain threshold; a phase counts that many bytes as written already.
  const at = (phase: number) => {
    const pings: Buffer[] = [];
    const c = new Confirmation(1000, (p) => pings.push(p), PING_MIN_BYTES, phase);
    let item = 0;
    for (; pings.length === 0; item++) c.wrote(item * 100, 43);
    return item;
  };
  assert.is(at(0), Math.ceil(PING_MIN_BYTES / 43));
  assert.is(at(PING_MIN_BYTES - 43), 1, 'a phase near the threshold: pinged at the first item');
  assert.is(at(10 * PING_MIN_BYTES), 1, 'a phase is cut to the threshold');
  assert.is(at(-5), Math.ceil(PING_MIN_BYTES / 43), 'a negative phase counts as 0');
  for (const id of [1, 2, 3, 1000, 123_456]) {
    const phase = pingPhase(id, PING_MIN_BYTES);
    assert.ok(Number.isInteger(phase) && phase >= 0 && phase < PING_MIN_BYTES, `id ${id}: phase ${phase}`);
    assert.is(pingPhase(id, PING_MIN_BYTES), phase, 'deterministic');
  }
  // 1000 subscribers (connection ids 1…1000) of a 10 Hz stream of 43-byte readings, answering at once.
  const perItem = new Map<number, number>();
  let item = 0;
  const subs = Array.from({ length: 1000 }, (_, i) => {
    const c: Confirmation = new Confirmation(1000, (p) => {
      perItem.set(item, (perItem.get(item) ?? 0) + 1);
      c.pong(p, item * 100);
    }, PING_MIN_BYTES, pingPhase(i + 1, PING_MIN_BYTES));
    return c;
  });
  for (; item < 300; item++) for (const c of subs) c.wrote(item * 100, 43);
  const pings = [...perItem.values()].reduce((a, b) => a + b, 0);
  const itemsPerPing = Math.ceil(PING_MIN_BYTES / 43);
  assert.ok(pings >= 1000 * Math.floor(300 / itemsPerPing), `${pings} pings: every subscriber is still pinged once per ${itemsPerPing} items`);
  const most = Math.max(...perItem.values());
  assert.ok(most <= (2 * 1000) / itemsPerPing, `at most ${most} pings on one item (${(1000 / itemsPerPing).toFixed(1)} on average), not 1000`);
});

test('due() says whether the next write is followed by a ping (so that both go in one system call)', () => {
  const { c, pings } = confirmation(1000);
  assert.ok(c.due(0));
  c.wrote(0);
  assert.not.ok(c.due(1), 'one is outstanding');
  c.pong(pings[0]!, 1);
  assert.not.ok(c.due(100), 'within the interval');
  assert.ok(c.due(250));
  c.wrote(250);
  assert.is(pings.length, 2);
});

test('a subscriber whose oldest unconfirmed data is older than the bound is stale, not before', () => {
  const { c } = confirmation(1000);
  c.wrote(0);
  assert.not.ok(c.stale(1000), 'exactly the bound: not yet');
  assert.ok(c.stale(1001));
});

test("other pongs (the heartbeat's, empty; an old counter) confirm nothing", () => {
  const { c, pings } = confirmation();
  c.wrote(0);
  assert.not.ok(c.pong(Buffer.alloc(0), 5));
  const wrong = Buffer.from(pings[0]!);
  wrong.writeUInt32BE(wrong.readUInt32BE(2) + 1, 2);
  assert.not.ok(c.pong(wrong, 5));
  assert.ok(c.stale(2000));
  assert.ok(c.pong(pings[0]!, 2000));
  assert.not.ok(c.stale(2000));
});

test('data left unpinged over a pause in publishing is not taken for stale when publishing resumes', () => {
  const { c, pings } = confirmation(1000);
  c.wrote(0);
  c.pong(pings[0]!, 1);
  c.wrote(2); // within the interval: no ping, waits for the next write
  c.wrote(60_000); // a minute later: pinged now
  assert.is(pings.length, 2);
  assert.not.ok(c.stale(60_001), 'timed from one interval before the ping, not from a minute ago');
  assert.ok(c.stale(60_000 + 1001 - 250), 'but still held to the bound from then');
});

test('rebase: the history a subscriber asked for is not held against it once it goes live', () => {
  const { c } = confirmation(1000);
  c.wrote(0);
  c.rebase(5000);
  assert.not.ok(c.stale(5500));
  assert.ok(c.stale(6001));
});

test('credit adds up to its maximum and is spent one item at a time', () => {
  const k = new Credit(5, 10);
  assert.is(k.left, 5);
  k.take();
  assert.is(k.grant(3), 7);
  assert.is(k.grant(100), 10, 'cut to maxCredit');
  assert.is(new Credit(50, 10).left, 10, 'the initial credit too');
});

test('credit frames: {"credit":N} with N from 1 to MAX_CREDIT; anything else that starts as one is refused in one line; other frames are not credit frames', () => {
  assert.is(encodeCredit(5), '{"credit":5}');
  assert.is(decodeCredit('{"credit":5}'), 5);
  assert.is(decodeCredit(' { "credit" : 7 }'), 7);
  assert.is(decodeCredit(encodeCredit(MAX_CREDIT)), MAX_CREDIT);
  for (const text of ['hello', '{"x":1,"credit":2}', '{"ack":1}', '', '[1]']) assert.is(decodeCredit(text), undefined, text);
  for (const text of ['{"credit":0}', '{"credit":-1}', '{"credit":1.5}', `{"credit":${MAX_CREDIT + 1}}`, '{"credit":"5"}', '{"credit":5,"x":1}', '{"credit":5']) {
    assert.throws(() => decodeCredit(text), (err: Error) => err instanceof SyntaxError && /^a credit frame is \{"credit":N\} with N a whole number from 1 to 1000000, got /.test(err.message) && !err.message.includes('\n'), text);
  }
  assert.equal(parseCredit(new URLSearchParams('credit=0')), { ok: true, credit: 0 });
  assert.equal(parseCredit(new URLSearchParams('last=3')), { ok: true });
  assert.equal(parseCredit(new URLSearchParams(`credit=${MAX_CREDIT + 1}`)), { ok: false, error: `?credit must be a whole number from 0 to ${MAX_CREDIT}, got "${MAX_CREDIT + 1}"` });
  assert.is(DEFAULT_MAX_CREDIT, 1000);
  assert.is(DEFAULT_STALE_AFTER_MS, 750);
});

// ---------------------------------------------------------------------------------------------
// A subscription on a fake connection (no network): a fake clock, a socket that pushes back

/** A stream on fake clocks, and one subscriber whose socket takes nothing more after its first write and whose WebSocket answers pings at once. */
function fakeSubscriber(delivery: 'all' | 'latest') {
  const clock = { s: 1000 };
  const log: string[] = [];
  const stream = new Stream('/readings', { history: 1000, delivery, staleAfterMs: 1000 }, { maxBuffered: 1 << 20, log: (l) => log.push(l), now: () => clock.s, clock: () => clock.s * 1000 });
  const closes: number[] = [];
  const ws = Object.assign(new EventEmitter(), {
    protocol: '',
    readyState: WebSocket.OPEN,
    ping(payload: Buffer) {
      this.emit('pong', payload); // a client that has read everything written so far
    },
    close(code: number) {
      closes.push(code);
    },
    terminate() {},
  });
  let writes = 0;
  const socket = Object.assign(new EventEmitter(), {
    writableLength: 0,
    cork() {},
    uncork() {},
    write: () => ++writes < 1,
  });
  stream.subscribe({ ws: ws as unknown as WebSocket, socket: socket as unknown as Duplex, id: 1, remote: 'fake' }, { deliver: 'new' });
  const publish = (atSeconds: number) => {
    clock.s = 1000 + atSeconds;
    stream.publish({ t: atSeconds });
  };
  return { stream, publish, closes, log, writes: () => writes };
}

test("delivery 'all': a subscriber whose socket pushes back is closed with 1013 once its oldest unsent item waited longer than the bound, though it confirms all it was sent", () => {
  const f = fakeSubscriber('all');
  f.publish(0); // written; the socket pushes back from now on
  f.publish(0.5); // waits in the history
  f.publish(1.2);
  f.publish(1.5); // the oldest unsent (0.5) is 1000 ms old: not past the bound
  assert.equal(f.closes, []);
  f.publish(1.6);
  assert.equal(f.closes, [1013]);
  assert.is(f.stream.status().closedSlow, 1);
  assert.match(f.log.join('\n'), /is too slow \(its oldest unsent item waited 1100 ms, behind 0 ms of unconfirmed data: over the 1000 ms staleness bound\): closing it with 1013/);
  assert.is(f.writes(), 1, 'nothing written while its socket pushed back');
});

test("delivery 'latest': a subscriber whose socket pushes back is not closed: it is conflated when it drains", () => {
  const f = fakeSubscriber('latest');
  for (const t of [0, 0.5, 1.2, 1.6, 5]) f.publish(t);
  assert.equal(f.closes, []);
  assert.is(f.stream.status().subscribers[0]!.drops, 3, 'all it is behind but the newest');
});

test('a stream pings its subscribers on different items: 200 subscribers of a 10 Hz stream are never all pinged by one publish()', () => {
  const clock = { s: 1000 };
  const stream = new Stream('/readings', { history: 1000 }, { maxBuffered: 1 << 20, log: () => {}, now: () => clock.s, clock: () => clock.s * 1000 });
  const pingsAt = new Map<number, number>();
  let bytes = 0;
  for (let id = 1; id <= 200; id++) {
    const ws = Object.assign(new EventEmitter(), {
      protocol: '',
      readyState: WebSocket.OPEN,
      ping(payload: Buffer) {
        pingsAt.set(clock.s, (pingsAt.get(clock.s) ?? 0) + 1);
        this.emit('pong', payload); // a client that has read everything written so far
      },
    });
    const socket = Object.assign(new EventEmitter(), {
      writableLength: 0,
      cork() {},
      uncork() {},
      write: (frame: Buffer) => {
        if (id === 1) bytes += frame.length;
        return true;
      },
    });
    stream.subscribe({ ws: ws as unknown as WebSocket, socket: socket as unknown as Duplex, id, remote: 'fake' }, { deliver: 'new' });
  }
  const items = 500;
  for (let i = 0; i < items; i++) {
    clock.s = 1000 + i / 10;
    stream.publish({ celsius: 21.5, i: 1000 + i });
  }
  const perSubscriber = Math.floor(bytes / PING_MIN_BYTES);
  const total = [...pingsAt.values()].reduce((a, b) => a + b, 0);
  assert.ok(perSubscriber >= 2 && total >= 200 * perSubscriber, `${total} pings: each subscriber is pinged about every ${PING_MIN_BYTES} bytes`);
  const most = Math.max(...pingsAt.values());
  const itemsPerPing = (PING_MIN_BYTES * items) / bytes;
  assert.ok(most <= (2 * 200) / itemsPerPing, `at most ${most} subscribers pinged by one publish() (${(200 / itemsPerPing).toFixed(1)} on average)`);
});

// ---------------------------------------------------------------------------------------------
// Real clients

/** A sketch with one declared stream, `/readings`, whose loop records what it is given. */
async function started(spec: StreamSpec) {
  const log: string[] = [];
  const messages: string[] = [];
  const cls = class Producer extends Sketch {
    static override streams = { '/readings': spec };
    @reactive override async loop(_channel: string, message: string) {
      messages.push(message);
      return 'ok';
    }
  };
  const s = new cls({ discovery: false, log: (l) => log.push(l) });
  const { port } = await s.run({ host: '127.0.0.1' });
  return { s, base: `ws://127.0.0.1:${port}`, port, log, messages };
}

const stream = (s: Sketch) => s.status().streams['/readings']!;

/** Publishes one small item every `everyMs` until `until()` holds (at most `maxMs`); returns how many. */
async function publishUntil(s: Sketch, until: () => boolean, everyMs = 10, maxMs = 8000, from = 0): Promise<number> {
  let n = from;
  const t0 = Date.now();
  while (!until() && Date.now() - t0 < maxMs) {
    s.publish('/readings', { i: ++n });
    await sleep(everyMs);
  }
  return n;
}

/** A reading subscriber that keeps every item's `i`. */
async function reader(url: string, protocols: string[] = []) {
  const got: number[] = [];
  const ws = await connect(url, protocols, (text) => {
    const f = JSON.parse(text);
    if (typeof f.i === 'number') got.push(f.i);
    else if (typeof f.data?.i === 'number') got.push(f.data.i);
  });
  return { ws, got };
}

for (const protocols of [[], [SUBPROTOCOL]]) {
  const kind = protocols.length ? 'sketchnet.v2' : 'plain';
  test(`delivery 'all': a ${kind} subscriber that stops reading is closed with 1013 once its unconfirmed data is older than staleAfterMs, long before the byte bound, while a reading one gets every item`, async () => {
    const { s, base, log } = await started({ history: 10_000, delivery: 'all', staleAfterMs: 200 });
    const url = `${base}/readings?new`;
    const stall = await stalled(url, protocols);
    const stallClosed = new Promise<number>((resolve) => stall.once('close', (code) => resolve(code)));
    const good = await reader(url, protocols);
    const published = await publishUntil(s, () => stream(s).closedSlow > 0);
    assert.is(stream(s).closedSlow, 1, 'the stalled one was closed');
    assert.ok(log.some((l) => /is too slow \(its oldest unconfirmed data is \d+ ms old, over the 200 ms staleness bound\): closing it with 1013/.test(l)), log.join('\n'));
    assert.ok(published * 20 < 1024 * 1024 / 4, `only ${published} small items were published: far below maxBuffered`);
    const more = await publishUntil(s, () => false, 5, 100, published);
    for (let i = 0; i < 200 && good.got.length < more; i++) await sleep(10);
    assert.equal(good.got, Array.from({ length: more }, (_, k) => k + 1), 'the reading one got every item, in order');
    assert.is(stream(s).subscribers.length, 1);
    stall.resume();
    assert.is(await stallClosed, 1013);
    good.ws.close();
    await s.close();
  });
}

test("delivery 'latest': a subscriber that stops reading is held once stale (sent nothing more); when it reads again it gets what it had, a gap and the newest item, not the backlog", async () => {
  const { s, base } = await started({ history: 10_000, delivery: 'latest', staleAfterMs: 200 });
  const url = `${base}/readings?new`;
  const stall = await stalled(url, [SUBPROTOCOL]);
  const good = await reader(url);
  const stalledStatus = () => stream(s).subscribers.find((x) => x.protocol === SUBPROTOCOL)!;
  let published = await publishUntil(s, () => stalledStatus().stale);
  assert.ok(stalledStatus().stale, 'held');
  const sent = stalledStatus().sent;
  published = await publishUntil(s, () => false, 5, 200, published);
  assert.is(stalledStatus().sent, sent, 'sent nothing while held');
  assert.is(stalledStatus().drops, stalledStatus().behind - 1, 'all it is behind but the newest will be skipped');
  assert.is(stream(s).closedSlow, 0, 'never closed');
  const got: Array<Record<string, any>> = [];
  stall.on('message', (d) => got.push(JSON.parse(d.toString())));
  stall.resume();
  for (let i = 0; i < 300 && got.at(-1)?.seq !== published; i++) await sleep(10);
  assert.is(got.at(-1)?.seq, published, 'it ends with the newest item');
  assert.is(got.at(-1)?.data.i, published);
  const gap = got.find((f) => f.gap)?.gap;
  assert.ok(gap && gap.reason === 'dropped' && gap.to === published - 1, JSON.stringify(gap));
  const items = got.filter((f) => typeof f.seq === 'number');
  assert.is(items.length, sent + 1, `what it had been sent (${sent}), then the newest only: not the ${published} published`);
  assert.not.ok(stalledStatus().stale, 'caught up: no longer held');
  for (let i = 0; i < 200 && good.got.length < published; i++) await sleep(10);
  assert.is(good.got.length, published, 'the reading one got every item');
  stall.close();
  good.ws.close();
  await s.close();
});

/** A v2 (or v3) subscriber whose frames are kept decoded. */
async function v2(url: string, protocol = SUBPROTOCOL) {
  const all: Array<Record<string, any>> = [];
  const ws = await connect(url, [protocol], (text) => all.push(JSON.parse(text)));
  const items = () => all.filter((f) => typeof f.seq === 'number').map((f) => f.data.i as number);
  return { ws, all, items };
}

test('a v2 subscriber that grants 5 (?credit=5) gets 5 items, then waits; each {"credit":N} frame lets N more through, in order; loop never sees them', async () => {
  const { s, base, messages } = await started({ history: 1000, delivery: 'all' });
  const c = await v2(`${base}/readings?new&credit=5`);
  for (let i = 1; i <= 20; i++) s.publish('/readings', { i });
  for (let i = 0; i < 100 && c.items().length < 5; i++) await sleep(10);
  await sleep(100);
  assert.equal(c.all[0]?.subscribed?.credit, 5, 'the subscribed frame says how much credit it holds');
  assert.equal(c.items(), [1, 2, 3, 4, 5], 'five, then it waits');
  const sub = () => stream(s).subscribers[0]!;
  assert.is(sub().credit, 0);
  assert.is(sub().behind, 15);
  assert.is(sub().unconfirmed, null, 'a credit subscriber is not pinged');
  c.ws.send(encodeCredit(3));
  for (let i = 0; i < 100 && c.items().length < 8; i++) await sleep(10);
  await sleep(100);
  assert.equal(c.items(), [1, 2, 3, 4, 5, 6, 7, 8]);
  c.ws.send(encodeCredit(100));
  for (let i = 0; i < 100 && c.items().length < 20; i++) await sleep(10);
  assert.equal(c.items(), Array.from({ length: 20 }, (_, k) => k + 1));
  assert.is(sub().credit, 88);
  s.publish('/readings', { i: 21 });
  for (let i = 0; i < 100 && c.items().length < 21; i++) await sleep(10);
  assert.is(c.items().at(-1), 21, 'live items flow while credit lasts');
  assert.equal(messages, [], 'credit frames never reach loop');
  assert.not.ok(c.all.some((f) => 'ack' in f), 'nor are they acknowledged');
  c.ws.close();
  await s.close();
});

test("delivery 'latest': a credit subscriber without credit gets a gap and the newest item when it grants again", async () => {
  const { s, base } = await started({ history: 1000, delivery: 'latest' });
  const c = await v2(`${base}/readings?new&credit=2`, SUBPROTOCOL_V3);
  for (let i = 1; i <= 10; i++) s.publish('/readings', { i });
  for (let i = 0; i < 100 && c.items().length < 2; i++) await sleep(10);
  c.ws.send(encodeCredit(1));
  for (let i = 0; i < 100 && c.items().length < 3; i++) await sleep(10);
  await sleep(50);
  assert.equal(c.items(), [1, 2, 10]);
  assert.equal(c.all.find((f) => f.gap)?.gap, { stream: '/readings', from: 3, to: 9, reason: 'dropped' });
  c.ws.close();
  await s.close();
});

test('a v2 subscriber that never asked for credit switches to credit with its first grant', async () => {
  const { s, base } = await started({ history: 1000, delivery: 'all' });
  const c = await v2(`${base}/readings?new`);
  s.publish('/readings', { i: 1 });
  for (let i = 0; i < 100 && c.items().length < 1; i++) await sleep(10);
  assert.is(stream(s).subscribers[0]!.credit, null);
  c.ws.send(encodeCredit(2));
  for (let i = 0; i < 100 && stream(s).subscribers[0]!.credit !== 2; i++) await sleep(10);
  for (let i = 2; i <= 6; i++) s.publish('/readings', { i });
  await sleep(150);
  assert.equal(c.items(), [1, 2, 3]);
  c.ws.close();
  await s.close();
});

test('credit past maxCredit is cut to it: a subscriber granting more than the maximum is sent at most maxCredit items', async () => {
  const { s, base } = await started({ history: 1000, delivery: 'all', maxCredit: 10 });
  const c = await v2(`${base}/readings?new&credit=8`);
  for (let i = 0; i < 100 && c.all.length < 1; i++) await sleep(10);
  assert.is(c.all[0]?.subscribed?.credit, 8);
  c.ws.send(encodeCredit(50)); // 58 asked for, 10 allowed
  for (let i = 0; i < 100 && stream(s).subscribers[0]!.credit !== 10; i++) await sleep(10);
  for (let i = 1; i <= 30; i++) s.publish('/readings', { i });
  await sleep(200);
  assert.equal(c.items(), Array.from({ length: 10 }, (_, k) => k + 1));
  const over = await v2(`${base}/readings?new&credit=11`);
  for (let i = 0; i < 100 && over.all.length < 1; i++) await sleep(10);
  assert.is(over.all[0]?.subscribed?.credit, 10, '?credit past maxCredit is cut too');
  c.ws.close();
  over.ws.close();
  await s.close();
});

test('?credit past MAX_CREDIT gets HTTP 400; ?credit from a plain client is closed with 1008; a malformed grant gets an error reply, not loop', async () => {
  const { s, base, messages } = await started({ history: 1000 });
  const r = await upgrade(`${base}/readings?credit=${MAX_CREDIT + 1}`, [SUBPROTOCOL]);
  assert.is(r.status, 400);
  assert.is(r.body, `?credit must be a whole number from 0 to ${MAX_CREDIT}, got "${MAX_CREDIT + 1}" (stream /readings; streams here: /readings)\n`);
  const notStream = await upgrade(`${base}/other?credit=5`, [SUBPROTOCOL]);
  assert.is(notStream.status, 400);
  assert.match(notStream.body, /^\/other is not a stream, so \?credit does not apply/);

  const plain = new WebSocket(`${base}/readings?credit=5`);
  const reason = new Promise<[number, string]>((resolve) => plain.once('close', (code, why) => resolve([code, why.toString()])));
  assert.equal(await reason, [1008, '?credit needs the sketchnet.v2 or v3 subprotocol (to grant more)']);

  const c = await v2(`${base}/readings?new&credit=1`);
  c.ws.send('{"credit":0}');
  for (let i = 0; i < 100 && !c.all.some((f) => f.error); i++) await sleep(10);
  const error = c.all.find((f) => f.error)?.error;
  assert.is(error?.code, 'SKETCH_ERR_BAD_MESSAGE');
  assert.match(error?.message, /^a credit frame is \{"credit":N\} with N a whole number from 1 to 1000000, got \{"credit":0\}$/);
  assert.equal(messages, [], 'loop saw none of it');
  c.ws.close();

  // A plain client's {"credit":…} text is an ordinary message (compatibility), acknowledged as before.
  const p = await connect(`${base}/readings?new`);
  const ack = frames(p, 1);
  p.send('{"credit":5}');
  assert.equal(await ack, ['ok']);
  assert.equal(messages, ['{"credit":5}']);
  p.close();
  await s.close();
});

test('staleAfterMs and maxCredit out of bounds are refused when the sketch is made, with one line naming the stream and the bound', () => {
  const make = (spec: StreamSpec) => {
    const cls = class extends Sketch {
      static override streams = { '/readings': spec };
    };
    return () => new cls({ discovery: false, log: () => {} });
  };
  for (const [spec, pattern] of [
    [{ staleAfterMs: 99 }, /^stream \/readings: staleAfterMs must be a whole number from 100 to 60000 ms, got 99$/],
    [{ staleAfterMs: 60_001 }, /staleAfterMs must be a whole number from 100 to 60000 ms, got 60001/],
    [{ maxCredit: 0 }, /^stream \/readings: maxCredit must be a whole number from 1 to 1000000 items, got 0$/],
    [{ maxCredit: MAX_CREDIT + 1 }, /maxCredit must be a whole number from 1 to 1000000 items/],
  ] as const) {
    assert.throws(make(spec as StreamSpec), (err: Error) => err instanceof SketchError && err.code === 'SKETCH_ERR_INVALID_OPTION' && pattern.test(err.message), JSON.stringify(spec));
  }
});

test('a subscriber catching up on a long history it asked for is not held to the staleness bound until it is live', async () => {
  const { s, base } = await started({ history: { items: 100_000, maxBytes: 64 * 1024 * 1024 }, delivery: 'all', staleAfterMs: 500 });
  for (let i = 1; i <= 50_000; i++) s.publish('/readings', { i, pad: 'x'.repeat(100) });
  // It stops reading for three times the bound while its history fills the socket buffers, and live items keep coming.
  const ws = new WebSocket(`${base}/readings?history=all`);
  let last = 0;
  ws.on('message', (d) => (last = JSON.parse(d.toString()).i));
  ws.once('open', () => {
    ws.pause();
    setTimeout(() => ws.resume(), 1500);
  });
  let n = 50_000;
  const t0 = Date.now();
  while (Date.now() - t0 < 2500) {
    s.publish('/readings', { i: ++n });
    await sleep(20);
  }
  for (let i = 0; i < 300 && last < n; i++) await sleep(10);
  assert.is(last, n, 'it got everything');
  assert.is(stream(s).closedSlow, 0, 'and was never closed');
  const code = closed(ws);
  ws.close();
  assert.is(await code, 1005);
  await s.close();
});

test('StreamSubscriber with credit asks for it, grants half its window at a time as it hands items on, and so gets a history many windows long', async () => {
  const { s, port } = await started({ history: 10_000, delivery: 'all' });
  for (let i = 1; i <= 5000; i++) s.publish('/readings', { i });
  const got: number[] = [];
  let mostCredit = 0;
  const sub = new StreamSubscriber({
    url: `ws://127.0.0.1:${port}/`,
    path: '/readings',
    name: 'producer',
    credit: 100,
    onItem: (item) => {
      got.push((item.data as { i: number }).i);
      mostCredit = Math.max(mostCredit, stream(s).subscribers[0]?.credit ?? 0);
    },
    onGap: () => {},
  });
  assert.is(sub.url().search, '?history=all&credit=100');
  sub.start();
  for (let i = 0; i < 500 && got.length < 5000; i++) await sleep(10);
  assert.equal(got, Array.from({ length: 5000 }, (_, k) => k + 1), 'every item, in order');
  assert.ok(mostCredit <= 100, `never more than the window granted: ${mostCredit}`);
  assert.throws(() => new StreamSubscriber({ url: 'ws://x/', path: '/r', name: 'x', credit: 1, onItem() {}, onGap() {} }), /credit must be a whole number from 2 to 1000000, got 1/);
  sub.close();
  await s.close();
});

test('sketch tap subscribes with credit and grants as it prints: --all --count 500 over a history of 1000 prints 500 items, more than its window of 200', async () => {
  const { s, port } = await started({ history: 10_000, delivery: 'all' });
  for (let i = 1; i <= 1000; i++) s.publish('/readings', { i });
  const r = await runCli(['tap', `ws://127.0.0.1:${port}/readings`, '--all', '--count', '500'], {}, 30_000);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.length, 500);
  assert.equal(lines.map((l) => Number(l.split(' ')[0])), Array.from({ length: 500 }, (_, k) => k + 1));
  await s.close();
});

test.run();

import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/errors.js';
import { Sketch } from '../runtime/index.js';
import { MemoryOutboxStore, Outbox, parseRate, type OutboxConfig } from '../runtime/streams/outbox.js';
import { outboxStoreContract } from './helpers/outbox-store-contract.js';

/** Lets every pending promise callback run (the outbox never uses real timers with a FakeClock). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A clock and an abortable sleep that only move when the test says so. */
class FakeClock {
  t = 0;
  /** Every sleep asked for, in ms. */
  readonly sleeps: number[] = [];
  #timers: { at: number; resolve: () => void }[] = [];
  now = (): number => this.t;
  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      this.sleeps.push(ms);
      const onAbort = () => {
        this.#timers = this.#timers.filter((x) => x !== timer);
        reject(signal.reason);
      };
      const timer = {
        at: this.t + ms,
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.#timers.push(timer);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  /** How many sleeps are under way. */
  get waiting(): number {
    return this.#timers.length;
  }
  /** Moves time forward by `ms`, firing each sleep that ends on the way, in order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      const next = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.resolve();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

/** A peer whose answers the test decides: `up` acknowledges at once, `down` rejects at once, `manual` waits for answer(). */
class FakePeer {
  mode: 'up' | 'down' | 'manual' = 'up';
  /** Every message the peer got, as sent. */
  readonly got: string[] = [];
  /** clock.t of each send call. */
  readonly sentAt: number[] = [];
  #pending: { text: string; resolve: (ack: string) => void; reject: (err: Error) => void }[] = [];
  constructor(readonly clock?: FakeClock) {}
  send = (text: string): Promise<string> => {
    this.sentAt.push(this.clock?.t ?? 0);
    if (this.mode === 'down') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:9'));
    if (this.mode === 'up') {
      this.got.push(text);
      return Promise.resolve('stored');
    }
    return new Promise((resolve, reject) => this.#pending.push({ text, resolve, reject }));
  };
  get pending(): number {
    return this.#pending.length;
  }
  /** Settles the message in flight: `ack`, `lost` (never reached the peer) or `ack-lost` (reached it, the ack did not come back). */
  async answer(how: 'ack' | 'lost' | 'ack-lost'): Promise<void> {
    const p = this.#pending.shift();
    if (!p) throw new Error('no message in flight');
    if (how !== 'lost') this.got.push(p.text);
    if (how === 'ack') p.resolve('stored');
    else p.reject(new Error(how === 'lost' ? 'connection lost (1006)' : 'connection lost (1006) before the ack'));
    await flush();
  }
  /** The items the peer got, in arrival order: a JSON array is a batch, anything else one item. */
  items(): unknown[] {
    return this.got.flatMap((text) => {
      const value: unknown = text.startsWith('[') || text.startsWith('{') ? JSON.parse(text) : text;
      return Array.isArray(value) ? value : [value];
    });
  }
}

function outbox(peer: FakePeer, clock: FakeClock, options: Partial<OutboxConfig> = {}) {
  const lines: string[] = [];
  const box = new Outbox({
    target: 'logger',
    send: peer.send,
    log: (line) => lines.push(line),
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    ...options,
  });
  return { box, lines };
}

const ids = (items: unknown[]) => items.map((x) => (x as { id: number }).id);
/** First occurrence of each id, in arrival order. */
const deduped = (items: unknown[]) => [...new Set(ids(items))];

test('items reach the peer in push order, one message each while it keeps up: objects as JSON, strings as they are', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  const { box } = outbox(peer, clock);
  box.push({ time: 1, temperature: 21.5 });
  await flush();
  box.push('plain text');
  await flush();
  box.push(42);
  await box.drained();
  assert.equal(peer.got, ['{"time":1,"temperature":21.5}', 'plain text', '42']);
  assert.equal(box.status(), {
    target: 'logger',
    queued: 0,
    inFlight: 0,
    delivered: 3,
    dropped: 0,
    messages: 3,
    connected: true,
  });
  await box.close();
});

test('items pushed while a message is in flight go together in the next one, as a JSON array of at most batch items', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box } = outbox(peer, clock, { batch: 3 });
  box.push({ id: 1 });
  await flush();
  assert.is(peer.pending, 1);
  for (let id = 2; id <= 6; id++) box.push({ id });
  assert.equal(box.status().inFlight, 1);
  assert.equal(box.status().queued, 5);
  await peer.answer('ack');
  await peer.answer('ack');
  await peer.answer('ack');
  assert.equal(peer.got, ['{"id":1}', '[{"id":2},{"id":3},{"id":4}]', '[{"id":5},{"id":6}]']);
  assert.is(box.status().messages, 3);
  assert.is(box.status().delivered, 6);
  await box.close();
});

test('a failed message is sent again before newer items: the peer gets every item, in order, at least once', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box } = outbox(peer, clock, { batch: 10 });
  box.push({ id: 1 });
  await flush();
  box.push({ id: 2 });
  await peer.answer('ack-lost'); // the peer stored 1, the sender does not know
  box.push({ id: 3 });
  assert.is(box.status().queued, 3, 'a message not acknowledged stays in the store');
  await clock.advance(1000);
  await peer.answer('lost');
  box.push({ id: 4 });
  await clock.advance(2000);
  await peer.answer('ack');
  assert.equal(peer.got, ['{"id":1}', '[{"id":1},{"id":2},{"id":3},{"id":4}]']);
  assert.equal(deduped(peer.items()), [1, 2, 3, 4]);
  assert.is(box.status().delivered, 4);
  await box.close();
});

test('a full queue drops the oldest item never sent and counts it; an item in flight is kept', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box, lines } = outbox(peer, clock, { maxItems: 3, batch: 10 });
  box.push({ id: 1 });
  await flush(); // 1 is in flight
  for (let id = 2; id <= 6; id++) box.push({ id }); // 2, 3 and 4 are dropped in turn
  assert.equal(box.status(), { ...box.status(), queued: 2, inFlight: 1, dropped: 3 });
  await peer.answer('ack');
  await peer.answer('ack');
  assert.equal(deduped(peer.items()), [1, 5, 6]);
  assert.is(lines.filter((l) => /queue for logger is full \(3 items\)/.test(l)).length, 1, lines.join('\n'));
  await box.close();
});

test('the rate limit is respected: never more than `messages` sends in any window of `perSeconds`, items batch meanwhile', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  const { box } = outbox(peer, clock, { rate: { messages: 3, perSeconds: 1 }, batch: 100 });
  for (let step = 0; step < 100; step++) {
    box.push({ id: step + 1 }); // one item every 50 ms for 5 s
    await clock.advance(50);
  }
  await clock.advance(2000);
  await box.drained();
  for (let i = 3; i < peer.sentAt.length; i++) {
    assert.ok(peer.sentAt[i]! - peer.sentAt[i - 3]! >= 1000, `sends at ${peer.sentAt.join(', ')}`);
  }
  assert.ok(peer.sentAt.length <= 3 + 3 * 6 + 1, `${peer.sentAt.length} sends in 7 s`);
  assert.equal(deduped(peer.items()), Array.from({ length: 100 }, (_, i) => i + 1));
  await box.close();
});

test('retry delays start at backoff and double up to maxBackoff, each within ±20 % and never above maxBackoff', async () => {
  for (const r of [0, 0.5, 0.999999]) {
    const clock = new FakeClock();
    const peer = new FakePeer(clock);
    peer.mode = 'down';
    const { box } = outbox(peer, clock, { backoff: 100, maxBackoff: 1000, random: () => r });
    box.push('x');
    await clock.advance(20_000);
    const nominal = [100, 200, 400, 800, 1000, 1000, 1000];
    nominal.forEach((n, i) => {
      const got = clock.sleeps[i]!;
      assert.ok(got >= n * 0.8 - 1 && got <= Math.min(n * 1.2, 1000) + 1, `retry ${i + 1} waited ${got} ms (nominal ${n}, r=${r})`);
    });
    if (r === 0) assert.equal(clock.sleeps.slice(0, 5), [80, 160, 320, 640, 800]);
    if (r === 0.5) assert.equal(clock.sleeps.slice(0, 5), [100, 200, 400, 800, 1000]);
    if (r > 0.99) assert.equal(clock.sleeps.slice(0, 5), [120, 240, 480, 960, 1000]);
    await box.close();
  }
});

test('the peer’s absence is logged once and its return once, however many retries, with the count delivered', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'down';
  const { box, lines } = outbox(peer, clock, { backoff: 100, maxBackoff: 400, batch: 4 });
  for (let id = 1; id <= 10; id++) {
    box.push({ id });
    await clock.advance(300);
  }
  assert.ok(peer.sentAt.length >= 8, `${peer.sentAt.length} attempts`);
  peer.mode = 'up';
  await clock.advance(1000);
  await box.drained();
  assert.equal(lines, [
    'peer logger unreachable (connect ECONNREFUSED 127.0.0.1:9): buffering, retrying',
    'peer logger is back: delivered 10 item(s) held while it was away',
  ]);
  assert.equal(deduped(peer.items()), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // and again for a second outage
  peer.mode = 'down';
  box.push({ id: 11 });
  await clock.advance(1000);
  peer.mode = 'up';
  await clock.advance(1000);
  assert.is(lines.length, 4, lines.join('\n'));
  assert.match(lines[3]!, /is back: delivered 1 item\(s\)/);
  await box.close();
});

test('a peer that comes back and fails again before its backlog is out is still one absence and one return', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box, lines } = outbox(peer, clock, { backoff: 100, batch: 2 });
  for (let id = 1; id <= 5; id++) box.push({ id });
  await flush();
  await peer.answer('lost');
  await clock.advance(200);
  await peer.answer('ack'); // 1, 2
  await peer.answer('lost'); // 3, 4: away again
  await clock.advance(500);
  await peer.answer('ack'); // 3, 4
  await peer.answer('ack'); // 5
  assert.equal(lines, [
    'peer logger unreachable (connection lost (1006)): buffering, retrying',
    'peer logger is back: delivered 5 item(s) held while it was away',
  ]);
  await box.close();
});

test('the absence line gives the reason once, without the peer connection’s own "unreachable" wording', async () => {
  const clock = new FakeClock();
  const { box, lines } = outbox(new FakePeer(clock), clock, {
    target: 'ws://127.0.0.1:9/',
    send: () =>
      Promise.reject(
        new SketchError(
          'SKETCH_ERR_PEER_UNREACHABLE',
          'peer ws://127.0.0.1:9/ unreachable: connect ECONNREFUSED 127.0.0.1:9 (gave up after 1 attempts)',
        ),
      ),
  });
  box.push('x');
  await clock.advance(100);
  assert.equal(lines, ['peer ws://127.0.0.1:9/ unreachable (connect ECONNREFUSED 127.0.0.1:9): buffering, retrying']);
  assert.is(box.status().lastError, 'connect ECONNREFUSED 127.0.0.1:9');
  await box.close();
});

test('an error reply is retried like an absence and logged once as a refusal', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const { box, lines } = outbox(new FakePeer(clock), clock, {
    send: async () => {
      if (++calls <= 3) throw new SketchError('SKETCH_ERR_REMOTE', 'logger replied with an error (SKETCH_ERR_LOOP): disk full');
      return 'ok';
    },
  });
  box.push({ id: 1 });
  await clock.advance(10_000);
  assert.is(calls, 4);
  assert.equal(lines, [
    'peer logger refused a message (logger replied with an error (SKETCH_ERR_LOOP): disk full): buffering, retrying',
    'peer logger is back: delivered 1 item(s) held while it was away',
  ]);
  await box.close();
});

test('close() ends a backoff wait at once, resolves promptly and logs the items not delivered', async () => {
  const peer = new FakePeer();
  peer.mode = 'down';
  const lines: string[] = [];
  const box = new Outbox({ target: 'logger', send: peer.send, log: (l) => lines.push(l), backoff: 60_000, maxBackoff: 60_000 });
  box.push({ id: 1 });
  box.push({ id: 2 });
  await new Promise((r) => setTimeout(r, 20));
  assert.ok((box.status().nextRetryMs ?? 0) > 40_000, JSON.stringify(box.status()));
  const started = performance.now();
  await box.close();
  const took = performance.now() - started;
  assert.ok(took < 50, `close took ${took} ms`);
  assert.is(lines.at(-1), 'closing: 2 item(s) not delivered to logger');
  assert.is(box.status().nextRetryMs, undefined);
  assert.is(box.status().queued, 2);
  await box.close(); // twice is fine
});

test('close() does not wait for a message in flight and counts its items as not delivered', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box, lines } = outbox(peer, clock);
  box.push('a');
  await flush();
  await box.close();
  assert.is(lines.at(-1), 'closing: 1 item(s) not delivered to logger (1 of them sent, unacknowledged)');
  await peer.answer('ack'); // settles after close: ignored
  assert.is(box.status().delivered, 0);
});

test('push() never throws: values with no JSON form and pushes after close are logged or counted as dropped', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  const { box, lines } = outbox(peer, clock);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  box.push(undefined);
  box.push(10n);
  box.push(cycle);
  box.push({ ok: true });
  await box.drained();
  assert.equal(peer.got, ['{"ok":true}']);
  assert.is(box.status().dropped, 3);
  assert.is(lines.filter((l) => /^cannot queue an item for logger: /.test(l)).length, 3, lines.join('\n'));
  await box.close();
  box.push({ late: true });
  assert.is(box.status().dropped, 4);
});

test('push() returns before anything is sent: send is never called from inside push', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  const { box } = outbox(peer, clock);
  box.push('a');
  assert.is(peer.got.length, 0);
  await box.drained();
  assert.is(peer.got.length, 1);
  await box.close();
});

test('status() says when the next retry is due and why the last message failed', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'down';
  const { box } = outbox(peer, clock, { backoff: 1000 });
  box.push({ id: 1 });
  await clock.advance(300);
  assert.equal(box.status(), {
    target: 'logger',
    queued: 1,
    inFlight: 0,
    delivered: 0,
    dropped: 0,
    messages: 0,
    connected: false,
    lastError: 'connect ECONNREFUSED 127.0.0.1:9',
    nextRetryMs: 700,
  });
  assert.equal(JSON.parse(JSON.stringify(box.status())), box.status());
  await box.close();
});

test('a message with no acknowledgement within ackTimeout counts as failed: the connection is dropped and it is sent again', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  let abandoned = 0;
  const { box, lines } = outbox(peer, clock, { ackTimeout: 30, abandon: () => abandoned++ });
  box.push({ n: 1 });
  await flush();
  assert.is(peer.pending, 1);
  await new Promise((r) => setTimeout(r, 80)); // the real ack timer runs out
  assert.is(abandoned, 1);
  assert.match(lines.join('\n'), /peer logger unreachable \(no acknowledgement within 0\.03 s\): buffering, retrying/);
  assert.is(box.status().inFlight, 0);
  peer.mode = 'up';
  await clock.advance(1000); // the backoff
  await box.drained();
  assert.equal(peer.items(), [{ n: 1 }], 'sent again and acknowledged');
  await box.close();
});

test('Sketch.outbox() to a real peer that never acknowledges drops each hung connection and sends again on a new one', async () => {
  const got: string[] = [];
  let connections = 0;
  const silent = new (class Silent extends Sketch {
    override loop(_c: string, m: string) {
      got.push(m); // not @reactive: no acknowledgement ever
    }
  })({ discovery: false, log: () => {} });
  silent.on('connection', () => connections++);
  const { url } = await silent.run({ host: '127.0.0.1' });
  const lines: string[] = [];
  const sender = new Sketch({ discovery: false, log: (l) => lines.push(l) });
  const box = sender.outbox(url, { ackTimeout: 100, backoff: 20, maxBackoff: 40 });
  box.push({ n: 1 });
  for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(got.length >= 3 && got.every((m) => m === '{"n":1}'), `sent again: ${JSON.stringify(got)}`);
  assert.ok(connections >= 3, `a new connection each time: ${connections}`);
  assert.is(lines.filter((l) => /no acknowledgement within 0\.1 s\): buffering, retrying/.test(l)).length, 1, lines.join('\n'));
  assert.match(String(sender.status().forward?.[url] && (sender.status().forward![url] as { lastError: string }).lastError), /no acknowledgement/);
  await sender.close();
  await silent.close();
});

test('drained() resolves once nothing is queued or in flight, and at close', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  peer.mode = 'manual';
  const { box } = outbox(peer, clock);
  await box.drained(); // empty: at once
  box.push('a');
  let done = false;
  void box.drained().then(() => (done = true));
  await flush();
  assert.is(done, false);
  await peer.answer('ack');
  assert.is(done, true);
  peer.mode = 'down';
  box.push('b');
  const closing = box.drained();
  await box.close();
  await closing;
});

test('a store holding items from an earlier run is delivered first and numbering continues after its newest id', async () => {
  const clock = new FakeClock();
  const peer = new FakePeer(clock);
  const store = new MemoryOutboxStore();
  store.put(41, '{"id":41}');
  store.put(42, '{"id":42}');
  const { box } = outbox(peer, clock, { store });
  box.push({ id: 43 });
  await box.drained();
  assert.equal(deduped(peer.items()), [41, 42, 43]);
  await box.close();
});

test('out-of-bounds options throw SKETCH_ERR_INVALID_OPTION with one line', () => {
  const send = async () => 'ok';
  for (const bad of [
    { maxItems: 0 },
    { maxItems: 1.5 },
    { batch: 0 },
    { backoff: 0 },
    { backoff: 1000, maxBackoff: 10 },
    { rate: { messages: 0, perSeconds: 1 } },
    { rate: { messages: 1, perSeconds: 0 } },
  ]) {
    try {
      new Outbox({ target: 'x', send, ...bad });
      assert.unreachable(JSON.stringify(bad));
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.not.match((err as Error).message, /\n/);
      assert.match((err as Error).message, /^outbox \w+ must be/);
    }
  }
});

test('parseRate reads MESSAGES[/PERIOD] with the period in ms, s, m or h', () => {
  assert.equal(parseRate('30/10s'), { messages: 30, perSeconds: 10 });
  assert.equal(parseRate('5'), { messages: 5, perSeconds: 1 });
  assert.equal(parseRate('2/1m'), { messages: 2, perSeconds: 60 });
  assert.equal(parseRate('100/h'), { messages: 100, perSeconds: 3600 });
  assert.equal(parseRate('30/10'), { messages: 30, perSeconds: 10 });
  assert.equal(parseRate(' 1 / 500ms '), { messages: 1, perSeconds: 0.5 });
  assert.equal(parseRate('3/s'), { messages: 3, perSeconds: 1 });
});

test('parseRate rejects anything else with one SKETCH_ERR_INVALID_OPTION line naming the flag', () => {
  for (const bad of ['', 'fast', '30/', '/10s', '0/1s', '3/0s', '1.5/s', '-1', '30/10x', '30 per 10s']) {
    try {
      parseRate(bad, '--rate');
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, /^--rate /);
      assert.not.match((err as Error).message, /\n/);
    }
  }
});

test('property: for any interleaving of pushes, acks, lost messages and lost acks, the peer gets the pushed items minus the counted drops, in order', async () => {
  type Op = { op: 'push'; n: number } | { op: 'ack' } | { op: 'lost' } | { op: 'ack-lost' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('push' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.constant({ op: 'ack' as const }),
    fc.constant({ op: 'lost' as const }),
    fc.constant({ op: 'ack-lost' as const }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(op, { maxLength: 60 }),
      async (maxItems, batch, ops) => {
        const peer = new FakePeer();
        peer.mode = 'manual';
        const box = new Outbox({ target: 'p', send: peer.send, maxItems, batch, sleep: async () => {} });
        let pushed = 0;
        for (const o of ops) {
          if (o.op === 'push') for (let i = 0; i < o.n; i++) box.push({ id: ++pushed });
          else if (peer.pending > 0) await peer.answer(o.op);
          await flush();
        }
        peer.mode = 'up';
        while (peer.pending > 0) await peer.answer('ack');
        await box.drained();
        const got = deduped(peer.items());
        const { dropped, queued, inFlight, delivered } = box.status();
        await box.close();
        // in order, no id invented, nothing lost but the counted drops
        for (let i = 1; i < got.length; i++) if (!(got[i]! > got[i - 1]!)) return false;
        if (got.some((id) => id < 1 || id > pushed)) return false;
        return got.length === pushed - dropped && queued === 0 && inFlight === 0 && delivered === got.length;
      },
    ),
    { numRuns: 300 },
  );
});

test.run();

outboxStoreContract('MemoryOutboxStore', () => new MemoryOutboxStore());

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { reactive, Sketch } from '../runtime/index.js';
import { LinkMeter, OutgoingLink } from '../runtime/net/links.js';
import { Tracer } from '../runtime/net/spans.js';
import { parseTraceparent } from '../runtime/net/trace-context.js';

test('a meter counts messages per second over the last minute, and over its life while younger', () => {
  let now = 1_000_000;
  const m = new LinkMeter(() => now);
  for (let i = 0; i < 100; i++) {
    now += 100; // 10 msg/s for 10 s
    m.mark();
  }
  assert.is(m.count, 100);
  assert.is(m.rate(), 10);
  now += 120_000; // two minutes of silence: nothing in the window
  assert.is(m.rate(), 0);
  assert.is(m.lastAt, 1_010_000);
});

test('a meter\'s acknowledgement percentiles come from the last minute, within one bucket (±9 %)', () => {
  let now = 0;
  const m = new LinkMeter(() => now);
  assert.is(m.quantile(0.5), null);
  for (let i = 0; i < 98; i++) m.time(1); // 1 ms
  m.time(100);
  m.time(100);
  const p50 = m.quantile(0.5)!;
  const p99 = m.quantile(0.99)!;
  assert.ok(Math.abs(p50 - 1) / 1 < 0.1, `p50 ${p50}`);
  assert.ok(Math.abs(p99 - 100) / 100 < 0.1, `p99 ${p99}`);
  now += 61_000;
  m.time(5);
  assert.ok(Math.abs(m.quantile(0.99)! - 5) / 5 < 0.1, 'older slots left the window');
});

test('an outgoing link counts sent, acknowledged, failed and in flight, and hands its span\'s traceparent to the sender', async () => {
  const seen: Array<string | undefined> = [];
  let fail = false;
  const resolvers: Array<() => void> = [];
  const sender = {
    via: 'url' as const,
    state: 'connected' as const,
    send(text: string, traceparent?: string) {
      seen.push(traceparent);
      return new Promise<string>((resolve, reject) => resolvers.push(() => (fail ? reject(new Error('gone')) : resolve(`ack ${text}`))));
    },
    close: async () => {},
  };
  const tracer = new Tracer({ name: () => 'me', kind: 'x' });
  const link = new OutgoingLink('peer', sender, { tracer, queue: () => ({ queued: 3, dropped: 1 }) });
  const a = link.send('a');
  const b = link.send('b');
  assert.is(link.status().inFlight, 2);
  resolvers.shift()!();
  assert.is(await a, 'ack a');
  fail = true;
  resolvers.shift()!();
  await b.then(
    () => assert.unreachable(),
    (e: Error) => assert.is(e.message, 'gone'),
  );
  const s = link.status();
  assert.equal({ ...s, rate: 0, lastAt: 0, ackMs: 0 }, { to: 'peer', via: 'url', state: 'connected', sent: 2, acked: 1, errors: 1, inFlight: 0, queued: 3, dropped: 1, rate: 0, lastAt: 0, ackMs: 0 });
  assert.ok(s.ackMs.p50! >= 0);
  assert.ok(seen.every((t) => parseTraceparent(t)));
  assert.equal(tracer.query().map((x) => x.status.code), ['ok', 'error']);
});

class Relay extends Sketch {
  @reactive
  override async loop(_c: string, m: string) {
    return this.to ? `${m}>${await this.stream(this.to, m)}` : `end ${m}`;
  }
}

test('three sketches over real sockets: each status lists its links by name, and one request is one trace across the three', async () => {
  const quiet = { discovery: false as const, log: () => {} };
  const c = new Relay({ ...quiet, name: 'c' });
  const cAddr = await c.run({ host: '127.0.0.1' });
  const b = new Relay({ ...quiet, name: 'b', to: cAddr.url });
  const bAddr = await b.run({ host: '127.0.0.1' });
  const a = new Relay({ ...quiet, name: 'a', to: bAddr.url });
  await a.run({ host: '127.0.0.1' });
  const spy = new WebSocket(bAddr.url); // a plain client: named by its address
  await new Promise((r) => spy.once('open', r));
  for (let i = 0; i < 5; i++) assert.is(await a.stream(bAddr.url, String(i)), `${i}>end ${i}`);

  const out = a.status().links!.out;
  assert.is(out.length, 1);
  assert.equal({ to: out[0]!.to, via: out[0]!.via, state: out[0]!.state, sent: out[0]!.sent, acked: out[0]!.acked, errors: out[0]!.errors }, { to: bAddr.url, via: 'url', state: 'connected', sent: 5, acked: 5, errors: 0 });
  assert.ok(out[0]!.rate > 0);
  assert.ok(out[0]!.ackMs.p99! > 0);
  const inB = b.status().links!.in;
  const fromA = inB.find((l) => l.from === 'a')!;
  assert.equal({ path: fromA.path, received: fromA.received }, { path: '/', received: 5 });
  assert.ok(inB.some((l) => /^127\.0\.0\.1:\d+$/.test(l.from) && l.received === 0), 'the plain client, by address');
  assert.is(c.status().links!.in[0]!.from, 'b');

  const root = a.tracer!.query().at(-1)!;
  const trace = root.traceId;
  const bSpans = b.tracer!.query({ trace });
  const cSpans = c.tracer!.query({ trace });
  const byName = (spans: typeof bSpans, name: string) => spans.find((s) => s.name.startsWith(name))!;
  assert.is(byName(bSpans, 'receive').parentSpanId, root.spanId);
  assert.is(byName(bSpans, 'send').parentSpanId, byName(bSpans, 'loop').spanId);
  assert.is(byName(cSpans, 'receive').parentSpanId, byName(bSpans, 'send').spanId);
  assert.is(byName(cSpans, 'receive').attributes['sketch.from'], 'b');

  // the spans endpoint answers the same, by trace and by time; bad queries get 400 with one line
  const http = cAddr.url.replace('ws://', 'http://');
  const r = (await (await fetch(`${http}.well-known/sketch/spans?trace=${trace}`)).json()) as { name: string; spans: unknown[] };
  assert.is(r.name, 'c');
  assert.is(r.spans.length, 2);
  const bad = await fetch(`${http}.well-known/sketch/spans?trace=XYZ`);
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /32 lower-case hex/);
  spy.close();
  await Promise.all([a.close(), b.close(), c.close()]);
});

test('past its spans bound a sketch keeps only the newest; past its trace rate the rest go unsampled and neither side records them', async () => {
  const quiet = { discovery: false as const, log: () => {} };
  const c = new Relay({ ...quiet, name: 'c', spans: 4 });
  const addr = await c.run({ host: '127.0.0.1' });
  const a = new Relay({ ...quiet, name: 'a', traceRate: 3 });
  for (let i = 0; i < 10; i++) await a.stream(addr.url, String(i));
  const http = addr.url.replace('ws://', 'http://');
  const kept = (await (await fetch(`${http}.well-known/sketch/spans`)).json()) as { spans: Array<{ name: string; attributes: Record<string, string> }> };
  assert.is(kept.spans.length, 4, 'the ring of 4: two requests, receive and loop each');
  assert.equal(kept.spans.map((s) => (s.name === 'receive /' ? s.attributes['sketch.message'] : s.name)), ['loop /', '1', 'loop /', '2'], 'of the three sampled traces, the newest two');
  const sent = a.tracer!.query();
  assert.equal(sent.map((s) => s.attributes['sketch.message']), ['0', '1', '2'], 'three traces a second at most: the first three');
  await Promise.all([a.close(), c.close()]);
});

test('with trace: false nothing is recorded, no traceparent is sent and the spans endpoint says so', async () => {
  const quiet = { discovery: false as const, log: () => {} };
  const c = new Relay({ ...quiet, name: 'c', trace: false });
  const addr = await c.run({ host: '127.0.0.1' });
  const a = new Relay({ ...quiet, name: 'a', trace: false });
  await a.stream(addr.url, 'x');
  assert.is(a.tracer, undefined);
  assert.is(a.status().links!.out[0]!.acked, 1, 'links are counted all the same');
  const res = await fetch(`${addr.url.replace('ws://', 'http://')}.well-known/sketch/spans`);
  assert.is(res.status, 404);
  assert.match(await res.text(), /--no-trace/);
  await Promise.all([a.close(), c.close()]);
});

test.run();

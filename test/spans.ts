import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tracer, unixNano } from '../runtime/net/spans.js';
import { parseTraceparent } from '../runtime/net/trace-context.js';

function tracer(capacity?: number, extra: Partial<ConstructorParameters<typeof Tracer>[0]> = {}) {
  let t = 1_796_000_000_000; // ms since the epoch
  const tick = () => (t += 0.25);
  return new Tracer({ name: () => 'iopin', kind: 'iopin', capacity, now: tick, propagate: true, ...extra });
}

test('a request received with a traceparent continues that trace: receive is the sender span\'s child, loop receive\'s', async () => {
  const tr = tracer();
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const span = tr.server('/', 'clock', '3', parent);
  let inner: string | undefined;
  await span.run(async () => {
    inner = tr.client('buzzer', 'mdns', '1').traceparent;
  });
  span.looped(true);
  span.answered(true);
  const spans = tr.query();
  assert.equal(spans.map((s) => s.name), ['loop /', 'receive /']);
  const [loop, receive] = spans;
  assert.is(receive!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.is(receive!.parentSpanId, '00f067aa0ba902b7');
  assert.is(receive!.kind, 'server');
  assert.equal(receive!.attributes, { 'sketch.channel': '/', 'sketch.from': 'clock', 'sketch.message': '3', 'sketch.name': 'iopin', 'sketch.kind': 'iopin' });
  assert.is(loop!.parentSpanId, receive!.spanId);
  assert.is(loop!.kind, 'internal');
  // a request sent while loop runs carries the loop span as its parent, in the same trace
  const sent = parseTraceparent(inner)!;
  assert.is(sent.traceId, receive!.traceId);
  assert.is(sent.flags, 1);
});

test('a request sent outside any loop starts a trace; its span ends with the acknowledgement', () => {
  const tr = tracer();
  const c = tr.client('buzzer', 'url', 'x'.repeat(100));
  assert.is(tr.query().length, 0, 'kept only once ended');
  c.end(true, 'bzzz');
  const [s] = tr.query();
  assert.is(s!.parentSpanId, undefined);
  assert.is(s!.name, 'send buzzer');
  assert.is(s!.kind, 'client');
  assert.is(s!.attributes['sketch.ack'], 'bzzz');
  assert.is((s!.attributes['sketch.message'] as string).length, 65, '64 characters and an ellipsis');
  assert.is(c.traceparent, `00-${s!.traceId}-${s!.spanId}-01`);
  assert.equal(s!.status, { code: 'ok' });
  assert.ok(BigInt(s!.endTimeUnixNano) > BigInt(s!.startTimeUnixNano));
});

test('a failed request or loop is kept with status error and its line', () => {
  const tr = tracer();
  tr.client('buzzer', 'mdns', '1').end(false, 'peer "buzzer" not found');
  const [s] = tr.query();
  assert.equal(s!.status, { code: 'error', message: 'peer "buzzer" not found' });
});

test('a context its root did not sample is passed on and nothing is recorded', async () => {
  const tr = tracer();
  const unsampled = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
  const span = tr.server('/', 'x', 'm', unsampled);
  let inner = '';
  await span.run(async () => {
    inner = tr.client('p', 'mdns', 'm').traceparent;
  });
  span.looped(true);
  span.answered(true);
  assert.is(tr.query().length, 0);
  assert.is(inner, unsampled);
});

test('the ring keeps the newest spans up to its capacity, oldest first', () => {
  const tr = tracer(3);
  for (let i = 0; i < 5; i++) tr.client(`p${i}`, 'mdns', String(i)).end(true, 'ok');
  assert.equal(tr.query().map((s) => s.name), ['send p2', 'send p3', 'send p4']);
});

test('spans are found by trace id, or by having ended after a time', () => {
  const tr = tracer();
  const a = tr.client('a', 'mdns', '1');
  a.end(true, 'ok');
  const [first] = tr.query();
  tr.client('b', 'mdns', '2').end(true, 'ok');
  assert.equal(tr.query({ trace: first!.traceId }).map((s) => s.name), ['send a']);
  const since = Number(BigInt(first!.endTimeUnixNano) / 1000n) / 1e6; // s
  assert.equal(tr.query({ since }).map((s) => s.name), ['send b']);
});

test('root() runs a job in a trace of its own whose requests are its children', async () => {
  const tr = tracer();
  let seen = '';
  const ack = await tr.root('tick 1', async (traceId) => {
    seen = traceId;
    const c = tr.client('iopin', 'mdns', '1');
    c.end(true, 'ok');
    return 'done';
  });
  assert.is(ack, 'done');
  const spans = tr.query({ trace: seen });
  assert.equal(spans.map((s) => s.name), ['send iopin', 'tick 1']);
  assert.is(spans[0]!.parentSpanId, spans[1]!.spanId);
});

test('traces started here are recorded at most `rate` per second, bursts of as many; the others go out unsampled', () => {
  let now = 0;
  const tr = tracer(undefined, { rate: 2, monotonic: () => now });
  const sent = Array.from({ length: 5 }, () => tr.client('p', 'mdns', 'm'));
  for (const c of sent) c.end(true, 'ok');
  assert.is(tr.query().length, 2);
  assert.equal(sent.map((c) => c.traceparent.slice(-2)), ['01', '01', '00', '00', '00']);
  now += 500; // half a second: one more token
  tr.client('p', 'mdns', 'm').end(true, 'ok');
  tr.client('p', 'mdns', 'm').end(true, 'ok');
  assert.is(tr.query().length, 3);
  // a request arriving unsampled is not recorded, whatever the rate
  const s = tr.server('/', 'x', 'm', sent[4]!.traceparent);
  assert.is(s.recording, false);
});

test('a sketch that has sent nothing runs loop without a trace context; from its first send on, loop carries it', async () => {
  const tr = tracer(undefined, { propagate: false });
  const first = tr.server('/', 'x', 'm');
  let inside: unknown = 'unset';
  await first.run(async () => {
    inside = tr.current();
  });
  assert.is(inside, undefined, 'no context: nothing to pass on yet');
  tr.client('p', 'mdns', 'm').end(true, 'ok'); // it sends: from now on loop runs in its context
  const second = tr.server('/', 'x', 'm');
  await second.run(async () => {
    inside = tr.current();
  });
  assert.ok(inside && typeof inside === 'object');
});

test('times are written as ns since the epoch with µs kept', () => {
  assert.is(unixNano(1_796_000_000_123.456), '1796000000123456000');
  assert.is(unixNano(1_796_000_000_000), '1796000000000000000');
});

test('a capacity that is not a whole number ≥ 1 is refused', () => {
  assert.throws(() => new Tracer({ name: () => 'x', kind: 'x', capacity: 0 }), /capacity/);
});

test.run();

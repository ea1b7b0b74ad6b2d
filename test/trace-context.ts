import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRequest, encodeRequest } from '../runtime/net/protocol.js';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../runtime/net/trace-context.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';

test('a version-00 traceparent is read into its trace id, parent span id and flags', () => {
  assert.equal(parseTraceparent(`00-${T}-${S}-01`), { traceId: T, spanId: S, flags: 1 });
  assert.equal(parseTraceparent(`00-${T}-${S}-00`), { traceId: T, spanId: S, flags: 0 });
});

test('what is not a valid traceparent is ignored, so that the receiver starts a new trace (W3C Trace Context §3.2.2)', () => {
  for (const bad of [
    '',
    `00-${T}-${S}`,
    `00-${T.toUpperCase()}-${S}-01`,
    `ff-${T}-${S}-01`,
    `00-${'0'.repeat(32)}-${S}-01`,
    `00-${T}-${'0'.repeat(16)}-01`,
    `00-${T}-${S}-01-extra`,
    `0-${T}-${S}-01`,
    42,
    undefined,
  ]) {
    assert.is(parseTraceparent(bad), undefined, JSON.stringify(bad));
  }
});

test('a later version is read by its first four fields', () => {
  assert.equal(parseTraceparent(`01-${T}-${S}-01-whatever-comes-next`), { traceId: T, spanId: S, flags: 1 });
});

test('a context written and read again is the same context', () => {
  const ctx = { traceId: newTraceId(), spanId: newSpanId(), flags: 1 };
  assert.is(formatTraceparent(ctx), `00-${ctx.traceId}-${ctx.spanId}-01`);
  assert.equal(parseTraceparent(formatTraceparent(ctx)), ctx);
  assert.is(formatTraceparent({ ...ctx, flags: 0x1f }).slice(-2), '1f');
});

test('new ids are lower-case hex of the right length and do not repeat', () => {
  const traces = new Set(Array.from({ length: 2000 }, () => newTraceId()));
  const spans = new Set(Array.from({ length: 2000 }, () => newSpanId()));
  assert.is(traces.size, 2000);
  assert.is(spans.size, 2000);
  for (const t of traces) assert.match(t, /^[0-9a-f]{32}$/);
  for (const s of spans) assert.match(s, /^[0-9a-f]{16}$/);
});

test('a sketchnet.v3 request carries its traceparent through encode and decode; one without stays without', () => {
  const tp = `00-${T}-${S}-01`;
  const r = decodeRequest(encodeRequest({ session: 's1', seq: 2, done: 1, msg: 'hi', traceparent: tp }));
  assert.equal(r, { session: 's1', seq: 2, done: 1, msg: 'hi', traceparent: tp });
  assert.not.ok('traceparent' in decodeRequest(encodeRequest({ session: 's1', seq: 2, done: 1, msg: 'hi' })));
});

test.run();

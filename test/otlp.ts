import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/index.js';
import { sketchnetVersion } from '../runtime/net/broker-link.js';
import { keyValues, OtlpExporter, resolveOtlp, retryAfterMs, type OtlpKeyValue, type OtlpSpan, type OtlpTraceRequest } from '../runtime/net/otlp.js';
import type { SpanRecord } from '../runtime/net/spans.js';
import Buzzer from '../sketches/buzzer.js';
import Clock from '../sketches/clock.js';
import IOPin from '../sketches/iopin.js';
import { cli, runCli, sleep } from './helpers/net.js';

/** One request a {@link collector} got. */
interface Got {
  at: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: OtlpTraceRequest;
}

/**
 * A fake OpenTelemetry collector: an HTTP server that keeps every request and answers with what
 * `answer` says (default 200 `{}`); `hold` keeps answers back until `release()`.
 */
async function collector(answer: (n: number) => { status: number; headers?: Record<string, string>; body?: string } = () => ({ status: 200 })) {
  const got: Got[] = [];
  let held: Array<() => void> = [];
  let holding = false;
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (d: string) => (text += d));
    req.on('end', () => {
      got.push({ at: Date.now(), method: req.method!, url: req.url!, headers: req.headers, body: JSON.parse(text) as OtlpTraceRequest });
      const a = answer(got.length);
      const send = () => res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body ?? '{}');
      if (holding) held.push(send);
      else send();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    got,
    spans: () => got.flatMap((g) => g.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const send of held) send();
      held = [];
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A finished span as a Tracer hands it to its listeners. */
function span(i: number): SpanRecord {
  const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
  return {
    traceId: hex(i + 1, 32),
    spanId: hex(i + 1, 16),
    parentSpanId: undefined,
    name: `receive /${i}`,
    kind: 'server',
    start: 1_700_000_000_000.25 + i,
    end: 1_700_000_000_001.5 + i,
    attributes: { 'sketch.name': 'probe', 'sketch.kind': 'probe', 'sketch.n': i, 'sketch.ratio': 0.5, 'sketch.ok': true },
    status: 'ok',
  };
}

const attr = (list: OtlpKeyValue[], key: string) => list.find((a) => a.key === key)?.value;

test('a clock → iopin → buzzer tick reaches the collector as one trace: OTLP/JSON shapes, and each hop a child of the one before', async () => {
  const c = await collector();
  const otlp = { endpoint: c.base, scheduleDelay: 20, env: {} };
  const log = () => {};
  const buzzer = new Buzzer({ discovery: false, log, otlp, options: { gpio: 'virtual' } });
  await buzzer.run({ host: '127.0.0.1' });
  const iopin = new IOPin({ discovery: false, log, otlp, to: buzzer.address!.url, options: { gpio: 'virtual', bitMs: 0 } });
  await iopin.run({ host: '127.0.0.1' });
  const clock = new Clock({ discovery: false, log, otlp, to: iopin.address!.url, options: { tacks: 1, delay: 0 } });
  await clock.run({ host: '127.0.0.1' });
  await clock.main();
  await Promise.all([clock.close(), iopin.close(), buzzer.close()]); // close() flushes

  // the requests: POST /v1/traces, JSON, one resource per sketch
  assert.ok(c.got.length >= 3);
  for (const g of c.got) {
    assert.is(g.method, 'POST');
    assert.is(g.url, '/v1/traces');
    assert.is(g.headers['content-type'], 'application/json');
    for (const r of g.body.resourceSpans) {
      const name = attr(r.resource.attributes, 'service.name') as { stringValue: string };
      assert.ok(['clock', 'iopin', 'buzzer'].includes(name.stringValue));
      assert.equal(attr(r.resource.attributes, 'service.namespace'), { stringValue: 'sketchnet' });
      assert.equal(attr(r.resource.attributes, 'sketchnet.kind'), { stringValue: name.stringValue });
      assert.is(r.scopeSpans.length, 1);
      assert.equal(r.scopeSpans[0]!.scope, { name: 'sketchnet', version: sketchnetVersion() });
    }
  }
  const spans = c.spans();
  for (const s of spans) {
    assert.match(s.traceId, /^[0-9a-f]{32}$/, 'trace ids are hex, not base64');
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    if (s.parentSpanId !== undefined) assert.match(s.parentSpanId, /^[0-9a-f]{16}$/);
    assert.ok([1, 2, 3].includes(s.kind), 'kind is the enum number');
    assert.match(s.startTimeUnixNano, /^\d{19}$/);
    assert.match(s.endTimeUnixNano, /^\d{19}$/);
    assert.ok(BigInt(s.startTimeUnixNano) <= BigInt(s.endTimeUnixNano));
    assert.ok(Math.abs(Number(BigInt(s.startTimeUnixNano) / 1_000_000n) - Date.now()) < 60_000, 'ns since the Unix epoch');
    for (const a of s.attributes) assert.is(Object.keys(a.value).length, 1);
    assert.equal(s.status, { code: 1 });
  }
  // one trace, and the hops linked: tick → send → receive → loop → send ×bits → receive → loop
  const traces = new Set(spans.map((s) => s.traceId));
  assert.is(traces.size, 1, 'one tick, one trace');
  const of = (sketch: string, name: string) => spans.filter((s) => (attr(s.attributes, 'sketch.name') as { stringValue: string }).stringValue === sketch && s.name.startsWith(name));
  const one = (sketch: string, name: string): OtlpSpan => {
    const found = of(sketch, name);
    assert.is(found.length, 1, `one ${name} span of ${sketch}`);
    return found[0]!;
  };
  const tick = one('clock', 'tick 0');
  assert.is(tick.parentSpanId, undefined, 'the tick is the root');
  assert.is(tick.kind, 1);
  const send = one('clock', 'send ');
  assert.is(send.kind, 3);
  assert.is(send.parentSpanId, tick.spanId);
  const receive = one('iopin', 'receive /');
  assert.is(receive.kind, 2);
  assert.is(receive.parentSpanId, send.spanId, "iopin's receive is a child of the clock's send");
  const loop = one('iopin', 'loop /');
  assert.is(loop.parentSpanId, receive.spanId);
  const bits = of('iopin', 'send ');
  assert.ok(bits.length >= 1);
  const buzzerReceives = of('buzzer', 'receive /');
  assert.is(buzzerReceives.length, bits.length);
  for (const b of bits) {
    assert.is(b.parentSpanId, loop.spanId, 'each bit sent inside the loop');
    const r = buzzerReceives.find((x) => x.parentSpanId === b.spanId);
    assert.ok(r, "a buzzer receive per bit, child of the iopin's send");
    assert.ok(of('buzzer', 'loop /').some((l) => l.parentSpanId === r!.spanId));
    assert.equal(attr(b.attributes, 'sketch.message'), attr(r!.attributes, 'sketch.message'));
  }
  await c.close();
});

test('attributes keep their types: strings, whole numbers as int64 strings, fractions as doubles, booleans', async () => {
  const c = await collector();
  const e = new OtlpExporter({ endpoint: c.base, env: {}, log: () => {} });
  e.add({ ...span(0), status: 'error', statusMessage: 'boom', kind: 'client', parentSpanId: 'ab'.repeat(8) });
  await e.flush();
  const s = c.spans()[0]!;
  assert.equal(attr(s.attributes, 'sketch.n'), { intValue: '0' });
  assert.equal(attr(s.attributes, 'sketch.ratio'), { doubleValue: 0.5 });
  assert.equal(attr(s.attributes, 'sketch.ok'), { boolValue: true });
  assert.equal(attr(s.attributes, 'sketch.name'), { stringValue: 'probe' });
  assert.equal(s.status, { code: 2, message: 'boom' });
  assert.is(s.kind, 3);
  assert.is(s.parentSpanId, 'ab'.repeat(8));
  assert.is(s.startTimeUnixNano, '1700000000000250000');
  assert.is(s.endTimeUnixNano, '1700000000001500000');
  await e.close();
  await c.close();
});

test('a collector answering 503 with Retry-After: 1 gets the same batch again a second later, not at the shorter backoff', async () => {
  const c = await collector((n) => (n === 1 ? { status: 503, headers: { 'retry-after': '1' }, body: 'busy' } : { status: 200 }));
  const lines: string[] = [];
  const e = new OtlpExporter({ endpoint: c.base, env: {}, retryDelay: 20, log: (l) => lines.push(l) });
  for (let i = 0; i < 3; i++) e.add(span(i));
  await e.flush();
  assert.is(c.got.length, 2);
  assert.equal(c.got[1]!.body, c.got[0]!.body, 'the same batch');
  const gap = c.got[1]!.at - c.got[0]!.at;
  assert.ok(gap >= 950 && gap < 2000, `retried after ${gap} ms`);
  assert.equal(e.stats, { exported: 3, dropped: 0, failed: 0, queued: 0 });
  assert.equal(lines, []);
  await e.close();
  await c.close();
});

test('without Retry-After a 429 is retried after the backoff; a 400 is not retried: the batch is dropped with one line', async () => {
  const c = await collector((n) => (n === 1 ? { status: 429 } : { status: 400, body: 'bad span\nmore' }));
  const lines: string[] = [];
  const e = new OtlpExporter({ endpoint: c.base, env: {}, retryDelay: 20, log: (l) => lines.push(l) });
  e.add(span(0));
  await e.flush();
  assert.is(c.got.length, 2, 'one retry after 429, none after 400');
  assert.ok(c.got[1]!.at - c.got[0]!.at < 500);
  e.add(span(1));
  await e.flush();
  assert.is(c.got.length, 3);
  assert.equal(e.stats, { exported: 0, dropped: 0, failed: 2, queued: 0 });
  assert.is(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /^OTLP: 1 spans not exported to http:\/\/127\.0\.0\.1:\d+\/v1\/traces: 400 Bad Request: bad span; dropping spans until it answers$/);
  await e.close();
  await c.close();
});

test('spans past the queue bound are dropped and counted, one log line per burst', async () => {
  const c = await collector();
  c.hold();
  const lines: string[] = [];
  const e = new OtlpExporter({ endpoint: c.base, env: {}, maxQueueSize: 4, maxExportBatchSize: 2, scheduleDelay: 10, log: (l) => lines.push(l) });
  for (let i = 0; i < 10; i++) e.add(span(i)); // 2 leave at once (a full batch), 4 wait, 4 are dropped
  assert.equal(e.stats, { exported: 0, dropped: 4, failed: 0, queued: 4 });
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^OTLP: 4 spans wait for http:\/\/127\.0\.0\.1:\d+\/v1\/traces already: dropping spans until it catches up$/);
  while (c.got.length < 1) await sleep(5);
  c.release();
  await e.flush();
  assert.equal(e.stats, { exported: 6, dropped: 4, failed: 0, queued: 0 });
  assert.equal(c.spans().map((s) => s.name), [0, 1, 2, 3, 4, 5].map((i) => `receive /${i}`), 'the oldest kept, in order');
  // a second burst: a second line
  c.hold();
  for (let i = 10; i < 20; i++) e.add(span(i));
  assert.is(e.stats.dropped, 8);
  assert.is(lines.length, 2);
  c.release();
  await e.close();
  assert.equal(e.stats, { exported: 12, dropped: 8, failed: 0, queued: 0 });
  await c.close();
});

test('close() waits for the last export at most closeTimeout ms, then counts what is left in one line', async () => {
  const c = await collector();
  c.hold();
  const lines: string[] = [];
  const e = new OtlpExporter({ endpoint: c.base, env: {}, closeTimeout: 200, log: (l) => lines.push(l) });
  for (let i = 0; i < 3; i++) e.add(span(i));
  const t0 = Date.now();
  await e.close();
  const took = Date.now() - t0;
  assert.ok(took >= 190 && took < 1000, `close took ${took} ms`);
  assert.equal(e.stats, { exported: 0, dropped: 0, failed: 3, queued: 0 });
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^OTLP: 3 spans not exported: .* did not take them within 200 ms of closing$/);
  e.add(span(9)); // after close: ignored, no throw
  assert.is(e.stats.queued, 0);
  c.release();
  await c.close();
});

test('OTEL_* variables: the base endpoint gets /v1/traces, the traces endpoint is used as is, headers are URL-decoded, code wins', () => {
  const warned: string[] = [];
  const warn = (l: string) => warned.push(l);
  assert.is(resolveOtlp({}, {}, warn), undefined, 'no endpoint: export off');
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, warn)!.url, 'http://c:4318/v1/traces');
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/otlp/' }, warn)!.url, 'http://c:4318/otlp/v1/traces');
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/spans' }, warn)!.url, 'https://t/spans');
  assert.is(resolveOtlp({ endpoint: 'http://flag:4318' }, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://t/spans' }, warn)!.url, 'http://flag:4318/v1/traces', '--otlp wins');
  const s = resolveOtlp({ headers: { c: 'code' } }, {
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
    OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%20b%2Cc , x=1,c=env',
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x=2',
    OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '3000',
    OTEL_SERVICE_NAME: 'svc',
    OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored,deployment.environment=lab%201',
    OTEL_BSP_SCHEDULE_DELAY: '250',
    OTEL_BSP_MAX_QUEUE_SIZE: '100',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '500',
  }, warn)!;
  assert.equal(s.headers, { 'api-key': 'a b,c', x: '2', c: 'code' });
  assert.is(s.timeout, 3000, 'the traces variable wins');
  assert.is(s.serviceName, 'svc', 'OTEL_SERVICE_NAME wins over service.name of OTEL_RESOURCE_ATTRIBUTES');
  assert.equal(s.resource, { 'deployment.environment': 'lab 1' });
  assert.is(s.scheduleDelay, 250);
  assert.is(s.maxQueueSize, 100);
  assert.is(s.maxExportBatchSize, 100, 'a batch never exceeds the queue');
  assert.equal(warned, []);
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }, warn)!.serviceName, 'from-attrs');
  // bad values: a warning and the default
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' }, warn)!.timeout, 10_000);
  assert.equal(warned, ['OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not a number ≥ 1: using 10000']);
  assert.equal(keyValues('a=1,broken,=x,b=%E0%A4%A', 'V', (l) => warned.push(l)), { a: '1' });
  assert.is(warned.length, 4);
  // OTEL_SDK_DISABLED turns the variables off, not an endpoint given in code
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_SDK_DISABLED: 'TRUE' }, warn), undefined);
  assert.ok(resolveOtlp({ endpoint: 'http://c' }, { OTEL_SDK_DISABLED: 'true' }, warn));
  assert.throws(() => resolveOtlp({}, { OTEL_EXPORTER_OTLP_ENDPOINT: 'c:4318' }, warn), (e: SketchError) => e.code === 'SKETCH_ERR_INVALID_OPTION' && /OTEL_EXPORTER_OTLP_ENDPOINT "c:4318" is not an http:\/\/ or https:\/\/ URL/.test(e.message));
});

test('a protocol other than http/json is refused when export is on, naming the variable; ignored when it is off', () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
  assert.throws(
    () => resolveOtlp({}, env),
    (e: SketchError) => e.code === 'SKETCH_ERR_OTLP_PROTOCOL' && e.exitCode === 2 && e.message.startsWith('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: sketchnet exports spans over OTLP/HTTP with JSON only'),
  );
  assert.throws(() => resolveOtlp({}, { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }), /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http\/protobuf/);
  assert.ok(resolveOtlp({}, { ...env, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }), 'the traces variable decides');
  assert.is(resolveOtlp({}, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), undefined);
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.is(retryAfterMs('3'), 3000);
  assert.is(retryAfterMs(new Date(1_000_000 + 2000).toUTCString(), 1_000_000), 2000);
  assert.is(retryAfterMs('soon'), undefined);
  assert.is(retryAfterMs(null), undefined);
});

test('sketch run exports with OTEL_EXPORTER_OTLP_ENDPOINT alone, and with --otlp URL; service.name is the instance name', async () => {
  const c = await collector();
  for (const [args, env] of [
    [[], { OTEL_EXPORTER_OTLP_ENDPOINT: c.base, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_HEADERS: 'x-key=s3cr%3Dt' }],
    [['--otlp', c.base, '--name', 'flagged'], { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_HEADERS: 'x-key=s3cr%3Dt' }],
  ] as const) {
    const before = c.got.length;
    const buzzer = cli(['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--host', '127.0.0.1', ...args], env);
    const port = /serving on 127\.0\.0\.1:(\d+)/.exec(await buzzer.waitFor(/serving on 127\.0\.0\.1:\d+/))![1];
    const send = await runCli(['send', `127.0.0.1:${port}`, '1']);
    assert.is(send.code, 0, send.stderr);
    while (c.got.length === before) await sleep(20);
    buzzer.child.kill('SIGTERM');
    assert.is(await buzzer.exited(), 0);
    const g = c.got[before]!;
    assert.is(g.headers['x-key'], 's3cr=t');
    const r = g.body.resourceSpans[0]!;
    assert.equal(attr(r.resource.attributes, 'service.name'), { stringValue: args.length ? 'flagged' : 'buzzer' });
    assert.ok(r.scopeSpans[0]!.spans.some((s) => s.name === 'receive /' && s.kind === 2));
  }
  await c.close();
});

test('sketch run stops at start with one line when OTEL_EXPORTER_OTLP_PROTOCOL asks for grpc (exit 2), and when --otlp goes with --no-trace', async () => {
  const r = await runCli(['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--host', '127.0.0.1'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
  assert.is(r.code, 2);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^sketch: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: sketchnet exports spans over OTLP\/HTTP with JSON only; set it to http\/json/);
  assert.is(r.stdout, '');
  const both = await runCli(['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--otlp', 'http://127.0.0.1:9', '--no-trace']);
  assert.is(both.code, 2);
  assert.match(both.stderr, /^sketch: --otlp exports spans, which --no-trace turns off: give one or the other\n/);
});

test.run();

/**
 * The dashboard's `/api/trace` and `/api/tail`: three tiny HTTP servers stand in for the clock,
 * the iopin and the buzzer (each answering `/.well-known/sketch/spans` and its status), a
 * directory over fake mDNS finds them, and the DashboardServer's routes are served for real.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Directory } from '../runtime/dashboard/directory.js';
import { DashboardServer } from '../runtime/dashboard/server.js';
import { checkSpans, mergeTrace, type SpanJson } from '../runtime/dashboard/trace.js';
import type { FoundSketch } from '../runtime/discovery/mdns.js';
import { findRoute } from '../runtime/net/routes.js';

const TRACE = 'a'.repeat(32);
const OTHER = 'b'.repeat(32);
const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
const T0 = 1_700_000_000_000; // ms

function span(trace: string, id: string, parent: string | undefined, name: string, kind: SpanJson['kind'], startMs: number, endMs: number, attributes: SpanJson['attributes'] = {}): SpanJson {
  return {
    traceId: trace,
    spanId: id.padStart(16, '0'),
    ...(parent ? { parentSpanId: parent.padStart(16, '0') } : {}),
    name,
    kind,
    startTimeUnixNano: ns(T0 + startMs),
    endTimeUnixNano: ns(T0 + endMs),
    attributes,
    status: { code: 'ok' },
  };
}

/** The spans of one tick as each sketch keeps them, plus one span of another trace. */
const SPANS: Record<string, SpanJson[]> = {
  clock: [span(TRACE, '1', undefined, 'send iopin', 'client', 0, 10, { 'sketch.peer': 'iopin', 'sketch.message': '0', 'sketch.ack': 'ok' })],
  iopin: [
    span(TRACE, '2', '1', 'receive /', 'server', 1, 9),
    span(TRACE, '3', '2', 'loop /', 'internal', 1.1, 8.9),
    span(TRACE, '4', '3', 'send buzzer', 'client', 2, 4, { 'sketch.peer': 'buzzer', 'sketch.message': '1', 'sketch.ack': 'bzzz' }),
    span(OTHER, '9', undefined, 'send buzzer', 'client', 20, 21, { 'sketch.peer': 'buzzer.local', 'sketch.message': '0', 'sketch.ack': 'silence' }),
    span(OTHER, 'a', undefined, 'send thermo', 'client', 22, 23, { 'sketch.peer': 'thermo', 'sketch.message': 'x' }),
  ],
  buzzer: [span(TRACE, '5', '4', 'receive /', 'server', 2.5, 3.5), span(TRACE, '6', '5', 'loop /', 'internal', 2.6, 3.4)],
};

/** A tiny sketch: its status, and its spans filtered as a sketch does (`?trace=`, `?since=`). `broken`: answers 500. */
async function fakeSketch(name: string, broken = false): Promise<{ server: http.Server; port: number; asked: string[] }> {
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    asked.push(url.pathname + url.search);
    if (broken) return void res.writeHead(500).end('out of order\n');
    if (url.pathname === '/.well-known/sketch/spans') {
      const trace = url.searchParams.get('trace');
      const since = url.searchParams.get('since');
      const spans = (SPANS[name] ?? []).filter((s) => (!trace || s.traceId === trace) && (!since || Number(BigInt(s.endTimeUnixNano) / 1_000_000n) / 1000 > Number(since)));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, spans }));
    } else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name, kind: name, protocol: 3, uptime: 1, acknowledges: true, connections: {}, streams: {} }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, asked };
}

const found = (name: string, port: number): FoundSketch => ({
  name, kind: name, address: '127.0.0.1', addresses: ['127.0.0.1'], port, protocol: '3', streams: [], host: 'h.local', url: `ws://127.0.0.1:${port}/`, txt: {}, tls: false,
});

/** The three sketches (and optionally a broken fourth), a directory over them and the dashboard's routes on a real server. */
async function world(withBroken = false) {
  const names = ['clock', 'iopin', 'buzzer', ...(withBroken ? ['broken'] : [])];
  const sketches = await Promise.all(names.map((n) => fakeSketch(n, n === 'broken')));
  const directory = new Directory({
    browse: async () => names.map((n, i) => found(n, sketches[i]!.port)),
    status: async (f) => {
      if (f.name === 'broken') throw new Error('status: 500');
      return { name: f.name, kind: f.kind, protocol: 3, uptime: 1, acknowledges: true, connections: {}, streams: {} };
    },
  });
  await directory.refresh();
  const dash = new DashboardServer({ directory, security: {}, publish: () => {}, log: () => {}, now: () => T0 / 1000 + 60 });
  const routes = dash.routes();
  const api = http.createServer((req, res) => void findRoute(routes, req.url)!.handle(req, res, 'write' as never));
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  return {
    base,
    sketches,
    async close() {
      dash.close();
      directory.close();
      api.close();
      for (const s of sketches) s.server.close();
    },
  };
}

test('/api/trace asks every sketch up for the trace and merges their spans into one tree, by start time', async () => {
  const w = await world();
  try {
    const r = await fetch(`${w.base}/api/trace?id=${TRACE}`);
    assert.is(r.status, 200);
    const a = (await r.json()) as { trace: string; spans: (SpanJson & { sketch: string })[]; asked: string[]; missing: unknown[] };
    assert.is(a.trace, TRACE);
    assert.equal(a.asked.sort(), ['buzzer', 'clock', 'iopin']);
    assert.equal(a.missing, []);
    assert.equal(a.spans.map((s) => `${s.sketch} ${s.name}`), ['clock send iopin', 'iopin receive /', 'iopin loop /', 'iopin send buzzer', 'buzzer receive /', 'buzzer loop /']);
    assert.ok(a.spans.every((s) => s.traceId === TRACE), 'only the trace asked for');
    for (const s of w.sketches) assert.ok(s.asked.includes(`/.well-known/sketch/spans?trace=${TRACE}`), s.asked.join());
  } finally {
    await w.close();
  }
});

test('/api/trace lists a sketch that fails in missing with one line, and still merges the others', async () => {
  const w = await world(true);
  try {
    const a = (await (await fetch(`${w.base}/api/trace?id=${TRACE}`)).json()) as { spans: unknown[]; missing: { sketch: string; error: string }[] };
    assert.is(a.spans.length, 6);
    assert.is(a.missing.length, 1);
    assert.is(a.missing[0]!.sketch, 'broken');
    assert.match(a.missing[0]!.error, /500/);
    assert.not.match(a.missing[0]!.error, /\n/);
  } finally {
    await w.close();
  }
});

test('/api/trace refuses an id that is not 32 hex digits with 400 and one line', async () => {
  const w = await world();
  try {
    const r = await fetch(`${w.base}/api/trace?id=xyz`);
    assert.is(r.status, 400);
    assert.is((await r.text()).trim().split('\n').length, 1);
  } finally {
    await w.close();
  }
});

test('/api/tail answers the latest messages a sketch sent to one peer (name with or without .local), with message and acknowledgement, oldest first', async () => {
  const w = await world();
  try {
    const r = await fetch(`${w.base}/api/tail?sketch=iopin&to=buzzer`);
    assert.is(r.status, 200);
    const a = (await r.json()) as { sketch: string; to: string; messages: { time: number; ms: number; message: string; ack?: string; to: string; traceId: string }[] };
    assert.is(a.sketch, 'iopin');
    assert.equal(a.messages.map((m) => [m.message, m.ack, m.to]), [['1', 'bzzz', 'buzzer'], ['0', 'silence', 'buzzer.local']]);
    assert.is(a.messages[0]!.time, (T0 + 2) / 1000);
    assert.is(a.messages[0]!.ms, 2);
    const asked = w.sketches[1]!.asked.find((q) => q.includes('since='))!;
    assert.match(asked, new RegExp(`since=${T0 / 1000 + 60 - 300}`), 'reads the last 300 s by default');
    const one = (await (await fetch(`${w.base}/api/tail?sketch=iopin&limit=1`)).json()) as { to: null; messages: { message: string }[] };
    assert.is(one.to, null);
    assert.equal(one.messages.map((m) => m.message), ['x'], 'every peer, the newest first kept');
  } finally {
    await w.close();
  }
});

test('/api/tail answers 404 for an unknown sketch and 400 for a bad limit, each one line', async () => {
  const w = await world();
  try {
    const unknown = await fetch(`${w.base}/api/tail?sketch=nobody&to=x`);
    assert.is(unknown.status, 404);
    assert.is((await unknown.text()).trim().split('\n').length, 1);
    const bad = await fetch(`${w.base}/api/tail?sketch=iopin&limit=0`);
    assert.is(bad.status, 400);
    assert.match(await bad.text(), /limit/);
  } finally {
    await w.close();
  }
});

test('spans of the wrong shape are left out of a merge; the same span from two sketches counts once', async () => {
  assert.throws(() => checkSpans({ nope: 1 }), /no spans list/);
  assert.equal(checkSpans({ spans: [{ traceId: 'x' }, null, 3] }), []);
  const one = SPANS.clock![0]!;
  const cards = ['a', 'b'].map((name) => ({ name, kind: 'x', state: 'up' }) as never);
  const a = await mergeTrace(cards, TRACE, async () => ({ spans: [one, { ...one, startTimeUnixNano: 'soon' }] }));
  assert.is(a.spans.length, 1);
});

test.run();

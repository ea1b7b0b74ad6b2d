import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { reactive, Sketch, SketchError, type StreamSpec } from '../runtime/index.js';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { connect, frames, sleep, upgrade } from './helpers/net.js';

/** A sketch with one declared stream, `/readings`, and an echoing loop. */
function producer(spec: StreamSpec = { history: 100 }, config: ConstructorParameters<typeof Sketch>[0] = {}) {
  const cls = class Producer extends Sketch {
    static override streams = { '/readings': spec };
    @reactive override async loop(channel: string, message: string) {
      return `${channel} ${message}`;
    }
  };
  return new cls({ discovery: false, log: () => {}, ...config });
}

async function started(spec?: StreamSpec, config?: ConstructorParameters<typeof Sketch>[0]) {
  const s = producer(spec, config);
  const { port } = await s.run({ host: '127.0.0.1' });
  return { s, base: `ws://127.0.0.1:${port}`, port };
}

const publishN = (s: Sketch, from: number, to: number) => {
  for (let i = from; i <= to; i++) s.publish('/readings', { i }, { time: 1000 + i });
};
const values = (fs: string[]) => fs.map((f) => JSON.parse(f).i as number);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, k) => a + k);

/** The HTTP status and body a refused upgrade gets; rejects when it was accepted. */
async function refused(url: string, protocols: string[] = []): Promise<{ status: number; body: string }> {
  const o = await upgrade(url, protocols);
  if (o.ws) {
    o.ws.close();
    throw new Error(`${url} was accepted`);
  }
  return { status: o.status, body: o.body };
}

function get(port: number, path: string): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, type: String(res.headers['content-type']) }));
      })
      .on('error', reject);
  });
}

test('a late subscriber with no query gets the newest item at once, then live items', async () => {
  const { s, base } = await started();
  publishN(s, 1, 3);
  const ws = await connect(`${base}/readings`);
  const got = frames(ws, 3);
  await sleep(20);
  publishN(s, 4, 5);
  assert.equal(values(await got), [3, 4, 5]);
  ws.close();
  await s.close();
});

test('?last=N, ?history=all, ?new, ?since=T and ?after_seq=S each start where asked, then go live', async () => {
  const { s, base } = await started();
  publishN(s, 1, 10);
  const cases: Array<[string, number[]]> = [
    ['last=3', [8, 9, 10]],
    ['last=0', []],
    ['history=all', range(1, 10)],
    ['new', []],
    ['since=1007', [7, 8, 9, 10]],
    ['after_seq=8', [9, 10]],
    ['after_seq=99', []],
  ];
  const subs = await Promise.all(cases.map(([q]) => connect(`${base}/readings?${q}`)));
  const got = subs.map((ws, k) => frames(ws, cases[k]![1].length + 2));
  await sleep(20);
  publishN(s, 11, 12);
  for (let k = 0; k < cases.length; k++) assert.equal(values(await got[k]!), [...cases[k]![1], 11, 12], cases[k]![0]);
  for (const ws of subs) ws.close();
  await s.close();
});

test('sketchnet.v2 subscribers get where the stream stands, then envelopes with the data as a JSON value', async () => {
  const { s, base } = await started();
  s.publish('/readings', { celsius: 21.5 }, { time: 1763737200.125 });
  s.publish('/readings', 'plain text');
  const ws = await connect(`${base}/readings?history=all`, [SUBPROTOCOL]);
  const [hello, a, b] = (await frames(ws, 3)).map((f) => JSON.parse(f));
  assert.equal(hello, { subscribed: { stream: '/readings', epoch: s.streamAt('/readings')!.epoch, first: 1, last: 2, delivery: 'all' } });
  assert.equal({ ...a, published: 0 }, { stream: '/readings', seq: 1, time: 1763737200.125, published: 0, data: { celsius: 21.5 } });
  assert.ok(a.published >= a.time);
  assert.is(b.seq, 2);
  assert.is(b.data, 'plain text');
  assert.is(b.time, b.published, 'time defaults to when it was published');
  assert.is(s.streamAt('/readings')!.epoch.length, 8);
  ws.close();
  await s.close();
});

test('items asked for that are no longer held come as a gap with reason "evicted"', async () => {
  const { s, base } = await started({ history: 5 });
  publishN(s, 1, 10);
  const ws = await connect(`${base}/readings?after_seq=2`, [SUBPROTOCOL]);
  const [, gap, ...items] = (await frames(ws, 7)).map((f) => JSON.parse(f));
  assert.equal(gap, { gap: { stream: '/readings', from: 3, to: 5, reason: 'evicted' } });
  assert.equal(items.map((i) => i.seq), [6, 7, 8, 9, 10]);
  ws.close();
  await s.close();
});

test('?after_seq with another epoch (the producer restarted) delivers everything held', async () => {
  const { s, base } = await started();
  publishN(s, 1, 4);
  const ws = await connect(`${base}/readings?after_seq=3&epoch=oldepoch`);
  assert.equal(values(await frames(ws, 4)), [1, 2, 3, 4]);
  ws.close();
  await s.close();
});

test('a subscriber joining with ?history=all while the producer publishes at full rate gets no hole and no duplicate', async () => {
  // The subscribers share the producer's process and fall seconds behind: neither bound may close them here.
  const { s, base } = await started({ history: { items: 200_000, maxBytes: 64 * 1024 * 1024 }, delivery: 'all', staleAfterMs: 60_000 }, { maxBuffered: 64 * 1024 * 1024 });
  let n = 0;
  const burst = () => {
    for (let k = 0; k < 200; k++) s.publish('/readings', { i: ++n });
  };
  for (let k = 0; k < 50; k++) burst(); // 10 000 held before anyone subscribes
  let producing = true;
  const producer = (async () => {
    while (producing) {
      burst();
      await new Promise((r) => setImmediate(r));
    }
  })();
  const seen = range(1, 4).map(() => [] as number[]);
  const joiners = await Promise.all(
    range(1, 4).map(async (k) => {
      await sleep(k * 15);
      return connect(`${base}/readings?history=all`, k % 2 ? [SUBPROTOCOL] : [], (text) => {
        const f = JSON.parse(text);
        if (f.subscribed) return;
        assert.is(f.gap, undefined, 'no gap');
        seen[k - 1]!.push(f.data?.i ?? f.i);
      });
    }),
  );
  await sleep(400);
  producing = false;
  await producer;
  // Generous: on a loaded machine four subscribers take a while to drain 20 000+ items each.
  for (let t = 0; t < 1500 && seen.some((v) => v.length < n); t++) await sleep(20);
  for (const v of seen) {
    assert.is(v.length, n, 'every item arrived');
    assert.ok(v.every((x, k) => x === k + 1), `1…${n} in order, no hole, no duplicate`);
  }
  assert.ok(n > 11_000, `published ${n} during the test: the producer ran while they joined`);
  for (const ws of joiners) ws.close();
  await s.close();
});

test('a bad stream query is refused with HTTP 400 and one line naming the streams', async () => {
  const { s, base } = await started();
  for (const [q, pattern] of [
    ['last=x', /^\?last must be a whole number ≥ 0, got "x" \(stream \/readings; streams here: \/readings\)\n$/],
    [`since=${Date.now() / 1000 + 3600}`, /is in the future/],
    ['last=3&history=all', /choose one starting point/],
  ] as const) {
    const r = await refused(`${base}/readings?${q}`);
    assert.is(r.status, 400, q);
    assert.match(r.body, pattern);
  }
  const bad = await refused(`${base}/%E0%A4%A?last=1`);
  assert.is(bad.status, 400, 'a malformed path is refused, not a crash');
  assert.match(bad.body, /^not a valid request path/);
  const r = await refused(`${base}/redings?last=5`);
  assert.is(r.status, 400);
  assert.is(r.body, '/redings is not a stream, so ?last does not apply; streams here: /readings\n');
  await s.close();
});

test('other query strings on a loop channel keep working', async () => {
  const { s, base } = await started();
  const ws = await connect(`${base}/datafeed?client=py&x=1`);
  const got = frames(ws, 1);
  ws.send('hi');
  assert.equal(await got, ['/datafeed hi']);
  ws.close();
  await s.close();
});

test('GET /.well-known/sketch answers the status as JSON; other GETs keep the 426', async () => {
  const { s, base, port } = await started({ history: { items: 50, maxAgeSeconds: 3600 }, delivery: 'latest' });
  const ws = await connect(`${base}/readings`);
  const t0 = Date.now() / 1000;
  for (let i = 1; i <= 20; i++) s.publish('/readings', { i }, { time: t0 - 0.05 + i * 0.001 });
  await frames(ws, 20);
  const r = await get(port, '/.well-known/sketch');
  assert.is(r.status, 200);
  assert.match(r.type, /application\/json/);
  const st = JSON.parse(r.body);
  assert.is(st.name, 'producer');
  assert.is(st.kind, 'producer');
  assert.is(st.protocol, 3);
  assert.ok(st.uptime >= 0 && st.uptime < 60);
  assert.equal(st.connections, { '/readings': 1 });
  const rd = st.streams['/readings'];
  assert.is(rd.seq, 20);
  assert.is(rd.epoch, s.streamAt('/readings')!.epoch);
  assert.is(rd.delivery, 'latest');
  assert.is(rd.history.items, 20);
  assert.ok(rd.history.bytes > 20 * 64);
  assert.ok(Math.abs(rd.history.oldestTime - (t0 - 0.049)) < 1e-6);
  assert.is(rd.history.maxItems, 50);
  assert.is(rd.history.maxAgeSeconds, 3600);
  assert.ok(rd.rate >= 20, `rate ${rd.rate}/s`);
  assert.ok(Math.abs(rd.interval.mean - 0.001) < 1e-5, `interval ${rd.interval.mean}`);
  assert.ok(rd.interval.jitter < 1e-5);
  assert.ok(rd.lag.mean > 0.03 && rd.lag.p99 > 0.03 && rd.lag.p99 < 5, JSON.stringify(rd.lag));
  assert.is(rd.subscribers.length, 1);
  assert.equal(Object.keys(rd.subscribers[0]).sort(), ['behind', 'buffered', 'credit', 'drops', 'id', 'protocol', 'remote', 'sent', 'stale', 'unconfirmed']);
  assert.is(rd.subscribers[0].sent, 20);
  assert.is(rd.subscribers[0].drops, 0);
  assert.is(rd.subscribers[0].credit, null, 'no credit asked for');
  assert.is(rd.subscribers[0].stale, false);
  assert.ok(rd.subscribers[0].unconfirmed >= 0 && rd.subscribers[0].unconfirmed < 5, `unconfirmed ${rd.subscribers[0].unconfirmed} s`);
  const other = await get(port, '/readings');
  assert.is(other.status, 426);
  ws.close();
  await s.close();
});

test('the TXT record lists the declared streams (streams=/readings)', async () => {
  const discovery = new MemoryDiscovery();
  const { s } = await started(undefined, { discovery });
  await s.announced;
  const found = await discovery.resolve('producer', 100);
  assert.is(found.txt.streams, '/readings');
  assert.is(found.txt.protocol, '3');
  await s.close();
});

test('publishing on an undeclared path makes it a stream with the defaults; clients already there subscribe', async () => {
  const { s, base } = await started();
  const early = await connect(`${base}/other`);
  await sleep(20);
  const got = frames(early, 2);
  s.publish('/other', 'a');
  s.publish('/other', 'b');
  assert.equal(await got, ['a', 'b']);
  const st = s.status().streams['/other']!;
  assert.is(st.history.maxItems, 1000);
  assert.is(st.history.maxBytes, 1024 * 1024);
  assert.is(st.delivery, 'all');
  const late = await connect(`${base}/other?last=2`);
  assert.equal(await frames(late, 2), ['a', 'b']);
  early.close();
  late.close();
  await s.close();
});

test('a stream declared out of bounds is refused when the sketch is made', () => {
  for (const [spec, pattern] of [
    [{ history: 0 }, /history items must be a whole number from 1 to 1000000, got 0/],
    [{ history: { maxBytes: 10 } }, /maxBytes must be a whole number from 1024/],
    [{ history: { maxAgeSeconds: -1 } }, /maxAgeSeconds must be a number of seconds > 0/],
    [{ delivery: 'some' }, /delivery must be "all" or "latest"/],
  ] as const) {
    try {
      producer(spec as unknown as StreamSpec);
      assert.unreachable(JSON.stringify(spec));
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, pattern);
    }
  }
});

test.run();

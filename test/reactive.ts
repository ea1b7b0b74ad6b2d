import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch, SketchError } from '../runtime/index.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { closed, connect, frames, sleep } from './helpers/net.js';

/** A sketch with a programmable loop, quiet logs kept in `lines`. */
class Probe extends Sketch {
  lines: string[] = [];
  seen: string[] = [];
  handler: (channel: string, message: string) => unknown = (_c, m) => `ack ${m}`;
  constructor() {
    super({ discovery: false, log: (l) => probeLines.push(l) });
  }
  @reactive
  override async loop(channel: string, message: string) {
    this.seen.push(`${channel}:${message}`);
    return this.handler(channel, message);
  }
}
const probeLines: string[] = [];

async function started(): Promise<[Probe, string]> {
  const s = new Probe();
  const { port } = await s.run({ host: '127.0.0.1', port: 0 });
  return [s, `ws://127.0.0.1:${port}`];
}

test('acks every message exactly once, in the order sent', async () => {
  const [s, url] = await started();
  const ws = await connect(url + '/datafeed');
  const got = frames(ws, 100);
  for (let i = 0; i < 100; i++) ws.send(String(i));
  assert.equal(await got, Array.from({ length: 100 }, (_, i) => `ack ${i}`));
  await sleep(50);
  assert.is(s.seen.length, 100, 'loop ran once per message, no more');
  assert.is(s.seen[0], '/datafeed:0', 'channel is the request path');
  ws.close();
  await s.close();
});

test('answers n/a when loop returns nothing and JSON for non-strings', async () => {
  const [s, url] = await started();
  const ws = await connect(url);
  const replies = [undefined, null, [1, 0, 1], { t: 21.5 }, 42];
  let i = 0;
  s.handler = () => replies[i++];
  const got = frames(ws, 5);
  for (let k = 0; k < 5; k++) ws.send('x');
  assert.equal(await got, ['n/a', 'n/a', '[1,0,1]', '{"t":21.5}', '42']);
  ws.close();
  await s.close();
});

test('a loop that throws gets one error reply and the connection stays open', async () => {
  const [s, url] = await started();
  s.handler = (_c, m) => {
    if (m === 'boom') throw new Error('bad tick');
    if (m === 'reject') return Promise.reject(new SketchError('SKETCH_ERR_BAD_MESSAGE', 'expected 0 or 1'));
    return `ok ${m}`;
  };
  const ws = await connect(url);
  const got = frames(ws, 3);
  ws.send('boom');
  ws.send('reject');
  ws.send('after');
  assert.equal(await got, ['error: bad tick', 'error: expected 0 or 1', 'ok after']);
  assert.is(ws.readyState, ws.OPEN);
  assert.ok(probeLines.some((l) => l.includes('loop failed on /: bad tick')), 'the error is logged');
  ws.close();
  await s.close();
});

test('clients that negotiate sketchnet.v2 get error codes, and acks carry the return value as a JSON value', async () => {
  const [s, url] = await started();
  s.handler = (_c, m) => {
    if (m === 'boom') throw new Error('bad tick');
    if (m === 'obj') return { fan: true, n: [1, 2] };
    if (m === 'none') return undefined;
    return `ok ${m}`;
  };
  const ws = await connect(url, [SUBPROTOCOL]);
  assert.is(ws.protocol, SUBPROTOCOL);
  const got = frames(ws, 4);
  for (const m of ['boom', 'a', 'obj', 'none']) ws.send(m);
  const raw = await got;
  const [err, ack] = raw.map((f) => JSON.parse(f));
  assert.equal(err, { error: { code: 'SKETCH_ERR_LOOP', message: 'bad tick' } });
  assert.equal(ack, { ack: 'ok a' });
  assert.is(raw[2], '{"ack":{"fan":true,"n":[1,2]}}', 'a JSON value, not JSON inside a string');
  assert.is(raw[3], '{"ack":null}');
  ws.close();
  await s.close();
});

test('plain clients never see the subprotocol', async () => {
  const [s, url] = await started();
  const ws = await connect(url);
  assert.is(ws.protocol, '');
  ws.close();
  await s.close();
});

test('messages on one connection are handled one after another even when loop is slow', async () => {
  const [s, url] = await started();
  const order: string[] = [];
  s.handler = async (_c, m) => {
    order.push(`start ${m}`);
    await sleep(m === '0' ? 60 : 5);
    order.push(`end ${m}`);
    return m;
  };
  const ws = await connect(url);
  const got = frames(ws, 3);
  ws.send('0');
  ws.send('1');
  ws.send('2');
  assert.equal(await got, ['0', '1', '2']);
  assert.equal(order, ['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  ws.close();
  await s.close();
});

test('a slow loop on one connection never stalls another connection', async () => {
  const [s, url] = await started();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  s.handler = async (c) => {
    if (c === '/slow') await gate;
    return c;
  };
  const slow = await connect(url + '/slow');
  const fast = await connect(url + '/fast');
  const slowReply = frames(slow, 1);
  slow.send('x');
  await sleep(20);
  const fastReplies = frames(fast, 3, 2000);
  fast.send('a');
  fast.send('b');
  fast.send('c');
  assert.equal(await fastReplies, ['/fast', '/fast', '/fast']);
  release();
  assert.equal(await slowReply, ['/slow']);
  slow.close();
  fast.close();
  await s.close();
});

test('a peer closing normally is a quiet logged stop; an abnormal close is logged as such', async () => {
  const [s, url] = await started();
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  s.handler = async () => {
    await sleep(30);
    return 'late';
  };
  probeLines.length = 0;
  const a = await connect(url + '/a');
  a.send('x'); // its ack is still being computed when the client leaves
  a.close(1000);
  const b = await connect(url + '/b');
  b.send('y');
  b.terminate(); // no close frame: 1006
  await sleep(120);
  process.off('unhandledRejection', onUnhandled);
  assert.ok(probeLines.some((l) => /client on \/a left \(1000/.test(l)), probeLines.join('\n'));
  assert.ok(probeLines.some((l) => /client on \/b closed abnormally \(1006/.test(l)), probeLines.join('\n'));
  assert.equal(unhandled, []);
  await s.close();
});

test('close() sends 1001 to clients, is safe to call twice and refuses new work', async () => {
  const [s, url] = await started();
  const ws = await connect(url);
  const code = closed(ws);
  await Promise.all([s.close(), s.close()]);
  await s.close();
  assert.is(await code, 1001);
  try {
    await s.stream('ws://127.0.0.1:1/', 'x');
    assert.unreachable();
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_CLOSED');
  }
});

test('a message over maxPayload closes the connection with 1009', async () => {
  const big = new (class extends Sketch {
    @reactive override async loop() {
      return 'ok';
    }
  })({ discovery: false, maxPayload: 1024, log: () => {} });
  const { port } = await big.run({ host: '127.0.0.1' });
  const ws = await connect(`ws://127.0.0.1:${port}`);
  const code = closed(ws);
  ws.send('x'.repeat(2048));
  assert.is(await code, 1009);
  await big.close();
});

test('a sketch runs once: run() again is refused, and so is run() after close()', async () => {
  const [s] = await started();
  try {
    await s.run({ host: '127.0.0.1' });
    assert.unreachable('second run()');
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_ALREADY_RUNNING');
  }
  await s.close();
  const fresh = new Probe();
  await fresh.close();
  try {
    await fresh.run({ host: '127.0.0.1' });
    assert.unreachable('run() after close()');
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_CLOSED');
  }
});

test('SketchConfig numbers out of bounds are refused when the sketch is made, with one line', () => {
  for (const [config, pattern] of [
    [{ maxBuffered: 10 }, /^SketchConfig\.maxBuffered must be a number of bytes ≥ 1024, got 10$/],
    [{ maxPayload: 0 }, /^SketchConfig\.maxPayload must be a number of bytes ≥ 1, got 0$/],
    [{ discoverTimeout: Number.NaN }, /^SketchConfig\.discoverTimeout must be a number of ms ≥ 0, got null$/],
  ] as const) {
    try {
      new Sketch({ discovery: false, log: () => {}, ...config });
      assert.unreachable(JSON.stringify(config));
    } catch (err) {
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, pattern);
    }
  }
});

test.run();

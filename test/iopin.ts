import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StreamStatus, VirtualPin } from '../runtime/index.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { testSketch, type TestSketch } from '../runtime/testing/index.js';
import Buzzer from '../sketches/buzzer.js';
import IOPin from '../sketches/iopin.js';
import type { PinItem } from '../sketches/pin-stream.js';
import { connect, frames } from './helpers/net.js';

test('each tick draws --sequence bits, 0 with probability --chance, and acknowledges with them', async () => {
  for (const [chance, bit] of [[0, 1], [1, 0]] as const) {
    const s = new IOPin({ discovery: false, log: () => {}, options: { chance, sequence: 5 } });
    const { url } = await s.run({ host: '127.0.0.1' });
    const ws = await connect(url);
    const got = frames(ws, 2);
    ws.send('0');
    ws.send('1');
    assert.equal(await got, [JSON.stringify(Array(5).fill(bit)), JSON.stringify(Array(5).fill(bit))]);
    ws.close();
    await s.close();
  }
});

test('--pin drives the pin with each drawn bit and leaves it inactive when stopped', async () => {
  const lines: string[] = [];
  const s = new IOPin({ discovery: false, log: (l) => lines.push(l), options: { pin: 4, gpio: 'virtual', chance: 0 } });
  const { url } = await s.run({ host: '127.0.0.1' });
  const ws = await connect(url);
  const got = frames(ws, 1);
  ws.send('0');
  assert.equal(await got, ['[1,1,1]']);
  assert.ok(lines.includes('[ IOPin ] pin 4 -> 1'), lines.join('\n'));
  ws.close();
  await s.close();
  assert.ok(lines.lastIndexOf('[ IOPin ] pin 4 -> 0') > lines.indexOf('[ IOPin ] pin 4 -> 1'), lines.join('\n'));
});

test('a message with newlines, control characters or a megabyte of text is logged as one escaped line of at most 200 characters of it', async () => {
  const lines: string[] = [];
  const s = new IOPin({ discovery: false, log: (l) => lines.push(l), options: { sequence: 1 } });
  const { url } = await s.run({ host: '127.0.0.1' });
  const ws = await connect(`${url}a%0A%5B%20IOPin%20%5D%20forged`);
  const got = frames(ws, 2);
  ws.send('1\n[ IOPin ] forged line\u001b[2J');
  ws.send('x'.repeat(1024 * 1024 - 16));
  await got;
  ws.close();
  await s.close();
  assert.ok(lines.every((l) => !/[\u0000-\u001f]/.test(l)), 'no control characters');
  assert.not.ok(lines.some((l) => l.startsWith('[ IOPin ] forged')), 'no forged line');
  assert.ok(lines.includes('[ IOPin ] new tick triggered on /a\\n[ IOPin ] forged: 1\\n[ IOPin ] forged line\\x1b[2J'), lines.join('\n'));
  const big = lines.find((l) => l.includes('xxxx'))!;
  assert.ok(big.length < 300, `${big.length} characters`);
  assert.ok(big.endsWith('x…'));
});

// --- /pin and --bit-ms ---------------------------------------------------------------------------

/** Makes `s` draw `bits` in turn instead of random ones. */
function scripted(s: IOPin, bits: Array<0 | 1>): IOPin {
  let i = 0;
  s.state = () => bits[i++ % bits.length]!;
  return s;
}

/** An iopin on virtual pin 4 with these options, started; `pin` is its output. */
async function iopin(options: Record<string, unknown>, config: { to?: string } = {}) {
  const s = new IOPin({ discovery: false, log: () => {}, ...config, options: { pin: 4, gpio: 'virtual', ...options } });
  const { url, port } = await s.run({ host: '127.0.0.1' });
  return { s, url, port, pin: s.output as VirtualPin };
}

/** Sends one tick on a new connection; resolves with the acknowledgement and when it arrived (ms since the epoch). */
async function tick(url: string): Promise<{ ack: string; at: number }> {
  const ws = await connect(url);
  const got = frames(ws, 1);
  ws.send('0');
  const [ack] = await got;
  const at = Date.now();
  ws.close();
  return { ack: ack!, at };
}

function getJson(port: number, path: string): Promise<{ streams: Record<string, StreamStatus> }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

test('with --pin, /pin gives a WebSocket subscriber the initial 0, then each change of the pin in order with its value and time; repeated bits publish nothing', async () => {
  const { s, url, pin } = await iopin({ chance: 0, bitMs: 10 }); // [1,1,1]: one change to 1, one back to 0
  const sub = await connect(`${url}pin?history=all`);
  const initial = JSON.parse((await frames(sub, 1))[0]!) as PinItem;
  assert.equal([initial.pin, initial.value], [4, 0]);
  assert.ok(Math.abs(initial.time * 1000 - pin.transitions[0]!.time) <= 2, `${initial.time} s vs ${pin.transitions[0]!.time} ms`);
  assert.is((await tick(url)).ack, '[1,1,1]');
  const items = (await frames(sub, 2)).map((f) => JSON.parse(f) as PinItem);
  assert.equal(items.map((i) => [i.pin, i.value]), [[4, 1], [4, 0]]);
  assert.equal(pin.transitions.map((t) => t.value), [0, 1, 0]);
  items.forEach((item, k) => assert.ok(Math.abs(item.time * 1000 - pin.transitions[k + 1]!.time) <= 2, `item ${k}: ${item.time} s vs ${pin.transitions[k + 1]!.time} ms`));
  assert.ok(items[1]!.time - items[0]!.time >= 0.025, 'three bits of 10 ms held');
  await frames(sub, 1, 50).then((f) => assert.unreachable(`an item for no change: ${f}`), () => {});
  sub.close();
  await s.close();
});

test('a sketchnet.v2 subscriber to /pin gets envelopes whose time is the item\'s own time, in seconds since the epoch', async () => {
  const { s, url } = await iopin({ chance: 0, bitMs: 1 });
  await tick(url);
  const ws = await connect(`${url}pin?history=all`, [SUBPROTOCOL]);
  const [hello, ...envelopes] = (await frames(ws, 4)).map((f) => JSON.parse(f));
  assert.equal(hello.subscribed, { stream: '/pin', epoch: s.streamAt('/pin')!.epoch, first: 1, last: 3, delivery: 'all' });
  assert.equal(envelopes.map((e) => e.data.value), [0, 1, 0]);
  for (const e of envelopes) assert.is(e.time, e.data.time);
  ws.close();
  await s.close();
});

// --- under test (runtime/testing: virtual pins, in memory, the fake clock) ----------------------

/** An iopin under test with these options, drawing `bits` in turn; closed after `body` however it ends. */
async function underTest(
  options: Record<string, unknown>,
  bits: Array<0 | 1>,
  body: (t: TestSketch<IOPin>) => Promise<void>,
  config: { to?: string } = {},
): Promise<TestSketch<IOPin>> {
  const t = await testSketch(IOPin, { ...config, options: { pin: 4, ...options } });
  try {
    scripted(t.sketch, bits);
    await body(t);
  } finally {
    await t.close();
  }
  return t;
}

/** The times of a pin's transitions after the first (opening), in ms from `t0`. */
const changes = (pin: VirtualPin, t0: number) => pin.transitions.slice(1).map((x) => [x.value, x.time - t0]);

test('--bit-ms 50 holds each bit exactly 50 ms, drives the pin back to 0 after the last and acknowledges the tick only then', async () => {
  await underTest({ bitMs: 50 }, [1, 0, 1], async (t) => {
    const t0 = Date.now();
    const ack = t.send('0');
    await t.advance(149);
    assert.equal(changes(t.pin(4), t0), [[1, 0], [0, 50], [1, 100]]);
    await t.advance(1);
    assert.is(await ack, '[1,0,1]');
    assert.is(Date.now() - t0, 150, 'acknowledged after the last hold');
    assert.equal(changes(t.pin(4), t0), [[1, 0], [0, 50], [1, 100], [0, 150]], '1, 0, 1, then back to 0');
    assert.is(t.pin(4).read(), 0);
  });
});

test('--bit-ms 0 drives the bits back to back and leaves the last one as it is until the next tick', async () => {
  await underTest({ bitMs: 0 }, [1, 0, 1], async (t) => {
    const t0 = Date.now();
    assert.is(await t.send('0'), '[1,0,1]');
    assert.equal(changes(t.pin(4), t0), [[1, 0], [0, 0], [1, 0]]);
    assert.is(t.pin(4).read(), 1);
  });
});

test('with --to a buzzer under test, a [1,0,1] tick holds each bit after its acknowledgement, then leaves both pins at 0; acks answer the three bits only', async () => {
  const buzzer = await testSketch(Buzzer);
  try {
    await underTest(
      { bitMs: 40 },
      [1, 0, 1],
      async (t) => {
        const t0 = Date.now();
        const ack = t.send('0');
        await t.advance(120);
        assert.equal(JSON.parse(await ack), { bits: [1, 0, 1], acks: ['bzzz', '...', 'bzzz'] });
        assert.equal(changes(buzzer.pin(18), t0), [[1, 0], [0, 40], [1, 80], [0, 120]], 'each held 40 ms; the final 0 silenced the buzzer');
        assert.is(buzzer.pin(18).read(), 0);
        assert.is(t.pin(4).read(), 0);
      },
      { to: 'buzzer' },
    );
  } finally {
    await buzzer.close();
  }
});

test('closing the iopin during a hold ends the tick at once with SKETCH_ERR_CLOSED, the pin left inactive', async () => {
  let ended: Promise<string> | undefined;
  const t = await underTest({ chance: 0, bitMs: 5000 }, [1, 1, 1], async (t) => {
    ended = t.send('0').then(
      () => 'acknowledged',
      (err: { code?: string }) => err.code ?? String(err),
    );
    await t.advance(100);
    assert.is(t.pin(4).value, 1, 'holding the first bit');
  });
  assert.is(await ended, 'SKETCH_ERR_CLOSED');
  assert.ok(t.pin(4).closed);
  assert.is(t.pin(4).value, 0);
});

test('--bit-ms takes whole ms from 0 to 10000: 10001, -1 and 2.5 are refused with SKETCH_ERR_INVALID_OPTION', () => {
  for (const bitMs of [10_001, -1, 2.5]) {
    try {
      new IOPin({ discovery: false, log: () => {}, options: { bitMs } });
      assert.unreachable(`--bit-ms ${bitMs} accepted`);
    } catch (err) {
      assert.is((err as { code?: string }).code, 'SKETCH_ERR_INVALID_OPTION', String(err));
      assert.match((err as Error).message, /--bit-ms/);
    }
  }
  for (const bitMs of [0, 10_000]) assert.is(new IOPin({ discovery: false, log: () => {}, options: { bitMs } }).options.bitMs, bitMs);
});

test('the status (GET /.well-known/sketch) lists /pin among the iopin\'s streams: delivery all, 1000 items of history, one item per change', async () => {
  const { s, url, port } = await iopin({ chance: 0, bitMs: 1 });
  await tick(url);
  const status = await getJson(port, '/.well-known/sketch');
  const pin = status.streams['/pin']!;
  assert.ok(pin, JSON.stringify(status.streams));
  assert.is(pin.delivery, 'all');
  assert.is(pin.history.maxItems, 1000);
  assert.is(pin.seq, 3, 'the initial 0, the 1 and the final 0');
  await s.close();
});

test.run();

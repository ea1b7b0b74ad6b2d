/**
 * The test kit, `sketchnet/testing` (runtime/testing/): a sketch under test runs its own code with
 * only time, pins and the network swapped. The README's own example (node:test, the packed
 * tarball) is run by test/package.ts.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newKey, openOutput, Peer, reactive, Sketch, SketchError, type OptionValues, type OutboxStatus, type OutputPin } from '../runtime/index.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { acquireBench, releaseBench } from '../runtime/testing/bench.js';
import { testSketch, type TestSketch } from '../runtime/testing/index.js';
import Buzzer from '../sketches/buzzer.js';
import Clock from '../sketches/clock.js';
import IOPin from '../sketches/iopin.js';
import type { PinItem } from '../sketches/pin-stream.js';
import { expectSketchError, rejectsSketchError } from './helpers/sketch-error.js';

const options = {
  limit: { type: 'number', default: 24, describe: 'temperature above which the fan runs, °C' },
} as const;

/** The README's thermostat, publishing each temperature on /readings and waiting `--settle` ms before answering on /slow. */
class Thermostat extends Sketch<OptionValues<typeof options>> {
  static override options = options;
  fan = false;

  override setup({ limit }: OptionValues<typeof options>) {
    this.out(`fan above ${limit} °C`);
  }

  @reactive
  override async loop(channel: string, message: string) {
    if (channel === '/slow') {
      await sleep(1000);
      return `slept until ${Date.now()}`;
    }
    const celsius = Number(message);
    if (Number.isNaN(celsius)) throw new Error(`not a temperature: ${message}`);
    this.fan = celsius > this.options.limit;
    this.publish('/readings', { celsius, channel });
    return { fan: this.fan };
  }
}

/** Runs `body` with the sketches `open` makes, closing every one of them however it ends (the fake clock must go). */
async function using<T extends TestSketch[]>(open: () => Promise<[...T]>, body: (...ts: T) => Promise<void>): Promise<void> {
  const ts = await open();
  try {
    await body(...ts);
  } finally {
    for (const t of ts.reverse()) await t.close();
  }
}

const tcpServers = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

test('testSketch sets the sketch up with the options given and opens no port; send resolves with the acknowledgement exactly as a peer gets it, on the channel asked for', async () => {
  const servers = tcpServers();
  await using(
    async () => [await testSketch(Thermostat, { options: { limit: 25 } })],
    async (t) => {
      assert.is(tcpServers(), servers, 'no port opened');
      assert.is(t.address, undefined);
      assert.ok(t.log.includes('[ Thermostat ] fan above 25 °C'), t.log.join('\n'));
      assert.is(await t.send('26'), '{"fan":true}');
      assert.is(await t.send(20, { channel: '/cmd' }), '{"fan":false}');
      assert.equal(
        t.published('/readings').map((i) => i.data),
        [{ celsius: 26, channel: '/' }, { celsius: 20, channel: '/cmd' }],
      );
      assert.ok(t.log.includes('[ Thermostat ] ** new client connected, path=/cmd'), t.log.join('\n'));
      assert.ok(t.sketch.fan === false);
    },
  );
});

test('an error reply rejects send with the SketchError a Peer gets over a real socket from the same sketch', async () => {
  let inMemory: SketchError | undefined;
  await using(
    async () => [await testSketch(Thermostat)],
    async (t) => {
      inMemory = await rejectsSketchError(t.send('hot'), 'SKETCH_ERR_REMOTE', 'thermostat replied with an error (SKETCH_ERR_LOOP): not a temperature: hot');
      assert.is(inMemory.remoteCode, 'SKETCH_ERR_LOOP');
      assert.is(await t.send('30'), '{"fan":true}', 'the connection stays open after an error');
    },
  );
  const real = new Thermostat({ discovery: false, log: () => {} });
  const { url } = await real.run({ host: '127.0.0.1' });
  const peer = new Peer(url, { retries: 0 });
  try {
    const err = await rejectsSketchError(peer.send('hot'), 'SKETCH_ERR_REMOTE');
    assert.equal([err.code, err.remoteCode, err.message.replace(url, 'thermostat')], [inMemory!.code, inMemory!.remoteCode, inMemory!.message]);
  } finally {
    await peer.close();
    await real.close();
  }
});

test('with listen: true the sketch runs through run() on a real loopback port, and send goes over TCP', async () => {
  const servers = tcpServers();
  await using(
    async () => [await testSketch(Thermostat, { listen: true })],
    async (t) => {
      assert.is(tcpServers(), servers + 1);
      assert.match(t.address!.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
      assert.ok(t.log.some((l) => /serving on 127\.0\.0\.1:\d+/.test(l)), t.log.join('\n'));
      assert.is(await t.send('26'), '{"fan":true}');
      const status = (await (await fetch(new URL('/.well-known/sketch', t.address!.url.replace('ws', 'http')))).json()) as { links: { in: Array<{ from: string }> } };
      assert.equal(status.links.in.map((l) => l.from), ['test']);
    },
  );
  assert.is(tcpServers(), servers, 'closed');
});

test('advance(ms) moves Date.now(), performance.now() and the sketch\'s timers (node:timers/promises sleep too) by exactly ms, without waiting', async () => {
  await using(
    async () => [await testSketch(Thermostat)],
    async (t) => {
      const [d0, p0, r0] = [Date.now(), performance.now(), process.hrtime.bigint()];
      const answer = t.send('x', { channel: '/slow' });
      let answered = false;
      void answer.then(() => (answered = true));
      await t.advance(999);
      assert.not.ok(answered, 'not before 1000 ms');
      await t.advance(1);
      assert.is(await answer, `slept until ${d0 + 1000}`);
      await t.advance(60_000);
      assert.is(Date.now() - d0, 61_000);
      assert.ok(Math.abs(performance.now() - p0 - 61_000) < 1, `performance.now() moved ${performance.now() - p0} ms`);
      assert.ok(process.hrtime.bigint() - r0 < 5_000_000_000n, 'a minute of fake time took less than 5 s');
    },
  );
});

test('the last close puts the real timers, Date and performance.now back', async () => {
  const realSetTimeout = globalThis.setTimeout;
  const t = await testSketch(Thermostat);
  assert.is.not(globalThis.setTimeout, realSetTimeout, 'faked while open');
  await t.advance(3_600_000);
  await t.send('20'); // an item an hour ahead of the real clock
  await t.close();
  assert.is(globalThis.setTimeout, realSetTimeout);
  assert.ok(Math.abs(Date.now() - (performance.timeOrigin + performance.now())) < 50, 'Date.now() and performance.now() agree again');
  // the streams' wall clock follows the real clock again, although the fake one ran an hour ahead
  const real = new Thermostat({ discovery: false, log: () => {} });
  real.publish('/readings', 1);
  assert.ok(Math.abs(real.streamAt('/readings')!.history.get(1)!.time * 1000 - Date.now()) < 50, 'a real sketch\'s items are not held at the fake clock\'s last time');
  const t0 = Date.now();
  await sleep(20); // the real node:timers/promises sleep again
  assert.ok(Date.now() - t0 >= 15);
  await t.close(); // twice is fine
  await rejectsSketchError(t.send('1'), 'SKETCH_ERR_CLOSED');
});

test('now: the fake clock starts at the time given', async () => {
  const now = Date.UTC(2030, 0, 1, 12);
  await using(
    async () => [await testSketch(Thermostat, { now: new Date(now) })],
    async (t) => {
      assert.is(Date.now(), now);
      await t.send('1');
      assert.is(t.published('/readings')[0]!.time, now / 1000);
      await rejectsSketchError(testSketch(Thermostat, { name: 'other', now }), 'SKETCH_ERR_INVALID_OPTION', 'first sketch under test');
    },
  );
});

test('a sketch that cannot be built rejects testSketch with its SketchError and leaves the real timers in place', async () => {
  const realSetTimeout = globalThis.setTimeout;
  await rejectsSketchError(testSketch(Thermostat, { options: { limit: 'warm' } }), 'SKETCH_ERR_INVALID_OPTION');
  assert.is(globalThis.setTimeout, realSetTimeout);
});

test('published(path) gives every item in order with its seq and its time, in seconds on the fake clock', async () => {
  await using(
    async () => [await testSketch(Thermostat)],
    async (t) => {
      const t0 = Date.now() / 1000;
      await t.send('20');
      await t.advance(1500);
      await t.send('21');
      const items = t.published('/readings');
      assert.equal(items.map((i) => [i.seq, i.time - t0]), [[1, 0], [2, 1.5]]);
      for (const i of items) assert.is(i.published, i.time);
      assert.equal(t.published('/nothing'), []);
    },
  );
});

// --- Pins -------------------------------------------------------------------------------------

test('pin(n) is the virtual pin the sketch opened, with its value and transitions; its pin N -> V lines go to the kit\'s log, not stdout', async () => {
  const written: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stdout.write;
  try {
    await using(
      async () => [await testSketch(Buzzer, { options: { pin: 23 } })],
      async (t) => {
        const t0 = Date.now();
        assert.is(await t.send('1'), 'bzzz');
        await t.advance(250);
        assert.is(await t.send('0'), '...');
        const pin = t.pin(23);
        assert.is(pin.backend, 'virtual');
        assert.is(pin.value, 0);
        assert.equal(pin.transitions.map((x) => [x.value, x.time - t0]), [[0, 0], [1, 0], [0, 250]]);
        assert.ok(t.log.includes('[ Buzzer ] pin 23 -> 1'), t.log.join('\n'));
        assert.throws(() => t.pin(18), /sketch "buzzer" opened no output pin 18 \(output pins it opened: 23\)/);
      },
    );
  } finally {
    process.stdout.write = write;
  }
  assert.equal(written, []);
});

test('every pin a sketch under test opens is virtual, even when it asks for real GPIO, and is released when it closes', async () => {
  const t = await testSketch(IOPin, { options: { pin: 4, chance: 0, bitMs: 0 } });
  let pin;
  try {
    assert.is(t.sketch.options.gpio, 'virtual', 'the kit sets --gpio virtual');
    assert.is(await t.send('0'), '[1,1,1]');
    pin = t.pin(4);
    assert.is(pin.value, 1);
  } finally {
    await t.close();
  }
  assert.ok(pin.closed);
  assert.is(pin.value, 0);
});

test('a pin opened asking for the GPIO character device, with no log, is virtual under test and logs as the sketch; main() blinks it on the fake clock', async () => {
  class Blink extends Sketch {
    led?: OutputPin;
    override setup() {
      this.led = openOutput(18, { backend: 'chardev' });
    }
    override async main() {
      for (let i = 0; i < 4; i++) {
        this.led!.write(i % 2 ? 0 : 1);
        await sleep(500, undefined, { signal: this.signal });
      }
    }
    override teardown() {
      this.led?.close();
    }
  }
  await using(
    async () => [await testSketch(Blink)],
    async (t) => {
      const t0 = Date.now();
      await t.advance(2000);
      await t.main;
      assert.equal(t.pin(18).transitions.map((x) => [x.value, x.time - t0]), [[0, 0], [1, 0], [0, 500], [1, 1000], [0, 1500]]);
      assert.equal(t.log.filter((l) => l.includes('pin 18')), ['[ Blink ] pin 18 -> 0', '[ Blink ] pin 18 -> 1', '[ Blink ] pin 18 -> 0', '[ Blink ] pin 18 -> 1', '[ Blink ] pin 18 -> 0']);
    },
  );
});

test('input(n) is the virtual input pin: set() is a press, with the debounce on the fake clock', async () => {
  const { default: Button } = await import('../sketches/button.js');
  await using(
    async () => [await testSketch(Button, { options: { pin: 17, debounce: 20 } })],
    async (t) => {
      t.input(17).set(1);
      await t.advance(19);
      assert.equal(t.published('/edges').map((i) => i.data), []);
      await t.advance(1);
      assert.equal(t.published('/edges').map((i) => (i.data as { value: number }).value), [1]);
      assert.is(await t.send('?'), '{"pin":17,"value":1}');
    },
  );
});

// --- Several sketches under test -------------------------------------------------------------

test('sketches under test reach each other by name in memory: an iopin --to buzzer gets the buzzer\'s real acknowledgements, and its error replies', async () => {
  const servers = tcpServers();
  await using(
    async () => [await testSketch(Buzzer), await testSketch(IOPin, { to: 'buzzer', options: { bitMs: 0 } })],
    async (buzzer, iopin) => {
      assert.is(tcpServers(), servers);
      iopin.sketch.state = () => 1;
      assert.equal(JSON.parse(await iopin.send('0')), { bits: [1, 1, 1], acks: ['bzzz', 'bzzz', 'bzzz'] });
      assert.is(buzzer.pin(18).value, 1);
      const links = buzzer.sketch.status().links!.in;
      assert.equal(links.map((l) => l.from), ['iopin']);
      // the buzzer refuses what is not 1 or 0: iopin's stream() rejects as with a real peer
      const err = await rejectsSketchError(iopin.sketch.stream('buzzer', 'on'), 'SKETCH_ERR_REMOTE', 'buzzer replied with an error (SKETCH_ERR_BAD_MESSAGE)');
      assert.is(err.remoteCode, 'SKETCH_ERR_BAD_MESSAGE');
    },
  );
});

test('a sketch under test with keys refuses the kit\'s client without a key (SKETCH_ERR_UNAUTHORIZED) and with a read key (a SKETCH_ERR_FORBIDDEN reply), serves it with send(…, { key }), and serves a sketch under test presenting a write key', async () => {
  const key = newKey();
  const readKey = newKey();
  await using(
    async () => [
      await testSketch(Buzzer, { keys: [{ key, right: 'write' }, { key: readKey, right: 'read' }] }),
      await testSketch(IOPin, { to: 'buzzer', peer: { key }, options: { bitMs: 0, chance: 0 } }),
    ],
    async (buzzer, iopin) => {
      await rejectsSketchError(buzzer.send('1'), 'SKETCH_ERR_UNAUTHORIZED');
      const refused = (await buzzer.send('1', { key: readKey }).catch((e: unknown) => e)) as { code?: string; remoteCode?: string };
      assert.equal([refused.code, refused.remoteCode], ['SKETCH_ERR_REMOTE', 'SKETCH_ERR_FORBIDDEN'], 'an error reply, as a Peer gets it');
      assert.is(await buzzer.send('1', { key }), 'bzzz');
      assert.equal(JSON.parse(await iopin.send('0')).acks, ['bzzz', 'bzzz', 'bzzz']);
    },
  );
});

test('a bad stream query on a channel is refused as a real upgrade is (HTTP 400): send rejects with SKETCH_ERR_PEER_UNREACHABLE', async () => {
  await using(
    async () => [await testSketch(Buzzer)],
    async (t) => {
      const err = await rejectsSketchError(t.send('1', { channel: '/pin?last=many' }), 'SKETCH_ERR_PEER_UNREACHABLE', 'Unexpected server response: 400');
      assert.ok(err);
      assert.is(await t.send('1', { channel: '/pin?history=all' }), 'bzzz', 'a message on a stream\'s path is answered, its items told apart');
    },
  );
});

test('a sketchnet.v2 subscriber connected in memory gets the subscribed frame, the history, then each live item, as over TCP', async () => {
  await using(
    async () => [await testSketch(Buzzer)],
    async (t) => {
      const bench = acquireBench();
      try {
        const found = await bench.network.discovery.resolve('buzzer', 1000);
        const ws = bench.network.createSocket()(new URL('/pin?history=all', found.url).href, [SUBPROTOCOL], {});
        const got: unknown[] = [];
        ws.on('message', (data: Buffer, isBinary: boolean) => got.push(isBinary ? 'binary' : JSON.parse(data.toString())));
        await new Promise((resolve) => ws.once('open', resolve));
        await t.send('1');
        await t.advance(0);
        assert.equal(
          got.map((f) => Object.keys(f as object)[0] === 'subscribed' ? 'subscribed' : ((f as { data: PinItem }).data.value)),
          ['subscribed', 0, 1],
        );
        assert.is(t.sketch.subscribers('/pin'), 1);
        ws.close();
        await t.advance(0);
        assert.is(t.sketch.subscribers('/pin'), 0);
      } finally {
        releaseBench(bench);
      }
    },
  );
});

test('a thermometer under test samples every --interval on the fake clock, and its outbox delivers each reading to a sketch under test', async () => {
  const { default: Thermometer } = await import('../sketches/thermometer.js');
  class Collector extends Sketch {
    readonly got: string[] = [];
    @reactive
    override loop(_channel: string, message: string) {
      this.got.push(message);
      return 'ok';
    }
  }
  await using(
    async () => [await testSketch(Collector), await testSketch(Thermometer, { to: 'collector', options: { sensor: 'simulated', interval: 0.5 } })],
    async (collector, thermometer) => {
      const t0 = Date.now() / 1000;
      await thermometer.advance(2000);
      const readings = thermometer.published('/readings');
      assert.equal(readings.map((r) => r.time - t0), [0, 0.5, 1, 1.5, 2]);
      assert.equal(collector.sketch.got.map((m) => (JSON.parse(m) as { time: number }).time - t0), [0, 0.5, 1, 1.5, 2]);
      assert.is((thermometer.sketch.status().forward!.collector as OutboxStatus).queued, 0);
    },
  );
});

test('a peer that is not under test is looked up in the kit\'s discovery and not found', async () => {
  await using(
    async () => [await testSketch(IOPin, { to: 'nobody', options: { bitMs: 0 } })],
    async (iopin) => {
      const err = await rejectsSketchError(iopin.send('0'), 'SKETCH_ERR_REMOTE', 'SKETCH_ERR_PEER_NOT_FOUND');
      expectSketchError(err, 'SKETCH_ERR_REMOTE', 'nobody');
    },
  );
});

test('an in-memory sketch reaches a sketch under test that listens on a real port over TCP', async () => {
  await using(
    async () => [await testSketch(Buzzer, { listen: true }), await testSketch(IOPin, { to: 'buzzer', options: { bitMs: 0, chance: 0 } })],
    async (buzzer, iopin) => {
      assert.equal(JSON.parse(await iopin.send('0')), { bits: [1, 1, 1], acks: ['bzzz', 'bzzz', 'bzzz'] });
      assert.ok(buzzer.log.some((l) => l.includes('** new client connected, path=/')), buzzer.log.join('\n'));
    },
  );
});

test('clock → iopin → buzzer in memory: advance(ms) runs the ticks, every bit reaches the buzzer pin held exactly --bit-ms, and main() ends after the last acknowledgement', async () => {
  await using(
    async () => [
      await testSketch(Buzzer),
      await testSketch(IOPin, { to: 'buzzer', options: { pin: 17 } }),
      await testSketch(Clock, { options: { tacks: 3, delay: 1 } }),
    ],
    async (buzzer, iopin, clock) => {
      const t0 = Date.now();
      let ended = false;
      void clock.main.then(() => (ended = true));
      await clock.advance(1000);
      assert.not.ok(ended, 'tick 0 done, tick 1 waits for its delay');
      await clock.advance(10_000);
      assert.ok(ended);
      await clock.main;
      const acks = clock.log.filter((l) => l.startsWith('[ Clock ] < ')).map((l) => JSON.parse(l.slice(12)) as { bits: Array<0 | 1>; acks: string[] });
      assert.is(acks.length, 3);
      for (const a of acks) assert.equal(a.acks, a.bits.map((b) => (b ? 'bzzz' : '...')));
      // each tick: 3 bits held 100 ms (the iopin's --bit-ms), a final 0 after a 1; then 1 s to the next
      const driven = acks.flatMap((a) => (a.bits.at(-1) === 1 ? [...a.bits, 0] : a.bits));
      const expected = [0, ...driven].filter((b, i, all) => i === 0 || b !== all[i - 1]);
      const pin = buzzer.pin(18);
      assert.equal(pin.transitions.map((t) => t.value), expected);
      const starts = [0, 1300, 2600];
      const times = acks.flatMap((a, k) => a.bits.map((b, i) => ({ b, at: starts[k]! + i * 100 })).concat(a.bits.at(-1) === 1 ? [{ b: 0, at: starts[k]! + 300 }] : []));
      const changes = times.filter((x, i) => x.b !== (i === 0 ? 0 : times[i - 1]!.b));
      assert.equal(pin.transitions.slice(1).map((t) => t.time - t0), changes.map((c) => c.at));
      assert.equal(iopin.published('/pin').map((i) => (i.data as PinItem).value), [0, ...driven].filter((b, i, all) => i === 0 || b !== all[i - 1]));
      assert.equal(clock.published('/ticks').map((i) => (i.data as { tick: number }).tick), [0, 1, 2]);
    },
  );
});

test.run();

import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Peer, reactive, Sketch } from '../runtime/index.js';

/**
 * A TCP proxy that cuts every connection through it at random moments: each cut is, at random,
 * the server side destroyed (the sketch sees the connection vanish), the client side destroyed
 * (the Peer sees it vanish), or both — between a request and its acknowledgement, in the
 * middle of a frame, wherever the bytes happen to be. Like mosquitto's and aedes' QoS 1
 * redelivery tests, but hundreds of times in one run.
 */
class Cutter {
  readonly server: net.Server;
  cuts = 0;
  #pairs = new Set<[net.Socket, net.Socket]>();
  #timer?: NodeJS.Timeout;

  constructor(target: number) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.#pairs.add(pair);
      const drop = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Cuts a live connection every 2–25 ms, at random on one side or both. */
  start(): void {
    const next = () => {
      this.#timer = setTimeout(() => {
        for (const pair of this.#pairs) {
          const how = Math.floor(Math.random() * 3);
          if (how !== 1) pair[1].destroy(); // server side
          if (how !== 0) pair[0].destroy(); // client side
          this.cuts++;
        }
        next();
      }, 2 + Math.random() * 23);
    };
    next();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    for (const [a, b] of this.#pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise((r) => this.server.close(r));
  }
}

class Counter extends Sketch {
  applied: number[] = [];
  @reactive override async loop(_channel: string, message: string) {
    const n = Number(message);
    this.applied.push(n);
    if (n % 7 === 0) await sleep(0); // some replies come a turn later: cuts land while one is being applied
    return `ack ${n}`;
  }
}

test('10 000 messages through a connection cut at random at least 200 times: each applied exactly once, in order, each promise resolved with its own acknowledgement', async () => {
  const sketch = new Counter({ discovery: false, log: () => {} });
  const { port } = await sketch.run({ host: '127.0.0.1' });
  const cutter = new Cutter(port);
  const via = await cutter.listen();
  const logged: string[] = [];
  const peer = new Peer(`ws://127.0.0.1:${via}/`, { retries: 50, backoff: 1, log: (l) => logged.push(l) });
  const N = 10_000;
  try {
    await peer.send('-1'); // connected before the cutting starts
    cutter.start();
    const acks: Promise<string>[] = [];
    for (let i = 0; i < N; i++) {
      acks.push(peer.send(String(i)));
      if (i % 100 === 99) await sleep(1); // a steady sender, not one burst: cuts land all along
    }
    const got = await Promise.all(acks);
    // keep going until the connection was cut at least 200 times, still exactly once
    let extra = N;
    while (cutter.cuts < 200) {
      assert.is(await peer.send(String(extra)), `ack ${extra}`);
      extra++;
    }
    got.forEach((ack, i) => assert.is(ack, `ack ${i}`));
    const expected = Array.from({ length: extra + 1 }, (_, k) => k - 1);
    assert.equal(sketch.applied.length, expected.length, `applied ${sketch.applied.length} for ${expected.length} sent (${cutter.cuts} cuts)`);
    assert.equal(sketch.applied, expected);
    assert.ok(cutter.cuts >= 200, `${cutter.cuts} cuts`);
    assert.ok(logged.some((l) => /reconnected/.test(l)));
  } finally {
    await cutter.stop();
    await peer.close();
    await sketch.close();
  }
});

test('a v2 server (an older sketch) keeps at-least-once: messages are resent after a drop, and may be applied twice', async () => {
  const sketch = new Counter({ discovery: false, log: () => {} });
  const { port } = await sketch.run({ host: '127.0.0.1' });
  // A client that only offers v2 gets v2: no request ids, so no de-duplication.
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, ['sketchnet.v2']);
  await new Promise((r) => ws.once('open', r));
  assert.is(ws.protocol, 'sketchnet.v2');
  ws.send('5');
  ws.send('5');
  await new Promise<void>((r) => {
    let n = 0;
    ws.on('message', () => ++n === 2 && r());
  });
  assert.equal(sketch.applied, [5, 5]);
  ws.close();
  await sketch.close();
});

test.run();

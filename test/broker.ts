/**
 * Sketches through a real MQTT 5 broker (mosquitto on a loopback port, in the sandbox):
 * presence, requests with acknowledgements, exactly-once across a broker restart, streams on
 * topics, wrong passwords and an unreachable broker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { reactive, Sketch, SketchError, type BrokerLinkOptions } from '../runtime/index.js';
import { freePort, startMosquitto, type Mosquitto } from './helpers/mosquitto.js';
import { hasOpenssl, makeCa, makeCert } from './helpers/openssl.js';

/** Counts how often each message was applied, and in which order. */
class Counter extends Sketch {
  static override kind = 'counter';
  readonly applied: string[] = [];
  @reactive
  override async loop(channel: string, message: string): Promise<string> {
    this.applied.push(message);
    if (message === 'fail') throw new Error('asked to fail');
    return `${channel}:${message}`;
  }
}

class Quiet extends Sketch {
  static override kind = 'quiet';
  override async main(): Promise<void> {}
}

class Readings extends Sketch {
  static override kind = 'readings';
  static override streams = { '/latest': { delivery: 'latest' }, '/all': { delivery: 'all' } } as const;
}

const started: Sketch[] = [];
const brokers: Mosquitto[] = [];
let skip: string | undefined;

async function broker(options: Parameters<typeof startMosquitto>[0] = {}): Promise<Mosquitto | undefined> {
  const b = await startMosquitto(options);
  if ('skip' in b) {
    skip = b.skip;
    return undefined;
  }
  brokers.push(b);
  return b;
}

async function sketch<S extends Sketch>(cls: new (c: ConstructorParameters<typeof Sketch>[0]) => S, name: string, b: BrokerLinkOptions, extra: object = {}): Promise<S> {
  const lines: string[] = [];
  const s = new cls({ name, discovery: false, broker: { preferDirect: false, ...b }, discoverTimeout: 3000, log: (l) => lines.push(l), ...extra });
  (s as unknown as { lines: string[] }).lines = lines;
  started.push(s);
  await s.run({ host: '127.0.0.1' });
  return s;
}
const linesOf = (s: Sketch) => (s as unknown as { lines: string[] }).lines;

/** Subscribes with mqtt.js and collects [topic, payload, retain] in order. */
async function subscriber(url: string, topic: string, options: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...options });
  const got: Array<{ topic: string; payload: string; retain: boolean; props: mqtt.IPublishPacket['properties'] }> = [];
  client.on('message', (t, p, packet) => got.push({ topic: t, payload: p.toString(), retain: packet.retain, props: packet.properties }));
  await client.subscribeAsync(topic, { qos: 1 });
  return { client, got };
}

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test.after.each(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()));
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
});

test('a sketch found only on the broker answers 5 requests in order, one acknowledgement each', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const counter = await sketch(Counter, 'counter', { url: b.url });
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  const acks = await Promise.all([1, 2, 3, 4, 5].map((i) => sender.stream('counter', String(i))));
  assert.equal(acks, ['/:1', '/:2', '/:3', '/:4', '/:5']);
  assert.equal(counter.applied, ['1', '2', '3', '4', '5']);
  assert.ok(linesOf(sender).some((l) => /found "counter" on the broker, not on this link: requests go through the broker/.test(l)), linesOf(sender).join('\n'));
});

test('through the broker a request continues its trace (user property traceparent) and both links say via broker', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const counter = await sketch(Counter, 'counter', { url: b.url });
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  assert.is(await sender.stream('counter', 'x'), '/:x');
  const send = sender.tracer!.query().find((s) => s.name === 'send counter')!;
  assert.is(send.attributes['sketch.via'], 'broker');
  const receive = counter.tracer!.query({ trace: send.traceId }).find((s) => s.name === 'receive /')!;
  assert.is(receive.parentSpanId, send.spanId);
  assert.is(receive.attributes['sketch.from'], 'sender');
  const out = sender.status().links!.out[0]!;
  assert.equal({ to: out.to, via: out.via, state: out.state, acked: out.acked }, { to: 'counter', via: 'broker', state: 'connected', acked: 1 });
  assert.equal(counter.status().links!.in.map((l) => [l.from, l.path, l.received]), [['sender', '/', 1]]);
});

test("a loop's error comes back through the broker as the sender's SKETCH_ERR_REMOTE", async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  await sketch(Counter, 'counter', { url: b.url });
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  const err = await sender.stream('counter', 'fail').catch((e: unknown) => e);
  assert.instance(err, SketchError);
  assert.is((err as SketchError).code, 'SKETCH_ERR_REMOTE');
  assert.match((err as Error).message, /asked to fail/);
});

test('presence: online with a description while running, offline after a normal stop', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const s = await sketch(Readings, 'porch', { url: b.url });
  const watch = await subscriber(b.url, 'sketchnet/porch/$state');
  try {
    await until('the retained online', () => watch.got.length > 0);
    const first = watch.got[0]!;
    assert.is(first.payload, 'online');
    assert.ok(first.retain);
    const description = JSON.parse(String(first.props?.userProperties?.sketchnet));
    assert.is(description.name, 'porch');
    assert.is(description.kind, 'readings');
    assert.is(description.protocol, 3);
    assert.equal(description.streams, ['/latest', '/all']);
    assert.is(description.acknowledges, false);
    assert.match(description.ws[0], /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(s.status().broker, { url: b.url, connected: true, name: 'porch' });
    await s.close();
    await until('offline', () => watch.got.some((m) => m.payload === 'offline'));
  } finally {
    await watch.client.endAsync();
  }
});

test('a name already online on the broker is taken as "name (2)", and the line says so', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  await sketch(Counter, 'twin', { url: b.url });
  const second = await sketch(Counter, 'twin', { url: b.url });
  assert.is(second.name, 'twin (2)');
  assert.ok(linesOf(second).some((l) => /name "twin" is taken on the broker/.test(l)), linesOf(second).join('\n'));
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  assert.is(await sender.stream('twin (2)', 'x'), '/:x');
});

test("stream items go to sketchnet/<name>/<path>: 'latest' retained at QoS 0, 'all' at QoS 1, as plain data", async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const s = await sketch(Readings, 'meter', { url: b.url });
  const all = await subscriber(b.url, 'sketchnet/meter/all');
  try {
    for (let i = 1; i <= 3; i++) {
      s.publish('/latest', { v: i });
      s.publish('/all', { v: i });
    }
    s.publish('/all', 'text as it is');
    await until('4 items on /all', () => all.got.length === 4);
    assert.equal(all.got.map((m) => m.payload), ['{"v":1}', '{"v":2}', '{"v":3}', 'text as it is']);
    const late = await subscriber(b.url, 'sketchnet/meter/latest');
    try {
      await until('the retained latest', () => late.got.length > 0);
      assert.equal(late.got[0], { ...late.got[0]!, payload: '{"v":3}', retain: true });
    } finally {
      await late.client.endAsync();
    }
  } finally {
    await all.client.endAsync();
  }
});

test('a plain payload (as Home Assistant sends) reaches loop as it is, answered on its Response Topic', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const counter = await sketch(Counter, 'plain', { url: b.url });
  const replies = await subscriber(b.url, 'test/replies');
  try {
    await replies.client.publishAsync('sketchnet/plain/in/switch', '1', { qos: 1, properties: { responseTopic: 'test/replies', correlationData: Buffer.from('c1') } });
    await replies.client.publishAsync('sketchnet/plain/in', 'no reply wanted', { qos: 1 });
    await until('two applied', () => counter.applied.length === 2);
    assert.equal(counter.applied, ['1', 'no reply wanted']);
    await until('the reply', () => replies.got.length === 1);
    assert.is(replies.got[0]!.payload, '/switch:1');
    assert.is(replies.got[0]!.props?.correlationData?.toString(), 'c1');
  } finally {
    await replies.client.endAsync();
  }
});

test('a broker restart in the middle of 1000 requests: none lost, none applied twice, in order', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const counter = await sketch(Counter, 'counter', { url: b.url, backoff: 50, maxBackoff: 200 });
  const sender = await sketch(Quiet, 'sender', { url: b.url, backoff: 50, maxBackoff: 200 }, { discoverTimeout: 10_000, peer: { ackTimeout: 20_000 } });
  const messages = Array.from({ length: 1000 }, (_, i) => `m${i}`);
  const acks = messages.map((m) => sender.stream('counter', m));
  await until('some applied', () => counter.applied.length >= 100, 10_000);
  await b.restart();
  const atRestart = counter.applied.length;
  const got = await Promise.all(acks);
  if (process.env.DEBUG_BROKER) console.log(`applied before the restart had ended: ${atRestart}`);
  assert.equal(got, messages.map((m) => `/:${m}`));
  assert.equal(counter.applied, messages, 'each applied once, in order');
  assert.ok(linesOf(counter).some((l) => /lost the broker/.test(l)), linesOf(counter).join('\n'));
});

test('a wrong password: run() rejects with SKETCH_ERR_BROKER_AUTH, one line naming what to check', async () => {
  const b = await broker({ users: { maker: 'right' } });
  if (!b) return console.log(`skipped: ${skip}`);
  const s = new Counter({ name: 'locked', discovery: false, broker: { url: b.url, username: 'maker', password: 'wrong' }, log: () => {} });
  started.push(s);
  const err = await s.run({ host: '127.0.0.1' }).catch((e: unknown) => e);
  assert.instance(err, SketchError);
  assert.is((err as SketchError).code, 'SKETCH_ERR_BROKER_AUTH');
  assert.not.match((err as Error).message, /\n/);
  assert.match((err as Error).message, /SKETCH_BROKER_PASSWORD/);
  const ok = await sketch(Counter, 'open', { url: b.url, username: 'maker', password: 'right' });
  assert.is(ok.name, 'open');
});

test('an unreachable broker: the sketch serves anyway with one line, and a request to a broker peer fails after the discover timeout', async () => {
  const port = await freePort();
  const lines: string[] = [];
  const s = new Quiet({ name: 'alone', discovery: false, broker: { url: `mqtt://127.0.0.1:${port}`, preferDirect: false }, discoverTimeout: 300, log: (l) => lines.push(l) });
  started.push(s);
  const address = await s.run({ host: '127.0.0.1' });
  assert.ok(address.port > 0);
  assert.is(lines.filter((l) => /cannot reach the broker/.test(l)).length, 1, lines.join('\n'));
  const err = await s.stream('nobody', 'x').catch((e: unknown) => e);
  assert.instance(err, SketchError);
  assert.is((err as SketchError).code, 'SKETCH_ERR_BROKER_UNREACHABLE');
  await sleep(600); // more reconnect attempts: still the one line
  assert.is(lines.filter((l) => /broker/.test(l)).length, 1, lines.join('\n'));
});

test('two sketches that go online under one name at once: the older claim keeps it, the other becomes "name (2)"', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const [x, y] = await Promise.all([sketch(Counter, 'same', { url: b.url }), sketch(Counter, 'same', { url: b.url })]);
  await until('distinct names', () => x.name !== y.name);
  assert.equal([x.name, y.name].sort(), ['same', 'same (2)']);
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  assert.is(await sender.stream('same', 'a'), '/:a');
  assert.is(await sender.stream('same (2)', 'b'), '/:b');
  assert.equal([...x.applied, ...y.applied].sort(), ['a', 'b']);
});

test('an offline arriving over a live presence (a late Last Will of an earlier run) is answered with online again', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  await sketch(Counter, 'phoenix', { url: b.url });
  const other = await mqtt.connectAsync(b.url, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    await other.publishAsync('sketchnet/phoenix/$state', 'offline', { qos: 1, retain: true });
    await sleep(200);
    const watch = await subscriber(b.url, 'sketchnet/phoenix/$state');
    try {
      await until('the retained state', () => watch.got.length > 0);
      assert.is(watch.got[0]!.payload, 'online');
    } finally {
      await watch.client.endAsync();
    }
  } finally {
    await other.endAsync();
  }
});

test('with preferDirect (the default) a peer on this link is reached over a direct WebSocket', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const counter = await sketch(Counter, 'near', { url: b.url });
  const sender = await sketch(Quiet, 'sender', { url: b.url, preferDirect: true });
  assert.is(await sender.stream('near', 'x'), '/:x');
  assert.equal(counter.applied, ['x']);
  assert.ok(linesOf(sender).some((l) => /found "near" on the broker, on this link at ws:\/\/127\.0\.0\.1:\d+\/: connecting directly/.test(l)), linesOf(sender).join('\n'));
  assert.ok(linesOf(counter).some((l) => /new client connected/.test(l)), 'the request came over a WebSocket');
});

test('a request sent before its peer is online is delivered once the peer comes online within the discover timeout', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const sender = await sketch(Quiet, 'sender', { url: b.url });
  const ack = sender.stream('late', 'hello');
  await sleep(300);
  const late = await sketch(Counter, 'late', { url: b.url });
  assert.is(await ack, '/:hello');
  assert.equal(late.applied, ['hello']);
});

test('requests waiting on a peer that went offline fail after the discover timeout with one line saying so', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  class Stuck extends Sketch {
    static override kind = 'stuck';
    @reactive
    override async loop(): Promise<string> {
      return new Promise(() => {}); // never answers
    }
  }
  const stuck = await sketch(Stuck, 'stuck', { url: b.url });
  const sender = await sketch(Quiet, 'sender', { url: b.url }, { discoverTimeout: 300 });
  const pending = sender.stream('stuck', 'x').catch((e: unknown) => e);
  await sleep(200);
  await stuck.close();
  const err = await pending;
  assert.instance(err, SketchError);
  assert.is((err as SketchError).code, 'SKETCH_ERR_PEER_UNREACHABLE');
  assert.match((err as Error).message, /^peer stuck unreachable: it is offline on the broker at mqtt:\/\/127\.0\.0\.1:\d+ \(waited 0\.3 s\); 1 message\(s\) not acknowledged$/);
});

test('a name found neither over mDNS nor on the broker: one line naming both', async () => {
  const b = await broker();
  if (!b) return console.log(`skipped: ${skip}`);
  const { MemoryDiscovery } = await import('../runtime/discovery/mdns.js');
  const sender = await sketch(Quiet, 'sender', { url: b.url }, { discovery: new MemoryDiscovery(), discoverTimeout: 200 });
  const err = await sender.stream('ghost', 'x').catch((e: unknown) => e);
  assert.instance(err, SketchError);
  assert.is((err as SketchError).code, 'SKETCH_ERR_PEER_NOT_FOUND');
  assert.match((err as Error).message, /^no sketch named "ghost" answered over mDNS or is online on the broker at mqtt:\/\/127\.0\.0\.1:\d+ within 0\.2 s/);
});

test('mqtts:// with the CA the broker certificate chains to: online; without it: one line naming the certificate, and the sketch serves on', async () => {
  if (!hasOpenssl()) return console.log('skipped: openssl is not installed');
  const ca = makeCa();
  const cert = makeCert(ca.dir, 'broker', ['localhost', '127.0.0.1'], ca);
  const b = await broker({ tls: { cert: cert.certFile, key: cert.keyFile } });
  if (!b) return console.log(`skipped: ${skip}`);
  const trusted = await sketch(Counter, 'secure', { url: b.url, ca: ca.cert });
  assert.equal(trusted.status().broker, { url: b.url, connected: true, name: 'secure' });
  const lines: string[] = [];
  const untrusted = new Counter({ name: 'doubtful', discovery: false, broker: { url: b.url }, log: (l) => lines.push(l) });
  started.push(untrusted);
  await untrusted.run({ host: '127.0.0.1' });
  assert.is(untrusted.status().broker?.connected, false);
  assert.is(lines.filter((l) => /cannot reach the broker/.test(l)).length, 1, lines.join('\n'));
  assert.match(lines.find((l) => /cannot reach the broker/.test(l))!, /certificate/i);
});

test.run();

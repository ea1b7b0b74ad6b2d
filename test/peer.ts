import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketServer } from 'ws';
import { Peer, reactive, Sketch, SketchError } from '../runtime/index.js';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { sleep } from './helpers/net.js';

class Counter extends Sketch {
  received: string[] = [];
  @reactive
  override async loop(_c: string, m: string) {
    this.received.push(m);
    if (m === 'fail') throw new Error('refused');
    await sleep(Math.random() * 3);
    return `ack ${m}`;
  }
}

async function counter(config: ConstructorParameters<typeof Counter>[0] = {}) {
  const s = new Counter({ discovery: false, log: () => {}, ...config });
  let connections = 0;
  s.on('connection', () => connections++);
  const addr = await s.run({ host: '127.0.0.1' });
  return { s, url: addr.url, connections: () => connections };
}

test('stream() resolves with the acknowledgement and reuses one connection per peer', async () => {
  const { s, url, connections } = await counter();
  const client = new Counter({ discovery: false, log: () => {} });
  for (let i = 0; i < 5; i++) assert.is(await client.stream(url, String(i)), `ack ${i}`);
  assert.is(connections(), 1);
  await client.close();
  await s.close();
});

test('many stream() calls in flight keep their order and each gets its own ack', async () => {
  const { s, url, connections } = await counter();
  const client = new Counter({ discovery: false, log: () => {} });
  const acks = await Promise.all(Array.from({ length: 200 }, (_, i) => client.stream(url, String(i))));
  assert.equal(acks, Array.from({ length: 200 }, (_, i) => `ack ${i}`));
  assert.equal(s.received, Array.from({ length: 200 }, (_, i) => String(i)));
  assert.is(connections(), 1);
  await client.close();
  await s.close();
});

test('stream() by instance name resolves the peer through the injected discovery', async () => {
  const registry = new MemoryDiscovery().registry;
  const server = new Counter({ discovery: new MemoryDiscovery(registry), log: () => {}, name: 'counter' });
  await server.run({ host: '127.0.0.1' });
  const client = new Counter({ discovery: new MemoryDiscovery(registry), log: () => {}, name: 'client' });
  assert.is(await client.stream('counter', 'hi'), 'ack hi');
  await client.close();
  await server.close();
});

test('an error reply rejects with SKETCH_ERR_REMOTE and the next message still works', async () => {
  const { s, url } = await counter();
  const peer = new Peer(url);
  try {
    await peer.send('fail');
    assert.unreachable();
  } catch (err) {
    assert.instance(err, SketchError);
    assert.is((err as SketchError).code, 'SKETCH_ERR_REMOTE');
    assert.is((err as SketchError).remoteCode, 'SKETCH_ERR_LOOP');
  }
  assert.is(await peer.send('next'), 'ack next');
  await peer.close();
  await s.close();
});

test('a server without the subprotocol (like the Python original) is spoken to in plain text', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => false });
  await new Promise((r) => wss.once('listening', r));
  const protocols: string[] = [];
  wss.on('connection', (ws) => {
    protocols.push(ws.protocol);
    ws.on('message', (m) => ws.send(`plain ${m}`));
  });
  const peer = new Peer(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
  assert.is(await peer.send('a'), 'plain a');
  assert.is(await peer.send('b'), 'plain b');
  // one refused v1 handshake, then one plain connection reused for both messages
  assert.equal(protocols, ['', '']);
  await peer.close();
  wss.close();
});

test('a bare ws echo server that accepts any subprotocol still gets its plain replies matched', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(String(m))));
  const peer = new Peer(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`);
  assert.equal(await Promise.all(['1', '{"x":1}', 'z'].map((m) => peer.send(m))), ['1', '{"x":1}', 'z']);
  await peer.close();
  wss.close();
});

test('unacknowledged messages are sent again after the connection drops (at-least-once)', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  let connection = 0;
  const seen: string[] = [];
  wss.on('connection', (ws) => {
    const n = ++connection;
    ws.on('message', (m) => {
      seen.push(`${n}:${m}`);
      if (n === 1 && String(m) === 'b') ws.terminate(); // drop before acking b
      else ws.send(`ack ${m}`);
    });
  });
  const peer = new Peer(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/`, { backoff: 20 });
  const acks = await Promise.all(['a', 'b', 'c'].map((m) => peer.send(m)));
  assert.equal(acks, ['ack a', 'ack b', 'ack c']);
  assert.ok(seen.includes('2:b'), `b was delivered again: ${seen}`);
  await peer.close();
  wss.close();
});

test('a peer that vanishes fails with SKETCH_ERR_PEER_UNREACHABLE after the retries', async () => {
  const { s, url } = await counter();
  const lines: string[] = [];
  const peer = new Peer(url, { retries: 2, backoff: 20, log: (l) => lines.push(l) });
  assert.is(await peer.send('1'), 'ack 1');
  await s.close();
  try {
    await peer.send('2');
    assert.unreachable();
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_PEER_UNREACHABLE');
    assert.match((err as Error).message, /gave up after 3 attempts/);
  }
  assert.is(lines.filter((l) => l.includes('retrying')).length, 2);
  await peer.close();
});

test('a name with mDNS off fails at once with SKETCH_ERR_MDNS_DISABLED', async () => {
  const peer = new Peer('iopin', { discovery: false });
  try {
    await peer.send('x');
    assert.unreachable();
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_MDNS_DISABLED');
  }
});

test('close() during a backoff wait ends it at once: the pending send fails with SKETCH_ERR_CLOSED', async () => {
  const { s, url } = await counter();
  const port = new URL(url).port;
  await s.close(); // nothing listens there any more
  const peer = new Peer(`ws://127.0.0.1:${port}/`, { retries: 5, backoff: 10_000 });
  const sent = peer.send('x').catch((err: SketchError) => err);
  await sleep(100); // first attempt refused: now waiting 10 s before the retry
  const t0 = Date.now();
  await peer.close();
  const err = await sent;
  assert.ok(Date.now() - t0 < 500, `ended after ${Date.now() - t0} ms`);
  assert.is((err as SketchError).code, 'SKETCH_ERR_CLOSED');
});

test('publish() sends each reading to every subscriber of the channel only', async () => {
  const { s, url } = await counter();
  const { connect, frames } = await import('./helpers/net.js');
  const subs = await Promise.all([connect(url + 'readings'), connect(url + 'readings')]);
  const other = await connect(url + 'other');
  let otherGot = 0;
  other.on('message', () => otherGot++);
  await sleep(20);
  assert.is(s.subscribers('/readings'), 2);
  const got = subs.map((ws) => frames(ws, 2));
  assert.is(s.publish('/readings', { temperature: 21.5 }), 2);
  assert.is(s.publish('/readings', 'plain'), 2);
  for (const g of got) assert.equal(await g, ['{"temperature":21.5}', 'plain']);
  await sleep(20);
  assert.is(otherGot, 0);
  for (const ws of [...subs, other]) ws.close();
  await s.close();
});

test('publish() frames payloads of every length (7-, 16- and 64-bit) for plain and sketchnet.v2 subscribers', async () => {
  const { s, url } = await counter();
  const { connect, frames } = await import('./helpers/net.js');
  const plain = await connect(url + 'readings');
  const v2 = await connect(url + 'readings', ['sketchnet.v2']);
  await sleep(20);
  const sizes = [0, 1, 125, 126, 65535, 65536, 200_000];
  const gotPlain = frames(plain, sizes.length);
  const gotV2 = frames(v2, sizes.length + 1); // + where the stream stands (subscribed)
  for (const n of sizes) s.publish('/readings', 'é'.repeat(n));
  assert.equal(await gotPlain, sizes.map((n) => 'é'.repeat(n)));
  assert.equal(
    (await gotV2).map((f) => JSON.parse(f)).filter((f) => !f.subscribed).map((f) => f.data),
    sizes.map((n) => 'é'.repeat(n)),
  );
  plain.close();
  v2.close();
  await s.close();
});

test.run();

import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import FakeTimers from '@sinonjs/fake-timers';
import WebSocket from 'ws';
import { Heartbeat, HEARTBEAT_SLICES } from '../runtime/net/heartbeat.js';
import { Peer, reactive, Sketch, SketchError } from '../runtime/index.js';

class Echo extends Sketch {
  hang = false;
  @reactive override async loop(_c: string, m: string) {
    if (this.hang) await new Promise(() => {}); // never answers
    return `ack ${m}`;
  }
}

/** A TCP proxy whose current connections can be made silent: bytes stop, nothing closes. */
async function silencer(target: number) {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const all: net.Socket[] = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    pairs.push([client, upstream]);
    all.push(client, upstream);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Stops every current connection's bytes in both directions without closing it. */
    silence() {
      for (const [a, b] of pairs.splice(0)) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    close: () => {
      for (const socket of all) socket.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

test('a Peer whose link goes silent (no close, no bytes) finds it by heartbeat within two intervals, says so in one line, reconnects and gets its acknowledgement', async () => {
  const s = new Echo({ discovery: false, log: () => {}, heartbeat: 0 });
  const { port } = await s.run({ host: '127.0.0.1' });
  const proxy = await silencer(port);
  const lines: string[] = [];
  const peer = new Peer(`ws://127.0.0.1:${proxy.port}/`, { heartbeat: 100, ackTimeout: 0, backoff: 1, log: (l) => lines.push(l) });
  try {
    assert.is(await peer.send('before'), 'ack before');
    proxy.silence();
    const t0 = Date.now();
    assert.is(await peer.send('after'), 'ack after');
    const ms = Date.now() - t0;
    assert.ok(ms < 1000, `${ms} ms`);
    assert.is(lines.filter((l) => /no answer to pings within 0\.2 s: the link is dead, reconnecting/.test(l)).length, 1, lines.join('\n'));
  } finally {
    await peer.close();
    await proxy.close();
    await s.close();
  }
});

test('the acknowledgement timeout also finds a silent link, and the message is sent again and acknowledged once', async () => {
  const s = new Echo({ discovery: false, log: () => {}, heartbeat: 0 });
  const { port } = await s.run({ host: '127.0.0.1' });
  const proxy = await silencer(port);
  const lines: string[] = [];
  const peer = new Peer(`ws://127.0.0.1:${proxy.port}/`, { heartbeat: 0, ackTimeout: 200, backoff: 1, log: (l) => lines.push(l) });
  try {
    await peer.send('warm');
    proxy.silence();
    assert.is(await peer.send('again'), 'ack again');
    assert.ok(lines.some((l) => /no acknowledgement within 0\.2 s: reconnecting/.test(l)), lines.join('\n'));
  } finally {
    await peer.close();
    await proxy.close();
    await s.close();
  }
});

test('a peer that never acknowledges is given up after the retries, with one clear error, never an endless wait', async () => {
  const s = new Echo({ discovery: false, log: () => {}, heartbeat: 0 });
  s.hang = true;
  const { url } = await s.run({ host: '127.0.0.1' });
  const peer = new Peer(url, { ackTimeout: 100, retries: 2, backoff: 1 });
  const t0 = Date.now();
  const err = (await peer.send('x').catch((e: unknown) => e)) as SketchError;
  assert.is(err.code, 'SKETCH_ERR_PEER_UNREACHABLE');
  assert.match(err.message, /no acknowledgement within 0\.1 s \(gave up after 3 connections\)/);
  assert.ok(Date.now() - t0 < 2000);
  await peer.close();
  await s.close();
});

test('a sketch drops a client that stops answering pings (1006) within two heartbeat intervals, with one log line', async () => {
  const lines: string[] = [];
  const s = new Echo({ discovery: false, log: (l) => lines.push(l), heartbeat: 100 });
  const { url } = await s.run({ host: '127.0.0.1' });
  const mute = new WebSocket(url, { autoPong: false });
  const alive = new WebSocket(url);
  await Promise.all([mute, alive].map((ws) => new Promise((r) => ws.once('open', r))));
  const t0 = Date.now();
  const code = await new Promise<number>((r) => s.once('disconnect', (_c, c) => r(c)));
  assert.is(code, 1006);
  assert.ok(Date.now() - t0 < 500, `${Date.now() - t0} ms`);
  assert.ok(lines.includes('[ Echo ] a client did not answer pings: the link is dead, dropping it'), lines.join('\n'));
  await new Promise((r) => setTimeout(r, 300));
  assert.is(alive.readyState, WebSocket.OPEN, 'a client that answers pings stays');
  alive.close();
  await s.close();
});

test('a server pings its clients in groups spread over the interval, each once per interval, never all in one timer callback', () => {
  const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval'] });
  try {
    const dead: unknown[] = [];
    const hb = new Heartbeat(800, (ws) => dead.push(ws));
    const sockets = Array.from({ length: 64 }, () => Object.assign(new EventEmitter(), { readyState: WebSocket.OPEN, pings: 0, ping() { this.pings++; this.emit('pong'); } }));
    for (const s of sockets) hb.watch(s as unknown as WebSocket);
    const pinged = () => sockets.reduce((n, s) => n + s.pings, 0);
    clock.tick(800 / HEARTBEAT_SLICES);
    assert.is(pinged(), 64 / HEARTBEAT_SLICES, 'one group per slice of the interval');
    clock.tick(800 - 800 / HEARTBEAT_SLICES);
    assert.ok(sockets.every((s) => s.pings === 1), 'every client pinged once per interval');
    sockets[0]!.ping = function () { this.pings++; }; // stops answering
    clock.tick(1600);
    assert.equal(dead, [sockets[0]], 'a client that missed its pong is found within two intervals');
    hb.stop();
  } finally {
    clock.uninstall();
  }
});

test.run();

import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeReply, SUBPROTOCOL, type ItemFrame, type SubscribedFrame } from '../runtime/net/protocol.js';
import { cli, connect, frames, runCli } from './helpers/net.js';

const python = '/usr/bin/python3';
const script = (name: string) => fileURLToPath(new URL(`./fixtures/python/${name}`, import.meta.url));
const hasWebsockets = spawnSync(python, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;
const skip = (what: string) =>
  console.log(`  skipped: ${what}: Debian's python3-websockets is not installed (apt-get install python3-websockets)`);

test('a client written for the original Python sketches works unchanged against our iopin', async () => {
  if (!hasWebsockets) return skip('Python client');
  const iopin = cli(['run', 'iopin', '--no-mdns', '--host', '127.0.0.1']);
  try {
    await iopin.waitFor(/serving on/);
    const port = /serving on [^:]+:(\d+)/.exec(iopin.stdout())![1];
    const py = spawnSync(python, [script('original_clock.py'), `ws://127.0.0.1:${port}/datafeed`, '3'], {
      encoding: 'utf8',
      timeout: 10000,
    });
    assert.is(py.status, 0, py.stderr);
    const acks = py.stdout.split('\n').filter((l) => l.startsWith('[ clock ] <'));
    assert.is(acks.length, 3);
    for (const a of acks) assert.match(a, /^\[ clock \] < \[[01],[01],[01]\]$/);
    await iopin.waitFor(/new tick triggered on \/datafeed: 2/);
  } finally {
    iopin.child.kill('SIGTERM');
    await iopin.exited();
  }
});

test('our clock works unchanged against a server written like the original Python sketches', async () => {
  if (!hasWebsockets) return skip('Python server');
  const server = spawn(python, [script('original_iopin.py')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    for (let i = 0; i < 500 && !/listening \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 10));
    const port = /listening (\d+)/.exec(out)?.[1];
    assert.ok(port, `python server started: ${out}`);
    const clock = await runCli(['run', 'clock', '--no-mdns', '--tacks', '3', '--delay', '0', '--to', `ws://127.0.0.1:${port}/datafeed`]);
    assert.is(clock.code, 0, clock.stderr);
    const acks = clock.stdout.split('\n').map((l) => l.replace(/^\S+Z /, '')).filter((l) => l.startsWith('[ Clock ] <')); // without the time piped lines start with
    assert.is(acks.length, 3);
    for (const a of acks) assert.match(a, /^\[ Clock \] < \[[01], [01], [01]\]$/);
    assert.match(out, /new tick triggered on \/datafeed: 2/);
  } finally {
    server.kill('SIGTERM');
  }
});

test('a Python websockets client on /readings?last=5 receives the last five readings as plain frames, exactly as published', async () => {
  if (!hasWebsockets) return skip('Python stream subscriber');
  const thermometer = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.02', '--no-mdns', '--host', '127.0.0.1']);
  try {
    await thermometer.waitFor(/serving on/);
    const base = `127.0.0.1:${/serving on [^:]+:(\d+)/.exec(thermometer.stdout())![1]}`;
    // Enough readings held that ?last=5 is history only.
    for (let seq = 0; seq < 20; await new Promise((r) => setTimeout(r, 50))) {
      const status = (await (await fetch(`http://${base}/.well-known/sketch`)).json()) as { streams: Record<string, { seq: number }> };
      seq = status.streams['/readings']!.seq;
    }
    const py = spawnSync(python, [script('stream_tail.py'), `ws://${base}/readings?last=5`, '5'], { encoding: 'utf8', timeout: 10000 });
    assert.is(py.status, 0, py.stderr);
    const [opened, ...rest] = py.stdout.trim().split('\n');
    const openedAt = Number(/^opened ([\d.]+)$/.exec(opened!)![1]);
    const received = rest.map((l) => JSON.parse(l) as string);
    assert.is(received.length, 5, py.stdout);
    // What was published, from the history: each v2 envelope carries the data's JSON text as published.
    const ws = await connect(`ws://${base}/readings?history=all`, [SUBPROTOCOL]);
    const [subscribed] = await frames(ws, 1);
    const { first, last } = (decodeReply(subscribed!) as { subscribed: SubscribedFrame }).subscribed;
    const held = await frames(ws, last - first + 1);
    ws.close();
    const published = new Map<string, number>();
    for (const envelope of held) {
      const seq = (decodeReply(envelope) as { item: ItemFrame }).item.seq;
      published.set(envelope.slice(envelope.indexOf('"data":') + '"data":'.length, -1), seq);
    }
    const seqs = received.map((frame) => published.get(frame));
    assert.ok(seqs.every((s) => s !== undefined), `every frame is a reading's data exactly as published: ${received[0]}`);
    for (let i = 1; i < 5; i++) assert.is(seqs[i], seqs[0]! + i, `consecutive: ${seqs.join(',')}`);
    assert.ok(seqs[0]! > 1, 'the last five, not the first');
    for (const frame of received) {
      const reading = JSON.parse(frame) as { time: number; unit: string };
      assert.is(reading.unit, '°C');
      assert.ok(reading.time <= openedAt, 'sampled before the client connected: history, not live');
    }
  } finally {
    thermometer.child.kill('SIGTERM');
    await thermometer.exited();
  }
});

test.run();

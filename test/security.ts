import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { newKey, openOutput, Peer, reactive, releaseAllPins, Sketch, SketchError, type SketchConfig } from '../runtime/index.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { keyLine } from '../runtime/security/keys.js';
import { LOG_TEXT_MAX, quoted } from '../runtime/text.js';
import { fakeOnoff } from './helpers/fake-onoff.js';
import { cli, opened, runCli, upgrade } from './helpers/net.js';

const W = newKey();
const R = newKey();
const KEYS = [
  { key: W, right: 'write' as const },
  { key: R, right: 'read' as const },
];
const PI4 = path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'gpio-pi4-6.6');

/** A sketch with a stream and a loop that counts what it applied. */
class Counter extends Sketch {
  static override streams = { '/readings': { history: 10 } };
  applied: string[] = [];
  @reactive override async loop(_channel: string, message: string) {
    this.applied.push(message);
    return `applied ${message}`;
  }
}

async function started(config: SketchConfig = {}, host = '127.0.0.1') {
  const lines: string[] = [];
  const s = new Counter({ discovery: false, log: (l) => lines.push(l), ...config });
  const { port } = await s.run({ host });
  return { s, port, lines, base: `ws://127.0.0.1:${port}` };
}

async function next(inbox: string[], n = 1, timeout = 3000): Promise<string[]> {
  const t0 = Date.now();
  while (inbox.length < n) {
    if (Date.now() - t0 > timeout) throw new Error(`only ${inbox.length} of ${n} frames`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return inbox.splice(0, n);
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('with keys, an upgrade without a key, with an unknown key or with a key in the query string gets 401 and one log line; nothing reaches loop', async () => {
  const { s, base, lines } = await started({ keys: KEYS });
  try {
    const cases: Array<[string, Record<string, string>, string]> = [
      [`${base}/`, {}, 'no key'],
      [`${base}/`, { authorization: `Bearer ${newKey()}` }, 'unknown key'],
      [`${base}/?key=${W}&access_token=${W}`, {}, 'no key'],
      [`${base}/`, { authorization: `Bearer ${'x'.repeat(10_000)}` }, 'unknown key'],
    ];
    for (const [url, headers, why] of cases) {
      const o = await upgrade(url, [], headers);
      assert.is(o.status, 401, url);
      assert.is(o.body, 'a valid key is required (Authorization: Bearer KEY, or subprotocol bearer.KEY)\n');
      assert.not.ok(o.body.includes(W) || o.body.includes(R), 'no key leaked');
      assert.match(lines.at(-1)!, new RegExp(`^\\[ Counter \\] refused 127\\.0\\.0\\.1:\\d+: ${why}$`));
    }
    assert.equal(s.applied, []);
  } finally {
    await s.close();
  }
});

test('a write key sends messages; a read key subscribes and reads the status but each message it sends gets SKETCH_ERR_FORBIDDEN and changes nothing', async () => {
  const { s, base, port } = await started({ keys: KEYS });
  try {
    const writer = await opened(`${base}/`, [SUBPROTOCOL], { authorization: `Bearer ${W}` });
    writer.ws.send('one');
    assert.equal(await next(writer.inbox), ['{"ack":"applied one"}']);

    const reader = await opened(`${base}/`, [SUBPROTOCOL], { authorization: `Bearer ${R}` });
    reader.ws.send('two');
    reader.ws.send('three');
    const refusal = '{"error":{"code":"SKETCH_ERR_FORBIDDEN","message":"this key may only read: messages need a write key"}}';
    assert.equal(await next(reader.inbox, 2), [refusal, refusal]);
    const plainReader = await opened(`${base}/`, [], { authorization: `Bearer ${R}` });
    plainReader.ws.send('four');
    assert.equal(await next(plainReader.inbox), ['error: this key may only read: messages need a write key']);
    assert.equal(s.applied, ['one']);

    const sub = await opened(`${base}/readings?new`, [SUBPROTOCOL], { authorization: `Bearer ${R}` });
    await next(sub.inbox); // {"subscribed":…}
    s.publish('/readings', { celsius: 21.5 });
    assert.equal(JSON.parse((await next(sub.inbox))[0]!).data, { celsius: 21.5 });

    assert.is((await get(`http://127.0.0.1:${port}/.well-known/sketch`)).status, 401);
    const status = await get(`http://127.0.0.1:${port}/.well-known/sketch`, { authorization: `Bearer ${R}` });
    assert.is(status.status, 200);
    assert.is(JSON.parse(status.body).name, 'counter');
    for (const c of [writer, reader, plainReader, sub]) c.ws.close();
  } finally {
    await s.close();
  }
});

test('a browser presents its key as a bearer.KEY subprotocol entry beside sketchnet.v2, and the server never echoes the key', async () => {
  const { s, base } = await started({ keys: KEYS });
  try {
    const b = await opened(`${base}/`, [SUBPROTOCOL, `bearer.${W}`], { origin: base.replace('ws:', 'http:') });
    assert.is(b.ws.protocol, SUBPROTOCOL);
    b.ws.send('hello');
    assert.equal(await next(b.inbox), ['{"ack":"applied hello"}']);
    b.ws.close();
    const bad = await upgrade(`${base}/`, [SUBPROTOCOL, `bearer.${newKey()}`]);
    assert.is(bad.status, 401);
  } finally {
    await s.close();
  }
});

test('an upgrade from a foreign Origin gets 403 and one log line, with or without keys; no Origin, the own origin and allowed ones connect', async () => {
  for (const keys of [undefined, KEYS]) {
    const { s, base, port, lines } = await started({ keys, allowOrigins: ['http://dashboard.local:8080'] });
    const auth = keys ? { authorization: `Bearer ${W}` } : {};
    try {
      const evil = await upgrade(`${base}/`, [], { ...auth, origin: 'http://evil.example' });
      assert.is(evil.status, 403, 'evil refused');
      assert.match(lines.at(-1)!, /refused 127\.0\.0\.1:\d+: origin "http:\/\/evil\.example" is not allowed \(--allow-origin\)$/);
      // Node's HTTP parser already refuses control characters in headers; a long origin is truncated.
      const long = await upgrade(`${base}/`, [], { ...auth, origin: `http://${'y'.repeat(200)}.example` });
      assert.is(long.status, 403);
      assert.match(lines.at(-1)!, /origin "http:\/\/y{73}…" is not allowed/);
      for (const origin of [undefined, `http://127.0.0.1:${port}`, 'http://dashboard.local:8080']) {
        const ok = await opened(`${base}/`, [], { ...auth, ...(origin ? { origin } : {}) });
        ok.ws.send('x');
        assert.equal(await next(ok.inbox), ['applied x']);
        ok.ws.close();
      }
    } finally {
      await s.close();
    }
  }
  const { s, base } = await started({ allowOrigins: ['*'] });
  try {
    const any = await opened(`${base}/`, [], { origin: 'http://anything.example' });
    any.ws.close();
  } finally {
    await s.close();
  }
});

test('client-controlled text in a log line is quoted: control characters, quotes and backslashes escaped, cut at its length', () => {
  assert.is(quoted('a\nb\u001b[2J"c\\d\u202e'), '"a\\nb\\x1b[2J\\"c\\\\d\\u202e"');
  assert.is(quoted('x'.repeat(100), 80), `"${'x'.repeat(80)}…"`);
  assert.is(quoted('x'.repeat(300)).length, LOG_TEXT_MAX + 3, 'LOG_TEXT_MAX characters by default');
});

test('without keys a sketch stays open to plain clients, as the Python original expects', async () => {
  const { s, base } = await started();
  try {
    const c = await opened(`${base}/`);
    c.ws.send('plain');
    assert.equal(await next(c.inbox), ['applied plain']);
    c.ws.close();
  } finally {
    await s.close();
  }
});

test('Peer presents its key, gets SKETCH_ERR_UNAUTHORIZED at once without one, and never sends a key over plain ws:// beyond loopback unless told to', async () => {
  const { s, base } = await started({ keys: KEYS });
  try {
    const good = new Peer(base, { key: W });
    assert.is(await good.send('via peer'), 'applied via peer');
    await good.close();
    const t0 = Date.now();
    const none = new Peer(base, { retries: 3 });
    const err = (await none.send('x').catch((e: unknown) => e)) as SketchError;
    assert.is(err.code, 'SKETCH_ERR_UNAUTHORIZED');
    assert.match(err.message, /refused the connection \(401\): it needs a key; pass one with --key KEY or SKETCH_KEY/);
    assert.ok(Date.now() - t0 < 1000, 'no retries on 401');
    await none.close();
  } finally {
    await s.close();
  }
  const lan = new Peer('ws://10.255.0.1:8765/', { key: W, retries: 0 });
  const refused = (await lan.send('x').catch((e: unknown) => e)) as SketchError;
  assert.is(refused.code, 'SKETCH_ERR_INSECURE_KEY');
  assert.is(
    refused.message,
    'not sending the key to ws://10.255.0.1:8765/: plain ws:// beyond loopback lets anyone on the network read it; serve the peer over TLS (wss://) or pass --insecure-key',
  );
  await lan.close();
  const logged: string[] = [];
  const risky = new Peer('ws://10.255.0.1:8765/', { key: W, insecureKey: true, retries: 1, backoff: 1, log: (l) => logged.push(l) });
  await risky.send('x').catch(() => {});
  await risky.close();
  assert.is(logged.filter((l) => l.includes('in clear text')).length, 1, logged.join('\n'));
  assert.ok(logged.every((l) => !l.includes(W)), 'the key is never logged');
});

test('a sketch driving real GPIO outputs on a non-loopback address without keys says so in one start-up line', async () => {
  const fake = fakeOnoff();
  const pin = openOutput(18, { onoff: fake.Gpio, sysfsRoot: PI4, log: () => {} });
  try {
    const warn = /warning: GPIO outputs and no keys: anyone who can reach 0\.0\.0\.0:\d+ can drive them|warning: GPIO outputs and no keys: anyone who can reach 0\.0\.0\.0:PORT can drive them/;
    const open1 = await started({}, '0.0.0.0');
    await open1.s.close();
    assert.ok(open1.lines.some((l) => warn.test(l)), open1.lines.join('\n'));
    const loop = await started({}, '127.0.0.1');
    await loop.s.close();
    const locked = await started({ keys: KEYS }, '0.0.0.0');
    await locked.s.close();
    assert.not.ok([...loop.lines, ...locked.lines].some((l) => l.includes('warning: GPIO')));
  } finally {
    pin.close();
    releaseAllPins();
  }
  const virtual = await started({}, '0.0.0.0');
  await virtual.s.close();
  assert.not.ok(virtual.lines.some((l) => l.includes('warning: GPIO')), 'virtual pins do not count');
});

test('CLI: sketch key new prints one key-file line; run --key-file with send/tap --key or SKETCH_KEY; errors are one line', async () => {
  const made = await runCli(['key', 'new', '--write', '--label', 'kitchen']);
  assert.is(made.code, 0, made.stderr);
  assert.match(made.stdout, /^write [A-Za-z0-9_-]{43} kitchen\n$/);
  const read = await runCli(['key', 'new', '--read']);
  assert.match(read.stdout, /^read [A-Za-z0-9_-]{43}\n$/);
  assert.match((await runCli(['key', 'new', '--admin'])).stdout, /^admin [A-Za-z0-9_-]{43}\n$/);
  for (const bad of [['key', 'new'], ['key', 'new', '--read', '--write'], ['key', 'new', '--write', '--admin']]) {
    const r = await runCli(bad);
    assert.is(r.code, 2, bad.join(' '));
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-keycli-'));
  const file = path.join(dir, 'keys');
  writeFileSync(file, `${made.stdout}${read.stdout}`, { mode: 0o600 });
  // A key may start with '-' (base64url): `--key=KEY`, or the parser takes it for an option (1 run in 64).
  const w = made.stdout.split(' ')[1]!;
  const r = read.stdout.trim().split(' ')[1]!;
  const server = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.1', '--no-mdns', '--host', '127.0.0.1', '--key-file', file]);
  try {
    await server.waitFor(/serving on/);
    const url = `ws://127.0.0.1:${/serving on [^:]+:(\d+)/.exec(server.stdout())![1]}`;
    const ok = await runCli(['send', url, 'hello', `--key=${w}`]);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /"temperature":/);
    const env = await runCli(['send', url, 'hello'], { SKETCH_KEY: w });
    assert.is(env.code, 0, env.stderr);
    const nokey = await runCli(['send', url, 'hello']);
    assert.is(nokey.code, 1, nokey.stderr);
    assert.match(nokey.stderr, /^sketch: ws:\/\/127\.0\.0\.1:\d+ refused the connection \(401\): it needs a key/);
    assert.is(nokey.stderr.split('\n').filter(Boolean).length, 1);
    const forbidden = await runCli(['send', url, 'hello', `--key=${r}`]);
    assert.is(forbidden.code, 1, forbidden.stdout + forbidden.stderr);
    assert.match(forbidden.stderr, /replied with an error \(SKETCH_ERR_FORBIDDEN\): this key may only read/);
    const tap = await runCli(['tap', `${url}/readings`, `--key=${r}`, '--count', '2']);
    assert.is(tap.code, 0, tap.stderr);
    assert.is(tap.stdout.trim().split('\n').length, 2);
    for (const target of [`${url}/readings`, url]) {
      const tapNoKey = await runCli(['tap', target]);
      assert.is(tapNoKey.code, 1, target);
      assert.match(tapNoKey.stderr, /^sketch: ws:\/\/127\.0\.0\.1:\d+ refused the connection \(401\)|^sketch: 127\.0\.0\.1:\d+ refused the connection \(401\)/);
    }
  } finally {
    server.child.kill('SIGINT');
    await server.exited();
    rmSync(dir, { recursive: true, force: true });
  }
  const badOrigin = await runCli(['run', 'iopin', '--no-mdns', '--allow-origin', 'pi.local:8080']);
  assert.is(badOrigin.code, 2);
  assert.match(badOrigin.stderr, /^sketch: --allow-origin must be an http\(s\) origin/);
  const missing = await runCli(['run', 'iopin', '--no-mdns', '--key-file', '/nonexistent/keys']);
  assert.is(missing.code, 1);
  assert.is(missing.stderr, 'sketch: key file /nonexistent/keys: cannot read it (ENOENT)\n');
});

test.run();

/**
 * `sketch push` end to end: real `sketch up --accept-push` processes in a temporary folder, with a
 * key file holding an admin and a write key, and `sketch push` run as a user runs it. The
 * probation is cut to a few hundred ms through `SKETCH_PUSH_PROBATION_MS` (for tests).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { MdnsDiscovery, newKey, Peer } from '../runtime/index.js';
import { PUSH_MAX_BYTES, PUSH_PATH, PushReceiver } from '../runtime/push.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { cli, connect, runCli, sleep, type Cli } from './helpers/net.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'sketch-push-'));
const ADMIN = newKey();
const WRITE = newKey();
const PROBATION_MS = 400;

/** Version `v` of the counter: answers `vN:MESSAGE`. `setup` goes into `setup()`. */
const source = (v: number, setup = '') => `import { Sketch, reactive } from 'sketchnet';
export default class Counter extends Sketch {
  setup(): void {${setup}}
  @reactive
  async loop(_channel: string, message: string) {
    return 'v${v}:' + message;
  }
}
`;

interface Device {
  dir: string;
  port: number;
  name: string;
  file: (name: string, text: string) => string;
  up: (args?: string[]) => Promise<Cli>;
  url: string;
}

let devices = 0;
/** A device folder: counter.ts (version 0), a key file (admin + write), sketchnet.yaml with one entry (`extra`: more of its keys). */
function device(options: { mdns?: boolean; extra?: string; name?: string } = {}): Device {
  const dir = path.join(root, `device-${++devices}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'counter.ts'), source(0));
  writeFileSync(path.join(dir, 'keys'), `admin ${ADMIN}\nwrite ${WRITE}\n`, { mode: 0o600 });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const name = options.name ?? (options.mdns ? `counter-${process.pid}-${devices}` : 'counter');
  const yaml = path.join(dir, 'sketchnet.yaml');
  writeFileSync(yaml, `sketches:\n  - file: ./counter.ts\n    name: ${name}\n    port: ${port}\n    host: 127.0.0.1\n    key-file: ./keys\n${options.mdns ? '' : '    mdns: false\n'}${options.extra ?? ''}`);
  return {
    dir,
    port,
    name,
    url: `${options.extra?.includes('tls-cert') ? 'wss' : 'ws'}://127.0.0.1:${port}/`,
    file: (file, text) => {
      const at = path.join(dir, 'work', file);
      mkdirSync(path.dirname(at), { recursive: true });
      writeFileSync(at, text);
      return at;
    },
    up: async (args = ['--accept-push']) => {
      const up = cli(['up', yaml, ...args], { SKETCH_PUSH_PROBATION_MS: String(PROBATION_MS) });
      await up.waitFor(options.mdns ? /announced as/ : /serving on/, 15_000);
      return up;
    },
  };
}

async function stop(up: Cli): Promise<void> {
  up.child.kill('SIGTERM');
  await up.exited();
}

/** `sketch push …`: its exit status and output. */
const push = (...args: string[]) => runCli(['push', ...args], {}, 30_000);

/** The status, read with the write key. */
async function status(d: Device): Promise<Record<string, unknown> & { code?: { version: number; file: string; sha256: string; pushedAt: string } }> {
  const res = await fetch(`http://127.0.0.1:${d.port}/.well-known/sketch`, { headers: { authorization: `Bearer ${WRITE}` } });
  return (await res.json()) as Record<string, unknown>;
}

/** A Peer with the write key. */
const peer = (d: Device) => new Peer(d.url, { retries: 0, key: WRITE, log: () => {} });

test('sketch push NAME FILE swaps the new version in place: the connection stays, the next reply comes from it, and the status, sketch ls and the state file say version 1', async () => {
  const d = device({ mdns: true });
  const up = await d.up();
  try {
    const p = peer(d);
    assert.is(await p.send('a'), 'v0:a');
    let closed = false;
    const ws: WebSocket = await connect(d.url, [SUBPROTOCOL, `bearer.${WRITE}`]);
    ws.on('close', () => (closed = true));
    const file = d.file('thermostat.ts', source(1));
    const r = await push(d.name, file, '--key', ADMIN);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${d.name}: version 1 running \\(reloaded in \\d+\\.\\d ms\\)\\n$`));
    assert.is(await p.send('b'), 'v1:b', 'the next reply comes from the new version');
    assert.not.ok(closed, 'the connection stayed');
    const code = (await status(d)).code!;
    assert.is(code.version, 1);
    assert.is(code.file, 'thermostat.ts');
    assert.is(code.sha256, createHash('sha256').update(source(1)).digest('hex'));
    assert.ok(Date.parse(code.pushedAt) > Date.now() - 60_000);
    const ls = await runCli(['ls', '--key', WRITE]);
    assert.is(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS\s+UPTIME\s+CONNECTIONS\s+VERSION$/m);
    assert.match(ls.stdout, new RegExp(`^${d.name}\\s+counter\\s+.*\\s+v1$`, 'm'));
    const state = JSON.parse(readFileSync(path.join(d.dir, '.sketchnet', 'pushed', d.name, 'state.json'), 'utf8')) as { current: { version: number }; previous: null; last: number };
    assert.is(state.current.version, 1);
    assert.is(state.previous, null, 'a rollback goes back to the device file\'s version');
    assert.ok(existsSync(path.join(d.dir, '.sketchnet', 'pushed', d.name, '1-thermostat.ts')));
    assert.match(up.stdout() + up.stderr(), new RegExp(`${d.name}: version 1 \\(thermostat\\.ts\\) from 127\\.0\\.0\\.1:\\d+ runs`));
    ws.close();
    p.close();
  } finally {
    await stop(up);
  }
});

test('a push with a write key is refused with 403, one without a key with 401: exit 1, one line each, nothing changes', async () => {
  const d = device();
  const up = await d.up();
  try {
    const file = d.file('counter.ts', source(1));
    const write = await push(`127.0.0.1:${d.port}`, file, '--key', WRITE);
    assert.is(write.code, 1);
    assert.is(write.stderr, `sketch: 127.0.0.1:${d.port} refused the push (403): pushing needs an admin key ("sketch key new --admin" in the sketch's key file)\n`);
    const none = await push(`127.0.0.1:${d.port}`, file);
    assert.is(none.code, 1);
    assert.match(none.stderr, /^sketch: 127\.0\.0\.1:\d+ refused the push \(401\): a valid key is required .*: pass an admin key with --key KEY or SKETCH_KEY\n$/);
    const p = peer(d);
    assert.is(await p.send('a'), 'v0:a', 'nothing changed');
    p.close();
    assert.is((await status(d)).code, undefined);
    assert.not.ok(existsSync(path.join(d.dir, '.sketchnet')), 'nothing stored');
  } finally {
    await stop(up);
  }
});

test('a pushed file with a syntax error is refused with 422 and its FILE:LINE:COLUMN line: exit 1, the running version answers', async () => {
  const d = device();
  const up = await d.up();
  try {
    const file = d.file('broken.ts', source(1).replace('async loop(', 'async loop(('));
    const r = await push(`127.0.0.1:${d.port}`, file, '--key', ADMIN);
    assert.is(r.code, 1);
    assert.match(r.stderr, /^sketch: counter refused the push \(422\): broken\.ts:\d+:\d+: syntax error: .+\n/);
    assert.match(r.stderr, /\n\s+\d+ \| .*loop\(\(/, 'the line with a caret below');
    const p = peer(d);
    assert.is(await p.send('a'), 'v0:a');
    p.close();
  } finally {
    await stop(up);
  }
});

test("a version whose setup() throws is rolled back: exit 1 with the reason, the previous version answers", async () => {
  const d = device();
  const up = await d.up();
  try {
    assert.is((await push(`127.0.0.1:${d.port}`, d.file('one.ts', source(1)), '--key', ADMIN)).code, 0);
    const r = await push(`127.0.0.1:${d.port}`, d.file('two.ts', source(2, "throw new Error('no such pin');")), '--key', ADMIN);
    assert.is(r.code, 1);
    assert.is(r.stderr, 'sketch: counter: the pushed version failed (setup() threw: no such pin): rolled back, version 1 runs\n');
    const p = peer(d);
    assert.is(await p.send('a'), 'v1:a');
    p.close();
    assert.is((await status(d)).code!.version, 1);
  } finally {
    await stop(up);
  }
});

test('a version that throws from a timer within its probation is rolled back: exit 1 with the reason, the previous version answers, the sketch never stopped', async () => {
  const d = device();
  const up = await d.up();
  try {
    const r = await push(`127.0.0.1:${d.port}`, d.file('flaky.ts', source(1, "setTimeout(() => { throw new Error('sensor lost'); }, 100);")), '--key', ADMIN);
    assert.is(r.code, 1, r.stdout);
    assert.is(r.stderr, `sketch: counter: the pushed version failed (failed within its ${PROBATION_MS / 1000} s probation: sensor lost): rolled back, the device file's version (counter.ts) runs\n`);
    const p = peer(d);
    assert.is(await p.send('a'), 'v0:a');
    p.close();
    assert.not.match(up.stdout() + up.stderr(), /stopped:|restarting/);
    assert.is((await status(d)).code, undefined);
  } finally {
    await stop(up);
  }
});

test('sketch push --rollback restores the previous version, and twice comes back; with nothing to go back to it is refused (409)', async () => {
  const d = device();
  const up = await d.up();
  try {
    const target = `127.0.0.1:${d.port}`;
    const none = await push(target, '--rollback', '--key', ADMIN);
    assert.is(none.code, 1);
    assert.match(none.stderr, /refused the push \(409\): nothing to roll back to/);
    assert.is((await push(target, d.file('one.ts', source(1)), '--key', ADMIN)).code, 0);
    assert.is((await push(target, d.file('two.ts', source(2)), '--key', ADMIN)).code, 0);
    const p = peer(d);
    assert.is(await p.send('a'), 'v2:a');
    const back = await push(target, '--rollback', '--key', ADMIN);
    assert.is(back.code, 0, back.stderr);
    assert.is(back.stdout, 'counter: version 1 running again (rolled back from version 2)\n');
    assert.is(await p.send('b'), 'v1:b');
    const again = await push(target, '--rollback', '--key', ADMIN);
    assert.is(again.stdout, 'counter: version 2 running again (rolled back from version 1)\n');
    assert.is(await p.send('c'), 'v2:c');
    p.close();
  } finally {
    await stop(up);
  }
});

test('after a restart of sketch up the pushed version runs, and the status still says which; without --accept-push a push is refused', async () => {
  const d = device();
  let up = await d.up();
  try {
    assert.is((await push(`127.0.0.1:${d.port}`, d.file('thermostat.ts', source(1)), '--key', ADMIN)).code, 0);
  } finally {
    await stop(up);
  }
  up = await d.up([]);
  try {
    assert.match(up.stdout() + up.stderr(), /counter: running pushed version 1 \(thermostat\.ts, pushed [^)]+\) instead of the device file's counter\.ts/);
    const p = peer(d);
    assert.is(await p.send('a'), 'v1:a');
    p.close();
    assert.is((await status(d)).code!.version, 1);
    const r = await push(`127.0.0.1:${d.port}`, d.file('thermostat.ts', source(2)), '--key', ADMIN);
    assert.is(r.code, 1);
    assert.match(r.stderr, /refused the push \(426\): it takes no pushes: start its device with "sketch up --accept-push"/);
  } finally {
    await stop(up);
  }
});

test(`a push larger than PUSH_MAX_BYTES (${PUSH_MAX_BYTES}) is answered 413 with one line, and nothing changes`, async () => {
  const d = device();
  const up = await d.up();
  try {
    const body = JSON.stringify({ file: 'big.ts', source: source(1) + '//'.padEnd(PUSH_MAX_BYTES, 'x') });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${d.port}${PUSH_PATH}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.is(answer.status, 413);
    assert.is(answer.text, `the push is larger than ${PUSH_MAX_BYTES} bytes (PUSH_MAX_BYTES)\n`);
    const p = peer(d);
    assert.is(await p.send('a'), 'v0:a');
    p.close();
  } finally {
    await stop(up);
  }
});

test('a push over plain HTTP from beyond loopback is refused (403: push needs TLS or loopback), before its body is read', async () => {
  let reloads = 0;
  const receiver = new PushReceiver({ dir: root, host: { reload: async () => (reloads++, undefined) }, load: async () => { throw new Error('not loaded'); }, log: () => {} });
  receiver.add('counter', class {} as never, 'counter.ts');
  const route = receiver.routes('counter')[PUSH_PATH]!;
  const server = http.createServer((req, res) => {
    Object.defineProperty(req.socket, 'remoteAddress', { value: '192.0.2.7' });
    void route.handle(req, res, 'admin');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}${PUSH_PATH}`, { method: 'POST', body: JSON.stringify({ file: 'x.ts', source: '' }) });
    assert.is(res.status, 403);
    assert.is(await res.text(), 'push needs TLS or loopback: serve the sketch with --tls-cert and --tls-key\n');
    assert.is(reloads, 0);
  } finally {
    server.close();
  }
});

test('over TLS, sketch push NAME --ca finds the sketch by name, checks that its certificate is for that name, and pushes', async () => {
  const name = `tlscounter-${process.pid}`;
  const ca = path.join(root, 'ca');
  assert.is((await runCli(['ca', 'init', '--dir', ca])).code, 0);
  assert.is((await runCli(['ca', 'issue', name, '--dir', ca])).code, 0);
  const d = device({ mdns: true, name, extra: `    tls-cert: ${ca}/${name}.crt\n    tls-key: ${ca}/${name}.key\n` });
  const up = await d.up();
  try {
    const r = await push(name, d.file('thermostat.ts', source(1)), '--key', ADMIN, '--ca', path.join(ca, 'ca.crt'));
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${name}: version 1 running`));
    const discovery = new MdnsDiscovery();
    const p = new Peer(name, { discovery, retries: 0, key: WRITE, ca: readFileSync(path.join(ca, 'ca.crt')), log: () => {} });
    assert.is(await p.send('a'), 'v1:a', 'the sketch answers over TLS with the new version');
    p.close();
    await discovery.close();
  } finally {
    await stop(up);
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();

/**
 * `sketch run FILE --watch` end to end: a real process, a real Peer and a stream subscriber
 * connected while the file is saved again and again.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Peer } from '../runtime/index.js';
import { cli, sleep } from './helpers/net.js';
import { traffic } from './helpers/traffic.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-watch-'));
const file = path.join(dir, 'counter.ts');

/** Version `v` of the sketch file: answers `vN:MESSAGE` and publishes what it handled on `/handled`. `extra` goes into `setup()`. */
const source = (v: number, extra = '') => `import { Sketch, reactive } from 'sketchnet';
export default class Counter extends Sketch {
  static streams = { '/handled': { history: 10000 } };
  setup(): void {${extra}}
  @reactive
  async loop(_channel: string, message: string) {
    this.publish('/handled', { v: ${v}, message });
    return 'v${v}:' + message;
  }
}
`;

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

async function until(what: () => boolean, label: string, timeout = 10_000): Promise<void> {
  const start = Date.now();
  while (!what()) {
    if (Date.now() - start > timeout) throw new Error(`no ${label} within ${timeout} ms`);
    await sleep(20);
  }
}

test('saving the file 10 times under 100 messages a second: no connection closed, nothing lost or answered twice, seq continuous, each reply from the version that handled it; a syntax error and a failing setup() keep the running version', async () => {
  writeFileSync(file, source(0));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const sketch = cli(['run', file, '--watch', '--no-mdns', '--host', '127.0.0.1', '--port', String(port)]);
  const output = () => sketch.stdout() + sketch.stderr();
  try {
    await sketch.waitFor(/watching/, 15_000);
    const t = await traffic<{ v: number }>(`ws://127.0.0.1:${port}/`);
    const { replies } = t;
    const items = t.items;
    for (let v = 1; v <= 10; v++) {
      await sleep(150);
      writeFileSync(file, source(v));
      await until(() => count(output(), /reloaded counter\.ts/g) >= v, `reload ${v}`);
    }
    writeFileSync(file, source(11).replace('async loop', 'async loop(('));
    await until(() => /counter\.ts:\d+:\d+.*still running the previous version/.test(output()), 'the syntax error line');
    writeFileSync(file, source(12, "throw new Error('no such pin');"));
    await until(() => /setup\(\) failed \(no such pin\): rolled back to the previous version/.test(output()), 'the rollback line');
    await sleep(150);
    await t.stop();
    await sleep(100);
    assert.not.ok(t.subscriberClosed(), 'the subscriber stayed connected');
    assert.ok(replies.length >= 100, `${replies.length} replies`);
    assert.equal(replies.map((r) => Number(r.split(':')[1])), replies.map((_, i) => i), 'every message answered once, in order');
    assert.equal(items.map((i) => i.seq), items.map((_, i) => items[0]!.seq + i), 'seq continuous');
    assert.is(items.length, replies.length);
    for (const [i, r] of replies.entries()) assert.is(r, `v${items[i]!.data.v}:${i}`, 'each reply from the version that handled it');
    assert.equal([...new Set(items.map((i) => i.data.v))], Array.from({ length: 11 }, (_, v) => v), 'versions 0–10 answered in turn; 11 and 12 never');
    t.close();
  } finally {
    sketch.child.kill('SIGTERM');
    await sketch.exited();
  }
});

test('--watch with a built-in sketch says it needs a file and exits 2 before starting anything', async () => {
  const c = cli(['run', 'clock', '--watch', '--no-mdns', '--host', '127.0.0.1']);
  assert.is(await c.exited(), 2);
  assert.not.match(c.stdout(), /serving on/);
  assert.match(c.stdout() + c.stderr(), /--watch needs a sketch file, not the built-in "clock"/);
});

test('sketch up --watch reloads a sketch file of the device in place: the connection stays and the next reply comes from the new version', async () => {
  const upFile = path.join(dir, 'up-counter.ts');
  writeFileSync(upFile, source(0));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const device = path.join(dir, 'sketchnet.yaml');
  writeFileSync(device, `sketches:\n  - file: ./up-counter.ts\n    name: counter\n    port: ${port}\n    host: 127.0.0.1\n    mdns: false\n`);
  const up = cli(['up', device, '--watch']);
  const output = () => up.stdout() + up.stderr();
  try {
    await up.waitFor(/watching up-counter\.ts \(counter\)/, 15_000);
    await up.waitFor(/serving on/, 15_000);
    const peer = new Peer(`ws://127.0.0.1:${port}/`, { retries: 0, log: () => {} });
    assert.is(await peer.send('a'), 'v0:a');
    writeFileSync(upFile, source(1));
    await until(() => /reloaded up-counter\.ts/.test(output()), 'the reload line');
    assert.is(await peer.send('b'), 'v1:b');
    writeFileSync(upFile, source(2, "throw new Error('no such pin');"));
    await until(() => /rolled back to the previous version/.test(output()), 'the rollback line');
    assert.is(await peer.send('c'), 'v1:c');
    peer.close();
  } finally {
    up.child.kill('SIGTERM');
    await up.exited();
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();

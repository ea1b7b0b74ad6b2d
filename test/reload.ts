/**
 * Reload in place (runtime/reload.ts): a new version replaces the running instance on the same
 * server. Real loopback sockets: a sending Peer and a stream subscriber stay connected through
 * every swap.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Peer, reactive, Sketch, SketchHost } from '../runtime/index.js';
import { reloadInPlace } from '../runtime/reload.js';
import { sleep } from './helpers/net.js';
import { traffic } from './helpers/traffic.js';

const lines: string[] = [];
const config = { discovery: false as const, log: (l: string) => lines.push(l), trace: false as const };

/** Version `v` of a sketch: answers `v:N` and publishes what it handled on `/handled`. */
function version(v: number, hooks: { setup?: (handed: unknown) => void; handoff?: () => unknown } = {}) {
  return class Counter extends Sketch {
    static override kind = 'counter';
    static override streams = { '/handled': { history: 10_000 } };
    torn = false;
    override setup(_o: unknown, handed?: unknown): void {
      hooks.setup?.(handed);
    }
    override handoff(): unknown {
      return hooks.handoff?.();
    }
    override teardown(): void {
      this.torn = true;
    }
    @reactive
    override async loop(_channel: string, message: string) {
      this.publish('/handled', { v, message });
      return `v${v}:${message}`;
    }
  };
}

test('10 reloads under 100 acknowledged messages a second: no connection closed, nothing lost or answered twice, seq continuous, each reply from the version that handled it', async () => {
  const first = new (version(0))(config);
  const { port } = await first.run({ host: '127.0.0.1', port: 0 });
  const t = await traffic<{ v: number; message: string }>(`ws://127.0.0.1:${port}/`);
  const { items, replies } = t;
  let current: Sketch = first;
  const versions = [current];
  try {
  for (let v = 1; v <= 10; v++) {
    await sleep(100);
    const out = await reloadInPlace(current, version(v), config);
    assert.is(out.result, 'reloaded');
    assert.ok(out.sketch !== current);
    current = out.sketch;
    versions.push(current);
  }
  await sleep(100);
  await t.stop();
  await sleep(100);
  assert.not.ok(t.subscriberClosed(), 'the subscriber stayed connected');
  assert.ok(replies.length >= 80, `${replies.length} replies`);
  assert.equal(replies.map((r) => Number(r.split(':')[1])), replies.map((_, i) => i), 'every message answered once, in order');
  const seqs = items.map((i) => i.seq);
  assert.equal(seqs, seqs.map((_, i) => seqs[0]! + i), 'seq continuous across the reloads');
  assert.is(items.length, replies.length, 'one item per message handled');
  for (const [i, r] of replies.entries()) assert.is(r, `v${items[i]!.data.v}:${i}`, 'the reply comes from the version that handled it');
  assert.equal([...new Set(items.map((i) => i.data.v))], Array.from({ length: 11 }, (_, v) => v), 'every version answered, in turn');
  assert.ok(versions.slice(0, -1).every((s) => (s as unknown as { torn: boolean }).torn && s.signal.aborted), 'every old version torn down, its signal aborted');
  } finally {
    t.close();
    await current.close();
  }
});

test('a version whose setup() throws is rolled back: a fresh old version serves, handed the same state', async () => {
  const handed: unknown[] = [];
  const V1 = version(1, { setup: (h) => handed.push(h), handoff: () => ({ count: 7 }) });
  const first = new V1(config);
  const { port } = await first.run({ host: '127.0.0.1', port: 0 });
  const Broken = version(2, {
    setup: () => {
      throw new Error('no such pin');
    },
  });
  const out = await reloadInPlace(first, Broken, config);
  assert.is(out.result, 'rolledBack');
  assert.is(out.reason, 'no such pin');
  assert.ok(out.sketch instanceof V1 && out.sketch !== first);
  assert.equal(handed, [undefined, { count: 7 }], 'the rolled-back version got what the old one handed over');
  const peer = new Peer(`ws://127.0.0.1:${port}/`, { retries: 0, log: () => {} });
  assert.is(await peer.send('x'), 'v1:x');
  peer.close();
  await out.sketch.close();
});

test('a version whose options do not fit is refused and the old one keeps serving untouched', async () => {
  class WithOption extends Sketch {
    static override options = { limit: { type: 'number' as const, default: 1, min: 0 } };
    @reactive
    override async loop() {
      return 'old';
    }
  }
  class Stricter extends WithOption {
    static override options = { limit: { type: 'number' as const, default: 1, min: 5 } };
  }
  const first = new WithOption({ ...config, options: { limit: 2 } });
  const { port } = await first.run({ host: '127.0.0.1', port: 0 });
  const out = await reloadInPlace(first, Stricter, { ...config, options: { limit: 2 } });
  assert.is(out.result, 'refused');
  assert.match(out.reason!, /limit/);
  assert.is(out.sketch, first);
  assert.not.ok(first.signal.aborted);
  const peer = new Peer(`ws://127.0.0.1:${port}/`, { retries: 0, log: () => {} });
  assert.is(await peer.send('x'), 'old');
  peer.close();
  await first.close();
});

test("SketchHost.reload with a probation: a version whose main() rejects within it is swapped back out, the run goes on with the fallback; one that lasts is kept", async () => {
  const V1 = version(1);
  class Failing extends version(2) {
    override async main(): Promise<void> {
      await sleep(50);
      throw new Error('sensor lost');
    }
  }
  const host = new SketchHost([{ name: 'counter', create: () => new V1(config), listen: { host: '127.0.0.1', port: 0 }, config }], { log: () => {} });
  const done = host.start();
  while (host.state('counter') !== 'running') await sleep(10);
  const { port } = host.sketch('counter')!.address!;
  const failed = await host.reload('counter', Failing, { ms: 2000, fallback: V1 });
  assert.is(failed!.result, 'rolledBack');
  assert.is(failed!.failedIn, 'probation');
  assert.is(failed!.reason, 'sensor lost');
  assert.ok(host.sketch('counter') instanceof V1);
  assert.is(host.state('counter'), 'running', 'never stopped');
  const peer = new Peer(`ws://127.0.0.1:${port}/`, { retries: 0, log: () => {} });
  assert.is(await peer.send('x'), 'v1:x');
  const V3 = version(3);
  const kept = await host.reload('counter', V3, { ms: 100, fallback: V1 });
  assert.is(kept!.result, 'reloaded');
  assert.is(await peer.send('y'), 'v3:y');
  peer.close();
  await host.stop();
  assert.equal(await done, { failed: false });
});

test.run();

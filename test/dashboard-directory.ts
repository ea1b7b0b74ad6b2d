/**
 * The directory's liveness (up, stale, down) and links, with fake mDNS, fake status and a fake
 * clock: no socket, no timer.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Directory, linksOf, type SketchCard } from '../runtime/dashboard/directory.js';
import type { FoundSketch } from '../runtime/discovery/mdns.js';
import type { SketchStatus } from '../runtime/streams/status.js';

const found = (name: string, port: number): FoundSketch => ({
  name,
  kind: 'buzzer',
  address: '127.0.0.1',
  addresses: ['127.0.0.1'],
  port,
  protocol: '3',
  streams: ['/pin'],
  host: 'h.local',
  url: `ws://127.0.0.1:${port}/`,
  txt: {},
  tls: false,
});

const status = (links?: unknown): SketchStatus => ({
  name: 'x',
  kind: 'buzzer',
  protocol: 3,
  uptime: 1,
  acknowledges: true,
  connections: {},
  streams: {},
  ...(links === undefined ? {} : { links }),
});

/** A directory over fakes: `answering` and `list` are changed by the test, `now` moves by hand. */
function fake() {
  const world = { answering: true, list: [found('buzzer', 1000)], now: 1_000_000, links: undefined as unknown };
  const changes: SketchCard[][] = [];
  const d = new Directory({
    browse: async () => world.list,
    status: async () => {
      if (!world.answering) throw new Error('connect ECONNREFUSED 127.0.0.1:1000');
      return status(world.links);
    },
    now: () => world.now,
    pollEvery: 2000,
  });
  d.on('change', (c) => changes.push(c));
  return { d, world, changes };
}

test('a sketch that answers is up and seen at that time; one unanswered poll makes it stale, still seen then; the third in a row makes it down', async () => {
  const { d, world } = fake();
  await d.refresh();
  assert.is(d.get('buzzer')!.state, 'up');
  assert.ok(d.get('buzzer')!.up);
  assert.is(d.get('buzzer')!.seen, 1_000_000);
  world.answering = false;
  world.now += 2000;
  await d.refresh();
  let card = d.get('buzzer')!;
  assert.is(card.state, 'stale');
  assert.not.ok(card.up, 'up stays the old boolean: false unless the last poll was answered');
  assert.is(card.seen, 1_000_000, 'seen is its last answer');
  assert.match(card.why!, /ECONNREFUSED/);
  world.now += 2000;
  await d.refresh();
  assert.is(d.get('buzzer')!.state, 'stale', 'two unanswered polls: stale');
  world.now += 2000;
  await d.refresh();
  card = d.get('buzzer')!;
  assert.is(card.state, 'down', 'three unanswered polls: down');
  assert.is(card.seen, 1_000_000);
  world.answering = true;
  world.now += 2000;
  await d.refresh();
  assert.is(d.get('buzzer')!.state, 'up', 'up again when it answers');
  assert.is(d.get('buzzer')!.seen, 1_008_000);
  d.close();
});

test('a sketch that stops answering and is no longer found by a browse (an mDNS goodbye) is down at once', async () => {
  const { d, world, changes } = fake();
  await d.refresh();
  world.answering = false;
  world.list = [];
  await d.refresh();
  assert.is(d.get('buzzer')!.state, 'down');
  assert.equal(changes.map((c) => c[0]!.state), ['up', 'down']);
  d.close();
});

test('downAfterPolls sets how many unanswered polls make a sketch down', async () => {
  let answering = true;
  const d = new Directory({ browse: async () => [found('buzzer', 1)], status: async () => (answering ? status() : Promise.reject(new Error('timeout'))), downAfterPolls: 1 });
  await d.refresh();
  answering = false;
  await d.refresh();
  assert.is(d.get('buzzer')!.state, 'down');
  d.close();
});

test('a card carries the links of its status, checked field by field, and keeps them while stale', async () => {
  const { d, world } = fake();
  world.links = {
    out: [{ to: 'iopin', via: 'mdns', state: 'connected', sent: 10, acked: 9, errors: 0, inFlight: 1, queued: 0, dropped: 0, rate: 2.5, ackMs: { p50: 1.5, p99: 4 }, lastAt: 1700000000.5 }, { nonsense: true }],
    in: [{ from: '10.0.0.9:5555', path: '/', received: 3, rate: 0.1, lastAt: null }],
  };
  await d.refresh();
  const links = d.get('buzzer')!.links;
  assert.equal(links.out, [{ to: 'iopin', via: 'mdns', state: 'connected', sent: 10, acked: 9, errors: 0, inFlight: 1, queued: 0, dropped: 0, rate: 2.5, ackMs: { p50: 1.5, p99: 4 }, lastAt: 1700000000.5 }]);
  assert.equal(links.in, [{ from: '10.0.0.9:5555', path: '/', received: 3, rate: 0.1, lastAt: null }]);
  world.answering = false;
  await d.refresh();
  assert.is(d.get('buzzer')!.links.out[0]!.sent, 10, 'a stale card keeps its last links');
  d.close();
});

test("a recorder's card says its storage from its status (full, with the free bytes), and other sketches have none", async () => {
  const recorder = new Directory({
    browse: async () => [found('rec', 1001)],
    status: async () => ({ ...status(), kind: 'recorder', recorder: { written: 5, storage: 'full', freeBytes: 4096 } }),
    now: () => 1,
    pollEvery: 2000,
  });
  await recorder.refresh();
  assert.equal(recorder.get('rec')!.storage, { state: 'full', freeBytes: 4096 });
  recorder.close();
  const { d } = fake();
  await d.refresh();
  assert.is(d.get('buzzer')!.storage, undefined);
  d.close();
});

test('a status without links (an older sketch) gives empty links, and bad values become 0 or null', () => {
  assert.equal(linksOf(undefined), { out: [], in: [] });
  assert.equal(linksOf({ out: [{ to: 'x', sent: 'many', ackMs: { p99: Infinity } }] }).out[0], {
    to: 'x', via: 'mdns', state: 'idle', sent: 0, acked: 0, errors: 0, inFlight: 0, queued: 0, dropped: 0, rate: 0, ackMs: { p50: null, p99: null }, lastAt: null,
  });
});

test.run();

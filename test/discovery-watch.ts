import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { FoundSketch } from '../runtime/index.js';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { watchSketches } from '../runtime/discovery/watch.js';

test('a watch reports sketches as they appear and change, and as gone after missesBeforeLost browses', async () => {
  const d = new MemoryDiscovery();
  const found: string[] = [];
  const lost: string[] = [];
  const w = watchSketches(d, { intervalSeconds: 3600, missesBeforeLost: 2, onFound: (f: FoundSketch) => found.push(`${f.name}:${f.port}`), onLost: (f) => lost.push(f.name) });
  await w.refresh();
  assert.equal(found, []);
  const a = await d.announce({ name: 'a', port: 1, txt: { kind: 'x' } });
  await w.refresh();
  await w.refresh();
  assert.equal(found, ['a:1'], 'reported once while unchanged');
  await a.close();
  await d.announce({ name: 'a', port: 2, txt: { kind: 'x' } }); // restarted on another port
  await w.refresh();
  assert.equal(found, ['a:1', 'a:2']);
  const b = await d.announce({ name: 'b', port: 3, txt: { kind: 'y' } });
  await w.refresh();
  await b.close();
  await w.refresh();
  assert.equal(lost, [], 'one miss is not gone');
  await w.refresh();
  assert.equal(lost, ['b']);
  assert.equal([...w.sketches.keys()], ['a']);
  w.stop();
});

test('a failing browse logs one line until it succeeds again', async () => {
  const lines: string[] = [];
  let fail = true;
  const d = { browse: async () => { if (fail) throw new Error('no socket'); return []; } } as unknown as MemoryDiscovery;
  const w = watchSketches(d, { intervalSeconds: 3600, onFound: () => {}, log: (l) => lines.push(l) });
  await w.refresh();
  await w.refresh();
  assert.equal(lines, ['browsing for sketches failed: no socket']);
  fail = false;
  await w.refresh();
  fail = true;
  await w.refresh();
  assert.is(lines.length, 2);
  w.stop();
});

test.run();

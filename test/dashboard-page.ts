/**
 * The page's pure parts, without a browser: the circuit's graph from the cards, its order of
 * nodes within ranks and its pulses' model, the lanes' per-pixel columns (signal or duty-cycle
 * band) and the waterfall's span tree.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dagre from '@dagrejs/dagre';
// @ts-expect-error: plain browser ES modules of the page, without declarations
import { fastOrder, graphOf } from '../runtime/dashboard/page/circuit.js';
// @ts-expect-error: see above
import { createPulses, MAX_PULSES, FPS } from '../runtime/dashboard/page/pulses.js';
// @ts-expect-error: see above
import { laneColumns } from '../runtime/dashboard/page/lanes.js';
// @ts-expect-error: see above
import { spanTree } from '../runtime/dashboard/page/waterfall.js';

type Graph = { nodes: Map<string, { kind: string; state: string; external: boolean }>; edges: Map<string, { from: string; to: string; rate: number; p99: number | null; sent: number }> };
const graph = graphOf as (cards: unknown[]) => Graph;
type Columns = { high: Float64Array; known: Float64Array; trans: Uint32Array; transitions: number; highTime: number; knownTime: number };
const columns = laneColumns as (times: number[], values: number[], end: number, x0: number, x1: number, width: number) => Columns;

const out = (to: string, rate = 1, sent = 10, p99: number | null = 3) => ({ to, via: 'mdns', state: 'connected', sent, acked: sent, errors: 0, inFlight: 0, queued: 0, dropped: 0, rate, ackMs: { p50: 1, p99 }, lastAt: 1 });
const card = (name: string, kind: string, links: { out?: unknown[]; in?: unknown[] } = {}, extra: Record<string, unknown> = {}) => ({
  name, kind, url: `ws://127.0.0.1:${name.length}/`, address: `127.0.0.1:${name.length}`, up: true, state: 'up', seen: 0, acknowledges: true, streams: [], links: { out: [], in: [], ...links }, ...extra,
});

test('the circuit has a node per sketch and an edge per outgoing link, matched by name, name.local or address', () => {
  const g = graph([
    card('clock', 'clock', { out: [out('iopin.local', 1.2, 12, 480)] }),
    card('iopin', 'iopin', { out: [out('ws://127.0.0.1:6/', 4, 40, 9)] }), // buzzer's address
    card('buzzer', 'buzzer', {}, { state: 'down', up: false }),
    card('dash', 'dashboard'),
  ]);
  assert.equal([...g.nodes.keys()].sort(), ['buzzer', 'clock', 'iopin']);
  assert.equal([...g.edges.values()].map((e) => [e.from, e.to, e.rate, e.p99]), [['clock', 'iopin', 1.2, 480], ['iopin', 'buzzer', 4, 9]]);
  assert.is(g.nodes.get('buzzer')!.state, 'down');
});

test('a link to a peer no sketch answers to, and an external client sending to a sketch, become nodes of their own', () => {
  const g = graph([
    card('thermo', 'thermometer', { out: [out('cloud.example:443')] }),
    card('buzzer', 'buzzer', { in: [{ from: '10.0.0.7:5000', path: '/', received: 5, rate: 0.5, lastAt: 1 }, { from: 'thermo', path: '/', received: 9, rate: 1, lastAt: 1 }, { from: '10.0.0.8:1', path: '/', received: 0, rate: 0, lastAt: null }] }),
  ]);
  assert.ok(g.nodes.get('peer:cloud.example:443')!.external);
  assert.ok(g.nodes.get('client:10.0.0.7:5000')!.external);
  assert.not.ok(g.nodes.has('client:10.0.0.8:1'), 'a client that sent nothing is left out');
  assert.not.ok(g.nodes.has('client:thermo'), 'a known sketch is drawn from its own outgoing link');
  assert.equal([...g.edges.keys()].sort(), ['client:10.0.0.7:5000\u2192buzzer', 'thermo\u2192peer:cloud.example:443']);
});

type DagreGraph = InstanceType<typeof dagre.graphlib.Graph>;

/** Crossings between adjacent ranks of dagre's layout graph as ordered (every edge spans one rank there). */
function crossings(g: DagreGraph): number {
  const node = (v: string) => g.node(v) as unknown as { rank: number; order: number };
  const byRank = new Map<number, [number, number][]>();
  for (const e of g.edges()) {
    const [a, b] = [node(e.v), node(e.w)];
    const [u, w] = a.rank < b.rank ? [a, b] : [b, a];
    if (!byRank.has(u.rank)) byRank.set(u.rank, []);
    byRank.get(u.rank)!.push([u.order, w.order]);
  }
  let n = 0;
  for (const es of byRank.values()) for (let i = 0; i < es.length; i++) for (let j = i + 1; j < es.length; j++) if ((es[i]![0] - es[j]![0]) * (es[i]![1] - es[j]![1]) < 0) n++;
  return n;
}

test('the circuit orders each rank with no more crossings than dagre\'s own order', () => {
  const ring = Array.from({ length: 50 }, (_, i) => [1, 7].map((k) => [`s${i}`, `s${(i + k) % 50}`])).flat();
  const tree = Array.from({ length: 30 }, (_, i) => [`t${Math.floor(i / 2)}`, `t${i + 1}`]).concat([['t3', 't20'], ['t5', 't28']]);
  for (const edges of [ring, tree]) {
    const counts: number[] = [];
    for (const mine of [false, true]) {
      const g = new dagre.graphlib.Graph();
      g.setGraph({ rankdir: 'LR', acyclicer: 'greedy' });
      g.setDefaultEdgeLabel(() => ({}));
      for (const [v, w] of edges) {
        g.setNode(v!, { width: 100, height: 40 });
        g.setNode(w!, { width: 100, height: 40 });
        g.setEdge(v!, w!);
      }
      dagre.layout(g, {
        customOrder: (lg: DagreGraph, order: (g: DagreGraph) => void) => {
          if (mine) (fastOrder as (g: unknown, order: unknown) => number)(lg, order);
          else order(lg);
          const ranks = new Map<number, number[]>();
          for (const v of lg.nodes()) {
            const { rank, order: at } = lg.node(v) as unknown as { rank: number; order: number };
            ranks.set(rank, [...(ranks.get(rank) ?? []), at]);
          }
          for (const orders of ranks.values()) assert.equal(orders.sort((a, b) => a - b), orders.map((_, i) => i), 'each rank ordered 0…n-1');
          counts.push(crossings(lg));
        },
      } as Parameters<typeof dagre.layout>[1]);
      assert.ok(g.nodes().every((v: string) => Number.isFinite(g.node(v).x) && Number.isFinite(g.node(v).y)));
    }
    assert.ok(counts[1]! <= counts[0]!, `crossings: ${counts[1]} (fastOrder) vs ${counts[0]} (dagre)`);
  }
});

test('pulses: at most one new per edge per frame and MAX_PULSES alive, whatever the rate; none on a link that is down', async () => {
  const ctx = new Proxy({}, { get: () => () => {} });
  const canvas = { width: 0, height: 0, getContext: () => ctx };
  let stats: Record<string, [number, number]> = {};
  const pulses = createPulses(canvas, (s: typeof stats) => (stats = s));
  pulses.geometry([{ id: 'a', pts: [{ x: 0, y: 0 }, { x: 100, y: 0 }], cum: [0, 100] }, { id: 'idle', pts: [{ x: 0, y: 10 }, { x: 100, y: 10 }], cum: [0, 100] }], { w: 100, h: 20 });
  pulses.view({ w: 100, h: 20, dpr: 1, color: 'red' });
  const t0 = Date.now();
  pulses.rates([{ id: 'a', rate: 1000, forMs: 5000, down: false }, { id: 'idle', rate: 0, forMs: 0, down: false }]);
  let most = 0;
  while (Date.now() - t0 < 700) {
    await new Promise((r) => setTimeout(r, 20));
    most = Math.max(most, stats.a?.[0] ?? 0);
  }
  pulses.rates([]);
  const [alive, spawned] = stats.a!;
  assert.ok(spawned >= 1 && spawned <= Math.ceil(((Date.now() - t0) / 1000) * FPS) + 1, `spawned ${spawned} in ${Date.now() - t0} ms: at most one per frame`);
  assert.ok(most <= MAX_PULSES && alive <= MAX_PULSES, `alive ${most}`);
  assert.equal(stats.idle, [0, 0], 'an idle edge has none');
  pulses.rates([{ id: 'a', rate: 1000, forMs: 5000, down: true }]);
  assert.is(stats.a![0], 0, 'a link that is down has no pulse left');
  pulses.run(false);
});

test('a lane column with at most one transition shows the signal; a column with pulses narrower than a pixel holds its duty cycle and transitions', () => {
  // 0 → 1 at 1 s, back at 3 s, over [0, 10] s on 10 px: one transition in columns 1 and 3
  let c = columns([0, 1, 3], [0, 1, 0], 10, 0, 10, 10);
  assert.equal([...c.trans], [0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
  assert.equal([...c.high], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
  assert.is(c.transitions, 2);
  assert.is(c.highTime / c.knownTime, 0.2);
  // 100 pulses of 2 ms every 10 ms over 1 s, drawn 10 px wide: 20 transitions and 20 % high per column
  const times: number[] = [];
  const values: number[] = [];
  for (let k = 0; k < 100; k++) times.push(k / 100, k / 100 + 0.002), values.push(1, 0);
  c = columns(times, values, 1, 0, 1, 10);
  for (let col = 0; col < 10; col++) {
    assert.ok(c.trans[col]! >= 19 && c.trans[col]! <= 20, `column ${col}: ${c.trans[col]} transitions`);
    assert.ok(Math.abs(c.high[col]! / c.known[col]! - 0.2) < 1e-6, `column ${col} duty`);
  }
  assert.is(c.transitions, 199, 'the first item is no transition');
});

test('lane columns outside the data are unknown, and a range of zero width draws nothing', () => {
  const c = columns([5], [1], 6, 0, 10, 10);
  assert.equal([...c.known].map((k) => +k.toFixed(6)), [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.is(columns([1], [1], 2, 5, 5, 10).knownTime, 0);
});

test('the waterfall orders spans as a tree: each child under its parent, orphans as roots', () => {
  const s = (spanId: string, parentSpanId?: string) => ({ spanId, parentSpanId, name: spanId });
  const rows = (spanTree as (spans: unknown[]) => { span: { spanId: string }; depth: number }[])([s('a'), s('b', 'a'), s('x', 'missing'), s('c', 'b'), s('d', 'a')]);
  assert.equal(rows.map((r) => `${r.span.spanId}${r.depth}`), ['a0', 'b1', 'c2', 'd1', 'x0']);
});

test.run();

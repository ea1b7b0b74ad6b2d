// The circuit view: sketches as nodes, their links as directed edges, laid out once per shape
// by dagre (global `dagre`, served as /dagre.min.js; rankdir LR: clock → iopin → buzzer reads
// left to right), drawn in SVG. Each edge is labelled with its rate (msg/s) and ack p99 (ms) and
// pulses as messages pass: pulses come from the `sent` counter's growth between two polls, at
// most one per edge per frame whatever the rate (1000 msg/s shows as a steady stream of pulses,
// not 1000), at most MAX_PULSES alive per edge (pulses.js). They are drawn on one canvas over
// the SVG (no element, no attribute per pulse), at most FPS frames a second, by a worker on an
// OffscreenCanvas where the browser has one, and only while a pulse moves, the page is visible
// and the circuit on screen. A link from or to a sketch that is down is dashed and does not pulse.

import { along, createPulses } from './pulses.js';

const SVG = 'http://www.w3.org/2000/svg';
/** Node box, px (before the drawing is scaled to its box); narrower in a box under COMPACT_BELOW px. */
const SIZES = {
  wide: { w: 132, h: 46, ranksep: 120, nodesep: 22, chars: 17 },
  compact: { w: 104, h: 42, ranksep: 84, nodesep: 14, chars: 11 },
};
const COMPACT_BELOW = 560;
/** After this many ms without a newer poll, an edge stops pulsing (its rate is no longer known). */
const PULSE_HOLD_MS = 6000;

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  e.append(...children);
  return e;
}

/** A peer as compared: lower case, without `.local` or a trailing dot. */
function bare(name) {
  return String(name).toLowerCase().replace(/\.$/, '').replace(/\.local$/, '');
}

/**
 * The graph of the cards (the `/api/sketches` shape): a node per sketch, an edge per outgoing
 * link (to a known sketch by name or address, else to a `peer` node), and an edge from an
 * external client (a `links.in` entry whose `from` is no known sketch and that received
 * messages) to the sketch it sends to. Dashboards are left out.
 * @returns {{nodes: Map<string, object>, edges: Map<string, object>}}
 */
export function graphOf(cards) {
  const nodes = new Map();
  const byName = new Map();
  const byAddress = new Map();
  for (const c of cards) {
    if (c.kind === 'dashboard') continue;
    nodes.set(c.name, { id: c.name, name: c.name, kind: c.kind, state: c.state || (c.up ? 'up' : 'down'), seen: c.seen, external: false });
    byName.set(bare(c.name), c.name);
    if (c.address) byAddress.set(c.address.toLowerCase(), c.name);
  }
  const target = (to) => {
    const named = byName.get(bare(to));
    if (named) return named;
    try {
      const u = new URL(to.includes('://') ? to : `ws://${to}`);
      const hit = byAddress.get(u.host.toLowerCase());
      if (hit) return hit;
      if (to.includes('://') || /:\d+$/.test(to)) return `peer:${u.host}`;
    } catch {
      // not an address: a name nobody answers to
    }
    return `peer:${to}`;
  };
  const edges = new Map();
  const addEdge = (from, to, link) => {
    const id = `${from}\u2192${to}`;
    const e = edges.get(id);
    if (!e) edges.set(id, { id, from, to, ...link });
    else {
      e.rate += link.rate;
      e.sent += link.sent;
      e.p99 = e.p99 == null ? link.p99 : link.p99 == null ? e.p99 : Math.max(e.p99, link.p99);
    }
  };
  for (const c of cards) {
    if (!nodes.has(c.name)) continue;
    for (const l of c.links?.out || []) {
      const to = target(l.to);
      if (!nodes.has(to)) nodes.set(to, { id: to, name: to.slice(5), kind: 'peer', state: 'unknown', external: true });
      addEdge(c.name, to, { rate: l.rate || 0, sent: l.sent || 0, p99: l.ackMs?.p99 ?? null, linkState: l.state, external: false });
    }
    for (const l of c.links?.in || []) {
      if (!(l.received > 0) || byName.has(bare(l.from))) continue;
      const from = `client:${l.from}`;
      if (!nodes.has(from)) nodes.set(from, { id: from, name: l.from, kind: 'client', state: 'unknown', external: true });
      addEdge(from, c.name, { rate: l.rate || 0, sent: l.received || 0, p99: null, linkState: 'connected', external: true });
    }
  }
  return { nodes, edges };
}

const fmtRate = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));

/** Barycenter sweeps of `fastOrder` at most (it stops sooner after 4 in a row without fewer crossings). */
const ORDER_SWEEPS = 12;

/**
 * The order of the nodes within each rank, for dagre's `customOrder`: dagre's own heuristic (a
 * depth-first initial order, then barycenter sweeps down and up, keeping the order with the
 * fewest crossings, until 4 sweeps in a row find none fewer) on plain arrays. dagre's builds
 * graphlib graphs per rank and sweep: for 50 sketches and 100 links (~450 nodes with the long
 * edges' dummies) it took ~60 % of the layout (~250 ms in the page); this takes a few ms, with
 * no more crossings on the graphs of test/dashboard-page.ts. A compound graph (clusters) goes to
 * dagre's own `order`.
 * @param g dagre's layout graph (every node ranked, long edges split by dummies: each edge spans one rank).
 * @returns the crossings of the order kept.
 */
export function fastOrder(g, order) {
  const nodes = g.nodes();
  if (nodes.some((v) => g.children(v).length)) return void order(g);
  let maxRank = 0;
  for (const v of nodes) maxRank = Math.max(maxRank, g.node(v).rank);
  /** @type {string[][]} */
  let layers = Array.from({ length: maxRank + 1 }, () => []);
  const index = new Map(nodes.map((v, i) => [v, i]));
  const rank = nodes.map((v) => g.node(v).rank);
  // Neighbours one rank up (preds) and down (succs) by index, with the edges' weights (multi-edges summed).
  const preds = nodes.map(() => new Map());
  const succs = nodes.map(() => new Map());
  for (const e of g.edges()) {
    const u = index.get(e.v);
    const w = index.get(e.w);
    const weight = g.edge(e).weight ?? 1;
    succs[u].set(w, (succs[u].get(w) ?? 0) + weight);
    preds[w].set(u, (preds[w].get(u) ?? 0) + weight);
  }
  // Initial order: depth first along successors, from the nodes by rank (dagre's initOrder).
  const seen = new Uint8Array(nodes.length);
  const starts = nodes.map((_, i) => i).sort((a, b) => rank[a] - rank[b]);
  for (const s of starts) {
    if (seen[s]) continue;
    const stack = [s];
    while (stack.length) {
      const i = stack.pop();
      if (seen[i]) continue;
      seen[i] = 1;
      layers[rank[i]].push(i);
      const next = [...succs[i].keys()];
      for (let k = next.length - 1; k >= 0; k--) if (!seen[next[k]]) stack.push(next[k]);
    }
  }
  const pos = new Float64Array(nodes.length);
  const place = () => layers.forEach((l) => l.forEach((v, k) => (pos[v] = k)));
  // The edges between each rank and the next, [from, to, weight]
  const between = layers.map(() => []);
  succs.forEach((m, u) => m.forEach((weight, w) => rank[w] === rank[u] + 1 && between[rank[u]].push([u, w, weight])));
  /** Weighted crossings between every two adjacent ranks. */
  const crossings = () => {
    let cc = 0;
    for (const es of between) {
      for (let i = 0; i < es.length; i++) {
        const [u1, w1, x1] = es[i];
        for (let j = i + 1; j < es.length; j++) {
          const [u2, w2, x2] = es[j];
          if ((pos[u1] - pos[u2]) * (pos[w1] - pos[w2]) < 0) cc += x1 * x2;
        }
      }
    }
    return cc;
  };
  place();
  let best = layers.map((l) => l.slice());
  let bestCC = crossings();
  for (let i = 0, lastBest = 0; lastBest < 4 && i < ORDER_SWEEPS && bestCC > 0; i++, lastBest++) {
    const down = i % 2 === 1;
    const biasRight = i % 4 >= 2;
    const ranks = down ? layers.map((_, r) => r).slice(1) : layers.map((_, r) => r).reverse().slice(1);
    for (const r of ranks) {
      const fixed = down ? preds : succs;
      const keyed = layers[r].map((v) => {
        let sum = 0;
        let weight = 0;
        for (const [u, w] of fixed[v]) {
          sum += pos[u] * w;
          weight += w;
        }
        return { v, bc: weight ? sum / weight : pos[v], at: pos[v] };
      });
      keyed.sort((a, b) => a.bc - b.bc || (biasRight ? b.at - a.at : a.at - b.at));
      layers[r] = keyed.map((k) => k.v);
      layers[r].forEach((v, k) => (pos[v] = k));
    }
    const cc = crossings();
    if (cc < bestCC) {
      lastBest = -1;
      bestCC = cc;
      best = layers.map((l) => l.slice());
    }
  }
  layers = best;
  layers.forEach((l) => l.forEach((v, k) => (g.node(nodes[v]).order = k)));
  return bestCC;
}

/**
 * The circuit drawn in `box`. `update(cards)` with every poll's cards; its pulses animate
 * themselves (pulses.js: at most FPS frames a second) while any edge pulses. `onSelect(name)` is
 * called when a sketch's node is clicked (or activated with Enter).
 */
export function createCircuit(box, { onSelect }) {
  const root = svg('svg', { class: 'circuit', role: 'img', 'aria-label': 'circuit of the sketches and their links' });
  const defs = svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })));
  const gEdges = svg('g', { class: 'edges' });
  const gNodes = svg('g', { class: 'nodes' });
  root.append(defs, gEdges, gNodes);
  // The pulses: one canvas over the SVG, in its units scaled to its size on the page.
  const canvas = document.createElement('canvas');
  canvas.className = 'circuit-pulses';
  canvas.setAttribute('aria-hidden', 'true');
  box.append(root, canvas);
  const self = {
    nodes: new Map(), // id → { data, el, x, y }
    edges: new Map(), // id → { data, el, path, label, pts, cum, sentAt, emitRate, emitUntil, pulses (alive), spawned }
    key: '',
    size: SIZES.wide,
    layouts: 0,
    drawnAt: null,
    onScreen: true,
    running: null,
    /** Where the SVG sits in the box and its size (CSS px), as last sent to the pulses. */
    view: '',
  };
  const pulses = pulsesOn(canvas, (stats) => {
    for (const [id, [alive, spawned]] of Object.entries(stats)) {
      const e = self.edges.get(id);
      if (e) Object.assign(e, { pulses: e.down ? 0 : alive, spawned });
    }
  });

  function layout(graph) {
    const { w: NODE_W, h: NODE_H, chars } = self.size;
    const g = new dagre.graphlib.Graph({ multigraph: false });
    // Cycles broken by dagre's greedy feedback-arc set (its default, depth first, turns a ring of
    // 50 sketches with links i → i+1 and i → i+7 into a strip 50 ranks wide: 3× the width, 3×
    // the long-edge dummies, 3× the layout time); a network without cycles is laid out the same.
    g.setGraph({ rankdir: 'LR', acyclicer: 'greedy', nodesep: self.size.nodesep, ranksep: self.size.ranksep, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const id of [...graph.nodes.keys()].sort()) g.setNode(id, { width: NODE_W, height: NODE_H });
    for (const e of [...graph.edges.values()].sort((a, b) => a.id.localeCompare(b.id))) g.setEdge(e.from, e.to, {});
    // (crossings minimised by fastOrder: dagre's own order took ~60 % of the layout)
    dagre.layout(g, { customOrder: fastOrder });
    self.layouts++;
    // An empty graph has no extent (dagre says -Infinity): drawn as nothing.
    const width = g.nodeCount() ? Math.max(1, Math.ceil(g.graph().width)) : 1;
    const height = g.nodeCount() ? Math.max(1, Math.ceil(g.graph().height)) : 1;
    root.setAttribute('viewBox', `0 0 ${width} ${height}`);
    self.extent = { w: width, h: height };
    root.setAttribute('width', String(width));
    root.style.aspectRatio = `${width} / ${height}`;
    gNodes.replaceChildren();
    gEdges.replaceChildren();
    const oldEdges = self.edges;
    self.nodes = new Map();
    self.edges = new Map();
    for (const id of g.nodes()) {
      const n = g.node(id);
      const data = graph.nodes.get(id);
      const name = data.name.length > chars ? `${data.name.slice(0, chars - 1)}…` : data.name;
      const el = svg('g', { class: 'node', transform: `translate(${n.x - NODE_W / 2},${n.y - NODE_H / 2})`, 'data-node': id, tabindex: data.external ? -1 : 0 },
        svg('rect', { width: NODE_W, height: NODE_H, rx: 7 }),
        svg('text', { x: 9, y: NODE_H / 2 - 4, class: 'name' }, name),
        svg('text', { x: 9, y: NODE_H / 2 + 12, class: 'meta' }, ''),
        svg('title', {}, data.name));
      if (!data.external) {
        el.addEventListener('click', () => onSelect(id));
        el.addEventListener('keydown', (ev) => ev.key === 'Enter' && onSelect(id));
      }
      gNodes.append(el);
      self.nodes.set(id, { data, el, x: n.x, y: n.y });
    }
    for (const ge of g.edges()) {
      const data = graph.edges.get(`${ge.v}\u2192${ge.w}`);
      const pts = g.edge(ge).points;
      const cum = [0];
      for (let i = 1; i < pts.length; i++) cum.push(cum[i - 1] + Math.hypot(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y));
      const path = svg('path', { d: `M${pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' L')}`, 'marker-end': 'url(#arrow)' });
      const [lx, ly] = along(pts, cum, 0.5);
      // The rate above the edge, the ack p99 below it: each fits between two ranks.
      const label = svg('text', { x: lx.toFixed(1), y: (ly - 6).toFixed(1), 'text-anchor': 'middle', class: 'label' });
      const label2 = svg('text', { x: lx.toFixed(1), y: (ly + 14).toFixed(1), 'text-anchor': 'middle', class: 'label p99' });
      const el = svg('g', { class: 'edge', 'data-edge': data.id }, path, label, label2);
      gEdges.append(el);
      const old = oldEdges.get(data.id);
      self.edges.set(data.id, { data, el, path, label, label2, pts, cum, sentAt: old?.sentAt ?? null, emitRate: 0, emitUntil: 0, pulses: 0, spawned: old?.spawned ?? 0 });
    }
    pulses.geometry([...self.edges.values()].map((e) => ({ id: e.data.id, pts: e.pts.map((q) => ({ x: q.x, y: q.y })), cum: e.cum })), { w: width, h: height });
  }

  /** Takes the cards of one poll: lays the graph out again only when its nodes or edges changed. */
  function update(cards, nowMs = performance.now()) {
    const graph = graphOf(cards);
    self.cards = cards;
    const size = (box.clientWidth || 1000) < COMPACT_BELOW ? SIZES.compact : SIZES.wide;
    const key = JSON.stringify([[...graph.nodes.keys()].sort(), [...graph.edges.keys()].sort(), size === SIZES.compact]);
    if (key !== self.key) {
      self.size = size;
      root.classList.toggle('compact', size === SIZES.compact);
      self.key = key;
      layout(graph);
    }
    // (written only when changed: a poll that changes nothing costs no style or layout)
    const put = (o, k, v, write) => o[k] !== v && (write(v), (o[k] = v));
    for (const [id, n] of self.nodes) {
      n.data = graph.nodes.get(id);
      const st = n.data.state;
      put(n, 'cls', `node state-${st}${n.data.external ? ' external' : ''}`, (v) => n.el.setAttribute('class', v));
      put(n, 'meta', n.data.external ? n.data.kind : `${n.data.kind} · ${st}`, (v) => (n.el.querySelector('.meta').textContent = v));
    }
    for (const [id, e] of self.edges) {
      const d = graph.edges.get(id);
      e.data = d;
      const down = self.nodes.get(d.from)?.data.state === 'down' || self.nodes.get(d.to)?.data.state === 'down';
      e.down = down;
      put(e, 'cls', `edge${down ? ' down' : ''}${d.linkState === 'retrying' ? ' retrying' : ''}`, (v) => e.el.setAttribute('class', v));
      put(e, 'text', `${fmtRate(d.rate)} msg/s`, (v) => (e.label.textContent = v));
      put(e, 'text2', d.p99 != null ? `p99 ${d.p99 < 10 ? d.p99.toFixed(1) : d.p99.toFixed(0)} ms` : '', (v) => (e.label2.textContent = v));
      // Pulses: the messages sent since the previous poll, spread over the time until the next.
      const prev = e.sentAt;
      e.sentAt = { sent: d.sent, at: nowMs };
      if (down) {
        e.emitRate = 0;
        e.pulses = 0;
      } else if (prev && d.sent > prev.sent && nowMs > prev.at) {
        e.emitRate = ((d.sent - prev.sent) * 1000) / (nowMs - prev.at);
        e.emitUntil = nowMs + Math.min(PULSE_HOLD_MS, (nowMs - prev.at) * 1.5);
      } else if (prev && d.sent === prev.sent) e.emitRate = 0;
    }
    if (self.drawnAt === null) self.drawnAt = performance.now();
    pulses.rates([...self.edges.values()].map((e) => ({ id: e.data.id, rate: e.down ? 0 : e.emitRate, forMs: e.emitUntil - nowMs, down: !!e.down })));
  }

  /** The pulses run while the page is visible and the circuit on screen. */
  function run() {
    const on = !document.hidden && self.onScreen;
    if (on !== self.running) pulses.run((self.running = on));
  }

  /** The canvas over the SVG, sized to it (CSS px): read when the SVG is resized, never per frame. */
  function fit() {
    const at = root.getBoundingClientRect();
    const from = box.getBoundingClientRect();
    const view = { left: at.left - from.left - box.clientLeft, top: at.top - from.top - box.clientTop, w: at.width, h: at.height };
    const key = JSON.stringify(view);
    if (key === self.view) return;
    self.view = key;
    canvas.style.left = `${view.left}px`;
    canvas.style.top = `${view.top}px`;
    canvas.style.width = `${view.w}px`;
    canvas.style.height = `${view.h}px`;
    pulses.view({ w: view.w, h: view.h, dpr: window.devicePixelRatio || 1, color: getComputedStyle(canvas).getPropertyValue('--pulse').trim() });
  }

  /** What is drawn, for tests and benchmarks. */
  function info() {
    return {
      nodes: [...self.nodes.values()].map((n) => ({ id: n.data.id, name: n.data.name, kind: n.data.kind, state: n.data.state, x: n.x, y: n.y, external: n.data.external })),
      edges: [...self.edges.values()].map((e) => ({
        from: e.data.from,
        to: e.data.to,
        rate: e.data.rate,
        p99: e.data.p99,
        sent: e.data.sent,
        down: !!e.down,
        dashed: getComputedStyle(e.path).strokeDasharray !== 'none',
        pulsing: e.emitRate > 0 && performance.now() < e.emitUntil && !e.down,
        pulses: e.pulses,
        spawned: e.spawned,
        label: `${e.label.textContent} ${e.label2.textContent}`.trim(),
      })),
      layouts: self.layouts,
      drawnAt: self.drawnAt,
    };
  }

  new ResizeObserver(fit).observe(root);
  // Off screen (scrolled away, its panel hidden) or in a hidden page: no pulse frames.
  if (typeof IntersectionObserver === 'function') {
    new IntersectionObserver((entries) => {
      self.onScreen = entries.at(-1).isIntersecting;
      run();
    }).observe(box);
  }
  document.addEventListener('visibilitychange', run);
  run();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    self.view = '';
    fit();
  });

  // A box crossing COMPACT_BELOW is laid out again with the other node size; a drawing narrower
  // than its box is centred in it: the canvas follows.
  new ResizeObserver(() => {
    const size = (box.clientWidth || 1000) < COMPACT_BELOW ? SIZES.compact : SIZES.wide;
    if (self.cards && size !== self.size) update(self.cards);
    fit();
  }).observe(box);

  return { update, info, get drawnAt() { return self.drawnAt; } };
}

/**
 * The pulses (pulses.js) on `canvas`: in a worker that draws on the canvas transferred to it
 * (OffscreenCanvas), else on this thread. Either way the same calls; `onStats` gets the figures.
 */
function pulsesOn(canvas, onStats) {
  if (typeof canvas.transferControlToOffscreen === 'function' && typeof Worker === 'function') {
    try {
      const worker = new Worker(new URL('./pulses.js', import.meta.url), { type: 'module', name: 'circuit pulses' });
      const offscreen = canvas.transferControlToOffscreen();
      worker.postMessage({ canvas: offscreen }, [offscreen]);
      worker.onmessage = ({ data }) => data.stats && onStats(data.stats);
      worker.onerror = (ev) => console.warn('circuit pulses: the worker failed', ev.message);
      const call = (op) => (...args) => worker.postMessage({ op, args });
      return { geometry: call('geometry'), rates: call('rates'), view: call('view'), run: call('run') };
    } catch {
      // no module worker here: drawn on this thread
    }
  }
  return createPulses(canvas, onStats);
}

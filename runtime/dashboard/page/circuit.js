// The circuit view: sketches as nodes, their links as directed edges, laid out once per shape
// by dagre (global `dagre`, served as /dagre.min.js; rankdir LR: clock → iopin → buzzer reads
// left to right), drawn in SVG. Each edge is labelled with its rate (msg/s) and ack p99 (ms) and
// pulses as messages pass: pulses come from the `sent` counter's growth between two polls, at
// most one per edge per frame whatever the rate (1000 msg/s shows as a steady stream of pulses,
// not 1000), at most MAX_PULSES alive per edge, PULSE_MS / MAX_PULSES apart. The pulses are
// drawn on one canvas over the SVG (no element, no attribute per pulse), at most FPS frames a
// second, and only while a pulse moves, the page is visible and the circuit on screen. A link
// from or to a sketch that is down is dashed and does not pulse.

const SVG = 'http://www.w3.org/2000/svg';
/** Node box, px (before the drawing is scaled to its box); narrower in a box under COMPACT_BELOW px. */
const SIZES = {
  wide: { w: 132, h: 46, ranksep: 120, nodesep: 22, chars: 17 },
  compact: { w: 104, h: 42, ranksep: 84, nodesep: 14, chars: 11 },
};
const COMPACT_BELOW = 560;
/** How long a pulse takes along its edge, ms. */
const PULSE_MS = 800;
/** Pulses alive at once on one edge (PULSE_MS / MAX_PULSES apart at least); one more waits until one arrives. */
const MAX_PULSES = 3;
/** Pulse frames per second, at most: a pulse moves ~1/12 of its edge from one to the next. */
const FPS = 15;
/** A pulse's radius in the drawing's units (as the nodes'), and at least this many CSS px. */
const PULSE_R = 4;
const PULSE_MIN_PX = 1.5;
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

/** Point at `frac` (0–1) of the way along a polyline with precomputed cumulative lengths. */
function along(pts, cum, frac) {
  const d = frac * cum[cum.length - 1];
  let i = 1;
  while (i < cum.length - 1 && cum[i] < d) i++;
  const seg = cum[i] - cum[i - 1] || 1;
  const t = (d - cum[i - 1]) / seg;
  return [pts[i - 1].x + (pts[i].x - pts[i - 1].x) * t, pts[i - 1].y + (pts[i].y - pts[i - 1].y) * t];
}

const fmtRate = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));

/** Barycenter sweeps of `fastOrder`: it stops earlier after this many without fewer crossings. */
const ORDER_SWEEPS = 12;

/**
 * The order of the nodes within each rank, for dagre's `customOrder`: dagre's own heuristic (a
 * depth-first initial order, then barycenter sweeps down and up, keeping the order with the
 * fewest crossings, until 4 sweeps in a row find none fewer) on plain arrays. dagre's builds a
 * graphlib graph per rank and sweep: for 50 sketches and 100 links (~450 nodes with the long
 * edges' dummies) it took ~60 % of the layout (~250 ms); this takes a few ms. A compound graph
 * (clusters) goes to dagre's own `order`.
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
  /** Weighted crossings between every two adjacent ranks. */
  const crossings = () => {
    let cc = 0;
    for (let r = 0; r < maxRank; r++) {
      const es = [];
      for (const u of layers[r]) for (const [w, weight] of succs[u]) if (rank[w] === r + 1) es.push([pos[u], pos[w], weight]);
      es.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (let i = 0; i < es.length; i++) for (let j = i + 1; j < es.length; j++) if (es[j][0] > es[i][0] && es[j][1] < es[i][1]) cc += es[i][2] * es[j][2];
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
 * The circuit drawn in `box`. `update(cards)` with every poll's cards; it animates its pulses
 * itself (at most FPS frames a second) while any edge pulses. `onSelect(name)` is called when a sketch's node is
 * clicked (or activated with Enter).
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
    edges: new Map(), // id → { data, el, path, label, pts, cum, sentAt, emitRate, emitUntil, acc, pulses: [born ms], spawned }
    key: '',
    size: SIZES.wide,
    layouts: 0,
    drawnAt: null,
    frame: 0,
    timer: 0,
    last: 0,
    /** The drawing's extent (viewBox units), and where the SVG sits in the box (CSS px). */
    extent: { w: 1, h: 1 },
    view: { left: 0, top: 0, w: 0, h: 0 },
    color: '',
    onScreen: true,
    painted: false,
  };

  function layout(graph) {
    const { w: NODE_W, h: NODE_H, chars } = self.size;
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: 'LR', nodesep: self.size.nodesep, ranksep: self.size.ranksep, marginx: 8, marginy: 8 });
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
      self.edges.set(data.id, { data, el, path, label, label2, pts, cum, sentAt: old?.sentAt ?? null, emitRate: 0, emitUntil: 0, acc: 0, pulses: [], spawned: old?.spawned ?? 0 });
    }
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
        e.pulses = [];
      } else if (prev && d.sent > prev.sent && nowMs > prev.at) {
        e.emitRate = ((d.sent - prev.sent) * 1000) / (nowMs - prev.at);
        e.emitUntil = nowMs + Math.min(PULSE_HOLD_MS, (nowMs - prev.at) * 1.5);
      } else if (prev && d.sent === prev.sent) e.emitRate = 0;
    }
    if (self.drawnAt === null) self.drawnAt = performance.now();
    animate();
  }

  /** Runs the pulse frames (at most FPS a second) while the page is visible and the circuit on screen. */
  function animate() {
    if (self.frame || self.timer || document.hidden || !self.onScreen) return;
    const wait = Math.max(0, 1000 / FPS - (performance.now() - self.last));
    self.timer = setTimeout(() => {
      self.timer = 0;
      self.frame = requestAnimationFrame(tick);
    }, self.last ? wait : 0);
  }

  /** The canvas over the SVG, sized to it (CSS px × devicePixelRatio); read when the SVG is resized, never per frame. */
  function fit() {
    const view = { left: root.offsetLeft, top: root.offsetTop, w: root.clientWidth, h: root.clientHeight };
    self.view = view;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.left = `${view.left}px`;
    canvas.style.top = `${view.top}px`;
    canvas.style.width = `${view.w}px`;
    canvas.style.height = `${view.h}px`;
    canvas.width = Math.max(1, Math.round(view.w * dpr));
    canvas.height = Math.max(1, Math.round(view.h * dpr));
    self.color = getComputedStyle(canvas).getPropertyValue('--pulse').trim() || '#ff7f0e';
    self.painted = true; // (resizing cleared it: drawn again on the next frame)
    self.last = 0;
    animate();
  }

  /**
   * One frame: at most one new pulse per edge (none sooner than PULSE_MS / MAX_PULSES after the
   * previous one), every pulse moved along and drawn on the canvas in one path. Idle edges cost
   * a check each; with no pulse alive the frames stop until the next poll.
   */
  function tick(now) {
    self.frame = 0;
    const dt = self.last ? Math.min(250, now - self.last) : 1000 / FPS;
    self.last = now;
    const ctx = canvas.getContext('2d');
    const { w, h } = self.view;
    const k = w / self.extent.w;
    const dpr = canvas.width / Math.max(1, w);
    const r = Math.max(PULSE_R, PULSE_MIN_PX / (k || 1));
    let alive = false;
    let drawn = false;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (self.painted) ctx.clearRect(0, 0, canvas.width, canvas.height);
    self.painted = false;
    ctx.setTransform(k * dpr, 0, 0, k * dpr, 0, 0);
    ctx.beginPath();
    for (const e of self.edges.values()) {
      if (e.emitRate > 0 && now < e.emitUntil && !e.down) {
        e.acc = Math.min(1, e.acc + (dt / 1000) * e.emitRate);
        const gap = now - (e.pulses.at(-1) ?? -Infinity);
        if (e.acc >= 1 && e.pulses.length < MAX_PULSES && gap >= PULSE_MS / MAX_PULSES) {
          e.acc -= 1;
          e.pulses.push(now);
          e.spawned++;
        }
        alive = true;
      }
      if (!e.pulses.length) continue;
      while (e.pulses.length && now - e.pulses[0] >= PULSE_MS) e.pulses.shift();
      for (const born of e.pulses) {
        const [x, y] = along(e.pts, e.cum, (now - born) / PULSE_MS);
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        drawn = true;
      }
      if (e.pulses.length) alive = true;
    }
    if (drawn && h > 0) {
      ctx.fillStyle = self.color;
      ctx.fill();
      self.painted = true;
    }
    if (alive) animate();
    else self.last = 0;
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
        pulses: e.pulses.length,
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
      animate();
    }).observe(box);
  }
  document.addEventListener('visibilitychange', () => animate());
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', fit);

  // A box crossing COMPACT_BELOW is laid out again with the other node size.
  new ResizeObserver(() => {
    const size = (box.clientWidth || 1000) < COMPACT_BELOW ? SIZES.compact : SIZES.wide;
    if (self.cards && size !== self.size) update(self.cards);
  }).observe(box);

  return { update, info, get drawnAt() { return self.drawnAt; } };
}

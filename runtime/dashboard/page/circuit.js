// The circuit view: sketches as nodes, their links as directed edges, laid out once per shape
// by dagre (global `dagre`, served as /dagre.min.js; rankdir LR: clock → iopin → buzzer reads
// left to right), drawn in SVG. Each edge is labelled with its rate (msg/s) and ack p99 (ms) and
// pulses as messages pass: pulses come from the `sent` counter's growth between two polls, at
// most one per edge per animation frame whatever the rate (1000 msg/s shows as a steady stream
// of pulses, not 1000 elements), and at most MAX_PULSES alive per edge. A link from or to a
// sketch that is down is dashed and does not pulse.

const SVG = 'http://www.w3.org/2000/svg';
/** Node box, px (before the drawing is scaled to its box); narrower in a box under COMPACT_BELOW px. */
const SIZES = {
  wide: { w: 132, h: 46, ranksep: 120, nodesep: 22, chars: 17 },
  compact: { w: 104, h: 42, ranksep: 84, nodesep: 14, chars: 11 },
};
const COMPACT_BELOW = 560;
/** How long a pulse takes along its edge, ms. */
const PULSE_MS = 800;
/** Pulses alive at once on one edge; one more waits until one arrives. */
const MAX_PULSES = 12;
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

/**
 * The circuit drawn in `box`. `update(cards)` with every poll's cards; it animates itself on
 * animation frames while any edge pulses. `onSelect(name)` is called when a sketch's node is
 * clicked (or activated with Enter).
 */
export function createCircuit(box, { onSelect }) {
  const root = svg('svg', { class: 'circuit', role: 'img', 'aria-label': 'circuit of the sketches and their links' });
  const defs = svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' })));
  const gEdges = svg('g', { class: 'edges' });
  const gPulses = svg('g', { class: 'pulses' });
  const gNodes = svg('g', { class: 'nodes' });
  root.append(defs, gEdges, gPulses, gNodes);
  box.append(root);
  const self = {
    nodes: new Map(), // id → { data, el, x, y }
    edges: new Map(), // id → { data, el, path, label, pts, cum, sentAt, emitRate, emitUntil, acc, pulses: [], spawned }
    key: '',
    size: SIZES.wide,
    layouts: 0,
    drawnAt: null,
    frame: 0,
    last: 0,
  };

  function layout(graph) {
    const { w: NODE_W, h: NODE_H, chars } = self.size;
    const g = new dagre.graphlib.Graph({ multigraph: false });
    g.setGraph({ rankdir: 'LR', nodesep: self.size.nodesep, ranksep: self.size.ranksep, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const id of [...graph.nodes.keys()].sort()) g.setNode(id, { width: NODE_W, height: NODE_H });
    for (const e of [...graph.edges.values()].sort((a, b) => a.id.localeCompare(b.id))) g.setEdge(e.from, e.to, {});
    dagre.layout(g);
    self.layouts++;
    // An empty graph has no extent (dagre says -Infinity): drawn as nothing.
    const width = g.nodeCount() ? Math.max(1, Math.ceil(g.graph().width)) : 1;
    const height = g.nodeCount() ? Math.max(1, Math.ceil(g.graph().height)) : 1;
    root.setAttribute('viewBox', `0 0 ${width} ${height}`);
    root.setAttribute('width', String(width));
    root.style.aspectRatio = `${width} / ${height}`;
    gNodes.replaceChildren();
    gEdges.replaceChildren();
    gPulses.replaceChildren();
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
    for (const [id, n] of self.nodes) {
      n.data = graph.nodes.get(id);
      const st = n.data.state;
      n.el.setAttribute('class', `node state-${st}${n.data.external ? ' external' : ''}`);
      n.el.querySelector('.meta').textContent = n.data.external ? n.data.kind : `${n.data.kind} · ${st}`;
    }
    for (const [id, e] of self.edges) {
      const d = graph.edges.get(id);
      e.data = d;
      const down = self.nodes.get(d.from)?.data.state === 'down' || self.nodes.get(d.to)?.data.state === 'down';
      e.down = down;
      e.el.setAttribute('class', `edge${down ? ' down' : ''}${d.linkState === 'retrying' ? ' retrying' : ''}`);
      e.label.textContent = `${fmtRate(d.rate)} msg/s`;
      e.label2.textContent = d.p99 != null ? `p99 ${d.p99 < 10 ? d.p99.toFixed(1) : d.p99.toFixed(0)} ms` : '';
      // Pulses: the messages sent since the previous poll, spread over the time until the next.
      const prev = e.sentAt;
      e.sentAt = { sent: d.sent, at: nowMs };
      if (down) {
        e.emitRate = 0;
        for (const p of e.pulses) p.el.remove();
        e.pulses = [];
      } else if (prev && d.sent > prev.sent && nowMs > prev.at) {
        e.emitRate = ((d.sent - prev.sent) * 1000) / (nowMs - prev.at);
        e.emitUntil = nowMs + Math.min(PULSE_HOLD_MS, (nowMs - prev.at) * 1.5);
      } else if (prev && d.sent === prev.sent) e.emitRate = 0;
    }
    if (self.drawnAt === null) self.drawnAt = performance.now();
    if (!self.frame) self.frame = requestAnimationFrame(tick);
  }

  /** One animation frame: at most one new pulse per edge, every pulse moved along. */
  function tick(now) {
    self.frame = 0;
    const dt = self.last ? Math.min(100, now - self.last) : 16;
    self.last = now;
    let alive = false;
    for (const e of self.edges.values()) {
      if (e.emitRate > 0 && now < e.emitUntil && !e.down) {
        e.acc = Math.min(1, e.acc + (dt / 1000) * e.emitRate);
        if (e.acc >= 1 && e.pulses.length < MAX_PULSES) {
          e.acc -= 1;
          const el = svg('circle', { r: 4, class: 'pulse' });
          gPulses.append(el);
          e.pulses.push({ el, born: now });
          e.spawned++;
        }
        alive = true;
      }
      for (let i = e.pulses.length - 1; i >= 0; i--) {
        const p = e.pulses[i];
        const frac = (now - p.born) / PULSE_MS;
        if (frac >= 1) {
          p.el.remove();
          e.pulses.splice(i, 1);
          continue;
        }
        const [x, y] = along(e.pts, e.cum, frac);
        p.el.setAttribute('cx', x.toFixed(1));
        p.el.setAttribute('cy', y.toFixed(1));
        alive = true;
      }
    }
    if (alive) self.frame = requestAnimationFrame(tick);
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

  // A box crossing COMPACT_BELOW is laid out again with the other node size.
  new ResizeObserver(() => {
    const size = (box.clientWidth || 1000) < COMPACT_BELOW ? SIZES.compact : SIZES.wide;
    if (self.cards && size !== self.size) update(self.cards);
  }).observe(box);

  return { update, info, get drawnAt() { return self.drawnAt; } };
}

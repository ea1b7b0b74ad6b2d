// The circuit's pulses (circuit.js): the model — each edge spawns pulses at the rate its messages
// pass, at most one per frame, at most MAX_PULSES alive, PULSE_MS / MAX_PULSES apart — and its
// drawing: every pulse on one canvas over the circuit's SVG, in one path, at most FPS frames a
// second, and only while a pulse moves and the circuit is shown (`run(true)`). circuit.js runs it
// in a worker on an OffscreenCanvas when the browser has one — then the page's main thread does
// nothing per frame (no animation frame, style, layout or commit) — else on the page's thread.

/** How long a pulse takes along its edge, ms. */
export const PULSE_MS = 800;
/** Pulses alive at once on one edge (PULSE_MS / MAX_PULSES apart at least); one more waits until one arrives. */
export const MAX_PULSES = 3;
/** Frames per second, at most: a pulse moves 1/10 of its edge from one to the next (each frame costs the browser ~0.6 % of a core, most of it compositing the canvas). */
export const FPS = 12;
/** A pulse's radius in the drawing's units (as the nodes'), and at least this many CSS px. */
const PULSE_R = 4;
const PULSE_MIN_PX = 1.5;
/** How often the model's figures (pulses alive, spawned) are posted while it runs, ms. */
const STATS_EVERY_MS = 500;

/** Point at `frac` (0–1) of the way along a polyline with precomputed cumulative lengths. */
export function along(pts, cum, frac) {
  const d = frac * cum[cum.length - 1];
  let i = 1;
  while (i < cum.length - 1 && cum[i] < d) i++;
  const seg = cum[i] - cum[i - 1] || 1;
  const t = (d - cum[i - 1]) / seg;
  return [pts[i - 1].x + (pts[i].x - pts[i - 1].x) * t, pts[i - 1].y + (pts[i].y - pts[i - 1].y) * t];
}

/**
 * The pulses drawn on `canvas` (a canvas or an OffscreenCanvas). Every call takes plain data (it
 * may come as a worker's message):
 * - `geometry(edges, extent)`: after a layout, `[{ id, pts, cum }]` in the drawing's units and its `{ w, h }`;
 * - `rates(list)`: after a poll, `[{ id, rate (pulses/s wanted), forMs (how long), down }]`;
 * - `view({ w, h, dpr, color })`: the SVG's size on the page (CSS px) and the pulses' colour;
 * - `run(on)`: whether the circuit is shown (page visible, circuit on screen).
 * `onStats({ id: [alive, spawned] })` after each `rates` and every STATS_EVERY_MS while it runs.
 */
export function createPulses(canvas, onStats = () => {}) {
  const self = { edges: new Map(), extent: { w: 1, h: 1 }, view: { w: 0, h: 0, dpr: 1 }, color: '#ff7f0e', on: true, timer: 0, last: 0, painted: false, statsAt: 0 };

  function stats() {
    const out = {};
    for (const [id, e] of self.edges) out[id] = [e.pulses.length, e.spawned];
    self.statsAt = performance.now();
    onStats(out);
  }

  function schedule() {
    if (self.timer || !self.on) return;
    const wait = self.last ? Math.max(0, 1000 / FPS - (performance.now() - self.last)) : 0;
    self.timer = setTimeout(frame, wait);
  }

  function clear() {
    if (!self.painted) return;
    canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
    self.painted = false;
  }

  /** One frame: at most one new pulse per edge, every pulse moved along; idle edges cost a check each. */
  function frame() {
    self.timer = 0;
    const now = performance.now();
    const dt = self.last ? Math.min(250, now - self.last) : 1000 / FPS;
    self.last = now;
    const ctx = canvas.getContext('2d');
    const k = self.view.w / self.extent.w;
    const scale = (k || 0) * self.view.dpr;
    const r = Math.max(PULSE_R, PULSE_MIN_PX / (k || 1));
    let alive = false;
    let drawn = false;
    clear();
    ctx.setTransform(scale, 0, 0, scale, 0, 0);
    ctx.beginPath();
    for (const e of self.edges.values()) {
      if (e.rate > 0 && now < e.until && !e.down) {
        e.acc = Math.min(1, e.acc + (dt / 1000) * e.rate);
        const gap = now - (e.pulses.length ? e.pulses[e.pulses.length - 1] : -Infinity);
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
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (drawn && scale > 0) {
      ctx.fillStyle = self.color;
      ctx.fill();
      self.painted = true;
    }
    if (now - self.statsAt >= STATS_EVERY_MS || !alive) stats();
    if (alive) schedule();
    else self.last = 0;
  }

  return {
    geometry(edges, extent) {
      const old = self.edges;
      self.edges = new Map(edges.map((e) => [e.id, { id: e.id, pts: e.pts, cum: e.cum, rate: 0, until: 0, down: false, acc: 0, pulses: [], spawned: old.get(e.id)?.spawned ?? 0 }]));
      self.extent = extent;
      clear();
    },
    rates(list) {
      const now = performance.now();
      for (const r of list) {
        const e = self.edges.get(r.id);
        if (!e) continue;
        e.rate = r.rate;
        e.until = now + r.forMs;
        e.down = r.down;
        if (r.down) e.pulses = [];
      }
      stats();
      schedule();
    },
    view({ w, h, dpr, color }) {
      self.view = { w, h, dpr };
      if (color) self.color = color;
      canvas.width = Math.max(1, Math.round(w * dpr));
      canvas.height = Math.max(1, Math.round(h * dpr));
      self.painted = false; // (resizing cleared it)
      self.last = 0;
      schedule();
    },
    run(on) {
      self.on = on;
      if (on) schedule();
      else {
        clearTimeout(self.timer);
        self.timer = 0;
        self.last = 0;
      }
    },
  };
}

// In a worker: the canvas comes first (`{ canvas }`), then `{ op, args }` for each call above.
if (typeof WorkerGlobalScope === 'function' && globalThis instanceof WorkerGlobalScope) {
  let pulses = null;
  globalThis.onmessage = ({ data }) => {
    if (data.canvas) pulses = createPulses(data.canvas, (stats) => globalThis.postMessage({ stats }));
    else pulses?.[data.op](...data.args);
  };
}

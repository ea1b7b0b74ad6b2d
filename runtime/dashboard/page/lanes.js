// Pin lanes: a logic analyzer's view of every `/pin` and `/edges` stream (values 0/1 over time)
// and the clock's `/ticks` as markers, on one time axis shared with the plots. Drawn on a canvas,
// per pixel column: a column holding at most one transition is drawn as the signal itself (low,
// high, an edge); a column holding more (pulses narrower than a pixel) becomes a duty-cycle band
// whose height is the fraction of the column's time the pin was high, and the band's run is
// labelled with its number of transitions — never a comb.

const LANE_H = 26;
const GAP = 14;
const TICKS_H = 14;
const AXIS_H = 18;

/**
 * Per-pixel-column figures of one 0/1 signal over [x0, x1] drawn `width` px wide.
 * `times` ascend (s); `values[i]` holds from `times[i]` to `times[i + 1]` (the last to `end`).
 * @returns {{ high: Float64Array, known: Float64Array, trans: Uint32Array, transitions: number, highTime: number, knownTime: number }}
 *   per column: seconds high, seconds known, transitions; and over the whole range.
 */
export function laneColumns(times, values, end, x0, x1, width) {
  const high = new Float64Array(width);
  const known = new Float64Array(width);
  const trans = new Uint32Array(width);
  const span = x1 - x0;
  let transitions = 0;
  let highTime = 0;
  let knownTime = 0;
  if (!(span > 0) || width < 1) return { high, known, trans, transitions, highTime, knownTime };
  const col = (t) => Math.min(width - 1, Math.max(0, Math.floor(((t - x0) / span) * width)));
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (v == null) continue;
    const a = Math.max(times[i], x0);
    const b = Math.min(i + 1 < times.length ? times[i + 1] : end, x1);
    const prev = i > 0 ? values[i - 1] : null;
    if (prev != null && (prev > 0) !== (v > 0) && times[i] >= x0 && times[i] <= x1) {
      trans[col(times[i])]++;
      transitions++;
    }
    if (!(b > a)) continue;
    knownTime += b - a;
    if (v > 0) highTime += b - a;
    // Spread [a, b) over the columns it covers.
    let c = col(a);
    const cEnd = col(b);
    for (; c <= cEnd; c++) {
      const ca = x0 + (c / width) * span;
      const cb = x0 + ((c + 1) / width) * span;
      const d = Math.min(b, cb) - Math.max(a, ca);
      if (d <= 0) continue;
      known[c] += d;
      if (v > 0) high[c] += d;
    }
  }
  return { high, known, trans, transitions, highTime, knownTime };
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

const hhmmss = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/**
 * The lanes drawn in `box`. `draw(lanes, ticks, [x0, x1])`: `lanes` = [{ id, label, times, values,
 * end, stale }], `ticks` = tick times (s). Wheel zooms around the pointer, a horizontal wheel or
 * a drag pans, a double click goes back to the live window: each calls `onView([x0, x1] | null)`.
 */
export function createLanes(box, { onView }) {
  const canvas = document.createElement('canvas');
  canvas.className = 'lanes-canvas';
  box.append(canvas);
  const self = { range: [0, 1], drawn: [], drag: null };

  const toTime = (px) => self.range[0] + (px / Math.max(1, canvas.clientWidth)) * (self.range[1] - self.range[0]);
  canvas.addEventListener('wheel', (ev) => {
    ev.preventDefault();
    const [x0, x1] = self.range;
    const span = x1 - x0;
    if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY) || ev.shiftKey) {
      const shift = ((ev.shiftKey ? ev.deltaY : ev.deltaX) / Math.max(1, canvas.clientWidth)) * span;
      onView([x0 + shift, x1 + shift]);
    } else {
      const at = toTime(ev.offsetX);
      const k = ev.deltaY > 0 ? 1.25 : 0.8;
      onView([at - (at - x0) * k, at + (x1 - at) * k]);
    }
  }, { passive: false });
  canvas.addEventListener('pointerdown', (ev) => {
    self.drag = { x: ev.clientX, range: self.range.slice() };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener('pointermove', (ev) => {
    if (!self.drag) return;
    const dx = ev.clientX - self.drag.x;
    if (Math.abs(dx) < 3) return;
    const [x0, x1] = self.drag.range;
    const shift = (-dx / Math.max(1, canvas.clientWidth)) * (x1 - x0);
    onView([x0 + shift, x1 + shift]);
  });
  canvas.addEventListener('pointerup', () => (self.drag = null));
  canvas.addEventListener('pointercancel', () => (self.drag = null));
  canvas.addEventListener('dblclick', () => onView(null));

  function draw(lanes, ticks, range) {
    self.range = range;
    const [x0, x1] = range;
    const width = Math.max(100, box.clientWidth);
    const height = TICKS_H + lanes.length * (LANE_H + GAP) + AXIS_H;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
      canvas.style.width = `${width}px`;
      canvas.style.height = `${height}px`;
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const fg = cssVar('--fg');
    const muted = cssVar('--muted');
    const line = cssVar('--line');
    const sig = cssVar('--signal');
    const band = cssVar('--band');
    const tick = cssVar('--tick');
    const xOf = (t) => ((t - x0) / (x1 - x0)) * width;
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    // tick markers: a triangle on top, a faint line across the lanes
    ctx.fillStyle = tick;
    ctx.strokeStyle = tick;
    ctx.globalAlpha = 0.35;
    const visibleTicks = ticks.filter((t) => t >= x0 && t <= x1);
    const thin = visibleTicks.length > width / 3;
    for (const t of visibleTicks) {
      const x = Math.round(xOf(t)) + 0.5;
      if (!thin) {
        ctx.beginPath();
        ctx.moveTo(x, TICKS_H);
        ctx.lineTo(x, height - AXIS_H);
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    for (const t of visibleTicks) {
      const x = xOf(t);
      ctx.beginPath();
      ctx.moveTo(x - 4, 2);
      ctx.lineTo(x + 4, 2);
      ctx.lineTo(x, 10);
      ctx.fill();
    }
    self.drawn = [];
    lanes.forEach((lane, i) => {
      const top = TICKS_H + i * (LANE_H + GAP) + 12;
      const hi = top + 2;
      const lo = top + LANE_H - 2;
      const cols = laneColumns(lane.times, lane.values, lane.end, x0, x1, Math.round(width));
      ctx.globalAlpha = lane.stale ? 0.45 : 1;
      ctx.fillStyle = muted;
      const duty = cols.knownTime > 0 ? Math.round((cols.highTime / cols.knownTime) * 100) : null;
      const caption = `${lane.label} · ${cols.transitions} transitions${duty == null ? '' : ` · ${duty} % high`}`;
      ctx.globalAlpha = 0.85;
      ctx.fillStyle = cssVar('--card');
      ctx.fillRect(0, top - 13, ctx.measureText(caption).width + 6, 13);
      ctx.globalAlpha = lane.stale ? 0.45 : 1;
      ctx.fillStyle = muted;
      ctx.fillText(caption, 2, top - 12);
      ctx.strokeStyle = line;
      ctx.beginPath();
      ctx.moveTo(0, lo + 0.5);
      ctx.lineTo(width, lo + 0.5);
      ctx.stroke();
      // runs of band columns (more than one transition per pixel), and the signal elsewhere
      let bands = 0;
      let run = null;
      const runs = [];
      ctx.strokeStyle = sig;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let prevY = null;
      for (let c = 0; c < cols.known.length; c++) {
        const k = cols.known[c];
        if (cols.trans[c] > 1) {
          bands++;
          if (!run) runs.push((run = { from: c, to: c, trans: 0 }));
          run.to = c;
          run.trans += cols.trans[c];
          prevY = null;
          continue;
        }
        run = null;
        if (!(k > 0)) {
          prevY = null;
          continue;
        }
        const y = cols.high[c] / k >= 0.5 ? hi : lo;
        if (prevY === null) ctx.moveTo(c, y);
        else if (y !== prevY) ctx.lineTo(c, y);
        ctx.lineTo(c + 1, y);
        prevY = y;
      }
      ctx.stroke();
      ctx.lineWidth = 1;
      for (const r of runs) {
        for (let c = r.from; c <= r.to; c++) {
          const f = cols.known[c] > 0 ? cols.high[c] / cols.known[c] : 0;
          ctx.fillStyle = band;
          ctx.globalAlpha = (lane.stale ? 0.45 : 1) * (0.35 + 0.65 * f);
          ctx.fillRect(c, lo - f * (lo - hi), 1, f * (lo - hi));
        }
        ctx.globalAlpha = lane.stale ? 0.45 : 1;
        const w = r.to - r.from + 1;
        if (w >= 36) {
          ctx.fillStyle = fg;
          ctx.textAlign = 'center';
          ctx.fillText(`×${r.trans}`, r.from + w / 2, hi + 4);
          ctx.textAlign = 'start';
        }
      }
      ctx.globalAlpha = 1;
      self.drawn.push({ id: lane.id, transitions: cols.transitions, bandColumns: bands, bandRuns: runs.length, duty });
    });
    // time axis
    ctx.fillStyle = muted;
    ctx.strokeStyle = line;
    const axisY = height - AXIS_H + 4;
    const n = Math.max(2, Math.floor(width / 110));
    let right = -Infinity;
    for (let k = 0; k <= n; k++) {
      const t = x0 + ((x1 - x0) * k) / n;
      const text = hhmmss(t);
      const w = ctx.measureText(text).width;
      const x = Math.min(width - w, Math.max(0, xOf(t) - w / 2));
      if (x < right + 8) continue; // no overlap: a label that would touch the previous one is left out
      ctx.fillText(text, x, axisY);
      right = x + w;
    }
    ctx.textAlign = 'start';
    return self.drawn;
  }

  return { draw, get drawn() { return self.drawn; }, canvas };
}

// The dashboard page: a plain browser ES module (no build step). It reads the dashboard's API
// with its key (GET /api/sketches, /api/history), subscribes to the dashboard's /live stream
// (sketchnet.v2, ?new) and plots every numeric field of every stream with uPlot: columnar data,
// x in Unix seconds, local time axis, setData at most once per animation frame per plot, and
// live redraws no more often than the plot moves by a pixel (see redrawEvery).

const KEY_STORE = 'sketchnet.dashboard.key';
/** Most points one plot holds (history + live); older ones go first. */
const MAX_PLOT_POINTS = 20000;
/** Live redraws of one plot: at least this far apart (ms), however fast its points arrive… */
const MIN_REDRAW_MS = 100;
/** …and at most this far apart, however wide its window. */
const MAX_REDRAW_MS = 1000;
const UNITS = {
  celsius: '°C', temperature: '°C', fahrenheit: '°F', kelvin: 'K', humidity: '%', percent: '%',
  hpa: 'hPa', pressure: 'hPa', volts: 'V', voltage: 'V', amps: 'A', current: 'A', watts: 'W', power: 'W',
  lux: 'lx', kmh: 'km/h', ms: 'ms', seconds: 's', rpm: 'rpm', ppm: 'ppm',
};
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const $ = (id) => document.getElementById(id);
const state = {
  key: localStorage.getItem(KEY_STORE) || '',
  ws: null,
  window: 300,
  windows: [300],
  recorder: null,
  cards: new Map(), // name → { el, card, plots: Map(path → plot) }
  pending: [], // sends waiting for their acknowledgement, in order
  dirty: new Set(),
  frame: 0,
  timer: 0,
  generation: 0,
};

/** A unit for a field: what the data said (`"unit":"°C"`), else what its name says. */
function unitOf(field, units) {
  if (units && units[field]) return units[field];
  const f = field.toLowerCase();
  for (const [word, unit] of Object.entries(UNITS)) if (f === word || f.endsWith(`_${word}`)) return unit;
  return '';
}

function authHeaders() {
  return state.key ? { authorization: `Bearer ${state.key}` } : {};
}

async function api(path) {
  const res = await fetch(path, { headers: authHeaders(), cache: 'no-store' });
  if (res.status === 401) {
    const err = new Error('a valid key is required');
    err.status = 401;
    throw err;
  }
  if (!res.ok) throw new Error(`${path}: ${res.status} ${(await res.text()).trim()}`);
  return res.json();
}

function askKey(message) {
  $('key').hidden = false;
  $('key-error').textContent = message || '';
  $('state').textContent = 'locked';
  $('state').className = 'state down';
  $('key-input').focus();
}

$('key').addEventListener('submit', (e) => {
  e.preventDefault();
  state.key = $('key-input').value.trim();
  localStorage.setItem(KEY_STORE, state.key);
  $('key').hidden = true;
  start();
});

$('window').addEventListener('change', () => {
  state.window = Number($('window').value);
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) loadHistory(plot);
});

/** Starts (again): checks the key, opens the /live WebSocket, then loads sketches and histories. */
async function start() {
  const generation = ++state.generation;
  if (state.ws) {
    state.ws.onclose = null;
    state.ws.close();
    state.ws = null;
  }
  try {
    await api('/api/sketches');
  } catch (err) {
    if (err.status === 401) return askKey(state.key ? 'that key was refused' : '');
    return retry(generation, err.message);
  }
  const url = new URL('/live?new', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const protocols = ['sketchnet.v2'];
  if (state.key) protocols.push(`bearer.${state.key}`);
  const ws = new WebSocket(url, protocols);
  state.ws = ws;
  ws.onmessage = (e) => onFrame(JSON.parse(e.data), generation);
  ws.onclose = (e) => {
    if (generation !== state.generation) return;
    failPending('the dashboard connection closed');
    retry(generation, e.code === 1013 ? 'page fell behind: reloading' : `connection closed (${e.code})`);
  };
}

function retry(generation, why) {
  $('state').textContent = why;
  $('state').className = 'state down';
  setTimeout(() => generation === state.generation && start(), 1000);
}

async function onSubscribed(generation) {
  let overview;
  try {
    overview = await api('/api/sketches');
  } catch (err) {
    return retry(generation, err.message);
  }
  if (generation !== state.generation) return;
  $('state').textContent = 'live';
  $('state').className = 'state live';
  state.recorder = overview.recorder;
  setWindows(overview.windows);
  // Every plot starts again from history: live points received meanwhile wait in plot.pending.
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) plot.loaded = false;
  renderCards(overview.sketches);
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) if (!plot.loaded && !plot.loading) loadHistory(plot);
}

function setWindows(windows) {
  state.windows = windows;
  if (!windows.includes(state.window)) state.window = windows[0];
  const label = (s) => ({ 300: '5 min', 3600: '1 h', 86400: '24 h', 604800: '7 d' })[s] || `${s} s`;
  const sel = $('window');
  sel.replaceChildren(...windows.map((w) => new Option(label(w), String(w), false, w === state.window)));
  $('source').textContent = state.recorder ? `history from recorder "${state.recorder}"` : 'history from each sketch (no recorder found)';
}

function onFrame(frame, generation) {
  if (generation !== state.generation) return;
  if (frame.subscribed) return void onSubscribed(generation);
  if ('ack' in frame || frame.error) {
    const p = state.pending.shift();
    if (p) p(frame);
    return;
  }
  const data = frame.data;
  if (!data) return;
  if (data.sketches) {
    renderCards(data.sketches);
    for (const entry of state.cards.values()) for (const plot of entry.plots.values()) if (!plot.loaded && !plot.loading) loadHistory(plot);
  } else if (data.p) {
    const [sketch, stream, epoch, seq, time, values] = data.p;
    const plot = state.cards.get(sketch)?.plots.get(stream);
    if (!plot) return;
    if (!plot.loaded) plot.pending.push({ epoch, seq, time, values });
    else addPoint(plot, { epoch, seq, time, values });
  }
}

function failPending(message) {
  for (const p of state.pending.splice(0)) p({ error: { code: 'SKETCH_ERR_CLOSED', message } });
}

// ---- cards ---------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.includes('-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children);
  return e;
}

function renderCards(cards) {
  $('empty').hidden = cards.length > 0;
  const names = new Set(cards.map((c) => c.name));
  for (const [name, entry] of state.cards) {
    if (!names.has(name)) {
      for (const plot of entry.plots.values()) plot.u?.destroy();
      entry.el.remove();
      state.cards.delete(name);
    }
  }
  for (const card of cards) {
    let entry = state.cards.get(card.name);
    if (!entry) {
      entry = makeCard(card);
      state.cards.set(card.name, entry);
      $('sketches').append(entry.el);
    }
    updateCard(entry, card);
  }
}

function makeCard(card) {
  const title = el('h2', {}, el('span', { class: 'name' }, card.name), el('span', { class: 'kind' }, card.kind), el('span', { class: 'addr' }), el('span', { class: 'badge' }));
  const table = el('table', { class: 'streams' });
  const plots = el('div', { class: 'plots' });
  const input = el('input', { type: 'text', placeholder: `message to ${card.name}`, 'aria-label': `message to ${card.name}` });
  const button = el('button', { type: 'submit' }, 'Send');
  const reply = el('div', { class: 'reply', 'data-role': 'reply' });
  const form = el('form', { class: 'send' }, input, button);
  const root = el('section', { class: 'card', 'data-sketch': card.name }, title, table, plots, form, reply);
  const entry = { el: root, card, plots: new Map(), table, plotsEl: plots };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    send(card.name, input.value, reply);
  });
  return entry;
}

function updateCard(entry, card) {
  entry.card = card;
  entry.el.classList.toggle('gone', !card.up);
  entry.el.querySelector('.addr').textContent = card.address;
  entry.el.querySelector('.badge').textContent = card.up ? 'up' : 'gone';
  entry.el.querySelector('.badge').title = card.why || '';
  // A sketch whose loop is not @reactive never answers: no message box for it.
  entry.el.querySelector('form.send').hidden = card.acknowledges === false;
  entry.el.querySelector('.reply').hidden = card.acknowledges === false;
  const rows = card.streams.map((s) =>
    el('tr', {}, el('td', {}, s.path), el('td', {}, s.rate == null ? '–' : `${s.rate.toFixed(1)}/s`), el('td', {}, s.lag == null ? '–' : `lag ${(s.lag * 1000).toFixed(0)} ms`), el('td', {}, `${s.drops} dropped`)),
  );
  entry.table.replaceChildren(el('tr', {}, el('th', {}, 'stream'), el('th', {}, 'rate'), el('th', {}, 'lag'), el('th', {}, 'drops')), ...rows);
  if (card.kind === 'recorder' || card.kind === 'dashboard') return;
  for (const s of card.streams) {
    if (entry.plots.has(s.path)) continue;
    const box = el('div', { class: 'plot', 'data-stream': s.path, 'data-points': '0' }, el('h3', {}, s.path));
    entry.plotsEl.append(box);
    const plot = { sketch: card.name, stream: s.path, box, u: null, fields: [], units: {}, data: [[]], last: null, pending: [], loaded: false, loading: false, holes: 0, visible: true };
    entry.plots.set(s.path, plot);
    watchVisibility(plot);
  }
}

function send(to, message, out) {
  out.className = 'reply';
  out.textContent = '…';
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    out.className = 'reply error';
    out.textContent = 'error: not connected to the dashboard';
    return;
  }
  state.pending.push((frame) => {
    if (frame.error) {
      out.className = 'reply error';
      out.textContent = `error (${frame.error.code}): ${frame.error.message}`;
    } else out.textContent = typeof frame.ack === 'string' ? frame.ack : JSON.stringify(frame.ack);
  });
  state.ws.send(JSON.stringify({ to, message }));
}

// ---- plots ---------------------------------------------------------------------------------

async function loadHistory(plot) {
  plot.loading = true;
  plot.loaded = false;
  const generation = state.generation;
  const window = state.window;
  let h;
  try {
    h = await api(`/api/history?sketch=${encodeURIComponent(plot.sketch)}&stream=${encodeURIComponent(plot.stream)}&window=${window}`);
  } catch (err) {
    plot.loading = false;
    if (err.status === 401) return askKey('that key was refused');
    plot.box.dataset.error = err.message;
    setTimeout(() => generation === state.generation && !plot.loaded && loadHistory(plot), 1000);
    return;
  }
  if (generation !== state.generation || window !== state.window) {
    plot.loading = false;
    return;
  }
  plot.units = h.units || {};
  plot.box.dataset.source = h.source;
  plot.data = [h.time.slice(), ...h.fields.map((f) => h.values[f].slice())];
  plot.fields = h.fields.slice();
  plot.last = h.last;
  plot.box.dataset.history = String(h.time.length);
  build(plot);
  plot.loading = false;
  plot.loaded = true;
  // Live points that arrived while the history loaded: only those after it (no duplicate at the seam).
  const pending = plot.pending.splice(0);
  for (const p of pending) addPoint(plot, p);
  markDirty(plot);
}

/** Whether point `p` comes after the plot's newest (same epoch: higher seq; new epoch: a later sample). */
function isNew(plot, p) {
  const last = plot.last;
  if (!last) return true;
  return p.epoch === last.epoch ? p.seq > last.seq : p.time > last.time;
}

function addPoint(plot, p) {
  if (!isNew(plot, p)) return;
  // A live point that does not follow the previous one of its epoch: a hole (counted, for tests).
  if (plot.last && plot.last.epoch === p.epoch && p.seq !== plot.last.seq + 1) plot.holes++;
  for (const f of Object.keys(p.values)) {
    if (!plot.fields.includes(f)) {
      plot.fields.push(f);
      plot.data.push(plot.data[0].map(() => null));
      plot.rebuild = true;
    }
  }
  plot.data[0].push(p.time);
  plot.fields.forEach((f, i) => plot.data[i + 1].push(p.values[f] ?? null));
  plot.last = { epoch: p.epoch, seq: p.seq, time: p.time };
  markDirty(plot);
}

function markDirty(plot) {
  state.dirty.add(plot);
  if (!state.frame && !state.timer) state.frame = requestAnimationFrame(flush);
}

/**
 * How often a plot's live points are worth drawing, in ms: the time its window takes to move
 * by one pixel (a 5-minute window 600 px wide: every 500 ms), between MIN_REDRAW_MS and
 * MAX_REDRAW_MS. Drawing more often shows nothing new and costs the browser's main thread a
 * canvas repaint each time (20 streams at 10 Hz drawn every frame: a third of a core).
 */
function redrawEvery(plot) {
  const width = Math.max(100, plot.box.clientWidth || 300);
  return Math.min(MAX_REDRAW_MS, Math.max(MIN_REDRAW_MS, (state.window * 1000) / width));
}

/** Plots scrolled out of view are not redrawn (their points are still kept); on coming back, they are. */
const visibility = typeof IntersectionObserver === 'function'
  ? new IntersectionObserver((entries) => {
      for (const e of entries) {
        const plot = e.target.plot;
        if (!plot) continue;
        plot.visible = e.isIntersecting;
        if (plot.visible) markDirty(plot);
      }
    })
  : null;

function watchVisibility(plot) {
  plot.box.plot = plot;
  visibility?.observe(plot.box);
}

/** On an animation frame: trims each changed plot that is due to its window and, when it is in view, hands it to uPlot. */
function flush() {
  state.frame = 0;
  const nowMs = Date.now();
  const now = nowMs / 1000;
  let next = Infinity;
  for (const plot of state.dirty) {
    const due = (plot.drawn || 0) + redrawEvery(plot);
    if (plot.u && !plot.rebuild && due > nowMs) {
      next = Math.min(next, due);
      continue; // stays dirty: drawn when due
    }
    const xs = plot.data[0];
    const from = now - state.window;
    let cut = 0;
    while (cut < xs.length && xs[cut] < from) cut++;
    cut = Math.max(cut, xs.length - MAX_PLOT_POINTS);
    if (cut > 0) for (const col of plot.data) col.splice(0, cut);
    plot.drawn = nowMs;
    state.dirty.delete(plot);
    if (plot.u && !plot.rebuild && !plot.visible) continue; // trimmed, drawn when it comes into view
    if (plot.rebuild || !plot.u) build(plot);
    else plot.u.setData(plot.data);
    plot.box.dataset.points = String(plot.data[0].length);
    plot.box.dataset.first = plot.data[0].length ? String(plot.data[0][0]) : '';
    plot.box.dataset.epoch = plot.last ? plot.last.epoch : '';
    plot.box.dataset.seq = plot.last ? String(plot.last.seq) : '0';
  }
  if (state.dirty.size && !state.timer) {
    state.timer = setTimeout(() => {
      state.timer = 0;
      state.frame = requestAnimationFrame(flush);
    }, Math.max(0, next - Date.now()));
  }
}

function build(plot) {
  plot.rebuild = false;
  plot.u?.destroy();
  const width = Math.max(200, plot.box.clientWidth || 300);
  const units = [...new Set(plot.fields.map((f) => unitOf(f, plot.units)).filter(Boolean))];
  const opts = {
    width,
    height: 180,
    series: [{}, ...plot.fields.map((f, i) => {
      const unit = unitOf(f, plot.units);
      return { label: unit ? `${f} (${unit})` : f, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, value: (u, v) => (v == null ? '–' : `${v.toFixed(2)}${unit ? ` ${unit}` : ''}`) };
    })],
    axes: [{}, { label: units.join(', '), size: 60 }],
    scales: { x: { time: true } },
    legend: { live: true },
  };
  plot.u = new uPlot(opts, plot.data, plot.box);
  plot.box.dataset.points = String(plot.data[0].length);
  plot.box.dataset.first = plot.data[0].length ? String(plot.data[0][0]) : '';
  plot.box.dataset.fields = plot.fields.join(',');
}

new ResizeObserver(() => {
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) plot.u?.setSize({ width: Math.max(200, plot.box.clientWidth), height: 180 });
}).observe(document.body);

// Test and debugging hook: what each plot holds.
window.sketchnetDashboard = {
  plots: () =>
    [...state.cards.values()].flatMap((e) =>
      [...e.plots.values()].map((p) => ({
        sketch: p.sketch,
        stream: p.stream,
        points: p.data[0].length,
        fields: p.fields,
        last: p.last,
        source: p.box.dataset.source || null,
        loaded: p.loaded,
        holes: p.holes,
        ascending: p.data[0].every((x, i, xs) => i === 0 || x > xs[i - 1]),
      })),
    ),
};

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();

// The dashboard page: a plain browser ES module (no build step). It reads the dashboard's API
// with its key (GET /api/sketches, /api/history, /api/trace, /api/tail), subscribes to the
// dashboard's /live stream (sketchnet.v2, ?new) and plots every numeric field of every stream
// with uPlot: columnar data, x in Unix seconds, local time axis, setData at most once per
// animation frame per plot, and live redraws no more often than the plot moves by a pixel (see
// redrawEvery). Above the cards: the circuit (circuit.js), the latest tick's waterfall
// (waterfall.js) and the pin lanes (lanes.js), on the plots' time axis. Plots and lanes share one
// x range: the window's last seconds (live), or what was zoomed to (drag a plot, Ctrl+wheel or
// pinch; Shift+wheel or a horizontal wheel pans, so do the lanes when dragged); the ↺ button or
// a double click goes back to live.

import { createCircuit } from './circuit.js';
import { createLanes } from './lanes.js';
import { renderWaterfall } from './waterfall.js';

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
/** Streams drawn as pin lanes: `/pin` (buzzer, iopin --pin) and `/edges` (button). */
const LANE_STREAM = /^\/(pin|edges)$/;
/** Streams whose items carry a trace id and are drawn as tick markers: the clock's `/ticks`. */
const TICKS_STREAM = '/ticks';
/** How often the waterfall looks for a newer tick, ms. */
const WATERFALL_EVERY_MS = 2000;
/** A tick is drawn once it is this old, s: its spans have come back from every hop by then. */
const TICK_SETTLE_S = 0.6;
/** How often an open tail asks for the latest messages, ms. */
const TAIL_EVERY_MS = 2000;
/** Shortest zoomed range, s. */
const MIN_VIEW_S = 0.01;

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
  list: [], // the latest cards, as /api/sketches has them
  view: null, // [x0, x1] s when zoomed, else null: the window's last seconds, live
  banner: { visible: false, text: '', losses: 0, recoveries: 0, connected: false },
  wf: { pick: 'latest', trace: null, fetchedAt: 0, tries: 0, info: null },
  lanesDue: 0,
};

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const hhmmss = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const ago = (ms) => (ms < 90_000 ? `${Math.round(ms / 1000)} s` : ms < 5_400_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 3_600_000)} h`);

/** The shared x range of plots and lanes, s since the epoch. */
function xRange() {
  if (state.view) return state.view;
  const now = Date.now() / 1000;
  return [now - state.window, now];
}

/** Zooms every plot and the lanes to `range` ([x0, x1], s), or back to live with null. */
function setView(range) {
  if (range) {
    let [a, b] = range;
    if (b - a < MIN_VIEW_S) {
      const mid = (a + b) / 2;
      a = mid - MIN_VIEW_S / 2;
      b = mid + MIN_VIEW_S / 2;
    }
    state.view = [a, b];
  } else state.view = null;
  $('reset-view').hidden = !state.view;
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) applyRange(plot);
  drawLanes();
}

function applyRange(plot) {
  if (!plot.u) return;
  const [min, max] = xRange();
  plot.u.setScale('x', { min, max });
}

function showBanner(text) {
  if (!state.banner.visible) state.banner.losses++;
  state.banner.visible = true;
  state.banner.text = text;
  $('banner').textContent = text;
  $('banner').hidden = false;
}

function hideBanner() {
  if (state.banner.visible) state.banner.recoveries++;
  state.banner.visible = false;
  $('banner').hidden = true;
}


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

/** GET `path` from the API; `early`: the same request already made (index.html's first `/api/sketches`). */
async function api(path, early) {
  const res = (await early) || (await fetch(path, { headers: authHeaders(), cache: 'no-store' }));
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
  // index.html asked for the first list while the scripts loaded (with the key stored then).
  const early = window.sketchnetEarly;
  window.sketchnetEarly = null;
  let first;
  try {
    first = await api('/api/sketches', early?.key === state.key ? early.res : null);
  } catch (err) {
    if (err.status === 401) return askKey(state.key ? 'that key was refused' : '');
    return retry(generation, err.message);
  }
  if (generation !== state.generation) return;
  // The circuit at once (its layout is the page's longest step), before the cards: they come
  // with /live (onSubscribed), as do the plots' histories.
  if (!state.list.length) {
    put($('overview'), 'hidden', first.sketches.length === 0);
    circuit.update(first.sketches);
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
    state.banner.connected = false;
    if (e.code !== 1013) showBanner(`Lost the connection to the dashboard at ${hhmmss(Date.now() / 1000)} — reconnecting…`);
    retry(generation, e.code === 1013 ? 'page fell behind: reloading' : `connection closed (${e.code})`);
  };
}

function retry(generation, why) {
  $('state').textContent = why;
  $('state').className = 'state down';
  if (state.banner.visible) $('banner').textContent = `${state.banner.text.replace(/ \(.*\)$/, '')} (${why})`;
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
  state.banner.connected = true;
  hideBanner();
  state.wf.trace = null;
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
    const [sketch, stream, epoch, seq, time, values, trace] = data.p;
    const plot = state.cards.get(sketch)?.plots.get(stream);
    if (!plot) return;
    const p = { epoch, seq, time, values, trace: trace || null };
    if (!plot.loaded) plot.pending.push(p);
    else addPoint(plot, p);
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

/**
 * Sets `target[key]` only when it differs: a poll that changes nothing writes nothing (even the
 * same value written again invalidates style, and 50 cards every poll cost a frame of work).
 */
function put(target, key, value) {
  if (target[key] !== value) target[key] = value;
}

function renderCards(cards) {
  state.list = cards;
  put($('empty'), 'hidden', cards.length > 0);
  put($('overview'), 'hidden', cards.length === 0);
  circuit.update(cards);
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
  drawLanes();
}

/** Shows `name`'s card (a click on its node in the circuit): scrolled to and outlined for 2 s. */
function selectCard(name) {
  const entry = state.cards.get(name);
  if (!entry) return;
  entry.el.scrollIntoView({ behavior: 'smooth', block: 'start' });
  entry.el.classList.add('selected');
  clearTimeout(entry.selectTimer);
  entry.selectTimer = setTimeout(() => entry.el.classList.remove('selected'), 2000);
}

function makeCard(card) {
  const title = el('h2', {}, el('span', { class: 'name' }, card.name), el('span', { class: 'kind' }, card.kind), el('span', { class: 'addr' }), el('span', { class: 'badge' }), el('span', { class: 'storage', hidden: true }), el('span', { class: 'seen' }));
  const table = el('table', { class: 'streams' });
  const plots = el('div', { class: 'plots' });
  const input = el('input', { type: 'text', placeholder: `message to ${card.name}`, 'aria-label': `message to ${card.name}` });
  const button = el('button', { type: 'submit' }, 'Send');
  const reply = el('div', { class: 'reply', 'data-role': 'reply' });
  const form = el('form', { class: 'send' }, input, button);
  const tails = el('div', { class: 'tails' });
  // The message box first: its input and button are the card's first (tests and keyboards rely on it).
  const root = el('section', { class: 'card', 'data-sketch': card.name }, title, table, form, reply, tails, plots);
  const entry = { el: root, card, plots: new Map(), table, plotsEl: plots, tailsEl: tails, tails: new Map() };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    send(card.name, input.value, reply);
  });
  return entry;
}

/** A recorder's database when it takes no writes: `disk full, 12 KB free` (status `recorder.storage`). */
function showStorage(badge, storage) {
  const bad = storage && storage.state !== 'ok';
  put(badge, 'hidden', !bad);
  if (!bad) return;
  const free = storage.freeBytes == null ? '' : `, ${fmtFree(storage.freeBytes)} free`;
  put(badge, 'textContent', `${storage.state === 'full' ? 'disk full' : 'disk error'}${free}`);
  put(badge, 'title', 'the recorder is not writing: it keeps answering from what it has and resumes once the disk takes writes');
}

function fmtFree(bytes) {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} KB`;
}

function updateCard(entry, card) {
  entry.card = card;
  const live = card.state || (card.up ? 'up' : 'down');
  entry.el.classList.toggle('gone', !card.up);
  entry.el.classList.toggle('stale', live === 'stale');
  entry.el.classList.toggle('down', live === 'down');
  put(entry.el.dataset, 'state', live);
  put(entry.el.querySelector('.addr'), 'textContent', card.address);
  put(entry.el.querySelector('.badge'), 'textContent', live);
  put(entry.el.querySelector('.badge'), 'title', card.why || '');
  showSeen(entry);
  showStorage(entry.el.querySelector('.storage'), card.storage);
  updateTails(entry, card);
  // A sketch whose loop is not @reactive never answers: no message box for it.
  put(entry.el.querySelector('form.send'), 'hidden', card.acknowledges === false);
  put(entry.el.querySelector('.reply'), 'hidden', card.acknowledges === false);
  const cells = card.streams.map((s) => [s.path, s.rate == null ? '–' : `${s.rate.toFixed(1)}/s`, s.lag == null ? '–' : `lag ${(s.lag * 1000).toFixed(0)} ms`, `${s.drops} dropped`]);
  const rowsKey = JSON.stringify(cells);
  if (entry.rowsKey !== rowsKey) {
    entry.rowsKey = rowsKey;
    entry.table.replaceChildren(el('tr', {}, el('th', {}, 'stream'), el('th', {}, 'rate'), el('th', {}, 'lag'), el('th', {}, 'drops')), ...cells.map((row) => el('tr', {}, ...row.map((c) => el('td', {}, c)))));
  }
  if (card.kind === 'recorder' || card.kind === 'dashboard') return;
  for (const s of card.streams) {
    if (entry.plots.has(s.path)) continue;
    const csv = el('button', { type: 'button', class: 'small', title: 'the visible window as CSV' }, 'CSV');
    const box = el('div', { class: 'plot', 'data-stream': s.path, 'data-points': '0' }, el('h3', {}, s.path, csv));
    entry.plotsEl.append(box);
    const plot = { sketch: card.name, stream: s.path, box, u: null, fields: [], units: {}, data: [[]], traces: [], last: null, pending: [], loaded: false, loading: false, holes: 0, visible: true };
    csv.addEventListener('click', () => download(`${card.name}${s.path.replace(/\//g, '_')}.csv`, plotCsv(plot)));
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
  plot.traces = h.traces ? h.traces.slice() : h.time.map(() => null);
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
  plot.traces.push(p.trace || null);
  plot.last = { epoch: p.epoch, seq: p.seq, time: p.time };
  markDirty(plot);
}

function markDirty(plot) {
  if (LANE_STREAM.test(plot.stream) || plot.stream === TICKS_STREAM) state.lanesDirty = true;
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
    if (cut > 0) {
      for (const col of plot.data) col.splice(0, cut);
      plot.traces.splice(0, cut);
    }
    plot.drawn = nowMs;
    state.dirty.delete(plot);
    if (plot.u && !plot.rebuild && !plot.visible) continue; // trimmed, drawn when it comes into view
    if (plot.rebuild || !plot.u) build(plot);
    else {
      const [min, max] = xRange();
      plot.u.batch(() => {
        plot.u.setData(plot.data, false);
        plot.u.setScale('x', { min, max });
      });
    }
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
      // On a pin stream the pin number and the edge counter are labels, not signals: hidden (the legend shows them again).
      const show = !(LANE_STREAM.test(plot.stream) && (f === 'pin' || f === 'seqno'));
      return { show, label: unit ? `${f} (${unit})` : f, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, value: (u, v) => (v == null ? '–' : `${v.toFixed(2)}${unit ? ` ${unit}` : ''}`) };
    })],
    axes: [axis(), { ...axis(), label: units.join(', '), size: 60 }],
    scales: { x: { time: true } },
    legend: { live: true },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      bind: { dblclick: () => () => (setView(null), null) },
    },
    hooks: {
      // A drag selects a range: every plot and the lanes zoom to it.
      setSelect: [(u) => {
        if (u.select.width < 3) return;
        const range = [u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x')];
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        setView(range);
      }],
      ready: [(u) => u.over.addEventListener('wheel', (ev) => wheel(ev, u.over.clientWidth, u.posToVal(ev.offsetX, 'x')), { passive: false })],
    },
  };
  plot.u = new uPlot(opts, plot.data, plot.box);
  applyRange(plot);
  plot.box.dataset.points = String(plot.data[0].length);
  plot.box.dataset.first = plot.data[0].length ? String(plot.data[0][0]) : '';
  plot.box.dataset.fields = plot.fields.join(',');
}

/** Axis colours from the page's (light or dark) palette. */
function axis() {
  return { stroke: css('--muted'), grid: { stroke: css('--line'), width: 1 }, ticks: { stroke: css('--line'), width: 1 } };
}

/** Ctrl+wheel (a pinch on a touchpad) zooms around `at` (s); Shift+wheel or a horizontal wheel pans; a plain wheel scrolls the page. */
function wheel(ev, width, at) {
  const [x0, x1] = xRange();
  const span = x1 - x0;
  if (ev.ctrlKey || ev.metaKey) {
    ev.preventDefault();
    const k = ev.deltaY > 0 ? 1.25 : 0.8;
    setView([at - (at - x0) * k, at + (x1 - at) * k]);
  } else if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
    ev.preventDefault();
    const shift = ((ev.shiftKey ? ev.deltaY || ev.deltaX : ev.deltaX) / Math.max(1, width)) * span;
    setView([x0 + shift, x1 + shift]);
  }
}

new ResizeObserver(() => {
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) plot.u?.setSize({ width: Math.max(200, plot.box.clientWidth), height: 180 });
  drawLanes();
}).observe(document.body);

// Dark mode follows the system: plots are built again with the other palette, the lanes redrawn.
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  for (const entry of state.cards.values()) for (const plot of entry.plots.values()) if (plot.u) build(plot);
  drawLanes();
});

// ---- CSV -----------------------------------------------------------------------------------

const iso = (t) => new Date(t * 1000).toISOString();

/** The plot's points in the visible range as CSV: `time` (s since the epoch), `iso`, then each field. */
function plotCsv(plot) {
  const [x0, x1] = xRange();
  const rows = [['time', 'iso', ...plot.fields].join(',')];
  const xs = plot.data[0];
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < x0 || xs[i] > x1) continue;
    rows.push([xs[i], iso(xs[i]), ...plot.fields.map((_, k) => plot.data[k + 1][i] ?? '')].join(','));
  }
  return `${rows.join('\n')}\n`;
}

/** Every lane's points in the visible range as CSV: `sketch,stream,pin,time,iso,value`. */
function lanesCsv() {
  const [x0, x1] = xRange();
  const rows = ['sketch,stream,pin,time,iso,value'];
  for (const lane of laneSources()) {
    lane.times.forEach((t, i) => {
      if (t >= x0 && t <= x1) rows.push([csvText(lane.sketch), lane.stream, lane.pin ?? '', t, iso(t), lane.values[i]].join(','));
    });
  }
  return `${rows.join('\n')}\n`;
}

const csvText = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

$('lanes-csv').addEventListener('click', () => download('lanes.csv', lanesCsv()));
$('reset-view').addEventListener('click', () => setView(null));

// ---- circuit -------------------------------------------------------------------------------

const circuit = createCircuit($('circuit'), { onSelect: selectCard });

// ---- liveness ------------------------------------------------------------------------------

function showSeen(entry) {
  const card = entry.card;
  const live = card.state || (card.up ? 'up' : 'down');
  const seen = entry.el.querySelector('.seen');
  put(seen, 'textContent', live === 'up' || !card.seen ? '' : `last seen ${ago(Date.now() - card.seen)} ago`);
  put(seen, 'title', card.seen ? new Date(card.seen).toLocaleString() : '');
}

setInterval(() => {
  for (const entry of state.cards.values()) if (entry.card.state && entry.card.state !== 'up') showSeen(entry);
}, 1000);

// ---- lanes ---------------------------------------------------------------------------------

const lanes = createLanes($('lanes'), { onView: setView });

/** One lane per pin of every `/pin` and `/edges` plot: `{ id, sketch, stream, pin, label, times, values, end, stale }`. */
function laneSources() {
  const out = [];
  const now = Date.now() / 1000;
  for (const entry of state.cards.values()) {
    for (const plot of entry.plots.values()) {
      if (!LANE_STREAM.test(plot.stream)) continue;
      const vi = plot.fields.indexOf('value');
      if (vi < 0) continue;
      const pi = plot.fields.indexOf('pin');
      const byPin = new Map();
      const xs = plot.data[0];
      for (let i = 0; i < xs.length; i++) {
        const v = plot.data[vi + 1][i];
        if (v == null) continue;
        const pin = pi < 0 ? null : plot.data[pi + 1][i];
        if (!byPin.has(pin)) byPin.set(pin, { times: [], values: [] });
        const l = byPin.get(pin);
        l.times.push(xs[i]);
        l.values.push(v > 0 ? 1 : 0);
      }
      const live = entry.card.state || (entry.card.up ? 'up' : 'down');
      for (const [pin, l] of byPin) {
        const last = l.times.at(-1) ?? 0;
        out.push({
          id: `${plot.sketch}${plot.stream}${pin == null ? '' : `#${pin}`}`,
          sketch: plot.sketch,
          stream: plot.stream,
          pin,
          label: `${plot.sketch} ${plot.stream}${pin == null ? '' : ` · GPIO ${pin}`}`,
          times: l.times,
          values: l.values,
          end: live === 'up' ? now : Math.max(last, (entry.card.seen || 0) / 1000),
          stale: live !== 'up',
        });
      }
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** The clock's ticks: `{ sketch, time, tick, trace }` of every `/ticks` plot, oldest first. */
function ticks() {
  const out = [];
  for (const entry of state.cards.values()) {
    const plot = entry.plots.get(TICKS_STREAM);
    if (!plot) continue;
    const ti = plot.fields.indexOf('tick');
    plot.data[0].forEach((t, i) => out.push({ sketch: plot.sketch, time: t, tick: ti < 0 ? null : plot.data[ti + 1][i], trace: plot.traces[i] || null }));
  }
  return out.sort((a, b) => a.time - b.time);
}

function drawLanes() {
  state.lanesDirty = false;
  const sources = laneSources();
  const tickTimes = ticks().map((t) => t.time);
  // (called every 100 ms while there is no lane: the same value written again would cost a frame each time)
  const hidden = sources.length === 0 && tickTimes.length === 0;
  put($('lanes-panel'), 'hidden', hidden);
  if (hidden || $('overview').hidden) return;
  lanes.draw(sources, tickTimes, xRange());
  state.lanesDrawn = Date.now();
}

/** Live lanes move with time: redrawn when the window moves by a pixel (100 ms–1 s), or at once after a zoom. */
function lanesLoop() {
  const width = Math.max(100, $('lanes').clientWidth || 300);
  const every = Math.min(MAX_REDRAW_MS, Math.max(MIN_REDRAW_MS, (state.window * 1000) / width));
  if ((!state.view || state.lanesDirty) && Date.now() - (state.lanesDrawn || 0) >= every && !document.hidden) drawLanes();
  setTimeout(lanesLoop, MIN_REDRAW_MS);
}
lanesLoop();

// ---- waterfall -----------------------------------------------------------------------------

/** Looks for the tick to draw (the newest settled one, or the one picked) and draws its trace. */
async function waterfallLoop() {
  try {
    await refreshWaterfall();
  } finally {
    setTimeout(waterfallLoop, WATERFALL_EVERY_MS);
  }
}

async function refreshWaterfall() {
  const list = ticks().filter((t) => t.trace);
  const hasTicks = list.length > 0;
  put($('waterfall-panel'), 'hidden', !hasTicks);
  $('overview').classList.toggle('no-waterfall', !hasTicks);
  if (!hasTicks || document.hidden || !state.banner.connected) return;
  const now = Date.now() / 1000;
  const settled = list.filter((t) => t.time <= now - TICK_SETTLE_S);
  const recent = settled.slice(-10).reverse();
  const sel = $('tick-pick');
  const wanted = state.wf.pick;
  sel.replaceChildren(new Option('latest', 'latest', false, wanted === 'latest'), ...recent.map((t) => new Option(`tick ${t.tick ?? '?'} · ${hhmmss(t.time)}`, t.trace, false, wanted === t.trace)));
  if (wanted !== 'latest' && !recent.some((t) => t.trace === wanted)) sel.append(new Option(`trace ${wanted.slice(0, 8)}…`, wanted, true, true));
  const trace = wanted === 'latest' ? recent[0]?.trace : wanted;
  if (!trace) return;
  // A trace is asked again once (its last hop may not have answered the first time), then kept.
  if (trace === state.wf.trace && state.wf.tries >= 2) return;
  state.wf.tries = trace === state.wf.trace ? state.wf.tries + 1 : 1;
  state.wf.trace = trace;
  let answer;
  try {
    answer = await api(`/api/trace?id=${trace}`);
  } catch (err) {
    if (err.status === 401) return askKey('that key was refused');
    $('waterfall').textContent = err.message;
    return;
  }
  if (state.wf.trace !== trace) return;
  state.wf.info = { ...renderWaterfall($('waterfall'), answer), missing: answer.missing };
  state.wf.fetchedAt = Date.now();
}

$('tick-pick').addEventListener('change', () => {
  state.wf.pick = $('tick-pick').value;
  state.wf.trace = null;
  void refreshWaterfall();
});
waterfallLoop();

// ---- tails ---------------------------------------------------------------------------------

/** One tail per outgoing link of the sketch: the latest messages sent on it, filterable, read while open. */
function updateTails(entry, card) {
  const tos = new Set((card.links?.out || []).map((l) => l.to));
  for (const [to, t] of entry.tails) {
    if (!tos.has(to)) {
      t.el.remove();
      entry.tails.delete(to);
    }
  }
  for (const to of tos) {
    if (entry.tails.has(to)) continue;
    const filter = el('input', { type: 'search', placeholder: 'filter', 'aria-label': `filter the messages to ${to}` });
    const list = el('ol');
    const details = el('details', { class: 'tail', 'data-to': to }, el('summary', {}, `latest messages to ${to}`), filter, list);
    const t = { el: details, list, filter, messages: [], timer: 0 };
    entry.tails.set(to, t);
    entry.tailsEl.append(details);
    filter.addEventListener('input', () => renderTail(t));
    details.addEventListener('toggle', () => details.open && readTail(entry, to, t));
  }
}

async function readTail(entry, to, t) {
  clearTimeout(t.timer);
  if (!t.el.open || !t.el.isConnected) return;
  try {
    const answer = await api(`/api/tail?sketch=${encodeURIComponent(entry.card.name)}&to=${encodeURIComponent(to)}`);
    t.messages = answer.messages;
    t.error = '';
  } catch (err) {
    t.error = err.message;
  }
  renderTail(t);
  t.timer = setTimeout(() => readTail(entry, to, t), TAIL_EVERY_MS);
}

function renderTail(t) {
  const q = t.filter.value.trim().toLowerCase();
  const shown = t.messages.filter((m) => !q || `${m.message} ${m.ack ?? ''} ${m.error ?? ''}`.toLowerCase().includes(q)).slice(-100).reverse();
  const items = shown.map((m) =>
    el('li', { class: m.status === 'error' ? 'error' : '' }, `${new Date(m.time * 1000).toLocaleTimeString([], { hour12: false })}.${String(Math.floor((m.time % 1) * 1000)).padStart(3, '0')} → ${JSON.stringify(m.message)}${m.ack !== undefined ? ` ← ${JSON.stringify(m.ack)}` : ''}${m.error ? ` ✗ ${m.error}` : ''} (${m.ms.toFixed(1)} ms)`),
  );
  if (t.error) items.unshift(el('li', { class: 'error' }, t.error));
  else if (!items.length) items.push(el('li', { class: 'muted' }, q ? 'no message matches' : 'no message yet'));
  t.list.replaceChildren(...items);
}

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
  /** The circuit as drawn: nodes (state, position), edges (rate, p99, dashed, pulses), layouts run. */
  circuit: () => circuit.info(),
  /** Draws the circuit from cards of the `/api/sketches` shape (a benchmark's synthetic network). */
  drawCircuit: (cards) => circuit.update(cards),
  /** performance.now() when the circuit was first drawn. */
  get drawnAt() {
    return circuit.drawnAt;
  },
  /** Every lane: its points and what the last drawing showed (transitions in view, band columns). */
  lanes: () => {
    const drawn = new Map(lanes.drawn.map((d) => [d.id, d]));
    return laneSources().map((l) => ({ id: l.id, sketch: l.sketch, stream: l.stream, pin: l.pin, points: l.times.map((t, i) => [t, l.values[i]]), stale: l.stale, drawn: drawn.get(l.id) || null }));
  },
  ticks: () => ticks(),
  /** The waterfall drawn: its trace, spans (sketch, name, depth, start and duration in ms), sketches and hops. */
  waterfall: () => state.wf.info,
  /** The lost-connection banner: shown now, its text, how often it was shown and cleared. */
  banner: () => ({ visible: state.banner.visible, text: state.banner.text, losses: state.banner.losses, recoveries: state.banner.recoveries }),
  /** The shared x range (s) and whether it is zoomed; `setView([x0, x1] | null)`. */
  view: () => ({ range: xRange(), zoomed: !!state.view }),
  setView,
  csv: (sketch, stream) => {
    const plot = state.cards.get(sketch)?.plots.get(stream);
    return plot ? plotCsv(plot) : null;
  },
  lanesCsv: () => lanesCsv(),
};

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();

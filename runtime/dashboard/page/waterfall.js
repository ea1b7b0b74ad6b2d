// The waterfall of one trace (`GET /api/trace?id=`): each span a bar — its sketch, name, start
// offset from the trace's first span and duration in ms — children indented under their parent.

/** Spans in tree order (parent, then its children by start), each with its depth. Spans whose parent is not in the trace are roots. */
export function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parentSpanId && byId.has(s.parentSpanId)) {
      if (!children.has(s.parentSpanId)) children.set(s.parentSpanId, []);
      children.get(s.parentSpanId).push(s);
    } else roots.push(s);
  }
  const out = [];
  const visit = (s, depth) => {
    out.push({ span: s, depth });
    for (const c of children.get(s.spanId) || []) visit(c, depth + 1);
  };
  for (const r of roots) visit(r, 0);
  return out;
}

const ms = (x) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));

/** Draws `answer` (the `/api/trace` shape) into `box`; returns what it drew. */
export function renderWaterfall(box, answer) {
  const rows = spanTree(answer.spans);
  if (!rows.length) {
    box.replaceChildren(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'no spans for this trace yet' }));
    return { trace: answer.trace, spans: [], sketches: [], hops: 0 };
  }
  const t0 = rows.reduce((m, r) => (BigInt(r.span.startTimeUnixNano) < m ? BigInt(r.span.startTimeUnixNano) : m), BigInt(rows[0].span.startTimeUnixNano));
  const t1 = rows.reduce((m, r) => (BigInt(r.span.endTimeUnixNano) > m ? BigInt(r.span.endTimeUnixNano) : m), 0n);
  const total = Math.max(1e-3, Number(t1 - t0) / 1e6);
  const drawn = [];
  const els = rows.map(({ span, depth }) => {
    const start = Number(BigInt(span.startTimeUnixNano) - t0) / 1e6;
    const dur = Math.max(0, Number(BigInt(span.endTimeUnixNano) - BigInt(span.startTimeUnixNano)) / 1e6);
    drawn.push({ sketch: span.sketch, name: span.name, kind: span.kind, depth, start, ms: dur, spanId: span.spanId, parentSpanId: span.parentSpanId || null });
    const row = document.createElement('div');
    row.className = `span kind-${span.kind}${span.status?.code === 'error' ? ' error' : ''}`;
    const label = document.createElement('div');
    label.className = 'span-label';
    label.style.paddingLeft = `calc(${depth} * var(--indent))`;
    label.textContent = `${span.sketch} · ${span.name}`;
    label.title = Object.entries(span.attributes || {}).map(([k, v]) => `${k}: ${v}`).join('\n');
    const track = document.createElement('div');
    track.className = 'span-track';
    const bar = document.createElement('div');
    bar.className = 'span-bar';
    bar.style.left = `${(start / total) * 100}%`;
    bar.style.width = `max(2px, ${(dur / total) * 100}%)`;
    const text = document.createElement('span');
    text.className = 'span-ms';
    text.append(Object.assign(document.createElement('span'), { className: 'span-start', textContent: `+${ms(start)} ms · ` }), `${ms(dur)} ms`);
    track.append(bar);
    row.append(label, track, text);
    return row;
  });
  box.replaceChildren(...els);
  const sketches = [];
  for (const d of drawn) if (!sketches.includes(d.sketch)) sketches.push(d.sketch);
  // Hops: client spans whose receiving server span is in another sketch of the trace.
  const hops = drawn.filter((d) => d.kind === 'server' && drawn.some((p) => p.spanId === d.parentSpanId && p.sketch !== d.sketch)).length;
  return { trace: answer.trace, spans: drawn, sketches, hops, totalMs: total };
}

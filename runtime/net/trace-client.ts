/**
 * Following requests across sketches (`sketch trace NAME`): watch the requests one sketch
 * handles (and the traces it starts: the clock's ticks) and, for each, gather the spans of its
 * trace from every sketch it went through, as a tree of hops — `clock → iopin 402.1 ms`, then
 * `iopin → buzzer 0.41 ms` per bit.
 *
 * How: NAME's spans are read once (`GET /.well-known/sketch/spans`: what it handled before is
 * not shown), then polled every {@link TRACE_POLL_MS} ms with `?since=` for new `receive` spans
 * and new roots.
 * For each new trace, after {@link TRACE_SETTLE_MS} ms (time for the hops around it to end), the
 * spans of the trace (`?trace=ID`) are asked of NAME and then of the sketches its spans name —
 * the senders (`sketch.from`) and the peers sent to (`sketch.peer`), found over mDNS by name or
 * reached at their `ws://` URL — until no new sketch is named. A trace whose spans point to
 * parents not found yet (a hop still running) is asked again, up to {@link TRACE_GATHER_MS} ms.
 * The tree is built by {@link traceTree} (pure), printed by {@link formatTrace}.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, oneLine } from '../errors.js';
import type { Discovery, FoundSketch } from '../discovery/mdns.js';
import { getJson, httpUrl, type ClientSecurity } from './client.js';
import { SPANS_PATH } from './spans-http.js';
import type { SpanJson } from './spans.js';

/** How often NAME's new spans are read, ms: 200. */
export const TRACE_POLL_MS = 200;
/** Wait after a new request is seen before its trace is gathered, ms: 300. */
export const TRACE_SETTLE_MS = 300;
/** Longest a trace is gathered again while hops of it are still running, ms: 3000. */
export const TRACE_GATHER_MS = 3000;
/** Longest wait for one spans answer, ms: 2000. */
export const SPANS_TIMEOUT_MS = 2000;
/** How long other sketches are browsed for at the start, ms: 1000 (a name not found then is looked up when a trace names it). */
const BROWSE_MS = 1000;
/** Longest lookup of a sketch named by a span and not found by the browse, ms: 1000. */
const LOOKUP_MS = 1000;
/** Longest answer of a spans request read, bytes: 8 MiB (2048 spans of ~1 KiB, twice over). */
const MAX_SPANS_BYTES = 8 * 1024 * 1024;

/** A span with the sketch that answered it. */
export interface TraceSpan extends SpanJson {
  /** The instance name of the sketch that kept it (its `sketch.name` attribute, else who answered). */
  sketch: string;
}

/** One hop of a trace: a request from one sketch to another. Times in ms. */
export interface TraceHop {
  /** The sender: the sketch whose `send` span this is; for a request from outside (a client that does not trace), its `sketch.from`. */
  from: string;
  /** The receiver: the sketch whose `receive` span answers the `send`, else the `send`'s `sketch.peer`. */
  to: string;
  /** Send → acknowledgement (the `send` span), else, for a request from outside, arrival → reply (the `receive` span); null while unknown. */
  ms: number | null;
  /** The receiver's `loop` run; null when its spans were not found. */
  loopMs: number | null;
  /** The message, as kept (64 characters at most). */
  message?: string;
  /** The acknowledgement, as kept. */
  ack?: string;
  /** The error line, when the hop failed. */
  error?: string;
  /** When it started, ms since the epoch. */
  start: number;
  /** Span ids: the sender's `send` (absent for a request from outside), the receiver's `receive` and `loop` (absent when not found). */
  spans: { send?: string; receive?: string; loop?: string };
  /** The requests the receiver sent while handling this one. */
  children: TraceHop[];
}

/** One trace as `sketch trace` shows it. */
export interface TraceTree {
  /** 32 hex digits. */
  traceId: string;
  /** The trace's root span (the clock's `tick 3`, or the first `receive`): its name and sketch; null when not found. */
  root: { name: string; sketch: string } | null;
  /** The hops that no other hop of the trace caused, by start time, each with its children. */
  hops: TraceHop[];
  /** Every span found, by start time. */
  spans: TraceSpan[];
  /** Sketches the trace went through whose spans could not be read, each with why. */
  missing: Array<{ sketch: string; why: string }>;
}

const ms = (s: SpanJson) => Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6;
const startMs = (s: SpanJson) => Number(BigInt(s.startTimeUnixNano) / 1000n) / 1000;
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/**
 * The hop tree of one trace from its spans (of any sketches, any order; duplicates ignored).
 * Pure. A `send` span is a hop, with the `receive` span whose parent it is and that one's
 * `loop`; a `receive` with no `send` found above it is a hop from outside. A hop's parent is the
 * nearest hop above it: the `receive` its `send` ran under.
 */
export function traceTree(traceId: string, spans: readonly TraceSpan[], missing: TraceTree['missing'] = []): TraceTree {
  const byId = new Map<string, TraceSpan>();
  for (const s of spans) if (s.traceId === traceId && !byId.has(s.spanId)) byId.set(s.spanId, s);
  const all = [...byId.values()].sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
  const childOf = (parent: string, kind: SpanJson['kind'], prefix?: string) => all.find((s) => s.parentSpanId === parent && s.kind === kind && (!prefix || s.name.startsWith(prefix)));
  const hops: Array<{ hop: TraceHop; head: TraceSpan }> = [];
  const byReceive = new Map<string, TraceHop>();
  const add = (head: TraceSpan, send: TraceSpan | undefined, receive: TraceSpan | undefined) => {
    const loop = receive ? childOf(receive.spanId, 'internal', 'loop ') : undefined;
    const failed = [send, receive, loop].find((s) => s?.status.code === 'error');
    const hop: TraceHop = {
      from: send ? send.sketch : (text(receive!.attributes['sketch.from']) ?? '?'),
      to: receive ? receive.sketch : (text(send!.attributes['sketch.peer']) ?? '?'),
      ms: send ? ms(send) : ms(receive!),
      loopMs: loop ? ms(loop) : null,
      start: startMs(head),
      spans: { ...(send ? { send: send.spanId } : {}), ...(receive ? { receive: receive.spanId } : {}), ...(loop ? { loop: loop.spanId } : {}) },
      children: [],
    };
    const message = text((send ?? receive)!.attributes['sketch.message']);
    const ack = send ? text(send.attributes['sketch.ack']) : undefined;
    if (message !== undefined) hop.message = message;
    if (ack !== undefined) hop.ack = ack;
    if (failed) hop.error = failed.status.message ?? 'error';
    hops.push({ hop, head });
    if (receive) byReceive.set(receive.spanId, hop);
  };
  for (const s of all) if (s.kind === 'client') add(s, s, childOf(s.spanId, 'server'));
  for (const s of all) {
    if (s.kind !== 'server' || byReceive.has(s.spanId)) continue;
    const parent = s.parentSpanId ? byId.get(s.parentSpanId) : undefined;
    if (parent?.kind !== 'client') add(s, undefined, s); // from outside (or its sender's spans not found)
  }
  const roots: TraceHop[] = [];
  for (const { hop, head } of hops) {
    let parent: TraceHop | undefined;
    for (let id = head.parentSpanId, guard = 0; id && guard < 1000; guard++) {
      const s = byId.get(id);
      if (!s) break;
      if (s.kind === 'server' && byReceive.has(s.spanId)) {
        parent = byReceive.get(s.spanId);
        break;
      }
      id = s.parentSpanId;
    }
    (parent ? parent.children : roots).push(hop);
  }
  const order = (list: TraceHop[]) => {
    list.sort((a, b) => a.start - b.start);
    for (const h of list) order(h.children);
  };
  order(roots);
  const rootSpan = all.find((s) => !s.parentSpanId) ?? all[0];
  return { traceId, root: rootSpan ? { name: rootSpan.name, sketch: rootSpan.sketch } : null, hops: roots, spans: all, missing };
}

/** `0.41 ms`, `40.25 ms`, `402.1 ms`, `1234 ms`. */
export function formatMs(value: number | null): string {
  if (value === null) return '? ms';
  return `${value < 100 ? value.toFixed(2) : value < 1000 ? value.toFixed(1) : value.toFixed(0)} ms`;
}

/** Characters of a message or acknowledgement printed: 32, then `…`. */
const SHOWN = 32;
const shown = (t: string) => (t.length > SHOWN ? `${t.slice(0, SHOWN)}…` : t);

/**
 * A trace as `sketch trace` prints it: a head line `trace ID  ROOT`, then one line per hop,
 * indented two spaces per level: `FROM → TO MS (loop MS)  "MESSAGE" → ACK`, or `✗ ERROR`.
 */
export function formatTrace(tree: TraceTree): string[] {
  const lines = [`trace ${tree.traceId}${tree.root ? `  ${tree.root.name}` : ''}`];
  const walk = (hops: TraceHop[], depth: number) => {
    for (const h of hops) {
      let line = `${'  '.repeat(depth)}${h.from} → ${h.to} ${formatMs(h.ms)}`;
      if (h.loopMs !== null) line += ` (loop ${formatMs(h.loopMs)})`;
      if (h.message !== undefined) line += `  ${JSON.stringify(shown(h.message))}`;
      if (h.error !== undefined) line += ` ✗ ${oneLine(h.error)}`;
      else if (h.ack !== undefined) line += ` → ${shown(h.ack)}`;
      lines.push(line);
      walk(h.children, depth + 1);
    }
  };
  walk(tree.hops, 0);
  if (tree.hops.length === 0) lines.push('  (no hops: no spans of this trace were found)');
  for (const m of tree.missing) lines.push(`  (${m.sketch}: no spans: ${m.why})`);
  return lines;
}

/** Options of {@link followTraces}. */
export interface FollowOptions {
  /** The sketch whose requests are followed: its instance name. */
  name: string;
  /** How sketches are found (an `MdnsDiscovery`). */
  discovery: Discovery;
  /** Key and CA for sketches that ask for them. Default none. */
  security?: ClientSecurity;
  /** Longest lookup of `name`, ms. Default 5000. */
  discoverTimeout?: number;
  /** Ends the watch: the generator returns. */
  signal?: AbortSignal;
  /** Where warnings go (one line each, each said once). Default none. */
  warn?: (line: string) => void;
  /** Poll interval, settle time, gather bound, ms. Defaults {@link TRACE_POLL_MS}, {@link TRACE_SETTLE_MS}, {@link TRACE_GATHER_MS}. */
  pollMs?: number;
  settleMs?: number;
  gatherMs?: number;
}

/** A spans answer. */
interface SpansAnswer {
  name: string;
  spans: SpanJson[];
}

/**
 * The traces of the requests `name` handles from now on, one {@link TraceTree} each, in the
 * order they end; returns when `signal` aborts.
 * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` (no `name` over mDNS), `SKETCH_ERR_NOT_TRACING`
 *   (it answers 404: `--no-trace`, or a sketchnet without spans), `SKETCH_ERR_UNAUTHORIZED`;
 *   Error (one line) when its spans cannot be read at the start.
 */
export async function* followTraces(o: FollowOptions): AsyncGenerator<TraceTree> {
  const security = o.security ?? {};
  const warned = new Set<string>();
  const warn = (line: string) => {
    if (!warned.has(line)) o.warn?.(line);
    warned.add(line);
  };
  const signal = o.signal ?? new AbortController().signal;
  const pause = (t: number) => sleep(t, undefined, { signal }).then(
    () => true,
    () => false,
  );
  const found = await o.discovery.resolve(o.name, o.discoverTimeout ?? 5000, signal);
  // the others: browsed once now, looked up by name when a trace names one not found then
  const urls = new Map<string, string>([[found.name.toLowerCase(), found.url]]);
  const browsed = o.discovery.browse(BROWSE_MS).then(
    (list: FoundSketch[]) => {
      for (const f of list) if (!urls.has(f.name.toLowerCase())) urls.set(f.name.toLowerCase(), f.url);
    },
    () => {},
  );
  const spansOf = (url: string, label: string, query: Record<string, string | number>) =>
    getJson(httpUrl(url, SPANS_PATH, query), label, security, SPANS_TIMEOUT_MS, warn, MAX_SPANS_BYTES) as Promise<SpansAnswer>;

  let answer: SpansAnswer;
  try {
    answer = await spansOf(found.url, found.name, {});
  } catch (err) {
    const e = err as Error & { statusCode?: number; line?: string };
    if (e.statusCode === 404) throw errors.NOT_TRACING(found.name, e.line || '404 to GET /.well-known/sketch/spans');
    throw err;
  }
  const label = answer.name || found.name;
  /** `receive` and root spans of `name` already handled, with their end (ns), and the latest end seen. */
  const seen = new Map<string, bigint>();
  const done = new Set<string>();
  let latest = 0n;
  const note = (spans: SpanJson[]) => {
    for (const s of spans) {
      const end = BigInt(s.endTimeUnixNano);
      if (end > latest) latest = end;
      if (starts(s)) seen.set(s.spanId, end);
    }
  };
  note(answer.spans);

  /** The spans of trace `id`, asked of `label` and every sketch its spans name, until no new one is named. */
  const gather = async (id: string): Promise<TraceTree> => {
    await browsed;
    const asked = new Map<string, TraceSpan[] | { why: string }>();
    const ask = async (who: string): Promise<void> => {
      const key = who.toLowerCase();
      if (asked.has(key)) return;
      asked.set(key, []);
      let url = /^wss?:\/\//i.test(who) ? who : urls.get(key);
      if (!url) {
        try {
          const f = await o.discovery.resolve(who, LOOKUP_MS, signal);
          url = f.url;
          urls.set(key, url);
        } catch (err) {
          asked.set(key, { why: oneLine(err).replace(/: is it running\?.*$/, '') });
          return;
        }
      }
      try {
        const a = await spansOf(url, who, { trace: id });
        asked.set(key, a.spans.map((s) => ({ ...s, sketch: text(s.attributes['sketch.name']) ?? a.name ?? who })));
      } catch (err) {
        const e = err as Error & { statusCode?: number };
        asked.set(key, { why: e.statusCode === 404 ? 'it keeps no spans (--no-trace, or an older sketchnet)' : oneLine(err) });
      }
    };
    const gathered = async () => {
      asked.clear();
      let round = [label];
      while (round.length) {
        await Promise.all(round.map(ask));
        const named = new Set<string>();
        for (const v of asked.values()) {
          if (!Array.isArray(v)) continue;
          for (const s of v) {
            const peer = s.kind === 'client' ? text(s.attributes['sketch.peer']) : undefined;
            const from = s.kind === 'server' && s.parentSpanId ? text(s.attributes['sketch.from']) : undefined;
            for (const n of [peer, from]) if (n && !isAddress(n) && !asked.has(n.toLowerCase())) named.add(n);
            if (peer && s.attributes['sketch.via'] === 'broker') asked.set(peer.toLowerCase(), { why: 'reached through the broker' });
          }
        }
        round = [...named].filter((n) => !asked.has(n.toLowerCase()));
      }
      const spans = [...asked.values()].flatMap((v) => (Array.isArray(v) ? v : []));
      const missing = [...asked.entries()].filter((e): e is [string, { why: string }] => !Array.isArray(e[1])).map(([k, v]) => ({ sketch: k, why: v.why }));
      return { spans, missing };
    };
    const bound = Date.now() + (o.gatherMs ?? TRACE_GATHER_MS);
    for (;;) {
      const { spans, missing } = await gathered();
      // complete when every parent named is there, or kept by a sketch that cannot be asked
      const ids = new Set(spans.map((s) => s.spanId));
      const waiting = spans.some((s) => s.parentSpanId && !ids.has(s.parentSpanId) && !(s.kind === 'server' && missing.some((m) => m.sketch === text(s.attributes['sketch.from'])?.toLowerCase())));
      if (!waiting || Date.now() >= bound || signal.aborted) return traceTree(id, spans, missing);
      if (!(await pause(o.settleMs ?? TRACE_SETTLE_MS))) return traceTree(id, spans, missing);
    }
  };

  while (await pause(o.pollMs ?? TRACE_POLL_MS)) {
    let fresh: SpanJson[];
    try {
      // since: the latest end seen less 1 ms (the times are the sketch's own: no clock skew), repeats dropped by span id
      const since = Number(latest / 1000n) / 1e6 - 0.001;
      fresh = (await spansOf(found.url, label, latest ? { since: since.toFixed(6) } : {})).spans;
    } catch (err) {
      warn(`cannot read the spans of "${label}": ${oneLine(err)}; trying again`);
      continue;
    }
    const requests = fresh.filter((s) => starts(s) && !seen.has(s.spanId));
    note(fresh);
    const traces = [...new Set(requests.map((s) => s.traceId))].filter((t) => !done.has(t));
    if (!traces.length) continue;
    if (!(await pause(o.settleMs ?? TRACE_SETTLE_MS))) return;
    for (const id of traces) {
      done.add(id);
      yield await gather(id);
      if (signal.aborted) return;
    }
    // forget what is older than a minute: the sets stay small however long the watch
    const old = latest - 60_000_000_000n;
    for (const [k, end] of seen) if (end < old) seen.delete(k);
    if (done.size > 10_000) done.clear();
  }
}

/** Whether a span of the followed sketch makes a trace to show: a request it handled (`receive`), or a trace it started (the clock's `tick N`). */
function starts(s: SpanJson): boolean {
  return s.kind === 'server' || (s.kind === 'internal' && !s.parentSpanId);
}

/** `IP:PORT` or `[IPv6]:PORT`: a client that named no sketch (not one to ask). */
function isAddress(who: string): boolean {
  return /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]):\d+$/i.test(who);
}

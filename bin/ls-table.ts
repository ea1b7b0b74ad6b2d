/**
 * The tables of `sketch ls` and `sketch ls --watch`, as pure functions of what was found and
 * what each status said: no network, no clock, no terminal in here.
 */
import type { FoundSketch, SketchStatus } from '../runtime/index.js';
import { printable } from '../runtime/text.js';

/** How `sketch ls --broker` found a sketch: over mDNS, on the broker, or both. */
export type LsVia = 'mdns' | 'broker' | 'mdns+broker';

/** One sketch as `sketch ls` knows it: its announcement and its status. */
export interface LsEntry {
  /** What mDNS said (name, kind, address, port, protocol, announced streams), else its broker presence. */
  found: FoundSketch;
  /** How it was found; set only when a broker was asked (`--broker`), and then shown as the VIA column. */
  via?: LsVia;
  /** Its status (`GET /.well-known/sketch`): the last one read; `null` when none was. */
  status: SketchStatus | null;
  /** Whether its last status request was answered. */
  up: boolean;
  /** Why it is not up (one line), when it is not. */
  why?: string;
}

/** Seconds as the largest two units, without a space (one column for awk): `45s`, `12m5s`, `3h2m`, `2d4h`. */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** A lag in seconds as `0.4ms`, `12ms`, `1.5s`; `-` when unknown. */
export function formatLag(seconds: number | null | undefined): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '-';
  const ms = seconds * 1000;
  if (Math.abs(ms) < 10) return `${ms.toFixed(1)}ms`;
  if (Math.abs(ms) < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Items per second as `10.0/s`; `-` when unknown. */
export function formatRate(rate: number | null | undefined): string {
  return typeof rate === 'number' && Number.isFinite(rate) ? `${rate.toFixed(1)}/s` : '-';
}

/** All open connections of a status, every path together. */
function connections(status: SketchStatus): number {
  return Object.values(status.connections ?? {}).reduce((sum, n) => sum + (typeof n === 'number' ? n : 0), 0);
}

/** The stream paths of an entry: its status' when known (every stream), else the announced ones. */
function streamPaths(e: LsEntry): string[] {
  return e.status && e.status.streams && typeof e.status.streams === 'object' ? Object.keys(e.status.streams) : e.found.streams;
}

/** Rows padded into columns two spaces apart, trailing spaces trimmed. Cells are made printable (text from the network never reaches the terminal raw). */
function columns(rows: string[][]): string[] {
  const safe = rows.map((r) => r.map((c) => printable(c)));
  const widths = safe[0]!.map((_, i) => Math.max(...safe.map((r) => (r[i] ?? '').length)));
  return safe.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
}

/**
 * One line per sketch whose status did not answer, `NAME: no status (why)` (`down` instead of
 * `no status` when an earlier one did), at most `max` of them, then `… and N more`.
 */
export function statusNotes(entries: readonly LsEntry[], max = Infinity): string[] {
  const notes = entries
    .filter((e) => !e.up)
    .map((e) => {
      const why = e.why?.startsWith(`${e.found.name}: `) ? e.why.slice(e.found.name.length + 2) : (e.why ?? 'no answer');
      return printable(`${e.found.name}: ${e.status ? 'down' : 'no status'} (${why})`);
    });
  return notes.length > max ? [...notes.slice(0, max), `… and ${notes.length - max} more without status`] : notes;
}

/**
 * The sketches of mDNS and of a broker together, one entry per name (names compared
 * case-insensitively, as DNS-SD does): the mDNS record when there is one (`via` `mdns` or
 * `mdns+broker`), else the broker presence's (`via` `broker`: kind, streams and the first
 * advertised WebSocket address from its description). mDNS ones first in their order, then
 * the broker-only ones by name. No status yet (`status: null`, `up: false`).
 */
export function mergeFound(mdns: readonly FoundSketch[], broker: readonly FoundSketch[]): LsEntry[] {
  const onBroker = new Set(broker.map((f) => f.name.toLowerCase()));
  const seen = new Set<string>();
  const out: LsEntry[] = [];
  for (const f of mdns) {
    const key = f.name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ found: f, via: onBroker.has(key) ? 'mdns+broker' : 'mdns', status: null, up: false });
  }
  const only = broker.filter((f) => !seen.has(f.name.toLowerCase())).sort((a, b) => a.name.localeCompare(b.name));
  for (const f of only) {
    const key = f.name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ found: f, via: 'broker', status: null, up: false });
  }
  return out;
}

/** The version a status says was pushed (`code.version`, `sketch push`), if any. */
function pushedVersion(status: SketchStatus | null): number | undefined {
  const v = (status?.code as { version?: unknown } | undefined)?.version;
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/**
 * `sketch ls`: one row per sketch — `NAME KIND ADDRESS PORT PROTOCOL STREAMS UPTIME CONNECTIONS`
 * (connections: every path together; streams: comma-separated, from the status, else as
 * announced, `-` for none), then `VERSION` when any sketch runs a pushed version (`v3`: its
 * status's `code.version`; `-` for the others), and a last column `VIA` (`mdns`, `broker`,
 * `mdns+broker`) when any entry has `via` (`--broker`). A sketch whose status did not answer shows `?` for uptime
 * and connections ({@link statusNotes} says why). Lines without `\n`.
 */
export function lsTable(entries: readonly LsEntry[]): string[] {
  const via = entries.some((e) => e.via !== undefined);
  const pushed = entries.some((e) => e.up && pushedVersion(e.status) !== undefined);
  const rows = [['NAME', 'KIND', 'ADDRESS', 'PORT', 'PROTOCOL', 'STREAMS', 'UPTIME', 'CONNECTIONS', ...(pushed ? ['VERSION'] : []), ...(via ? ['VIA'] : [])]];
  for (const e of entries) {
    const f = e.found;
    const streams = streamPaths(e);
    const known = e.up && e.status;
    rows.push([
      f.name,
      f.kind,
      f.address || '-', // a broker presence without a WebSocket address
      f.port ? String(f.port) : '-',
      f.protocol || '-',
      streams.length ? streams.join(',') : '-',
      known ? formatUptime(e.status!.uptime) : '?',
      known ? String(connections(e.status!)) : '?',
      ...(pushed ? [known && pushedVersion(e.status) !== undefined ? `v${pushedVersion(e.status)}` : '-'] : []),
      ...(via ? [e.via ?? '-'] : []),
    ]);
  }
  return columns(rows);
}

/**
 * `sketch ls --watch`: one row per stream (a sketch without streams gets one row with `-`) —
 * `NAME KIND STATE UPTIME CONNS STREAM SEQ RATE LAG DROPS` (CONNS: connections); a sketch's own columns only on
 * its first row. STATE is `up` or `down` (its status no longer answers: the last figures
 * known are kept, rate and lag become `-`, and a line `? NAME: down (why)` under the table says why). RATE: items per second over
 * the last minute; LAG: mean `published − time`; DROPS: items skipped for subscribers since the
 * sketch started. Lines without `\n`.
 */
export function watchTable(entries: readonly LsEntry[]): string[] {
  const rows = [['NAME', 'KIND', 'STATE', 'UPTIME', 'CONNS', 'STREAM', 'SEQ', 'RATE', 'LAG', 'DROPS']];
  for (const e of entries) {
    const st = e.status;
    const own = [e.found.name, e.found.kind, e.up ? 'up' : 'down', e.up && st ? formatUptime(st.uptime) : '-', st ? String(connections(st)) : '-'];
    const paths = streamPaths(e);
    if (paths.length === 0) rows.push([...own, '-', '', '', '', '']);
    paths.forEach((path, i) => {
      const s = st?.streams?.[path];
      rows.push([
        ...(i === 0 ? own : own.map(() => '')),
        path,
        s ? String(s.seq) : '-',
        e.up && s ? formatRate(s.rate) : '-',
        e.up && s ? formatLag(s.lag?.mean) : '-',
        s ? String(s.drops) : '-',
      ]);
    });
  }
  return [...columns(rows), ...statusNotes(entries, 10).map((n) => `? ${n}`)];
}

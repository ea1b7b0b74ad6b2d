/**
 * Case 21: reload in place (`sketch run FILE --watch`, issue 23): how long a save takes to reach
 * clients, and how long they wait meanwhile.
 * - The sketch runs as users run it, `node dist/bin/sketch.cjs run counter.ts --watch`, pinned
 *   like every server-side process; its file (in a fresh directory under os.tmpdir()) answers
 *   `vN:MESSAGE:HANDLED`, N its version, HANDLED how many messages every version so far has
 *   handled (handed from one version to the next through `handoff()` / `setup(options, handed)`).
 * - The client is a `Peer` in the bench process itself (so that the save and the replies are
 *   timed on one clock), its main thread pinned to the client CPU for the case and set back
 *   after: one message in flight, back to back, messages `0`, `1`, `2`…
 * - Each save writes version N+1 (`writeFileSync`) once version N answers, at least SAVE_GAP_MS
 *   after the previous save and QUIET_MS after its first new reply. Per save: the swap time
 *   (save → first reply from version N+1); save → the CLI's `reloaded` line read; the longest
 *   gap between consecutive replies from the last reply before the save to AFTER_MS after the
 *   first new reply; and the `messages held N ms` the CLI prints (its server's swap, measured
 *   inside the sketch process). Between saves: reply latency and gaps, for comparison.
 * - Checked: reply i carries message i and HANDLED = i + 1 (nothing lost, nothing handled twice,
 *   in order), versions never go back, one WebSocket opened and never closed, one `reloaded`
 *   line per save and no warning from the watcher.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Peer } from '../../dist/runtime/index.js';
import { WATCH_DEBOUNCE_MS } from '../../dist/runtime/watch.js';
import { freePort, ROOT, SKETCH_BIN, spawnOn, type Ctx } from '../lib/env.js';
import { stopAll, type Child } from '../lib/proc.js';
import { fmtMs, goalCell, judge, section, table, type Section } from '../lib/report.js';
import { median, percentile } from '../lib/stats.js';

const TITLE = '21. Reload in place: swap time and the pause clients see';
/** The goal: save → first reply from the new version, p99, at most (ms). */
const GOAL_SWAP_MS = 500;
/** Saves in a full run and with `--quick`. */
const SAVES = { full: 30, quick: 10 } as const;
/** Shortest time between two saves, ms. */
const SAVE_GAP_MS = 300;
/** After the first reply from the new version, before the next save: replies between saves, ms. */
const QUIET_MS = 150;
/** How long after the first reply from the new version gaps still count as the save's, ms. */
const AFTER_MS = 100;
/** Messages back to back before the first save, unmeasured, ms: full run and `--quick`. */
const WARM_MS = { full: 1000, quick: 300 } as const;
/** Then measured, before any save (the reference), ms: full run and `--quick`. */
const BEFORE_MS = { full: 2000, quick: 500 } as const;
/** Longest a save may take to reach a reply before the case gives up, ms. */
const SWAP_TIMEOUT_MS = 10_000;

const FILE_NAME = 'counter.ts';
const RELOADED = /reloaded \S+ \(messages held ([\d.]+) ms\)/;
/** What the watcher says when a save does not swap (a load error, bad options, a rollback). */
const WATCHER_WARNING = /still running the previous version|not reloaded|rolled back|main\(\) failed|handoff failed|teardown failed/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** Version `v` of the sketch file. */
const source = (v: number) => `import { Sketch, reactive } from 'sketchnet';
export default class Counter extends Sketch {
  handled = 0;
  setup(_options: unknown, handed?: unknown): void {
    this.handled = typeof handed === 'number' ? handed : 0;
  }
  handoff(): number {
    return this.handled;
  }
  @reactive
  async loop(_channel: string, message: string) {
    return 'v${v}:' + message + ':' + ++this.handled;
  }
}
`;

/** One save, as the client saw it and as the CLI reported it. */
interface Save {
  version: number;
  /** performance.now() of the writeFileSync. */
  writtenAt: number;
  /** Index of the first reply from `version`, and when it came. */
  first: number;
  firstAt: number;
  /** When the `reloaded` line was read, and its `messages held` figure (ms). */
  lineAt: number;
  heldMs: number;
  /** The longest gap between consecutive replies around the save, ms, and whether it ended by the first reply from `version`. */
  gapMs: number;
  gapBeforeFirst: boolean;
}

/** Replies to messages sent in some stretch: their latencies and the gaps between them, ms. */
interface Replies {
  latency: number[];
  gaps: number[];
}

/**
 * Pins this process's main thread (the event loop: the Peer, the timers, the children's pipes)
 * to the client CPU; returns what sets its affinity back. A no-op without pinning.
 */
function pinSelf(ctx: Ctx): () => void {
  if (!ctx.pin) return () => {};
  const pid = String(process.pid);
  const was = /:\s*([0-9a-f,]+)\s*$/i.exec(spawnSync('taskset', ['-p', pid], { encoding: 'utf8' }).stdout.trim())?.[1];
  if (!was || spawnSync('taskset', ['-p', '-c', '1', pid], { encoding: 'utf8' }).status !== 0) return () => {};
  return () => void spawnSync('taskset', ['-p', was, pid], { encoding: 'utf8' });
}

export async function reload(ctx: Ctx): Promise<Section> {
  const saves = ctx.quick ? SAVES.quick : SAVES.full;
  const warmMs = ctx.quick ? WARM_MS.quick : WARM_MS.full;
  const beforeMs = ctx.quick ? BEFORE_MS.quick : BEFORE_MS.full;
  const s = section(
    TITLE,
    `How long a save takes to reach clients when \`sketch run FILE --watch\` reloads a sketch in place, and how long a client sending messages one at a time waits meanwhile: ${saves} saves${ctx.quick ? ` (\`--quick\`; full runs: ${SAVES.full})` : ''}, each a new version answering under load.`,
  );
  s.blocks.push(
    `The sketch: \`node dist/bin/sketch.cjs run ${FILE_NAME} --watch --no-mdns --host 127.0.0.1 --port P\`${ctx.pin ? ' on CPU 0' : ''}, its file in a fresh directory under os.tmpdir() (its TypeScript compiled through the transpile cache, in a fresh \`SKETCH_CACHE_DIR\`), answering \`vN:MESSAGE:HANDLED\` — N its version, HANDLED the messages handled by every version so far, handed to the next through \`handoff()\` and \`setup(options, handed)\`. The client: a \`Peer\` in the bench process${ctx.pin ? ' (its main thread pinned to CPU 1 for this case)' : ''}, one message in flight, the next sent as soon as the reply comes, for ${warmMs / 1000} s unmeasured, then ${beforeMs / 1000} s measured before any save (the reference), then throughout. Each save writes version N+1 with \`writeFileSync\` once version N has answered, at least ${SAVE_GAP_MS} ms after the previous save and ${QUIET_MS} ms after its first new reply. Per save: *swap*, from the \`writeFileSync\` to the first reply from version N+1 (the watcher's ${WATCH_DEBOUNCE_MS} ms debounce, compiling and importing the new file, and the swap); *save → \`reloaded\` line*, to the CLI's line read from its stdout; *longest gap*, the longest time between two consecutive replies from the last reply before the save to ${AFTER_MS} ms after the first reply from version N+1 — the pause the client sees; *messages held*, the figure of the CLI's \`reloaded ${FILE_NAME} (messages held N ms)\` line (its server's swap, old \`handoff()\` and \`teardown()\` then new \`setup()\`, timed inside the sketch process). Median and p99 (nearest rank: of ${saves} saves, the largest). For comparison, each reply's latency (send → reply) and the longest gap between consecutive replies, before the first save and between saves: replies to messages sent outside every save's window (from the save to ${AFTER_MS} ms after its first new reply).`,
  );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-bench-reload-'));
  const unpin = pinSelf(ctx);
  try {
    const m = await measure(ctx, dir, saves, warmMs, beforeMs);
    const done = m.saves;
    const swap = done.map((x) => x.firstAt - x.writtenAt);
    const toLine = done.map((x) => x.lineAt - x.writtenAt);
    const gaps = done.map((x) => x.gapMs);
    const held = done.map((x) => x.heldMs);
    const p99Swap = percentile(swap, 99);
    const met = judge(p99Swap, '≤', GOAL_SWAP_MS);
    if (done.length) {
      s.goals.push({ goal: `reload in place, save → first reply from the new version, p99 of ${done.length} saves: ≤ ${GOAL_SWAP_MS} ms`, figure: fmtMs(p99Swap), met });
      s.figures += 3;
    }
    const row = (label: string, v: number[], goal = '', f = fmtMs) => [label, `**${f(median(v))}**`, f(percentile(v, 99)), f(Math.min(...v)), goal];
    /** The CLI prints `messages held` to 0.1 ms. */
    const tenths = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : '–');
    s.blocks.push(
      table(
        ['per save', 'median', 'p99', 'min', 'goal'],
        [
          row('swap: save → first reply from the new version', swap, goalCell(`p99 ≤ ${GOAL_SWAP_MS} ms`, met)),
          row('save → `reloaded` line read', toLine),
          row('longest gap between replies around the save', gaps),
          row('messages held (the CLI\'s figure)', held, '', tenths),
        ],
      ),
    );
    const quiet = (label: string, r: Replies) => [
      label,
      String(r.latency.length),
      `**${fmtMs(percentile(r.latency, 50))}**`,
      fmtMs(percentile(r.latency, 99)),
      fmtMs(r.gaps.length ? Math.max(...r.gaps) : NaN),
    ];
    s.blocks.push(
      table(
        ['one in flight, back to back', 'replies', 'latency p50', 'latency p99', 'longest gap'],
        [quiet(`before the first save (${beforeMs / 1000} s)`, m.before), quiet(`between saves (${fmtMs(m.betweenMs)} in all)`, m.between)],
      ),
    );
    if (done.length) {
      const first = done[0]!;
      const beyond = median(swap) - WATCH_DEBOUNCE_MS;
      s.notes.push(
        `Of the swap, ${WATCH_DEBOUNCE_MS} ms is the watcher's debounce (it waits that long after the last change before loading the file); the median beyond it, ${fmtMs(beyond)}, is the change noticed, the file compiled and imported, the instances swapped and the first reply back.`,
      );
      const ended = done.filter((x) => x.gapBeforeFirst).length;
      s.notes.push(
        `The longest gap ended with (or before) the first reply from the new version in ${ended} of ${done.length} saves, later in the other ${done.length - ended}.`,
      );
      s.notes.push(
        `The first save (the watcher's first reload) took ${fmtMs(first.firstAt - first.writtenAt)} to the first new reply (longest gap ${fmtMs(first.gapMs)}, messages held ${first.heldMs} ms); the slowest save was #${swap.indexOf(Math.max(...swap)) + 1}.`,
      );
    }
    s.notes.push(`Checks: ${m.checks.join('; ')}.`);
    s.notes.push(`Case time ${(m.wallMs / 1000).toFixed(1)} s: ${m.messages} messages, ${done.length} saves.`);
    if (m.error) s.notes.push(`error: ${m.error}`);
  } finally {
    unpin();
    rmSync(dir, { recursive: true, force: true });
  }
  return s;
}

interface Measured {
  saves: Save[];
  messages: number;
  before: Replies;
  between: Replies;
  /** The stretches between saves added up, ms. */
  betweenMs: number;
  checks: string[];
  wallMs: number;
  error?: string;
}

async function measure(ctx: Ctx, dir: string, saves: number, warmMs: number, beforeMs: number): Promise<Measured> {
  const t0 = performance.now();
  const file = path.join(dir, FILE_NAME);
  const cache = path.join(dir, 'cache');
  mkdirSync(cache);
  writeFileSync(file, source(0));
  const port = await freePort();
  const sketch = spawnOn(ctx, 'server', 'reload-sketch', process.execPath, [SKETCH_BIN, 'run', file, '--watch', '--no-mdns', '--host', '127.0.0.1', '--port', String(port)], {
    cwd: ROOT,
    env: { SKETCH_CACHE_DIR: cache },
  });

  // Everything the loop below waits for is poked awake by a reply or a line of the CLI's.
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const by = performance.now() + timeoutMs;
    while (!cond()) {
      const left = by - performance.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms${tail(sketch)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  const lines: Array<{ at: number; heldMs: number }> = [];
  const warnings: string[] = [];
  sketch.onLine((line, at) => {
    const held = RELOADED.exec(line);
    if (held) {
      lines.push({ at, heldMs: Number(held[1]) });
      poke();
    } else if (WATCHER_WARNING.test(line)) warnings.push(line.trim());
  });
  await sketch.line(/watching/, 20_000);

  // One WebSocket expected for the whole run: every one the Peer opens is counted, and its closes.
  let sockets = 0;
  let closes = 0;
  const peerLog: string[] = [];
  const peer = new Peer(`ws://127.0.0.1:${port}/`, {
    retries: 0,
    log: (line) => peerLog.push(line),
    createSocket: (url, protocols, options) => {
      sockets++;
      const ws = new WebSocket(url, protocols, options);
      ws.on('close', () => closes++);
      return ws;
    },
  });

  // The sender: message i, its reply's version, and when it went and came back.
  const sentAt: number[] = [];
  const at: number[] = [];
  const version: number[] = [];
  /** Replies that break the checks: how many, and the first few. */
  let wrong = 0;
  const wrongSeen: string[] = [];
  const bad = (what: string) => {
    if (++wrong <= 3) wrongSeen.push(what);
  };
  let newest = 0;
  let sendError: string | undefined;
  let sending = true;
  const sender = (async () => {
    for (let i = 0; sending; i++) {
      const t = performance.now();
      let reply: string;
      try {
        reply = await peer.send(String(i));
      } catch (err) {
        sendError = `message ${i}: ${firstLine(err)}`;
        poke();
        return;
      }
      sentAt.push(t);
      at.push(performance.now());
      const r = /^v(\d+):(\d+):(\d+)$/.exec(reply);
      const v = r ? Number(r[1]) : -1;
      version.push(v);
      if (!r || Number(r[2]) !== i || Number(r[3]) !== i + 1) bad(`message ${i} answered ${JSON.stringify(reply)}`);
      if (v < newest) bad(`message ${i} answered by version ${v} after version ${newest}`);
      newest = Math.max(newest, v);
      poke();
    }
  })();

  const done: Save[] = [];
  let error: string | undefined;
  try {
    await until(() => at.length > 0 || sendError !== undefined, 'first reply', 10_000);
    await sleep(warmMs);
    const beforeFrom = performance.now();
    await sleep(beforeMs);
    const beforeTo = performance.now();
    for (let v = 1; v <= saves; v++) {
      const prev = done[done.length - 1];
      if (prev) await sleep(Math.max(prev.writtenAt + SAVE_GAP_MS, prev.firstAt + QUIET_MS) - performance.now());
      if (sendError !== undefined) break;
      const writtenAt = performance.now();
      writeFileSync(file, source(v));
      await until(() => newest >= v || sendError !== undefined, `reply from version ${v}`, SWAP_TIMEOUT_MS);
      if (sendError !== undefined) break;
      const first = version.indexOf(v);
      const firstAt = at[first]!;
      await until(() => lines.length >= v, `\`reloaded\` line ${v}`, SWAP_TIMEOUT_MS);
      await sleep(firstAt + AFTER_MS - performance.now());
      // From the last reply before the save to AFTER_MS after the first new one.
      let from = first;
      while (from > 0 && at[from - 1]! > writtenAt) from--;
      let gapMs = 0;
      let gapEnd = first;
      for (let j = Math.max(1, from); j < at.length && at[j]! <= firstAt + AFTER_MS; j++) {
        if (at[j]! - at[j - 1]! > gapMs) [gapMs, gapEnd] = [at[j]! - at[j - 1]!, j];
      }
      const line = lines[v - 1]!;
      done.push({ version: v, writtenAt, first, firstAt, lineAt: line.at, heldMs: line.heldMs, gapMs, gapBeforeFirst: gapEnd <= first });
      ctx.log(`  save ${v}: swap ${fmtMs(firstAt - writtenAt)}, longest gap ${fmtMs(gapMs)} (${gapEnd <= first ? 'by' : 'after'} the first new reply), messages held ${line.heldMs} ms`);
    }
    const last = done[done.length - 1];
    if (last) await sleep(last.firstAt + QUIET_MS - performance.now());
    sending = false;
    await sender;
    if (sendError !== undefined) error = sendError;

    // The reference: messages sent in [beforeFrom, beforeTo). Between saves: messages sent after
    // the first save's window and outside every save's window [save, first new reply + AFTER_MS].
    const inSave = (t: number) => done.some((x) => t >= x.writtenAt && t <= x.firstAt + AFTER_MS);
    const startsAt = done[0]?.writtenAt ?? Infinity;
    const before = replies(sentAt, at, (t) => t >= beforeFrom && t < beforeTo);
    const between = replies(sentAt, at, (t) => t > startsAt && !inSave(t));
    let betweenMs = 0;
    for (let k = 1; k < done.length; k++) betweenMs += done[k]!.writtenAt - (done[k - 1]!.firstAt + AFTER_MS);
    if (last) betweenMs += QUIET_MS - AFTER_MS;

    const open = peer.state === 'connected';
    const versions = [...new Set(version)];
    const checks = [
      wrong === 0
        ? `all ${at.length} replies in order, reply i carrying message i and HANDLED = i + 1: nothing lost or handled twice`
        : `${wrong} replies WRONG (${wrongSeen.join('; ')})`,
      versions.every((x, i) => x === i) ? `versions 0–${versions.length - 1} answered in turn` : `versions answered: ${versions.join(', ')}`,
      sockets === 1 && closes === 0 && open ? 'one WebSocket, open throughout' : `${sockets} WebSocket(s) opened, ${closes} closed, ${open ? 'open' : 'NOT open'} at the end${peerLog.length ? ` (${peerLog.slice(0, 2).join('; ')})` : ''}`,
      lines.length === done.length ? `${lines.length} \`reloaded\` lines for ${done.length} saves` : `${lines.length} \`reloaded\` lines for ${done.length} saves: MISMATCH`,
      warnings.length ? `watcher warnings: ${warnings.slice(0, 3).join('; ')}` : 'no watcher warning',
    ];
    ctx.log(`  ${checks.join('; ')}`);
    await peer.close();
    return { saves: done, messages: at.length, before, between, betweenMs, checks, wallMs: performance.now() - t0, error };
  } catch (err) {
    error = firstLine(err);
    ctx.log(`  error: ${(err as Error).stack ?? String(err)}`);
    sending = false;
    await peer.close();
    await sender;
    const none = { latency: [], gaps: [] };
    return { saves: done, messages: at.length, before: none, between: none, betweenMs: 0, checks: [`stopped early: ${error}`], wallMs: performance.now() - t0, error };
  } finally {
    await stopAll();
  }
}

/** Latencies of the replies to messages sent when `sent(t)`, and the gaps between consecutive ones of them. */
function replies(sentAt: number[], at: number[], sent: (t: number) => boolean): Replies {
  const r: Replies = { latency: [], gaps: [] };
  for (let i = 0; i < at.length; i++) {
    if (!sent(sentAt[i]!)) continue;
    r.latency.push(at[i]! - sentAt[i]!);
    if (i > 0 && sent(sentAt[i - 1]!)) r.gaps.push(at[i]! - at[i - 1]!);
  }
  return r;
}

const tail = (c: Child) => (c.tail.length ? `; last output:\n    ${c.tail.slice(-6).join('\n    ')}` : '');

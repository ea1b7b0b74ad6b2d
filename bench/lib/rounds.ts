/**
 * The command loops bench clients share (the child side of ./proc.ts's protocol):
 *
 * - {@link serveLoadRounds}, for the acknowledged-message clients (clients/ack.ts,
 *   broker-ack.ts): `{"ready":…}`, then on `warm` an unmeasured round and `{"warm":…}`, then on
 *   each `go` one measured round and `{"round":…}`; the orchestrator drives the rounds one at a
 *   time so that the rounds of several clients interleave.
 * - {@link serveCountingWindows}, for the subscriber clients (clients/subscribe.ts,
 *   mqtt-subscribe.ts, socketio-subscribe.ts): `{"ready":…}`, then on each `go MS` a counting
 *   window of MS ms and `{"result":…}` with the process's CPU time over it; or, for a client
 *   that supports it, on `go until TIMEOUT_MS` a window that lasts until every item is
 *   delivered (see {@link CountingWindow.until}).
 *
 * Both exit the process when done; stdin closing (the orchestrator gone) exits too.
 */
import { performance } from 'node:perf_hooks';
import { command, report } from './child.js';
import type { Round, WindowedLoad } from './load.js';
import { Histogram } from './stats.js';

/** Options of {@link serveLoadRounds}. */
export interface LoadRoundsOptions {
  /** What `ready` and `warm` report. */
  hello: Record<string, unknown>;
  load: WindowedLoad;
  /** Length of the warm-up round, in ms. */
  warmupMs: number;
  /** Length of each measured round, in ms. */
  roundMs: number;
  /** Most messages per round. */
  max: number;
  /** Rounds answered before the client closes (default 100). */
  maxRounds?: number;
  /** Called before each measured round (e.g. to start a fresh latency histogram). */
  beforeRound?: () => void;
  /** Fields added to each `round` report (e.g. that histogram). */
  extra?: () => Record<string, unknown>;
  /** Closes the connection; given at most 1 s before the process exits. */
  close: () => Promise<unknown>;
}

/** Reports `ready`, runs the warm-up on `warm` and one round per `go`, then closes and exits. */
export async function serveLoadRounds(o: LoadRoundsOptions): Promise<never> {
  report('ready', o.hello);
  await command('warm');
  await o.load.round(o.warmupMs, o.max);
  report('warm', o.hello);
  for (let i = 0; i < (o.maxRounds ?? 100); i++) {
    await command('go');
    o.beforeRound?.();
    const round: Round = await o.load.round(o.roundMs, o.max);
    report('round', { ...round, ...o.extra?.() });
  }
  await Promise.race([o.close(), new Promise((r) => setTimeout(r, 1000))]);
  process.exit(0);
}

/** What a subscriber client counts in one window. */
export interface CountingWindow {
  /** Starts counting afresh (the window opens). */
  start(): void;
  /** Stops counting; returns the window's figures (`received`, `closed`, `histogram`…). */
  stop(): Record<string, unknown>;
  /**
   * For `go until TIMEOUT_MS` (clients/subscribe.ts): resolves once every connection got `n`
   * frames in this window (`expect N [END]`, sent when the run's publishing is over; END: when
   * it ended, epoch ms) or was closed, or after `timeoutMs`; returns figures added to the result.
   */
  until?(n: number, timeoutMs: number, endEpochMs?: number): Promise<Record<string, unknown>>;
}

/** Longest counting window, in ms (a `go` asking for more gets this). */
const MAX_WINDOW_MS = 60_000;

/**
 * Reports `ready` with `hello`, then for each `go MS` (at most `maxRuns`, default 20) counts for
 * MS ms (default 1000) and reports `{"result":{…window's figures, cpuUs, ms}}` (`cpuUs`: this
 * process's user + system CPU over the window, `ms`: its wall time), then exits.
 */
export async function serveCountingWindows(hello: Record<string, unknown>, window: CountingWindow, maxRuns = 20): Promise<never> {
  report('ready', hello);
  for (let run = 0; run < maxRuns; run++) {
    const [ms = '1000', timeout = String(MAX_WINDOW_MS)] = await command('go');
    window.start();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let until: Record<string, unknown> = {};
    if (ms === 'until' && window.until) {
      // Counting until every item is delivered: `expect N` comes once publishing is over.
      const [n = '0', end] = await command('expect');
      until = await window.until(Number(n), Number(timeout), end === undefined ? undefined : Number(end));
    } else {
      await new Promise((r) => setTimeout(r, Math.min(Number(ms), MAX_WINDOW_MS)));
    }
    const figures = window.stop();
    const cpu = process.cpuUsage(cpu0);
    report('result', { ...figures, ...until, cpuUs: cpu.user + cpu.system, ms: performance.now() - t0 });
  }
  process.exit(0);
}

/**
 * A subscriber client's tally for {@link serveCountingWindows}: items received and connections
 * closed in the window, and each item's latency from its sample time to receipt.
 */
export class LatencyTally implements CountingWindow {
  #counting = false;
  #received = 0;
  #closed = 0;
  #latency = new Histogram();

  /** One item received, sampled at `sampleSeconds` (seconds since the epoch; undefined: count it, no latency). */
  item(sampleSeconds: number | undefined): void {
    if (!this.#counting) return;
    this.#received++;
    if (sampleSeconds !== undefined) this.#latency.add(performance.timeOrigin + performance.now() - sampleSeconds * 1000);
  }

  /** One connection closed. */
  closed(): void {
    this.#closed++;
  }

  start(): void {
    this.#received = 0;
    this.#closed = 0;
    this.#latency = new Histogram();
    this.#counting = true;
  }

  stop(): Record<string, unknown> {
    this.#counting = false;
    return { received: this.#received, closed: this.#closed, histogram: this.#latency.toJSON() };
  }
}

/** Opens `count` connections with `open`, at most `batch` connecting at once. */
export async function openAll<T>(count: number, batch: number, open: () => Promise<T>): Promise<T[]> {
  const all: T[] = [];
  for (let i = 0; i < count; i += batch) all.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, open))));
  return all;
}

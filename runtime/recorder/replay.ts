/**
 * Replaying a recorder database: each recorded sketch is announced again as `NAME (replay)`
 * (same kind, its streams) and its items republished with their original sample times'
 * spacing divided by the speed. Items keep their original `time`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errors } from '../errors.js';
import { Sketch, type SketchConfig } from '../sketch.js';
import type { Discovery } from '../discovery/mdns.js';
import type { RecordStore, Selection } from './store.js';

/** Options of {@link Replay}. */
export interface ReplayOptions {
  store: RecordStore;
  /** How many times faster than recorded: 2 plays twice as fast. Must be > 0. Default 1. */
  speed?: number;
  /** Only items sampled in this range (s since the epoch). Default: all. */
  since?: number;
  until?: number;
  /** Discovery to announce with (one instance shared by every replayed sketch). `false`: no announcement. */
  discovery: Discovery | false;
  /** Interface to listen on. Default `0.0.0.0`. */
  host?: string;
  /** Wait this long after announcing before the first item, so subscribers can join, in ms. Default 1000. */
  startDelayMs?: number;
  /** Log lines. Default `console.log`. */
  log?: (line: string) => void;
  /** Extra config for every replayed sketch (keys, Origins, TLS). */
  sketchConfig?: Omit<SketchConfig, 'name' | 'discovery' | 'log'>;
}

/** The sketches a replay announces: one per recorded sketch, by recorded name. */
export class Replay {
  readonly #o: Required<Pick<ReplayOptions, 'speed' | 'host' | 'startDelayMs' | 'log'>> & ReplayOptions;
  readonly sketches = new Map<string, Sketch>();
  readonly #abort = new AbortController();

  /** @throws SketchError `SKETCH_ERR_INVALID_OPTION` for a speed that is not a number > 0. */
  constructor(options: ReplayOptions) {
    this.#o = { speed: 1, host: '0.0.0.0', startDelayMs: 1000, log: (line) => console.log(line), ...options };
    if (!(this.#o.speed > 0) || !Number.isFinite(this.#o.speed)) throw errors.INVALID_OPTION(`--speed must be a number > 0, got ${this.#o.speed}`);
  }

  get #selection(): Selection {
    return { since: this.#o.since, until: this.#o.until };
  }

  /**
   * Starts one sketch per recorded sketch in the range, named `NAME (replay)`, with its kind and
   * streams; resolves once each listens and is announced.
   * @returns how many sketches.
   */
  async start(): Promise<number> {
    const bySketch = new Map<string, { kind: string; streams: string[] }>();
    for (const s of this.#o.store.streams(this.#selection)) {
      const entry = bySketch.get(s.sketch) ?? { kind: s.kind, streams: [] };
      entry.streams.push(s.stream);
      bySketch.set(s.sketch, entry);
    }
    for (const [name, { kind, streams }] of bySketch) {
      const spec = Object.fromEntries(streams.map((p) => [p, { history: 1000, delivery: 'all' as const }]));
      const cls = class ReplaySketch extends Sketch {
        static override kind = kind;
        static override streams = spec;
      };
      const sketch = new cls({ ...this.#o.sketchConfig, name: `${name} (replay)`, discovery: this.#o.discovery, log: this.#o.log });
      this.sketches.set(name, sketch);
      await sketch.run({ host: this.#o.host });
    }
    await Promise.all([...this.sketches.values()].map((s) => s.announced));
    return this.sketches.size;
  }

  /**
   * Publishes every item in sample-time order, spaced as recorded divided by `speed`.
   * Resolves with the number of items published when the data ends, or early when closed.
   */
  async play(): Promise<number> {
    const signal = this.#abort.signal;
    try {
      await sleep(this.#o.startDelayMs, undefined, { signal });
    } catch {
      return 0;
    }
    let t0: number | undefined;
    const start = performance.now();
    let n = 0;
    for (const item of this.#o.store.select(this.#selection)) {
      if (signal.aborted) break;
      t0 ??= item.time;
      const due = start + ((item.time - t0) / this.#o.speed) * 1000 - performance.now();
      if (due > 1) {
        try {
          await sleep(due, undefined, { signal });
        } catch {
          break;
        }
      }
      this.sketches.get(item.sketch)?.publish(item.stream, JSON.parse(item.data) as unknown, { time: item.time });
      n++;
    }
    return n;
  }

  /** Stops playing and closes every replayed sketch (1001, mDNS goodbye). Safe to call twice. */
  async close(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.sketches.values()].map((s) => s.close()));
  }
}

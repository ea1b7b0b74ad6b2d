/** Small, bounded statistics for stream status: no allocation per sample beyond a fixed ring. */

/** The last `size` numbers pushed (a ring), with mean, standard deviation and percentiles. */
export class Window {
  readonly #values: Float64Array;
  #count = 0;
  #next = 0;

  /** @param size how many recent values are kept (≥ 1). */
  constructor(size: number) {
    this.#values = new Float64Array(size);
  }

  push(value: number): void {
    this.#values[this.#next] = value;
    this.#next = (this.#next + 1) % this.#values.length;
    if (this.#count < this.#values.length) this.#count++;
  }

  /** How many values are held. */
  get count(): number {
    return this.#count;
  }

  /** Mean of the values held; undefined when empty. */
  mean(): number | undefined {
    if (this.#count === 0) return undefined;
    let sum = 0;
    for (let i = 0; i < this.#count; i++) sum += this.#values[i]!;
    return sum / this.#count;
  }

  /** Population standard deviation of the values held; undefined when empty. */
  stddev(): number | undefined {
    const mean = this.mean();
    if (mean === undefined) return undefined;
    let sum = 0;
    for (let i = 0; i < this.#count; i++) sum += (this.#values[i]! - mean) ** 2;
    return Math.sqrt(sum / this.#count);
  }

  /** The `p`-th percentile (0–100, nearest rank) of the values held; undefined when empty. */
  percentile(p: number): number | undefined {
    if (this.#count === 0) return undefined;
    const sorted = Array.from(this.#values.subarray(0, this.#count)).sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
  }
}

/** Counts events per second over the last minute (60 one-second buckets). */
export class RateCounter {
  readonly #buckets = new Float64Array(60);
  readonly #stamps = new Float64Array(60).fill(-1);
  readonly #started: number;

  /** @param now the current time, s (when counting started). */
  constructor(now: number) {
    this.#started = now;
  }

  /** Counts one event at `now` (s). */
  add(now: number): void {
    const second = Math.floor(now);
    const i = second % 60;
    if (this.#stamps[i] !== second) {
      this.#stamps[i] = second;
      this.#buckets[i] = 0;
    }
    this.#buckets[i]!++;
  }

  /** Events per second over the last 60 s (or since counting started, when that is shorter). */
  rate(now: number): number {
    const second = Math.floor(now);
    let sum = 0;
    for (let i = 0; i < 60; i++) if (this.#stamps[i]! > second - 60 && this.#stamps[i]! <= second) sum += this.#buckets[i]!;
    const span = Math.min(60, Math.max(1, now - this.#started));
    return sum / span;
  }
}

/** Rounds to `digits` decimals for status output (undefined stays undefined). */
export function round(value: number | undefined, digits = 3): number | undefined {
  if (value === undefined) return undefined;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

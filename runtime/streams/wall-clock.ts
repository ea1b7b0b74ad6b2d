/**
 * The wall clock as streams read it: seconds since the Unix epoch with microsecond resolution
 * (`Date.now()` has milliseconds: a 500 Hz stream got equal `time` values), advancing with the
 * monotonic clock between readings of the system's wall clock, and noticing when the wall clock
 * is stepped (a Raspberry Pi without a real-time clock boots with a stale time and jumps when
 * NTP syncs; `date -s`; libfaketime).
 *
 * A step is a difference of more than {@link STEP_THRESHOLD_MS} between the system's wall clock
 * and this clock's estimate (the wall time at the last anchor plus the monotonic time since).
 * Then the estimate is anchored again to the system's wall clock, and the listeners hear the
 * step's size once. Slow drift (NTP slewing, at most 500 ppm) never reaches the threshold
 * between two readings: past a millisecond the clock quietly follows the wall clock again, never
 * going back in time (times are non-decreasing between steps).
 */
import { performance } from 'node:perf_hooks';

/** A wall clock step smaller than this (ms) is drift, not a step: 1000. */
export const STEP_THRESHOLD_MS = 1000;
/** Steps remembered for {@link WallClock.forwardStepsWithin}: the last 64. */
export const MAX_STEPS_KEPT = 64;

/** Options of {@link WallClock}; both clocks in ms. */
export interface WallClockOptions {
  /** The system's wall clock, ms since the epoch. Default `Date.now`. */
  wall?: () => number;
  /** A monotonic clock, ms. Default `performance.now`. */
  monotonic?: () => number;
}

/** See the module comment. */
export class WallClock {
  readonly #wall: () => number;
  readonly #mono: () => number;
  #anchorWall: number;
  #anchorMono: number;
  readonly #listeners = new Set<(stepMs: number) => void>();
  /** The steps seen, oldest first (at most {@link MAX_STEPS_KEPT}): when (monotonic ms) and how far (ms). */
  readonly #steps: Array<{ mono: number; ms: number }> = [];
  /** The last time returned: later readings never go back from it but for a step. */
  #last = 0;

  constructor(options: WallClockOptions = {}) {
    this.#wall = options.wall ?? (() => Date.now()); // read at each call: a fake clock (the test kit's) installed later is followed
    this.#mono = options.monotonic ?? (() => performance.now());
    this.#anchorWall = this.#wall();
    this.#anchorMono = this.#mono();
  }

  /**
   * Now, in ms since the epoch with a fraction (µs resolution). Reads the system's wall clock
   * once: when it moved by more than {@link STEP_THRESHOLD_MS} against the monotonic clock
   * since the last reading, the step is reported and the clock follows the wall clock from now on.
   */
  nowMs(): number {
    const mono = this.#mono();
    const wall = this.#wall();
    const estimate = this.#anchorWall + (mono - this.#anchorMono);
    const off = wall - estimate;
    if (off > STEP_THRESHOLD_MS || off < -STEP_THRESHOLD_MS) {
      this.#anchorWall = wall;
      this.#anchorMono = mono;
      this.#last = wall;
      this.#steps.push({ mono, ms: off });
      if (this.#steps.length > MAX_STEPS_KEPT) this.#steps.shift();
      for (const l of this.#listeners) l(off);
      return wall;
    }
    let t = estimate;
    // More than a millisecond from the wall clock (drift: NTP slewing, the monotonic clock's own
    // rate): follow the wall clock again, without a report. Never back in time but for a step.
    if (off >= 1 || off <= -1) {
      this.#anchorWall = wall;
      this.#anchorMono = mono;
      t = wall;
    }
    if (t < this.#last) t = this.#last;
    this.#last = t;
    return t;
  }

  /**
   * The forward steps of the last `windowMs` of monotonic time, added up, ms (0 when none). A
   * retention cutoff moved back by it (`now − keep − this`) never deletes an item because the
   * clock jumped ahead: an item is deleted only once it is `keep` old in monotonic time, too.
   */
  forwardStepsWithin(windowMs: number): number {
    this.nowMs(); // notice a step not yet seen
    const since = this.#mono() - windowMs;
    let sum = 0;
    for (const s of this.#steps) if (s.mono >= since && s.ms > 0) sum += s.ms;
    return sum;
  }

  /** Now, in s since the epoch (µs resolution). */
  now(): number {
    return this.nowMs() / 1000;
  }

  /**
   * Anchors the clock to the system's wall clock again and forgets the latest time it gave, so
   * that the next readings may be earlier, with no step reported. For the test kit
   * (runtime/testing/fake-clock.ts): its fake clock moves both clocks read here and runs ahead of
   * the real one, which would otherwise hold every later reading at the fake clock's last time.
   */
  resync(): void {
    this.#anchorWall = this.#wall();
    this.#anchorMono = this.#mono();
    this.#last = this.#anchorWall;
  }

  /** Calls `listener` with each step's size in ms (+ forward, − backward). Returns a function that stops it. */
  onStep(listener: (stepMs: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The process's wall clock (one per process: a step is logged once per listener, not per reading). */
export const wallClock = new WallClock();

/** One line for a step: `wall clock stepped +86400.0 s`. */
export function stepLine(stepMs: number): string {
  const s = stepMs / 1000;
  return `wall clock stepped ${s >= 0 ? '+' : ''}${s.toFixed(1)} s (sample times follow it; seq, rates and intervals do not jump)`;
}

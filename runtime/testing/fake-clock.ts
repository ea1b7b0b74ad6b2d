/**
 * The test kit's clock: `@sinonjs/fake-timers` installed over the whole process while any sketch
 * under test is open, so that a sketch's timers and `Date.now()` move only when the test says
 * (`t.advance(ms)`). Faked: `setTimeout`, `setInterval` (and their clears), `Date`, and through
 * them `setTimeout`/`setInterval` of `node:timers/promises`, which fake-timers replaces on the
 * module object: `syncBuiltinESMExports()` then carries that to the ES module named imports
 * (`import { setTimeout as sleep } from 'node:timers/promises'`, as the sketches write it), after
 * installing and again after uninstalling. `performance.now()` moves with it by the same amount,
 * from where the real one stood: the runtime's wall clock (runtime/streams/wall-clock.ts) reads
 * both and sees no step, as long as the fake `Date` starts at the real now (the default); it is
 * anchored again when the clock is installed and when it is uninstalled (the fake time ran
 * ahead: real readings go on from the real now, earlier than the fake clock's last).
 * `setImmediate`, `process.nextTick` and microtasks stay real: the in-memory network runs on them.
 */
import { install, type Clock } from '@sinonjs/fake-timers';
import { syncBuiltinESMExports } from 'node:module';
import { performance } from 'node:perf_hooks';
import { errors } from '../errors.js';
import { wallClock } from '../streams/wall-clock.js';

/** Real event-loop turns given after each advance, for work a fired timer started to settle. */
const SETTLE_TURNS = 5;

/** See the module comment. One at a time per process: the kit's bench holds it. */
export class FakeClock {
  readonly #clock: Clock;
  /** `performance.now` as it was before (an own property, or none: the prototype's). */
  readonly #realNow: PropertyDescriptor | undefined;
  #installed = true;

  /**
   * Installs the fake timers.
   * @param now where the fake `Date` starts, ms since the epoch. Default: the real now (the wall
   *   clock then sees no step).
   */
  constructor(now: number = Date.now()) {
    this.#realNow = Object.getOwnPropertyDescriptor(performance, 'now');
    // A whole number: a sketch's delays computed from it (`next - performance.now()`) stay whole,
    // and fake-timers truncates fractional delays (499.99999 would fire at 499 ms).
    const mono = Math.ceil(performance.now());
    // shouldClearNativeTimers: a timer made before (a closing ws socket's) may be cleared meanwhile
    this.#clock = install({ now, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'], shouldClearNativeTimers: true });
    const start = this.#clock.now;
    const clock = this.#clock;
    Object.defineProperty(performance, 'now', { configurable: true, writable: true, value: () => mono + (clock.now - start) });
    syncBuiltinESMExports();
    wallClock.resync();
  }

  /** The fake now, ms since the epoch (what `Date.now()` says while installed). */
  get now(): number {
    return this.#clock.now;
  }

  /**
   * Moves the clock `ms` forward, firing every timer due on the way in order, with the promise
   * callbacks each one starts run before the next fires (`tickAsync`); then gives a few real
   * event-loop turns for what the last ones started.
   * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for `ms` that is not a finite number ≥ 0;
   *   `SKETCH_ERR_CLOSED` once uninstalled.
   */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw errors.INVALID_OPTION(`advance(ms) takes a finite number of ms ≥ 0, got ${String(ms)}`);
    if (!this.#installed) throw errors.CLOSED('the fake clock');
    await this.#clock.tickAsync(ms);
    await settle();
  }

  /** Puts the real timers, `Date` and `performance.now` back; timers still pending never fire. Safe to call twice. */
  uninstall(): void {
    if (!this.#installed) return;
    this.#installed = false;
    this.#clock.uninstall();
    if (this.#realNow) Object.defineProperty(performance, 'now', this.#realNow);
    else delete (performance as { now?: unknown }).now;
    syncBuiltinESMExports();
    wallClock.resync(); // the fake time ran ahead: the real readings from now on are earlier
  }
}

/** Resolves after {@link SETTLE_TURNS} real turns of the event loop (`setImmediate` is never faked). */
export async function settle(turns = SETTLE_TURNS): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

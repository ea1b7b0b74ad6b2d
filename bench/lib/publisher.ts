/**
 * The publishing side of the fan-out peers (bench/servers/ws-broadcast.ts, socketio.ts,
 * mqtt-publisher.ts), the same as the bench sketch's (bench/servers/sketch.ts): readings
 * `{celsius, time}` stamped with their sample time (`performance.timeOrigin + performance.now()`,
 * in seconds since the epoch, comparable across processes on one machine), published at a
 * rate or flat out, each `publish` call timed.
 */
import { performance } from 'node:perf_hooks';
import { epochSeconds, onCommand, report } from './child.js';
import { Histogram } from './stats.js';

/** What `start` reports as `{"published":…}`: the same shape as the bench sketch's. */
export interface Published {
  count: number;
  /** From the first publish to the end of the window, in ms. */
  ms: number;
  /** Histogram of the time each publish call took, in ms. */
  callMs: Record<string, number>;
  hrtimeUs: [number, number];
  /** The publishing window in seconds since the epoch. */
  epoch: [number, number];
}

/** A random-walk temperature reading, stamped with its sample time. */
export function readings(): () => { celsius: number; time: number } {
  let celsius = 21;
  return () => {
    celsius += (Math.random() - 0.5) / 10;
    return { celsius: Math.round(celsius * 100) / 100, time: epochSeconds() };
  };
}

const hrtimeUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * Calls `publishOne` at `hz` per second (ticks scheduled against the start time, a late one
 * publishing every reading due, so the rate
 * does not drift) or, with `hz` 0, `burst` times per event-loop turn, for `ms`.
 */
export function publishFor(publishOne: () => void, hz: number, ms: number, burst = 1): Promise<Published> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const from = hrtimeUs();
    const epochFrom = epochSeconds();
    const calls = new Histogram();
    let count = 0;
    const one = () => {
      const t = performance.now();
      publishOne();
      calls.add(performance.now() - t);
      count++;
    };
    const done = (now: number) => resolve({ count, ms: now - t0, callMs: calls.toJSON(), hrtimeUs: [from, hrtimeUs()], epoch: [epochFrom, epochSeconds()] });
    if (hz > 0) {
      const tick = () => {
        const now = performance.now();
        if (now - t0 >= ms) return done(now);
        // A tick that fires late publishes every reading due by then, so the rate holds past
        // what timers can pace one at a time (500/s).
        do one();
        while ((count * 1000) / hz <= now - t0);
        setTimeout(tick, Math.max(0, t0 + (count * 1000) / hz - performance.now()));
      };
      tick();
    } else {
      const spin = () => {
        const now = performance.now();
        if (now - t0 >= ms) return done(now);
        for (let k = 0; k < burst; k++) one();
        setImmediate(spin);
      };
      spin();
    }
  });
}

/** Answers `start HZ MS [BURST]` with `{"published":…}` once done, as the bench sketch does. */
export function serveStart(publishOne: () => void): void {
  onCommand('start', async ([hz = '10', ms = '1000', burst = '1']) => {
    report('published', await publishFor(publishOne, Number(hz), Number(ms), Number(burst)));
  });
}

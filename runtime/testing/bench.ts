/**
 * The test kit's bench: what the sketches under test of one process share while any of them is
 * open — the fake clock (installed over the whole process) and the in-memory network (one
 * discovery: they find each other by name). Made when the first opens, taken down (the real
 * timers back) when the last closes.
 */
import { errors } from '../errors.js';
import { FakeClock } from './fake-clock.js';
import { MemoryNetwork } from './memory-network.js';

/** See the module comment. */
export interface Bench {
  readonly clock: FakeClock;
  readonly network: MemoryNetwork;
}

let current: (Bench & { open: number }) | undefined;

/**
 * The bench, made (and the fake clock installed) when none is open; each call must be matched
 * by one {@link releaseBench}.
 * @param now where a new bench's clock starts, ms since the epoch (default: the real now).
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` for `now` while a bench is open (its clock
 *   already runs), or a `now` that is not a finite number.
 */
export function acquireBench(now?: number): Bench {
  if (now !== undefined && (typeof now !== 'number' || !Number.isFinite(now))) {
    throw errors.INVALID_OPTION(`testSketch(): now must be ms since the epoch (a finite number or a Date), got ${String(now)}`);
  }
  if (current && now !== undefined) {
    throw errors.INVALID_OPTION('testSketch(): now applies to the first sketch under test only (the clock is shared): close the others first, or drop it');
  }
  current ??= { clock: new FakeClock(now), network: new MemoryNetwork(), open: 0 };
  current.open++;
  return current;
}

/** Gives back one {@link acquireBench}: the last puts the real timers back. */
export function releaseBench(bench: Bench): void {
  if (bench !== current || --current.open > 0) return;
  current = undefined;
  bench.clock.uninstall();
}

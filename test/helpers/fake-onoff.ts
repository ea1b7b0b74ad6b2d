/**
 * A stand-in for onoff's `Gpio` class (the `onoff` option of openOutput): it keeps the
 * physical level of each exported sysfs number in memory and records every call as a line,
 * e.g. `export 530 low`, `write 530 1`, `unexport 530`. No side effects on import.
 */
import type { OnoffClass } from '../../runtime/hardware/gpio.js';

export interface FakeOnoff {
  Gpio: OnoffClass;
  /** Every call, in order. */
  calls: string[];
  /** Physical level of each exported sysfs number (deleted on unexport). */
  levels: Map<number, 0 | 1>;
  /**
   * The outside world drives an input (exported with direction `in`) to a value, as onoff's
   * poll(2) on `value` would report it: every `watch()` callback gets it (onoff's value is
   * logical, its `activeLow` applied).
   */
  input(n: number, value: 0 | 1): void;
}

/**
 * @param options.accessible what `Gpio.accessible` says (default true).
 * @param options.exportError an errno code (`EINVAL`, `EBUSY`, `EACCES`…) the constructor
 *   throws like `fs.writeFileSync('/sys/class/gpio/export')` would.
 * @param options.onCall called with each call line as it happens (the child script prints them).
 */
export function fakeOnoff(
  options: { accessible?: boolean; exportError?: string; onCall?: (line: string) => void } = {},
): FakeOnoff {
  const calls: string[] = [];
  const levels = new Map<number, 0 | 1>();
  const watchers = new Map<number, Array<(err: Error | null, value: 0 | 1) => void>>();
  const record = (line: string) => {
    calls.push(line);
    options.onCall?.(line);
  };
  class Gpio {
    static readonly accessible = options.accessible ?? true;
    readonly #n: number;
    constructor(n: number, direction: 'high' | 'low' | 'in', edge: string, config: { activeLow: boolean; debounceTimeout?: number }) {
      if (options.exportError) {
        const err = new Error(`${options.exportError}: error, write`) as NodeJS.ErrnoException;
        err.code = options.exportError;
        err.syscall = 'write';
        throw err;
      }
      this.#n = n;
      levels.set(n, direction === 'high' ? 1 : 0);
      const debounce = config.debounceTimeout ? ` debounce=${config.debounceTimeout}` : '';
      record(`export ${n} ${direction} edge=${edge} active_low=${config.activeLow ? 1 : 0}${debounce}`);
    }
    readSync(): 0 | 1 {
      const level = levels.get(this.#n);
      if (level === undefined) throw new Error(`EBADF: gpio ${this.#n} is not exported`);
      return level;
    }
    writeSync(value: 0 | 1): void {
      if (!levels.has(this.#n)) throw new Error(`EBADF: gpio ${this.#n} is not exported`);
      levels.set(this.#n, value);
      record(`write ${this.#n} ${value}`);
    }
    watch(callback: (err: Error | null, value: 0 | 1) => void): void {
      watchers.set(this.#n, [...(watchers.get(this.#n) ?? []), callback]);
      record(`watch ${this.#n}`);
    }
    unwatchAll(): void {
      watchers.delete(this.#n);
      record(`unwatchAll ${this.#n}`);
    }
    unexport(): void {
      levels.delete(this.#n);
      record(`unexport ${this.#n}`);
    }
  }
  const input = (n: number, value: 0 | 1) => {
    if (!levels.has(n)) throw new Error(`gpio ${n} is not exported`);
    levels.set(n, value);
    for (const cb of watchers.get(n) ?? []) cb(null, value);
  };
  return { Gpio: Gpio as unknown as OnoffClass, calls, levels, input };
}

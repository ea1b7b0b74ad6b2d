/**
 * Pin scopes: where the test kit (runtime/testing/, `sketchnet/testing`) swaps the pins. A scope
 * is carried by the async context (`AsyncLocalStorage`), not held in a global list: the kit runs
 * each sketch under test in its own scope (its construction, `setup()`, `main()` and every message
 * it is delivered), so that every pin the sketch opens there — whatever backend it asks for — is
 * virtual, is handed to that sketch's scope (`t.pin(18)` finds it) and logs its `pin N -> V`
 * lines into the kit's captured log when its opener gave no `log`. Outside any scope, pins open
 * as they always did.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { VirtualPin } from './gpio.js';
import type { VirtualInput } from './input.js';

/** What a scope does with the pins opened in it. */
export interface PinScope {
  /** Called with each pin opened in the scope, right after it opened (an output already inactive). */
  opened(pin: VirtualPin | VirtualInput): void;
  /** Where a virtual pin's lines go when its opener gave no `log`. */
  log(line: string): void;
}

/** Kept on `globalThis` so that two copies of this module (the package's bundle and its sources) share one. */
const storage = ((globalThis as Record<symbol, unknown>)[Symbol.for('sketchnet.gpio.pin-scope')] ??= new AsyncLocalStorage<PinScope>()) as AsyncLocalStorage<PinScope>;

/** The scope the caller runs in, if any. */
export function currentPinScope(): PinScope | undefined {
  return storage.getStore();
}

/** Runs `fn` in `scope`: pins it opens (and what it starts: timers, promises, listeners) are the scope's. */
export function inPinScope<T>(scope: PinScope, fn: () => T): T {
  return storage.run(scope, fn);
}

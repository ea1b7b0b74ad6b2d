/**
 * Safe state for GPIO outputs: a process-wide registry of the output pins that are open,
 * and hooks that drive every one of them to its inactive level and release it (sysfs:
 * unexport) when the process stops — on `close()`, SIGINT, SIGTERM, SIGHUP, an uncaught
 * exception, an unhandled rejection and a plain exit. See docs/API.md (GPIO).
 *
 * Releasing is synchronous (onoff's `writeSync` and `unexport` are), so it finishes inside a
 * signal or exception handler before anything else runs.
 *
 * SIGKILL (and a power cut) cannot be caught: the pin keeps its last level and a sysfs pin
 * stays exported. For SIGKILL, the OOM killer and crashes of Node, the GPIO guardian process
 * (./guardian.ts) drives sysfs pins inactive and unexports them; after a power cut, the next
 * `openOutput()` of that pin takes it over and drives it inactive.
 */
import { constants } from 'node:os';
import { oneLine } from '../errors.js';

/** One open output pin as the registry sees it. */
export interface HeldPin {
  /** BCM pin number (or chardev line name), for messages. */
  readonly pin: number | string;
  /** True for a simulated pin (no hardware behind it). Default false. */
  readonly virtual?: boolean;
  /**
   * Drives the pin to its inactive level and releases it (sysfs: unexport). Synchronous and
   * idempotent; it should also drop the pin from the registry (the function {@link holdPin}
   * returned).
   */
  release(): void;
}

/** The signals whose default action would end the process with pins left driven. */
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

interface Hooks {
  signal: (signal: NodeJS.Signals) => void;
  exception: (error: unknown, origin: NodeJS.UncaughtExceptionOrigin) => void;
  exit: () => void;
}

/** Kept on `globalThis` so two copies of this module (e.g. dist and a sketch's own import) share one registry. */
const state = ((globalThis as Record<symbol, unknown>)[Symbol.for('sketchnet.gpio.safe-state')] ??= {
  pins: new Set<HeldPin>(),
}) as { pins: Set<HeldPin>; hooks?: Hooks };

/**
 * Registers an open output pin so {@link releaseAllPins} and the hooks of
 * {@link installSafeState} release it.
 * @returns a function that drops the pin from the registry (call it once the pin is released).
 */
export function holdPin(pin: HeldPin): () => void {
  state.pins.add(pin);
  return () => {
    state.pins.delete(pin);
  };
}

/** BCM numbers of the output pins currently open in this process, in the order they were opened. */
export function openPins(): Array<number | string> {
  return [...state.pins].map((p) => p.pin);
}

/** Whether any open output pin drives real hardware (not a virtual pin). */
export function drivesHardware(): boolean {
  return [...state.pins].some((p) => !p.virtual);
}

/**
 * Drives every open output pin to its inactive level and releases it (sysfs: unexport),
 * synchronously. Never throws: a pin that fails is still dropped from the registry and one
 * line naming it goes to stderr. Safe to call at any time and more than once; the CLI calls it
 * first thing in its own SIGINT/SIGTERM handler.
 * @returns how many pins were released.
 */
export function releaseAllPins(): number {
  let released = 0;
  for (const p of [...state.pins]) {
    try {
      p.release();
      released++;
    } catch (err) {
      process.stderr.write(`gpio: could not set pin ${p.pin} inactive and release it: ${oneLine(err)}\n`);
    }
    state.pins.delete(p);
  }
  return released;
}

/**
 * Installs the process hooks that call {@link releaseAllPins}. Idempotent: a second call does
 * nothing. The hooks only release pins and otherwise keep Node's behaviour, so they cooperate
 * with handlers of their own (the CLI's SIGINT/SIGTERM handler that awaits `sketch.close()`):
 *
 * - SIGINT, SIGTERM, SIGHUP: release the pins. If another listener exists for that signal, it
 *   decides what happens next (the hook does not exit); if the hook is the only listener, the
 *   process exits with status 128 + signal number (130, 143, 129), as a shell reports a
 *   process killed by that signal.
 * - Uncaught exception, and unhandled rejection (Node raises it as an uncaught exception under
 *   the default `--unhandled-rejections=throw`): release the pins; if another
 *   `uncaughtException` listener exists it decides; else print one line
 *   (`uncaught exception: MESSAGE` or `unhandled rejection: MESSAGE`) to stderr and exit 1.
 *   An `unhandledRejection` listener of your own replaces Node's throw, so the pins are then
 *   released only when the process exits.
 * - `exit` (any `process.exit()` or the end of the event loop): release the pins.
 *
 * SIGKILL cannot be caught: the pin stays at its last level and a sysfs pin stays exported
 * until the next run opens it again.
 */
export function installSafeState(): void {
  if (state.hooks) return;
  const hooks: Hooks = {
    signal: (signal) => {
      releaseAllPins();
      if (process.listenerCount(signal) > 1) return; // another handler owns the exit
      process.exit(128 + constants.signals[signal]);
    },
    exception: (error, origin) => {
      releaseAllPins();
      if (process.listenerCount('uncaughtException') > 1) return;
      const what = origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception';
      process.stderr.write(`${what}: ${oneLine(error)}\n`);
      process.exit(1);
    },
    exit: () => {
      releaseAllPins();
    },
  };
  for (const signal of SIGNALS) process.on(signal, hooks.signal);
  process.on('uncaughtException', hooks.exception);
  process.on('exit', hooks.exit);
  state.hooks = hooks;
}

/** Removes the hooks {@link installSafeState} added (the pins stay registered and open). Idempotent. */
export function uninstallSafeState(): void {
  const hooks = state.hooks;
  if (!hooks) return;
  for (const signal of SIGNALS) process.off(signal, hooks.signal);
  process.off('uncaughtException', hooks.exception);
  process.off('exit', hooks.exit);
  state.hooks = undefined;
}

/**
 * Reload in place (`sketch run --watch`, `sketch push`): a new version of a sketch class
 * replaces the running instance on the same {@link SketchServer}, so the port, the mDNS
 * announcement, the broker presence, every stream's seq and history, every subscriber and every
 * client connection stay. Messages that arrive during the swap wait and are answered by the
 * version that is attached once it is done.
 *
 * Order: the new instance is built (its options checked) while the old one still serves; then,
 * with messages held, the old one's `handoff()` is asked, its `signal` aborted (its `main()`
 * ends) and its `teardown()` run (pins released), and the new one's `setup(options, handed)`
 * runs. When that throws, a fresh instance of the old class is set up again with the same
 * `handed` (a rollback) and serves on.
 */
import { oneLine } from './errors.js';
import { SketchServer } from './net/sketch-server.js';
import type { Sketch } from './sketch.js';
import type { SketchClass, SketchConfig } from './sketch-config.js';

/** What {@link reloadInPlace} did. */
export interface ReloadOutcome {
  /** The instance serving now: the new one, or on a rollback a fresh instance of the old class (or `current` when nothing was swapped). */
  sketch: Sketch;
  /** `reloaded`; `refused` when the new instance could not even be built (bad options: nothing changed); `rolledBack` when its `setup()` threw. */
  result: 'reloaded' | 'refused' | 'rolledBack';
  /** Why it was refused or rolled back (one line). */
  reason?: string;
  /** For `rolledBack`: where the new version failed: its `setup()`, or later, within a probation (`SketchHost.reload`). */
  failedIn?: 'setup' | 'probation';
  /** Time from the start of the swap (messages held) to the instance attached, ms. */
  pauseMs: number;
}

/**
 * Replaces `current` (running) by an instance of `next` built with `config`, in place.
 * Never throws for the sketch's own errors: see {@link ReloadOutcome}.
 */
export async function reloadInPlace(current: Sketch, next: SketchClass, config: SketchConfig): Promise<ReloadOutcome> {
  const server = SketchServer.of(current);
  let fresh: Sketch;
  try {
    fresh = SketchServer.adopt(server, () => new next(config));
  } catch (err) {
    return { sketch: current, result: 'refused', reason: oneLine(err), pauseMs: 0 };
  }
  const old = server.served as Sketch;
  let reason: string | undefined;
  const start = performance.now();
  const served = await server.swap(async () => {
    let handed: unknown;
    try {
      handed = await old.handoff?.();
    } catch (err) {
      old.log.error(`handoff failed: ${oneLine(err)}`);
    }
    server.abort(old, new Error('reloaded'));
    try {
      await old.teardown?.();
    } catch (err) {
      old.log.error(`teardown failed: ${oneLine(err)}`);
    }
    try {
      await fresh.setup(fresh.options, handed);
      return fresh;
    } catch (err) {
      reason = oneLine(err);
      const again = SketchServer.adopt(server, () => new (old.constructor as SketchClass)(config));
      await again.setup(again.options, handed);
      return again;
    }
  });
  const pauseMs = performance.now() - start;
  return reason === undefined ? { sketch: served as Sketch, result: 'reloaded', pauseMs } : { sketch: served as Sketch, result: 'rolledBack', reason, failedIn: 'setup', pauseMs };
}

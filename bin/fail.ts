import { SketchError } from '../runtime/index.js';
import { addonError } from '../runtime/addon.js';

/**
 * Prints one line for `err` on stderr and exits: a SketchError's own message (then its `detail`
 * lines, when it has any) and exit code; a
 * native addon that failed to load (from anywhere, e.g. a user's sketch) as `SKETCH_ERR_ADDON`;
 * anything else as an unexpected error (exit 1), with the stack only when SKETCH_DEBUG is set.
 */
export function die(failure: unknown): never {
  const err = addonError(failure) ?? failure;
  if (err instanceof SketchError) {
    console.error(`sketch: ${err.message}`);
    if (err.detail) console.error(err.detail); // e.g. the source line and a caret under the column
    process.exit(err.exitCode);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  console.error(`sketch: unexpected error: ${e.message.split('\n')[0]} (set SKETCH_DEBUG=1 to see where)`);
  if (process.env.SKETCH_DEBUG) console.error(e.stack);
  process.exit(1);
}

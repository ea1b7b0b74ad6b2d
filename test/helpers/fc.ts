/**
 * fast-check with a seed that is printed and can be replayed. Every run prints its seed; a
 * failure names the seed and the path of the smallest counterexample, and the environment that
 * replays exactly that case:
 *
 *   FC_SEED=<seed> FC_PATH=<path> FC_TEST='<part of the test name>' node --import tsx node_modules/uvu/bin.js test "^fuzz.ts"
 *
 * FC_TEST runs that property alone (a path belongs to one property; the other fuzz tests
 * pass without running). FC_RUNS multiplies the number of runs (e.g. FC_RUNS=20 for a long search).
 */
import fc from 'fast-check';
import type { Test } from 'uvu';

/** This run's seed: FC_SEED, else a fresh one. */
export const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
const replayPath = process.env.FC_PATH || undefined;
const only = process.env.FC_TEST || undefined;
const scale = Number(process.env.FC_RUNS ?? 1) || 1;

/** Prints the seed once for `file`. */
export function announceSeed(file: string): void {
  console.log(`  ${file}: fast-check seed ${seed}${replayPath ? `, path ${replayPath}` : ''} (replay: FC_SEED=${seed})`);
}

/**
 * Adds to `suite` a test named `name` that checks `check` on `runs` (× FC_RUNS) values of
 * `arbitrary`, with this run's seed. On failure its message gives the seed, the path and the
 * counterexample, and the variables that replay it.
 */
export function fuzz<T>(suite: Test, name: string, runs: number, arbitrary: fc.Arbitrary<T>, check: (value: T) => void): void {
  suite(name, () => {
    if (only && !name.includes(only)) return;
    try {
      fc.assert(fc.property(arbitrary, check), {
        seed,
        numRuns: Math.ceil(runs * scale),
        verbose: replayPath ? 2 : 1,
        ...(replayPath ? { path: replayPath } : {}),
      });
    } catch (err) {
      const message = (err as Error).message;
      const path = /path: "([^"]*)"/.exec(message)?.[1] ?? '?';
      throw new Error(`${message}\nseed ${seed}, path ${path}: replay with FC_SEED=${seed} FC_PATH=${path} FC_TEST=${JSON.stringify(name)}`, {
        cause: err,
      });
    }
  });
}

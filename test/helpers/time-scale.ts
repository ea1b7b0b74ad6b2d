/**
 * The tests' one time-scale knob: env `SKETCH_TEST_TIME_SCALE` (a number ≥ 1, default 1)
 * multiplies the time limits of tests that measure real processes against the clock — leases,
 * deadlines for a child to start or a guardian to act, "within N ms" bounds — on a machine
 * slower than the ones they were written for. `.ci/arm64` sets it (QEMU user emulation runs
 * Node.js several times slower, and stalls a process for 100–300 ms while it translates code).
 *
 * At 1 every figure is the one the test always had: a bound that is a product promise (the
 * guardian acts within 200 ms of a SIGKILL) is still asserted as such on a native machine, and
 * only relaxed where the knob says the machine is slower. Tests print such measured figures.
 * No side effects on import beyond reading the variable; a value that is not a number ≥ 1
 * throws, so a typo in CI does not silently run the native limits.
 */

function parse(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return 1;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 1) throw new Error(`SKETCH_TEST_TIME_SCALE must be a number ≥ 1 (1 = native speed), got ${JSON.stringify(text)}`);
  return n;
}

/** The factor from `SKETCH_TEST_TIME_SCALE`: 1 on a native machine. */
export const TIME_SCALE = parse(process.env.SKETCH_TEST_TIME_SCALE);

/** `ms` times {@link TIME_SCALE}, rounded to a whole ms (`ms` itself at scale 1). */
export function scaled(ms: number): number {
  return Math.round(ms * TIME_SCALE);
}

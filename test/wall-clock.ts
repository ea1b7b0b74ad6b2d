import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { stepLine, WallClock } from '../runtime/streams/wall-clock.js';

function clocks() {
  const c = { wall: 1_796_000_000_000, mono: 5_000 };
  const clock = new WallClock({ wall: () => Math.floor(c.wall), monotonic: () => c.mono });
  return { c, clock, advance: (ms: number) => ((c.wall += ms), (c.mono += ms)) };
}

test('times have microsecond resolution: 500 Hz samples 2 ms apart, and 100 µs apart, all differ and ascend', () => {
  const { clock, advance } = clocks();
  const times: number[] = [];
  for (let i = 0; i < 50; i++) {
    advance(i % 2 ? 2 : 0.1);
    times.push(clock.now());
  }
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! > times[i - 1]!, `${times[i]} after ${times[i - 1]}`);
  assert.ok(Math.abs(times[1]! - times[0]! - 0.002) < 1e-6);
});

test('a forward step of a day is reported once with its size, and the clock follows it', () => {
  const { c, clock, advance } = clocks();
  const steps: number[] = [];
  clock.onStep((ms) => steps.push(ms));
  advance(10);
  const before = clock.nowMs();
  c.wall += 86_400_000;
  advance(1);
  const after = clock.nowMs();
  assert.is(steps.length, 1, 'one report');
  assert.ok(Math.abs(steps[0]! - 86_400_000) < 2);
  assert.ok(Math.abs(after - before - 86_400_001) < 2);
  advance(5);
  clock.nowMs();
  assert.is(steps.length, 1, 'no further report');
  assert.is(stepLine(steps[0]!).slice(0, 32), 'wall clock stepped +86400.0 s (s');
});

test('a backward step of an hour is reported as negative and times go back with it; drift below a second is never a step', () => {
  const { c, clock, advance } = clocks();
  const steps: number[] = [];
  clock.onStep((ms) => steps.push(ms));
  c.wall -= 3_600_000;
  advance(1);
  const t = clock.nowMs();
  assert.is(steps.length, 1);
  assert.ok(steps[0]! < -3_599_000);
  assert.ok(t < 1_796_000_000_000);
  // the wall clock slewed 500 ppm slower for 2000 s: followed quietly, never backwards
  let last = clock.nowMs();
  for (let i = 0; i < 2000; i++) {
    c.mono += 1000;
    c.wall += 999.5;
    const now = clock.nowMs();
    assert.ok(now >= last);
    last = now;
  }
  assert.is(steps.length, 1);
});

test('forward steps are remembered for a retention window of monotonic time, backward ones never counted', () => {
  const { c, clock, advance } = clocks();
  c.wall += 86_400_000;
  advance(1);
  clock.nowMs();
  c.wall -= 3_600_000;
  advance(1);
  clock.nowMs();
  const within = clock.forwardStepsWithin(3_600_000);
  assert.ok(Math.abs(within - 86_400_000) < 3, `${within}`);
  advance(3_600_001); // an hour of monotonic time later the step is out of the window
  assert.is(clock.forwardStepsWithin(3_600_000), 0);
});

test.run();

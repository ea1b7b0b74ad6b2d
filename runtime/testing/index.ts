/**
 * `sketchnet/testing`: the test kit, for any test runner (node:test, vitest, uvu).
 *
 * ```ts
 * const t = await testSketch(Thermostat, { options: { limit: 25 } });
 * assert.equal(await t.send('26'), '{"fan":true}');
 * await t.close();
 * ```
 *
 * `testSketch()` runs a sketch's own code with only time, pins and the network swapped: a fake
 * clock (`@sinonjs/fake-timers`: timers, `Date`, `node:timers/promises`, `performance.now()`;
 * moved by `t.advance(ms)`), virtual pins (`t.pin(18)`), and in-memory discovery and
 * connections (several sketches under test reach each other by name; no port is opened unless
 * `listen`). See docs/API.md, "sketchnet/testing".
 */
export { testSketch, type TestSketch, type TestSketchOptions, type SendOptions, type PublishedItem, type TestedClass } from './test-sketch.js';
export type { VirtualPin, Transition, Bit } from '../hardware/gpio.js';
export type { VirtualInput } from '../hardware/input.js';

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError, type ErrorCode } from '../runtime/errors.js';
import { openOutput, type OutputPin } from '../runtime/hardware/gpio.js';
import { openInput, type Edge, type EdgeGap } from '../runtime/hardware/input.js';
import { openPins, releaseAllPins } from '../runtime/hardware/safe-state.js';
import { FakeGpioChip } from './helpers/fake-gpio-chip.js';
import { throwsSketchError } from './helpers/sketch-error.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = () => {};

/** Collects a pin's edges and gaps. */
function watch(pin: ReturnType<typeof openInput>) {
  const edges: Edge[] = [];
  const gaps: EdgeGap[] = [];
  pin.on('edge', (e) => edges.push(e));
  pin.on('gap', (g) => gaps.push(g));
  return { edges, gaps };
}

async function until(check: () => boolean, ms = 1000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(2);
  }
}

test.after.each(() => {
  releaseAllPins();
});

// --- choosing the chip ----------------------------------------------------------------------

test('auto picks chardev on a Raspberry Pi 5 chip and says so in one line', () => {
  const chip = new FakeGpioChip({ chips: [{ label: 'gpio-brcmstb@107d508500', lines: 32 }, { label: 'pinctrl-rp1' }] });
  const lines: string[] = [];
  const pin = openOutput(18, { syscalls: chip, log: (l) => lines.push(l) });
  assert.is(pin.backend, 'chardev');
  assert.equal(lines, ['gpio: chardev, /dev/gpiochip1 (pinctrl-rp1): the kernel\'s GPIO character device']);
  pin.write(1);
  assert.is(chip.level(18, 1), 1, 'BCM 18 is line offset 18 of the rp1 chip: no sysfs base');
  assert.is(chip.level(18, 0), 0, 'the brcmstb chip is never touched');
  pin.close();
});

test('auto prefers pinctrl-rp1, then pinctrl-bcm2711, then pinctrl-bcm2835', () => {
  for (const [labels, expected] of [
    [['pinctrl-bcm2835', 'pinctrl-rp1'], '/dev/gpiochip1'],
    [['raspberrypi-exp-gpio', 'pinctrl-bcm2711'], '/dev/gpiochip1'],
    [['pinctrl-bcm2835'], '/dev/gpiochip0'],
  ] as const) {
    const chip = new FakeGpioChip({ chips: labels.map((label) => ({ label })) });
    const lines: string[] = [];
    openOutput(4, { syscalls: chip, log: (l) => lines.push(l) }).close();
    assert.ok(lines[0]!.includes(expected), `${labels.join(',')}: ${lines[0]}`);
  }
});

test('auto never drives a chip that is not a Raspberry Pi\'s, such as a laptop chipset\'s', () => {
  const chip = new FakeGpioChip({ chips: [{ label: 'INT34C5:00', lines: 360 }] });
  const lines: string[] = [];
  const pin = openOutput(18, { syscalls: chip, log: (l) => lines.push(l), onoff: { accessible: false } as never });
  assert.is(pin.backend, 'virtual');
  assert.is(chip.calls.filter((c) => c.startsWith('GET_LINE')).length, 0);
  assert.match(lines[0]!, /^sysfs GPIO not available, pin 18 is virtual: .*; chardev: .*INT34C5:00.*--chip/);
  pin.close();
});

test('--gpio chardev without a Raspberry Pi chip fails with one line that names the chips and --chip', () => {
  const chip = new FakeGpioChip({ chips: [{ label: 'INT34C5:00', lines: 360 }] });
  throwsSketchError(() => openOutput(18, { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_UNAVAILABLE', 'INT34C5:00', '--chip', '--gpio virtual');
});

test('--chip takes a device path, a kernel name or a label, on any board', () => {
  const chip = new FakeGpioChip({ chips: [{ label: 'INT34C5:00', lines: 360 }, { label: 'gpio-sim.0-node0', lines: 8 }] });
  for (const name of ['/dev/gpiochip1', 'gpiochip1', 'gpio-sim.0-node0']) {
    const pin = openOutput(3, { backend: 'chardev', chip: name, syscalls: chip });
    pin.write(1);
    assert.is(chip.level(3, 1), 1, name);
    pin.close();
  }
  throwsSketchError(() => openOutput(3, { backend: 'chardev', chip: 'nope', syscalls: chip }), 'SKETCH_ERR_GPIO_CHIP', 'nope', 'INT34C5:00', 'gpio-sim.0-node0');
  throwsSketchError(() => openOutput(3, { backend: 'chardev', chip: '/dev/gpiochip9', syscalls: chip }), 'SKETCH_ERR_GPIO_CHIP', '/dev/gpiochip9');
});

test('a pin can be a line name, and an unknown name or an offset past the chip is refused', () => {
  const chip = new FakeGpioChip();
  const pin = openOutput('GPIO17', { backend: 'chardev', syscalls: chip });
  pin.write(1);
  assert.is(chip.level(17), 1);
  pin.close();
  throwsSketchError(() => openOutput('GPIO99', { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_CHIP', 'GPIO99', 'pinctrl-rp1');
  throwsSketchError(() => openOutput(54, { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_PIN_RANGE', 'pinctrl-rp1', '0 to 53');
  throwsSketchError(() => openOutput('GPIO17', { backend: 'virtual' }), 'SKETCH_ERR_GPIO_CHIP', 'chardev');
});

test('the chip cannot be opened for lack of permission: one line about the gpio group', () => {
  const chip = new FakeGpioChip({ openError: 'EACCES' });
  throwsSketchError(() => openOutput(18, { backend: 'chardev', chip: '/dev/gpiochip0', syscalls: chip }), 'SKETCH_ERR_GPIO_PERMISSION', 'gpio group');
});

// --- outputs --------------------------------------------------------------------------------

test('an output is requested with the consumer label, starts inactive and releases its line on close', () => {
  const chip = new FakeGpioChip();
  const pin = openOutput(18, { backend: 'chardev', syscalls: chip, consumer: 'sketchnet:buzzer' });
  assert.equal(chip.info(18), { consumer: 'sketchnet:buzzer', output: true, held: true });
  assert.is(chip.level(18), 0);
  assert.equal(openPins(), [18]);
  pin.write(1);
  assert.is(pin.read(), 1);
  pin.write(0);
  assert.is(chip.level(18), 0);
  pin.write(1);
  pin.close();
  assert.is(chip.level(18), 0, 'driven inactive before release');
  assert.equal(chip.info(18), { consumer: '', output: false, held: false });
  assert.is(chip.openFds, 0, 'no fd left open');
  assert.equal(openPins(), []);
  throwsSketchError(() => pin.write(1), 'SKETCH_ERR_CLOSED');
});

test('an active-low output is requested high and driven low to be active', () => {
  const chip = new FakeGpioChip({ persistOutputs: true });
  const pin = openOutput(18, { backend: 'chardev', syscalls: chip, activeLow: true });
  assert.is(chip.level(18), 1, 'inactive = high from the request on: no glitch');
  pin.write(1);
  assert.is(chip.level(18), 0);
  assert.is(pin.read(), 1);
  pin.close();
  assert.is(chip.level(18), 1, 'a Raspberry Pi kernel keeps the inactive level after release');
});

test('drive and bias go into the request\'s flags', () => {
  const chip = new FakeGpioChip();
  const od = openOutput(5, { backend: 'chardev', syscalls: chip, drive: 'open-drain', bias: 'pull-up' });
  od.close();
  throwsSketchError(() => openOutput(5, { backend: 'chardev', syscalls: chip, drive: 'sideways' as never }), 'SKETCH_ERR_INVALID_OPTION', 'push-pull');
  throwsSketchError(() => openOutput(5, { backend: 'chardev', syscalls: chip, bias: 'up' as never }), 'SKETCH_ERR_INVALID_OPTION', 'pull-up');
});

test('a line another process holds fails with one line naming its consumer', () => {
  const chip = new FakeGpioChip();
  chip.holdExternally(18, 'pigpio');
  throwsSketchError(() => openOutput(18, { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_BUSY', 'GPIO 18', '"pigpio"', 'gpioinfo');
  const first = openOutput(23, { backend: 'chardev', syscalls: chip, consumer: 'sketchnet:buzzer' });
  throwsSketchError(() => openOutput(23, { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_BUSY', '"sketchnet:buzzer"');
  first.close();
  openOutput(23, { backend: 'chardev', syscalls: chip }).close();
  assert.is(chip.openFds, 0);
});

test('releaseAllPins drives every chardev output inactive and releases it', () => {
  const chip = new FakeGpioChip({ persistOutputs: true });
  const pins: OutputPin[] = [openOutput(18, { backend: 'chardev', syscalls: chip }), openOutput(19, { backend: 'chardev', syscalls: chip, activeLow: true })];
  for (const p of pins) p.write(1);
  assert.equal([chip.level(18), chip.level(19)], [1, 0]);
  assert.is(releaseAllPins(), 2);
  assert.equal([chip.level(18), chip.level(19)], [0, 1]);
  assert.is(chip.openFds, 0);
});

// --- inputs ---------------------------------------------------------------------------------

test('an input reports each edge with the kernel\'s timestamp and line seqno, not the time it was read', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, consumer: 'sketchnet:button', log: quiet });
  assert.is(pin.timing, 'kernel');
  assert.equal(chip.info(17), { consumer: 'sketchnet:button', output: false, held: true });
  const { edges } = watch(pin);
  const t0 = 1_700_000_000_123_456_789n;
  chip.drive(17, 1, { timeNs: t0 });
  chip.drive(17, 0, { timeNs: t0 + 2_500_000n });
  await until(() => edges.length === 2);
  assert.equal(edges, [
    { pin: 17, value: 1, edge: 'rising', time: 1_700_000_000_123.456, seqno: 1 },
    { pin: 17, value: 0, edge: 'falling', time: 1_700_000_000_125.956, seqno: 2 },
  ]);
  assert.is(pin.read(), 0);
  pin.close();
});

test('the default timestamps are CLOCK_REALTIME: within a few ms of Date.now()', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, log: quiet });
  const { edges } = watch(pin);
  const before = Date.now();
  chip.drive(17, 1);
  await until(() => edges.length === 1);
  assert.ok(Math.abs(edges[0]!.time - before) < 50, `${edges[0]!.time} vs ${before}`);
  pin.close();
});

test('an active-low input with a pull-up reads 1 while pressed to GND, and the press is a rising edge', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, bias: 'pull-up', activeLow: true, log: quiet });
  assert.is(chip.level(17), 1, 'the pull-up holds the line high');
  assert.is(pin.read(), 0, 'released');
  const { edges } = watch(pin);
  chip.drive(17, 0); // pressed: the button shorts the line to GND
  await until(() => edges.length === 1);
  assert.is(pin.read(), 1);
  assert.equal([edges[0]!.edge, edges[0]!.value], ['rising', 1]);
  pin.close();
});

test('edge rising reports presses only', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, edge: 'rising', log: quiet });
  const { edges } = watch(pin);
  for (const level of [1, 0, 1, 0] as const) chip.drive(17, level);
  await until(() => edges.length === 2);
  await sleep(10);
  assert.equal(edges.map((e) => `${e.edge}#${e.seqno}`), ['rising#1', 'rising#2']);
  pin.close();
});

test('the kernel\'s debounce drops a bounce shorter than the period and reports the level that held', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, debounceMs: 20, log: quiet });
  const { edges } = watch(pin);
  chip.drive(17, 1);
  await sleep(3);
  chip.drive(17, 0);
  await sleep(3);
  chip.drive(17, 1); // contacts bouncing: only this level holds
  await sleep(60);
  assert.equal(edges.map((e) => e.edge), ['rising']);
  pin.close();
  assert.throws(() => openInput(17, { backend: 'chardev', syscalls: chip, debounceMs: 1001 }), /--debounce must be from 0 to 1000/);
});

test('edges lost to a full kernel buffer become one gap with the count, never silence', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, eventBufferSize: 4, log: quiet });
  const { edges, gaps } = watch(pin);
  // 10 edges while this process is busy: the kernel keeps the newest 4
  for (let i = 0; i < 10; i++) chip.drive(17, (i % 2 === 0 ? 1 : 0) as 0 | 1);
  await until(() => edges.length === 4);
  assert.equal(gaps.map((g) => [g.lost, g.from]), [[6, 1]]);
  assert.equal(edges.map((e) => e.seqno), [7, 8, 9, 10]);
  pin.close();
  assert.throws(() => openInput(17, { backend: 'chardev', syscalls: chip, eventBufferSize: 1025 }), /eventBufferSize must be a whole number from 0 to 1024/);
});

test('closing an input stops its events and releases the line', async () => {
  const chip = new FakeGpioChip();
  const pin = openInput(17, { backend: 'chardev', syscalls: chip, log: quiet });
  const { edges } = watch(pin);
  pin.close();
  pin.close();
  chip.drive(17, 1);
  await sleep(10);
  assert.equal(edges, []);
  assert.is(chip.openFds, 0);
  assert.equal(chip.info(17).held, false);
  throwsSketchError(() => pin.read(), 'SKETCH_ERR_CLOSED');
});

test('an input and an output on the same line: the second request is refused as busy', () => {
  const chip = new FakeGpioChip();
  const input = openInput(17, { backend: 'chardev', syscalls: chip, consumer: 'sketchnet:button', log: quiet });
  throwsSketchError(() => openOutput(17, { backend: 'chardev', syscalls: chip }), 'SKETCH_ERR_GPIO_BUSY', '"sketchnet:button"');
  input.close();
});

test.run();

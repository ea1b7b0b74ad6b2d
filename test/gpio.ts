import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  findSocChip,
  listGpioChips,
  openOutput,
  resolveSysfsNumber,
  VIRTUAL_TRANSITIONS_MAX,
  VirtualPin,
} from '../runtime/hardware/gpio.js';
import { SketchError, type ErrorCode } from '../runtime/errors.js';
import { openPins, releaseAllPins } from '../runtime/hardware/safe-state.js';
import { fakeOnoff } from './helpers/fake-onoff.js';
import { throwsSketchError } from './helpers/sketch-error.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const PI3 = fixture('gpio-pi3-5.15');
const PI4 = fixture('gpio-pi4-6.6');
const PI5 = fixture('gpio-pi5-6.6');
const X86 = fixture('gpio-x86-6.6');

// --- BCM → sysfs number -------------------------------------------------------------------

test('resolves BCM 18 to sysfs 18 on a pre-6.6 kernel with a bcm2835 chip at base 0', () => {
  assert.is(resolveSysfsNumber(18, PI3), 18);
});

test('resolves BCM 18 to sysfs 530 on a 6.6 kernel with a bcm2711 chip at base 512', () => {
  assert.is(resolveSysfsNumber(18, PI4), 530);
});

test('resolves BCM 18 to sysfs 589 on a Pi 5 through the rp1 chip at base 571, not the brcmstb chip at 512', () => {
  assert.equal(findSocChip(PI5), { name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' });
  assert.is(resolveSysfsNumber(18, PI5), 589);
});

test('never picks the firmware expander chip, whatever its number', () => {
  assert.is(findSocChip(PI3).label, 'pinctrl-bcm2835');
  assert.is(findSocChip(PI4).name, 'gpiochip512');
});

test('lists every chip with base, ngpio and label read from the newline-terminated kernel files', () => {
  assert.equal(
    listGpioChips(PI5).map((c) => `${c.name} ${c.base} ${c.ngpio} ${c.label}`),
    [
      'gpiochip512 512 32 gpio-brcmstb@107d508500',
      'gpiochip544 544 4 gpio-brcmstb@107d508520',
      'gpiochip548 548 17 gpio-brcmstb@107d517c00',
      'gpiochip565 565 6 gpio-brcmstb@107d517c20',
      'gpiochip571 571 54 pinctrl-rp1',
    ],
  );
});

test('reads the sysfs root from SKETCH_SYSFS_ROOT when none is passed', () => {
  const before = process.env.SKETCH_SYSFS_ROOT;
  try {
    process.env.SKETCH_SYSFS_ROOT = PI5;
    assert.is(resolveSysfsNumber(4), 575);
    process.env.SKETCH_SYSFS_ROOT = PI4;
    assert.is(resolveSysfsNumber(4), 516);
  } finally {
    if (before === undefined) delete process.env.SKETCH_SYSFS_ROOT;
    else process.env.SKETCH_SYSFS_ROOT = before;
  }
});

test('accepts the last line of the chip and rejects the one after it with the valid range', () => {
  assert.is(resolveSysfsNumber(57, PI4), 569);
  throwsSketchError(() => resolveSysfsNumber(58, PI4), 'SKETCH_ERR_GPIO_PIN_RANGE', 'GPIO 58', 'from 0 to 57');
  assert.is(resolveSysfsNumber(53, PI3), 53);
  throwsSketchError(() => resolveSysfsNumber(54, PI3), 'SKETCH_ERR_GPIO_PIN_RANGE', 'pinctrl-bcm2835', 'from 0 to 53');
});

test('rejects negative and fractional pin numbers before looking at any chip', () => {
  throwsSketchError(() => resolveSysfsNumber(-1, PI4), 'SKETCH_ERR_GPIO_PIN_RANGE', 'GPIO -1');
  throwsSketchError(() => resolveSysfsNumber(1.5, PI4), 'SKETCH_ERR_GPIO_PIN_RANGE', 'GPIO 1.5');
  throwsSketchError(() => new VirtualPin(-3, { log: () => {} }), 'SKETCH_ERR_GPIO_PIN_RANGE', 'GPIO -3');
});

test('reports SKETCH_ERR_GPIO_UNAVAILABLE when there is no Raspberry Pi chip, naming the chips seen', () => {
  throwsSketchError(() => resolveSysfsNumber(18, X86), 'SKETCH_ERR_GPIO_UNAVAILABLE', 'INT34C5:00', '--gpio virtual');
  const missing = path.join(X86, 'does-not-exist');
  throwsSketchError(() => resolveSysfsNumber(18, missing), 'SKETCH_ERR_GPIO_UNAVAILABLE', 'no GPIO chips');
});

// --- virtual backend ----------------------------------------------------------------------

test('a virtual pin starts inactive and records every transition with its time and a log line', () => {
  const lines: string[] = [];
  const t0 = Date.now();
  const pin = new VirtualPin(18, { log: (l) => lines.push(l) });
  pin.write(1);
  pin.write(0);
  pin.write(1);
  const t1 = Date.now();
  assert.is(pin.read(), 1);
  assert.is(pin.backend, 'virtual');
  pin.close();
  assert.equal(lines, ['pin 18 -> 0', 'pin 18 -> 1', 'pin 18 -> 0', 'pin 18 -> 1', 'pin 18 -> 0']);
  assert.equal(
    pin.transitions.map((t) => t.value),
    [0, 1, 0, 1, 0],
  );
  for (const t of pin.transitions) assert.ok(t.time >= t0 && t.time <= Date.now(), `time ${t.time} in range`);
  assert.ok(pin.transitions[3]!.time <= t1);
  assert.ok(pin.transitions.every((t, i, all) => i === 0 || t.time >= all[i - 1]!.time));
});

test('a virtual pin adds no transition and no line for a write that changes nothing', () => {
  const lines: string[] = [];
  const pin = new VirtualPin(5, { log: (l) => lines.push(l) });
  pin.write(0);
  pin.write(1);
  pin.write(1);
  pin.close();
  assert.equal(lines, ['pin 5 -> 0', 'pin 5 -> 1', 'pin 5 -> 0']);
  assert.is(pin.transitions.length, 3);
});

test('an active-low virtual pin rests at physical level 1 and goes to 0 when active', () => {
  const lines: string[] = [];
  const pin = new VirtualPin(18, { activeLow: true, log: (l) => lines.push(l) });
  pin.write(1);
  assert.is(pin.read(), 1);
  pin.close();
  assert.equal(
    pin.transitions.map(({ value, level }) => [value, level]),
    [
      [0, 1],
      [1, 0],
      [0, 1],
    ],
  );
  assert.equal(lines, ['pin 18 -> 0', 'pin 18 -> 1', 'pin 18 -> 0']);
});

test('write takes only 0 or 1, and nothing works on a closed pin except close', () => {
  const pin = new VirtualPin(18, { log: () => {} });
  throwsSketchError(() => pin.write(2 as 0), 'SKETCH_ERR_BAD_MESSAGE', '0 (inactive) or 1 (active)', 'got 2');
  throwsSketchError(() => pin.write('1' as unknown as 1), 'SKETCH_ERR_BAD_MESSAGE', 'got "1"');
  pin.close();
  assert.ok(pin.closed);
  throwsSketchError(() => pin.write(1), 'SKETCH_ERR_CLOSED', 'GPIO 18');
  throwsSketchError(() => pin.read(), 'SKETCH_ERR_CLOSED');
  pin.close();
  assert.is(pin.transitions.length, 1);
});

test(`a virtual pin keeps its last VIRTUAL_TRANSITIONS_MAX (${VIRTUAL_TRANSITIONS_MAX}) transitions, oldest dropped first, and logs every one`, () => {
  let lines = 0;
  const pin = new VirtualPin(18, { log: () => lines++ });
  const writes = VIRTUAL_TRANSITIONS_MAX + 10;
  for (let i = 1; i <= writes; i++) pin.write((i % 2) as 0 | 1);
  assert.is(lines, writes + 1, 'the opening 0 and every change logged');
  assert.is(pin.transitions.length, VIRTUAL_TRANSITIONS_MAX);
  assert.is(pin.transitions.at(-1)!.value, writes % 2);
  assert.is(pin.value, writes % 2);
  assert.ok(pin.transitions.every((t, k) => k === 0 || t.value !== pin.transitions[k - 1]!.value), 'in order: alternating');
  pin.close();
  assert.is(pin.value, 0);
  assert.is(pin.transitions.length, VIRTUAL_TRANSITIONS_MAX);
});

test('an open pin is registered for safe state until it is closed, and releaseAllPins closes the rest', () => {
  const before = openPins();
  const a = new VirtualPin(20, { log: () => {} });
  const b = new VirtualPin(21, { activeLow: true, log: () => {} });
  a.write(1);
  b.write(1);
  assert.equal(openPins().slice(before.length), [20, 21]);
  a.close();
  assert.equal(openPins().slice(before.length), [21]);
  assert.is(releaseAllPins(), before.length + 1);
  assert.ok(b.closed);
  const last = b.transitions.at(-1)!;
  assert.equal([last.value, last.level], [0, 1]);
  assert.equal(openPins(), []);
  assert.is(releaseAllPins(), 0);
});

// --- openOutput: backend choice, sysfs through a fake onoff ------------------------------------

test('auto falls back to a virtual pin with one log line when onoff is not accessible', () => {
  const lines: string[] = [];
  const fake = fakeOnoff({ accessible: false });
  const pin = openOutput(18, { onoff: fake.Gpio, log: (l) => lines.push(l), sysfsRoot: PI4 });
  assert.is(pin.backend, 'virtual');
  assert.instance(pin, VirtualPin);
  pin.close();
  assert.is(lines.length, 2);
  assert.match(lines[0]!, /^sysfs GPIO not available, pin 18 is virtual: .*gpio group/);
  assert.equal(lines.slice(1), ['pin 18 -> 0']);
  assert.equal(fake.calls, []);
});

test('auto uses sysfs when onoff is accessible, exporting BCM 18 as 530 on a Pi 4 at the inactive level', () => {
  const lines: string[] = [];
  const fake = fakeOnoff();
  const pin = openOutput(18, { onoff: fake.Gpio, log: (l) => lines.push(l), sysfsRoot: PI4 });
  assert.is(pin.backend, 'sysfs');
  assert.equal(fake.calls, ['export 530 low edge=none active_low=0', 'write 530 0']);
  pin.write(1);
  assert.is(fake.levels.get(530), 1);
  assert.is(pin.read(), 1);
  pin.close();
  assert.equal(fake.calls.slice(2), ['write 530 1', 'write 530 0', 'unexport 530']);
  assert.is(lines.length, 1, 'one line says which backend and why');
  assert.match(lines[0]!, /^gpio: sysfs through onoff \(chardev: .*no Raspberry Pi chip/);
  assert.ok(!openPins().includes(18));
});

test('sysfs on a Pi 5 exports BCM 18 as 589', () => {
  const fake = fakeOnoff();
  const pin = openOutput(18, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI5 });
  pin.close();
  assert.equal(fake.calls, ['export 589 low edge=none active_low=0', 'write 589 0', 'write 589 0', 'unexport 589']);
});

test('an active-low sysfs pin is exported as "high" and written inverted, with the kernel active_low left at 0', () => {
  const fake = fakeOnoff();
  const pin = openOutput(18, { backend: 'sysfs', activeLow: true, onoff: fake.Gpio, sysfsRoot: PI3 });
  pin.write(1);
  assert.is(fake.levels.get(18), 0);
  assert.is(pin.read(), 1);
  pin.close();
  assert.equal(fake.calls, [
    'export 18 high edge=none active_low=0',
    'write 18 1',
    'write 18 0',
    'write 18 1',
    'unexport 18',
  ]);
});

test('sysfs asked for but not accessible throws SKETCH_ERR_GPIO_UNAVAILABLE suggesting --gpio virtual', () => {
  const fake = fakeOnoff({ accessible: false });
  throwsSketchError(
    () => openOutput(18, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4 }),
    'SKETCH_ERR_GPIO_UNAVAILABLE',
    '/sys/class/gpio/export',
    '--gpio virtual',
  );
});

test('sysfs checks the pin against the chip before exporting anything', () => {
  const fake = fakeOnoff();
  throwsSketchError(
    () => openOutput(60, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4 }),
    'SKETCH_ERR_GPIO_PIN_RANGE',
    'from 0 to 57',
  );
  assert.equal(fake.calls, []);
});

test('export EBUSY says another process holds the pin', () => {
  const fake = fakeOnoff({ exportError: 'EBUSY' });
  throwsSketchError(
    () => openOutput(18, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4 }),
    'SKETCH_ERR_GPIO_EXPORT',
    'GPIO 18',
    'sysfs 530',
    'another process',
  );
});

test('export EINVAL names the sysfs number and the chip base it was computed from', () => {
  const fake = fakeOnoff({ exportError: 'EINVAL' });
  throwsSketchError(
    () => openOutput(18, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4 }),
    'SKETCH_ERR_GPIO_EXPORT',
    'sysfs number 530',
    'base 512',
    'pinctrl-bcm2711',
  );
});

test('EACCES and EPERM say to add the user to the gpio group', () => {
  for (const code of ['EACCES', 'EPERM']) {
    const fake = fakeOnoff({ exportError: code });
    throwsSketchError(
      () => openOutput(18, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4 }),
      'SKETCH_ERR_GPIO_PERMISSION',
      code,
      'gpio group',
      'sudo adduser $USER gpio',
    );
  }
  assert.equal(openPins(), []);
});

test('an unknown backend name is an invalid option', () => {
  throwsSketchError(
    () => openOutput(18, { backend: 'pigpio' as 'auto' }),
    'SKETCH_ERR_INVALID_OPTION',
    'auto, chardev, sysfs, virtual',
    '"pigpio"',
  );
});

test.run();

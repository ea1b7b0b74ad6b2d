import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/errors.js';
import { openInput, VirtualInput, type Edge } from '../runtime/hardware/input.js';
import { FakeGpioChip } from './helpers/fake-gpio-chip.js';
import { fakeOnoff } from './helpers/fake-onoff.js';

const PI4 = fileURLToPath(new URL('./fixtures/gpio-pi4-6.6', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const noChip = new FakeGpioChip({ chips: [] });

function edgesOf(pin: ReturnType<typeof openInput>): Edge[] {
  const edges: Edge[] = [];
  pin.on('edge', (e) => edges.push(e));
  return edges;
}

// --- virtual --------------------------------------------------------------------------------

test('a virtual input reports each change of level as an edge with a seqno, and none for an unchanged level', () => {
  const pin = openInput(17, { backend: 'virtual' }) as VirtualInput;
  assert.instance(pin, VirtualInput);
  assert.is(pin.timing, 'read');
  const edges = edgesOf(pin);
  pin.set(1, 1000);
  pin.set(1, 1001);
  pin.set(0, 1002);
  assert.equal(edges, [
    { pin: 17, value: 1, edge: 'rising', time: 1000, seqno: 1 },
    { pin: 17, value: 0, edge: 'falling', time: 1002, seqno: 2 },
  ]);
  assert.is(pin.read(), 0);
  pin.close();
  assert.throws(() => pin.set(1), (e: unknown) => e instanceof SketchError && e.code === 'SKETCH_ERR_CLOSED');
});

test('a virtual input with edge falling reports releases only, and debounce waits for the level to hold', async () => {
  const falling = new VirtualInput(4, { edge: 'falling' });
  const f = edgesOf(falling);
  falling.set(1);
  falling.set(0);
  assert.equal(f.map((e) => e.edge), ['falling']);
  const bouncy = new VirtualInput(5, { debounceMs: 15 });
  const b = edgesOf(bouncy);
  bouncy.set(1);
  bouncy.set(0);
  bouncy.set(1);
  assert.equal(b, [], 'nothing before the level held for 15 ms');
  await sleep(40);
  assert.equal(b.map((e) => e.edge), ['rising']);
  bouncy.close();
  falling.close();
});

test('auto without any GPIO gives a virtual input and says so in one line', () => {
  const lines: string[] = [];
  const fake = fakeOnoff({ accessible: false });
  const pin = openInput(17, { syscalls: noChip, onoff: fake.Gpio, log: (l) => lines.push(l) });
  assert.is(pin.backend, 'virtual');
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^sysfs GPIO not available, pin 17 is virtual/);
  pin.close();
});

// --- sysfs through onoff --------------------------------------------------------------------

test('a sysfs input is exported through onoff with its edge, active-low and debounce, and reports onoff\'s values as edges', () => {
  const fake = fakeOnoff();
  const lines: string[] = [];
  const pin = openInput(17, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4, edge: 'both', activeLow: true, debounceMs: 10, log: (l) => lines.push(l) });
  assert.is(pin.backend, 'sysfs');
  assert.is(pin.timing, 'read');
  assert.equal(fake.calls, ['export 529 in edge=both active_low=1 debounce=10', 'watch 529']);
  const edges = edgesOf(pin);
  const before = Date.now();
  fake.input(529, 1);
  fake.input(529, 0);
  assert.equal(edges.map((e) => [e.value, e.edge, e.seqno]), [[1, 'rising', 1], [0, 'falling', 2]]);
  assert.ok(edges[0]!.time >= before && edges[0]!.time <= Date.now());
  assert.is(pin.read(), 0);
  pin.close();
  assert.equal(fake.calls.slice(2), ['unwatchAll 529', 'unexport 529']);
  assert.equal(lines, []);
});

test('sysfs cannot set a bias: one line says so and how to set it in config.txt', () => {
  const fake = fakeOnoff();
  const lines: string[] = [];
  const pin = openInput(17, { backend: 'sysfs', onoff: fake.Gpio, sysfsRoot: PI4, bias: 'pull-up', log: (l) => lines.push(l) });
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /sysfs cannot set the bias of GPIO 17.*gpio=17=ip,pu.*--gpio chardev/);
  pin.close();
});

// --- the limits -----------------------------------------------------------------------------

test('edge, debounce and buffer limits are refused with one line each before anything is opened', () => {
  const chip = new FakeGpioChip();
  for (const [options, message] of [
    [{ edge: 'up' }, /--edge must be one of rising, falling, both/],
    [{ debounceMs: -1 }, /--debounce must be from 0 to 1000/],
    [{ debounceMs: 1000.5 }, /--debounce must be from 0 to 1000/],
    [{ eventBufferSize: 2.5 }, /eventBufferSize must be a whole number/],
    [{ bias: 'strong' }, /--bias must be one of/],
  ] as const) {
    try {
      openInput(17, { backend: 'chardev', syscalls: chip, ...(options as object) });
      assert.unreachable(JSON.stringify(options));
    } catch (err) {
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, message);
      assert.not.match((err as Error).message, '\n');
    }
  }
  assert.is(chip.openFds, 0);
  const edge = openInput(17, { backend: 'chardev', syscalls: chip, debounceMs: 1000, eventBufferSize: 1024 });
  edge.close();
});

test.run();

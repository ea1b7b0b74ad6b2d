import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError, type VirtualPin } from '../runtime/index.js';
import { haDiscoveryConfigs } from '../runtime/discovery/home-assistant.js';
import { SUBPROTOCOL } from '../runtime/net/protocol.js';
import { VirtualInput } from '../runtime/hardware/input.js';
import { checkDeviceText } from '../bin/device-file.js';
import Button, { EDGES_CHANNEL, type EdgeItem } from '../sketches/button.js';
import Buzzer from '../sketches/buzzer.js';
import { cli, connect, frames, runCli, sleep } from './helpers/net.js';
import { FakeGpioChip } from './helpers/fake-gpio-chip.js';
import { haProblems } from './helpers/ha-schema.js';
import { testSketch } from '../runtime/testing/index.js';

/** A button on a virtual pin, listening on 127.0.0.1 without mDNS; its log lines kept. */
async function button(options: Record<string, unknown> = {}, to?: string) {
  const lines: string[] = [];
  const b = new Button({ discovery: false, to, log: (l) => lines.push(l), options: { gpio: 'virtual', ...options } });
  const { port } = await b.run({ host: '127.0.0.1' });
  const pin = b.input as VirtualInput;
  return { b, pin, lines, base: `ws://127.0.0.1:${port}` };
}

/** Resolves once `check()` is true; fails with `what` after `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const T0 = 1_763_737_200_123.456; // ms since the epoch, with µs

test('every edge goes to /edges in order as { pin, value, edge, time, seqno }, time in seconds and the stream item time too', async () => {
  const { b, pin } = await button({ debounce: 0 });
  assert.ok(pin instanceof VirtualInput);
  const ws = await connect(`${b.address!.url.replace(/\/$/, '')}${EDGES_CHANNEL}?history=all`, [SUBPROTOCOL]);
  pin.set(1, T0);
  pin.set(0, T0 + 150.25);
  pin.set(1, T0 + 900.5);
  const [subscribed, ...items] = (await frames(ws, 4)).map((f) => JSON.parse(f));
  assert.equal(subscribed.subscribed.stream, EDGES_CHANNEL);
  assert.is(subscribed.subscribed.delivery, 'all');
  const data = items.map((i) => i.data as EdgeItem);
  assert.equal(data, [
    { pin: 17, value: 1, edge: 'rising', time: T0 / 1000, seqno: 1 },
    { pin: 17, value: 0, edge: 'falling', time: (T0 + 150.25) / 1000, seqno: 2 },
    { pin: 17, value: 1, edge: 'rising', time: (T0 + 900.5) / 1000, seqno: 3 },
  ]);
  assert.equal(items.map((i) => i.seq), [1, 2, 3]);
  for (const i of items) assert.is(i.time, i.data.time, 'the item time is the edge time, in seconds');
  ws.close();
  await b.close();
  assert.ok(pin.closed, 'the pin is released when the sketch stops');
});

test('with --to, a press sends 1 and a release 0 to a real buzzer, which sounds and goes quiet', async () => {
  const buzzer = new Buzzer({ discovery: false, log: () => {}, options: { gpio: 'virtual' } });
  const { url } = await buzzer.run({ host: '127.0.0.1' });
  const out = buzzer.output as VirtualPin;
  const { b, pin } = await button({ debounce: 0 }, url);
  pin.set(1);
  await until(() => out.read() === 1, 'the buzzer to sound');
  pin.set(0);
  await until(() => out.read() === 0 && out.transitions.length >= 3, 'the buzzer to go quiet');
  assert.equal(out.transitions.map((t) => t.value), [0, 1, 0]);
  // `delivered` counts acknowledgements: the buzzer's pin changes before its ack is back here
  const outbox = b.outbox(url);
  await until(() => outbox.status().delivered >= 2, 'both messages acknowledged');
  const forward = outbox.status();
  assert.is(forward.delivered, 2);
  assert.is(forward.dropped, 0);
  await b.close();
  await buzzer.close();
});

test('--edge rising publishes presses only (the test kit: virtual input, fake clock, no port)', async () => {
  const t = await testSketch(Button, { options: { debounce: 0, edge: 'rising' } });
  try {
    for (const v of [1, 0, 1, 0] as const) t.input(17).set(v);
    await t.advance(30);
    const got = t.published(EDGES_CHANNEL).map((i) => i.data as EdgeItem);
    assert.equal(got.map((e) => [e.edge, e.value]), [['rising', 1], ['rising', 1]], 'no releases published');
  } finally {
    await t.close();
  }
});

test('a bounce shorter than --debounce is dropped: the level that holds 40 ms is published once (the test kit)', async () => {
  const t = await testSketch(Button, { options: { debounce: 40 } });
  try {
    const pin = t.input(17);
    pin.set(1);
    await t.advance(5);
    pin.set(0); // contact bounce
    await t.advance(5);
    pin.set(1);
    await t.advance(39);
    assert.equal(t.published(EDGES_CHANNEL), [], 'nothing before the level held 40 ms');
    await t.advance(1);
    assert.equal(t.published(EDGES_CHANNEL).map((i) => (i.data as EdgeItem).value), [1], 'one edge');
  } finally {
    await t.close();
  }
});

test('a gap from the pin is published on /edges as { pin, gap: { lost, from }, time } and logged as one warning', async () => {
  const { b, pin, base, lines } = await button({ debounce: 0 });
  const ws = await connect(`${base}${EDGES_CHANNEL}`);
  pin.set(1, T0);
  pin.emit('gap', { pin: 17, lost: 3, from: 2, time: T0 + 10 });
  const got = (await frames(ws, 2)).map((f) => JSON.parse(f));
  assert.equal(got[1], { pin: 17, gap: { lost: 3, from: 2 }, time: (T0 + 10) / 1000 });
  const warnings = lines.filter((l) => /edge\(s\) lost/.test(l));
  assert.equal(warnings, ['[ Button ] GPIO 17: 3 edge(s) lost (seqno 2…4) before they could be read; published as a gap on /edges']);
  assert.is((b.status().input as { lost: number }).lost, 3);
  ws.close();
  await b.close();
});

test('chardev: the line is held as sketchnet:<name> with pull-up and active-low, and a press to GND is published with the kernel time', async () => {
  const chip = new FakeGpioChip();
  const b = new Button({ discovery: false, name: 'doorbell', log: () => {}, options: { gpio: 'chardev', debounce: 0 }, inputOptions: { syscalls: chip } });
  const { url, port } = await b.run({ host: '127.0.0.1' });
  assert.is(b.input!.backend, 'chardev');
  assert.is(b.input!.timing, 'kernel');
  assert.equal(chip.info(17), { consumer: 'sketchnet:doorbell', output: false, held: true });
  assert.is(chip.level(17), 1, 'the pull-up holds the open button high');
  assert.is(b.input!.read(), 0, 'released: active low');
  const ws = await connect(`${url.replace(/\/$/, '')}${EDGES_CHANNEL}`);
  const ns = 1_763_737_200_123_456_789n;
  chip.drive(17, 0, { timeNs: ns }); // pressed: the button pulls the line to GND
  chip.drive(17, 1, { timeNs: ns + 80_000_000n }); // released
  const got = (await frames(ws, 2)).map((f) => JSON.parse(f) as EdgeItem);
  assert.equal(got.map((e) => [e.value, e.edge, e.seqno]), [[1, 'rising', 1], [0, 'falling', 2]]);
  assert.ok(Math.abs(got[0]!.time - 1_763_737_200.123457) < 1e-6, `time ${got[0]!.time}`);
  assert.ok(Math.abs(got[1]!.time - got[0]!.time - 0.08) < 1e-6);
  const status = JSON.parse(await (await fetch(`http://127.0.0.1:${port}/.well-known/sketch`)).text());
  assert.is(status.input.backend, 'chardev');
  ws.close();
  await b.close();
  assert.is(chip.info(17).held, false, 'released on close');
});

test('chardev: edges lost to a full kernel buffer become a gap item between the edges around it', async () => {
  const chip = new FakeGpioChip();
  const lines: string[] = [];
  const b = new Button({ discovery: false, log: (l) => lines.push(l), options: { gpio: 'chardev', debounce: 0 }, inputOptions: { syscalls: chip, eventBufferSize: 4 } });
  const { url } = await b.run({ host: '127.0.0.1' });
  const ws = await connect(`${url.replace(/\/$/, '')}${EDGES_CHANNEL}`);
  for (let i = 0; i < 10; i++) chip.drive(17, (i % 2) as 0 | 1); // 10 edges at once: the buffer keeps the last 4
  const got = (await frames(ws, 5)).map((f) => JSON.parse(f));
  assert.equal(got[0].gap, { lost: 6, from: 1 });
  assert.equal(got.slice(1).map((e: EdgeItem) => e.seqno), [7, 8, 9, 10]);
  assert.is(lines.filter((l) => /edge\(s\) lost/.test(l)).length, 1, lines.join('\n'));
  ws.close();
  await b.close();
});

test('--simulate presses and releases a virtual button at random until the sketch closes', async () => {
  const { b, base, lines } = await button({ gpio: 'auto', simulate: 0.05 });
  assert.is(b.input!.backend, 'virtual', '--simulate with --gpio auto uses a virtual pin');
  const ws = await connect(`${base}${EDGES_CHANNEL}`);
  const main = b.main();
  const got = (await frames(ws, 4, 4000)).map((f) => JSON.parse(f) as EdgeItem);
  assert.equal(got.map((e) => e.value), [1, 0, 1, 0]);
  assert.equal(got.map((e) => e.seqno), [1, 2, 3, 4]);
  for (let i = 1; i < 4; i++) assert.ok(got[i]!.time > got[i - 1]!.time, 'times increase');
  const held = got[1]!.time - got[0]!.time;
  assert.ok(held >= 0.09 && held <= 0.4, `held ${held} s`);
  assert.ok(lines.some((l) => /simulated, a press every 0\.05 s on average/.test(l)), lines.join('\n'));
  ws.close();
  await b.close();
  await main; // ends with the sketch: no timer left behind
  const seq = b.streamAt(EDGES_CHANNEL)!.status().seq;
  await sleep(150);
  assert.is(b.streamAt(EDGES_CHANNEL)!.status().seq, seq, 'no presses after close');
});

test('--simulate refuses a real backend, and --line, with SKETCH_ERR_INVALID_OPTION', () => {
  for (const options of [{ simulate: 1, gpio: 'sysfs' }, { simulate: 1, gpio: 'chardev' }, { simulate: 1, line: 'GPIO17' }]) {
    try {
      new Button({ discovery: false, options });
      assert.unreachable(JSON.stringify(options));
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, /--simulate/);
    }
  }
});

test('any message is answered with the current state { pin, value } (the test kit)', async () => {
  const t = await testSketch(Button, { options: { debounce: 0, pin: 27 } });
  try {
    assert.equal(JSON.parse(await t.send('state?')), { pin: 27, value: 0 });
    t.input(27).set(1);
    await t.advance(1);
    assert.equal(JSON.parse(await t.send('')), { pin: 27, value: 1 });
  } finally {
    await t.close();
  }
});

test("the status shows the input's backend, settings, value and edge count", async () => {
  const { b, pin } = await button({ debounce: 0 });
  pin.set(1);
  const status = JSON.parse(await (await fetch(`http://127.0.0.1:${b.address!.port}/.well-known/sketch`)).text());
  assert.equal(status.input, { pin: 17, backend: 'virtual', timing: 'read', activeLow: true, edge: 'both', debounce: 0, simulated: false, value: 1, edges: 1, lost: 0 });
  assert.is(status.kind, 'button');
  assert.is(status.streams[EDGES_CHANNEL].seq, 1);
  await b.close();
});

test('defaults fit a button to GND: pin 17, pull-up, active low, both edges, 20 ms debounce', () => {
  const b = new Button({ discovery: false });
  const { pin, bias, activeLow, edge, debounce, gpio, simulate } = b.options;
  assert.equal({ pin, bias, activeLow, edge, debounce, gpio, simulate }, { pin: 17, bias: 'pull-up', activeLow: true, edge: 'both', debounce: 20, gpio: 'auto', simulate: undefined });
});

test('a --debounce out of range is refused with SKETCH_ERR_INVALID_OPTION, and by the CLI with one line, exit 2', async () => {
  try {
    new Button({ discovery: false, options: { debounce: 5000 } });
    assert.unreachable('accepted --debounce 5000');
  } catch (err) {
    assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
  }
  const r = await runCli(['run', 'button', '--debounce', '5000', '--no-mdns']);
  assert.is(r.code, 2, r.stderr);
  const [line, hint, ...rest] = r.stderr.trim().split('\n');
  assert.is(line, 'sketch: --debounce must be a number from 0 to 1000, got 5000');
  assert.is(hint, "run 'sketch run button --help' for the options");
  assert.equal(rest, []);
});

test('sketch run button --gpio virtual --simulate prints its presses with --verbose, and stops on SIGTERM', async () => {
  const c = cli(['run', 'button', '--gpio', 'virtual', '--simulate', '0.05', '--no-mdns', '--host', '127.0.0.1', '--verbose']);
  try {
    await c.waitFor(/\[ Button \] button on BCM 17 \(simulated/);
    await c.waitFor(/\[ Button \] pressed \(edge 1\)/);
    await c.waitFor(/\[ Button \] released \(edge 2\)/);
  } finally {
    c.child.kill('SIGTERM');
  }
  assert.is(await c.exited(), 0, c.stderr());
});

test('Home Assistant: a binary sensor reading /edges, on at 1, off at 0, within the documented schema', () => {
  const [c, ...rest] = haDiscoveryConfigs({ name: 'doorbell', kind: 'button', version: '1.2.3', entities: Button.homeAssistant });
  assert.is(rest.length, 0);
  assert.is(c!.topic, 'homeassistant/binary_sensor/doorbell/button/config');
  assert.equal(haProblems(c!), []);
  assert.is(c!.payload.state_topic, 'sketchnet/doorbell/edges');
  assert.is(c!.payload.payload_on, '1');
  assert.is(c!.payload.payload_off, '0');
  assert.is(c!.payload.value_template, "{{ value_json.value | default('') }}");
});

test('a device file with kind: button passes sketch up --check; its options are checked like sketch run checks them', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'button-device-'));
  try {
    const file = path.join(dir, 'sketchnet.yaml');
    const good = 'sketches:\n  - kind: button\n    pin: 22\n    debounce: 30\n    to: buzzer\n  - kind: buzzer\n';
    const ok = await checkDeviceText(good, file);
    assert.ok(ok.ok, ok.ok ? '' : ok.problems.join('\n'));
    const bad = await checkDeviceText('sketches:\n  - kind: button\n    edge: up\n', file);
    assert.not.ok(bad.ok);
    assert.match(bad.ok ? '' : bad.problems.join('\n'), /sketchnet\.yaml:3: sketches\[0\] \(button\): .*--edge/);
    writeFileSync(file, good);
    const r = await runCli(['up', '--check', file]);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout.trim(), `${file}: 2 sketches OK`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the gpio group goes to its service unit unless the pin is virtual (reading a pin needs it too)', () => {
  assert.is(Button.drivesPins({ gpio: 'auto' }), true);
  assert.is(Button.drivesPins({ gpio: 'chardev' }), true);
  assert.is(Button.drivesPins({ gpio: 'virtual' }), false);
  assert.is(Button.drivesPins({ gpio: 'auto', simulate: 1 }), false);
});

test.run();

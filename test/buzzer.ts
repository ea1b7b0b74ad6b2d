import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualPin } from '../runtime/index.js';
import Buzzer from '../sketches/buzzer.js';
import { cli, connect, frames, runCli, sleep } from './helpers/net.js';

async function buzzer(options: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const b = new Buzzer({ discovery: false, log: (l) => lines.push(l), options: { gpio: 'virtual', ...options } });
  const { url } = await b.run({ host: '127.0.0.1' });
  const ws = await connect(url);
  const pin = b.output as VirtualPin;
  return { b, ws, pin, lines };
}

test('1 sounds the buzzer and is acknowledged with the sound, 0 silences it with ...', async () => {
  const { b, ws, pin, lines } = await buzzer();
  const got = frames(ws, 2);
  ws.send('1');
  ws.send('0');
  assert.equal(await got, ['bzzz', '...']);
  assert.equal(pin.transitions.map((t) => t.value), [0, 1, 0]);
  assert.ok(lines.includes('[ Buzzer ] pin 18 -> 1'), lines.join('\n'));
  ws.close();
  await b.close();
});

test('any other message gets an error reply and changes nothing', async () => {
  const { b, ws, pin } = await buzzer({ pin: 23 });
  const got = frames(ws, 3);
  ws.send('1');
  ws.send('on');
  ws.send('2');
  const [ack, e1, e2] = await got;
  assert.is(ack, 'bzzz');
  assert.match(e1!, /^error: the buzzer takes 1 or 0, got "on"$/);
  assert.match(e2!, /^error: the buzzer takes 1 or 0, got "2"$/);
  assert.is(pin.read(), 1, 'still sounding as the 1 left it');
  assert.is(pin.pin, 23);
  ws.close();
  await b.close();
});

test('--beep sounds for that many ms and then goes quiet by itself', async () => {
  const { b, ws, pin } = await buzzer({ beep: 40, sound: 'beep' });
  const got = frames(ws, 1);
  ws.send('1');
  assert.equal(await got, ['beep']);
  assert.is(pin.read(), 1);
  await sleep(120);
  assert.is(pin.read(), 0);
  const [on, off] = pin.transitions.slice(-2);
  assert.ok(off!.time - on!.time >= 35, `lasted ${off!.time - on!.time} ms`);
  ws.close();
  await b.close();
});

test('an active-low buzzer is driven low to sound and left high when stopped', async () => {
  const { b, ws, pin } = await buzzer({ activeLow: true });
  const got = frames(ws, 1);
  ws.send('1');
  await got;
  assert.equal(pin.transitions.at(-1), { time: pin.transitions.at(-1)!.time, value: 1, level: 0 });
  ws.close();
  await b.close();
  assert.ok(pin.closed);
  assert.equal(pin.transitions.at(-1)!.level, 1);
});

test('stopping a sounding buzzer leaves it silent and released', async () => {
  const { b, ws, pin } = await buzzer();
  const got = frames(ws, 1);
  ws.send('1');
  await got;
  await b.close();
  assert.ok(pin.closed);
  assert.is(pin.transitions.at(-1)!.value, 0);
});

test('SIGTERM to a real sketch run buzzer process silences a sounding buzzer', async () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const child = cli(['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--host', '127.0.0.1']);
    await child.waitFor(/serving on/);
    const port = /serving on [^:]+:(\d+)/.exec(child.stdout())![1];
    const sent = await runCli(['send', `ws://127.0.0.1:${port}/`, '1']);
    assert.is(sent.stdout, 'bzzz\n');
    child.child.kill(signal);
    assert.is(await child.exited(), 0);
    const out = child.stdout();
    assert.ok(out.lastIndexOf('pin 18 -> 0') > out.indexOf('pin 18 -> 1'), out);
  }
});

test('--lease takes whole ms from 0 (the default, no lease): a negative one is refused with one line and the usage, exit 2', async () => {
  const r = await runCli(['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--lease', '-5']);
  assert.is(r.code, 2);
  assert.match(r.stderr.split('\n')[0]!, /^sketch: --lease must be an integer from 0 to 86400000, got -5$/);
  assert.not.match(r.stderr, /\n\s+at /);
  const { b, pin, ws } = await buzzer({ lease: 300 });
  assert.is(pin.backend, 'virtual', 'a virtual pin has no guardian, and the lease changes nothing');
  ws.close();
  await b.close();
});

test('--gpio sysfs where there is no GPIO prints one line suggesting --gpio virtual, exit 1', async () => {
  const r = await runCli(['run', 'buzzer', '--gpio', 'sysfs', '--no-mdns'], {
    SKETCH_SYSFS_ROOT: new URL('./fixtures/gpio-x86-6.6', import.meta.url).pathname,
  });
  assert.is(r.code, 1);
  assert.match(r.stderr.split('\n')[0]!, /^sketch: .*--gpio virtual/);
  assert.not.match(r.stderr, /\n\s+at /);
});

test.run();

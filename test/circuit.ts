import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualPin } from '../runtime/index.js';
import Buzzer from '../sketches/buzzer.js';
import Clock from '../sketches/clock.js';
import IOPin from '../sketches/iopin.js';

const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;

test('clock → iopin → buzzer over real sockets and mDNS: every drawn bit reaches the buzzer pin in order', async () => {
  const log: string[] = [];
  const keep = (l: string) => log.push(l);
  const buzzer = new Buzzer({ name: `buzzer-${id}`, log: keep, options: { gpio: 'virtual' } });
  const iopin = new IOPin({ name: `iopin-${id}`, to: `buzzer-${id}`, log: keep, options: { gpio: 'virtual', pin: 17 } });
  const clock = new Clock({ name: `clock-${id}`, to: `iopin-${id}`, log: keep, options: { tacks: 4, delay: 0 } });
  await buzzer.run({ host: '127.0.0.1' });
  await iopin.run({ host: '127.0.0.1' });
  await Promise.all([buzzer.announced, iopin.announced]);
  await clock.run({ host: '127.0.0.1' });
  await clock.main();

  const acks = log
    .filter((l) => l.startsWith(`[ clock-${id} ] < `))
    .map((l) => JSON.parse(l.slice(`[ clock-${id} ] < `.length)) as { bits: Array<0 | 1>; acks: string[] });
  assert.is(acks.length, 4);
  for (const a of acks) assert.equal(a.acks, a.bits.map((b) => (b ? 'bzzz' : '...')));

  // the buzzer pin followed the bits: each change of level is one recorded transition; a tick
  // ending in 1 is followed by the iopin's final 0 (held bits, --bit-ms 100 by default)
  const driven = acks.flatMap((a) => (a.bits.at(-1) === 1 ? [...a.bits, 0] : a.bits));
  const expected = [0, ...driven].filter((b, i, all) => i === 0 || b !== all[i - 1]);
  const buzzerPin = buzzer.output as VirtualPin;
  assert.equal(buzzerPin.transitions.map((t) => t.value), expected);
  assert.is(buzzerPin.read(), 0, 'silent after the last tick');
  for (let i = 1; i < buzzerPin.transitions.length; i++) {
    assert.ok(buzzerPin.transitions[i]!.time >= buzzerPin.transitions[i - 1]!.time);
  }
  await Promise.all([clock.close(), iopin.close(), buzzer.close()]);
  assert.ok(buzzerPin.closed);
  assert.is(buzzerPin.transitions.at(-1)!.value, 0, 'silent after stopping');
});

test.run();

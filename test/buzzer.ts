import fs from 'node:fs';
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VirtualPin } from '../runtime/index.js';
import { testSketch, type TestSketch } from '../runtime/testing/index.js';
import { systemGuardian } from '../runtime/hardware/guardian.js';
import Buzzer from '../sketches/buzzer.js';
import type { PinItem } from '../sketches/pin-stream.js';
import { cli, connect, frames, runCli, sleep } from './helpers/net.js';
import { fakePwmTree, PI4_PWM, pwmFile, startFakePwmKernel } from './helpers/fake-pwm.js';
import { rejectsSketchError } from './helpers/sketch-error.js';

async function buzzer(options: Record<string, unknown> = {}) {
  const lines: string[] = [];
  const b = new Buzzer({ discovery: false, log: (l) => lines.push(l), options: { gpio: 'virtual', ...options } });
  const { url } = await b.run({ host: '127.0.0.1' });
  const ws = await connect(url);
  const pin = b.output as VirtualPin;
  return { b, ws, pin, lines };
}

/** A buzzer under test (runtime/testing: virtual pin, in memory, fake clock), closed after `body` however it ends. */
async function underTest(options: Record<string, unknown>, body: (t: TestSketch<Buzzer>) => Promise<void>): Promise<TestSketch<Buzzer>> {
  const t = await testSketch(Buzzer, { options });
  try {
    await body(t);
  } finally {
    await t.close();
  }
  return t;
}

test('1 sounds the buzzer and is acknowledged with the sound, 0 silences it with ...', async () => {
  await underTest({}, async (t) => {
    assert.is(await t.send('1'), 'bzzz');
    assert.is(await t.send('0'), '...');
    assert.equal(t.pin(18).transitions.map((x) => x.value), [0, 1, 0]);
    assert.ok(t.log.includes('[ Buzzer ] pin 18 -> 1'), t.log.join('\n'));
  });
});

test('any other message gets an error reply and changes nothing', async () => {
  await underTest({ pin: 23 }, async (t) => {
    assert.is(await t.send('1'), 'bzzz');
    for (const bad of ['on', '2']) {
      const err = await rejectsSketchError(t.send(bad), 'SKETCH_ERR_REMOTE', `the buzzer takes 1 or 0, got "${bad}"`);
      assert.is(err.remoteCode, 'SKETCH_ERR_BAD_MESSAGE');
    }
    assert.is(t.pin(23).read(), 1, 'still sounding as the 1 left it');
  });
});

test('any other message gets the plain error reply "error: …" over a real socket', async () => {
  const { b, ws } = await buzzer();
  const got = frames(ws, 2);
  ws.send('on');
  ws.send('1');
  assert.equal(await got, ['error: the buzzer takes 1 or 0, got "on"', 'bzzz']);
  ws.close();
  await b.close();
});

test('--beep sounds for exactly that many ms and then goes quiet by itself', async () => {
  await underTest({ beep: 40, sound: 'beep' }, async (t) => {
    assert.is(await t.send('1'), 'beep');
    await t.advance(39);
    assert.is(t.pin(18).value, 1);
    await t.advance(1);
    assert.is(t.pin(18).value, 0);
    const [on, off] = t.pin(18).transitions.slice(-2);
    assert.is(off!.time - on!.time, 40);
  });
});

test('an active-low buzzer is driven low to sound and left high when stopped', async () => {
  const t = await underTest({ activeLow: true }, async (t) => {
    await t.send('1');
    assert.equal(t.pin(18).transitions.at(-1), { time: Date.now(), value: 1, level: 0 });
  });
  assert.ok(t.pin(18).closed);
  assert.equal(t.pin(18).transitions.at(-1)!.level, 1);
});

test('stopping a sounding buzzer leaves it silent and released', async () => {
  const t = await underTest({}, async (t) => {
    await t.send('1');
  });
  assert.ok(t.pin(18).closed);
  assert.is(t.pin(18).value, 0);
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

// --- --tone: a passive buzzer on hardware PWM ---------------------------------------------------

/** A buzzer with --tone on a fake Pi 4 PWM tree (SKETCH_SYSFS_ROOT), its fake kernel running. */
async function toneBuzzer(options: Record<string, unknown> = {}) {
  const root = fakePwmTree(PI4_PWM);
  const kernel = startFakePwmKernel(root);
  const lines: string[] = [];
  const b = new Buzzer({ discovery: false, log: (l) => lines.push(l), options: { tone: 440, ...options } });
  const saved = process.env.SKETCH_SYSFS_ROOT;
  process.env.SKETCH_SYSFS_ROOT = root;
  let url: string;
  try {
    ({ url } = await b.run({ host: '127.0.0.1' }));
  } finally {
    if (saved === undefined) delete process.env.SKETCH_SYSFS_ROOT;
    else process.env.SKETCH_SYSFS_ROOT = saved;
  }
  const ws = await connect(url);
  const file = (f: string) => pwmFile(root, 'pwmchip0', 0, f);
  const done = () => {
    kernel.stop();
    fs.rmSync(root, { recursive: true, force: true });
  };
  return { b, ws, kernel, lines, file, done };
}

test('--tone 440 sounds a passive buzzer through hardware PWM: 1 enables a 2272727 ns period at half duty, 0 disables it, no GPIO output is opened', async () => {
  const { b, ws, lines, file, done } = await toneBuzzer();
  try {
    assert.ok(lines.includes('[ Buzzer ] buzzer on BCM 18 (PWM pwmchip0/pwm0, tone 440 Hz)'), lines.join('\n'));
    assert.is(b.output, undefined, 'the PWM owns the pin');
    assert.equal([b.pwm!.chip, b.pwm!.channel, b.pwm!.hz], ['pwmchip0', 0, 440]);
    assert.equal([file('period'), file('duty_cycle'), file('enable')], ['2272727', '1136363', '0']);
    let got = frames(ws, 1);
    ws.send('1');
    assert.equal(await got, ['bzzz']);
    assert.is(file('enable'), '1');
    got = frames(ws, 1);
    ws.send('0');
    assert.equal(await got, ['...']);
    assert.is(file('enable'), '0');
    got = frames(ws, 1);
    ws.send('2');
    assert.match((await got)[0]!, /^error: the buzzer takes 1 or 0, got "2"$/);
    ws.close();
  } finally {
    await b.close();
    done();
  }
});

test('stopping a buzzer sounding a --tone disables the PWM channel and unexports it', async () => {
  const { b, ws, kernel, file, done } = await toneBuzzer();
  try {
    const got = frames(ws, 1);
    ws.send('1');
    await got;
    ws.close();
    await b.close();
    assert.ok(b.pwm!.closed);
    for (let i = 0; i < 200 && kernel.log.length < 2; i++) await sleep(5); // the fake kernel polls
    assert.equal(kernel.log, ['export pwmchip0 0', 'unexport pwmchip0 0 period=2272727 duty_cycle=1136363 enable=0']);
    assert.is(file('enable'), undefined);
  } finally {
    done();
  }
});

test('--tone with --beep sounds for that many ms and then disables the PWM by itself', async () => {
  const { b, ws, file, done } = await toneBuzzer({ beep: 40 });
  try {
    const got = frames(ws, 1);
    ws.send('1');
    await got;
    assert.is(file('enable'), '1');
    await sleep(120);
    assert.is(file('enable'), '0');
    ws.close();
  } finally {
    await b.close();
    done();
  }
});

test('--tone with --active-low is refused with one line (it applies to a GPIO output), nothing opened', async () => {
  for (const extra of [{ activeLow: true }, { activeLow: true, lease: 200 }]) {
    const b = new Buzzer({ discovery: false, log: () => {}, options: { tone: 440, ...extra } });
    try {
      await b.run({ host: '127.0.0.1' });
      assert.unreachable('should refuse');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.is((err as Error).message, '--active-low applies to a GPIO output, not to --tone (hardware PWM, silent at enable 0): drop it');
    }
    assert.is(b.pwm, undefined);
    await b.close();
  }
});

test('--tone with --lease: a buzzer that hangs while its tone sounds is silenced by the guardian after the lease, and sounds again with the next 1', async () => {
  const { b, ws, lines, file, done } = await toneBuzzer({ lease: 100 });
  const hang = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); // no timer runs, so no refresh
  try {
    assert.ok(lines.includes('[ Buzzer ] buzzer on BCM 18 (PWM pwmchip0/pwm0, tone 440 Hz, lease 100 ms)'), lines.join('\n'));
    let got = frames(ws, 1);
    ws.send('1');
    assert.equal(await got, ['bzzz']);
    assert.ok((await systemGuardian().ready()) !== undefined, 'the shared guardian holds the channel');
    await sleep(300);
    assert.is(file('enable'), '1', 'refreshed while the event loop runs');
    hang(400);
    assert.is(file('enable'), '0', 'silenced while the sketch hung');
    assert.is(file('period'), '2272727', 'still exported');
    got = frames(ws, 1);
    ws.send('1');
    assert.equal(await got, ['bzzz']);
    assert.is(file('enable'), '1');
    ws.close();
  } finally {
    await b.close();
    done();
  }
  assert.is(systemGuardian().pid, undefined, 'released on close: the guardian ends');
});

test('--gpio virtual with --tone keeps the virtual pin: no PWM is looked for', async () => {
  const { b, ws, pin } = await buzzer({ tone: 440 });
  const got = frames(ws, 1);
  ws.send('1');
  assert.equal(await got, ['bzzz']);
  assert.is(pin.read(), 1);
  assert.is(b.pwm, undefined);
  ws.close();
  await b.close();
});

test('sketch run buzzer --tone 440 where there is no PWM prints one line naming the dtoverlay line to add, exit 1', async () => {
  const r = await runCli(['run', 'buzzer', '--tone', '440', '--no-mdns'], {
    SKETCH_SYSFS_ROOT: new URL('./fixtures/gpio-x86-6.6', import.meta.url).pathname,
  });
  assert.is(r.code, 1);
  const lines = r.stderr.trimEnd().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^sketch: no PWM for --tone: .*add dtoverlay=pwm,pin=18,func=2 to \/boot\/firmware\/config\.txt and reboot/);
});

test('--tone outside 1 to 20000 Hz is refused with one line and the usage, exit 2', async () => {
  for (const hz of ['0', '20001']) {
    const r = await runCli(['run', 'buzzer', '--tone', hz, '--no-mdns']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr.split('\n')[0]!, new RegExp(`^sketch: --tone must be a number from 1 to 20000, got ${hz}$`));
    assert.not.match(r.stderr, /\n\s+at /);
  }
});

// --- /pin: every change of the buzzer's pin, as a stream ------------------------------------------

/** The next `n` items of a plain `/pin` subscriber. */
const pinItems = async (sub: Awaited<ReturnType<typeof connect>>, n: number) => (await frames(sub, n)).map((f) => JSON.parse(f) as PinItem);

test('/pin gives a WebSocket subscriber the initial 0, then each change of the buzzer pin in order with pin, value and time; a second 1 publishes nothing', async () => {
  const { b, ws, pin } = await buzzer();
  const sub = await connect(`${b.address!.url}pin?history=all`);
  const got = frames(ws, 3);
  ws.send('1');
  ws.send('1');
  ws.send('0');
  assert.equal(await got, ['bzzz', 'bzzz', '...']);
  const items = await pinItems(sub, 3);
  assert.equal(items.map((i) => [i.pin, i.value]), [[18, 0], [18, 1], [18, 0]]);
  // time in seconds, within 50 ms of the pin's change (ms): the unit is off by 1000 times when
  // wrong, and a loaded CI machine (or emulation) can put ms between a change and its item
  items.forEach((item, k) => assert.ok(Math.abs(item.time * 1000 - pin.transitions[k]!.time) <= 50, `item ${k}: ${item.time} s vs ${pin.transitions[k]!.time} ms`));
  for (let k = 1; k < items.length; k++) assert.ok(items[k]!.time >= items[k - 1]!.time);
  await frames(sub, 1, 50).then((f) => assert.unreachable(`an item for no change: ${f}`), () => {});
  sub.close();
  ws.close();
  await b.close();
});

test('a --beep going quiet by itself is published on /pin too, its time exactly --beep ms after the 1', async () => {
  await underTest({ beep: 30 }, async (t) => {
    await t.send('1');
    await t.advance(30);
    const [, on, off] = t.published('/pin').map((i) => i.data as PinItem);
    assert.equal([on!.value, off!.value], [1, 0]);
    assert.is(Math.round((off!.time - on!.time) * 1000), 30);
  });
});

test('with --tone, the PWM sounding and going silent are published on /pin as 1 and 0', async () => {
  const { b, ws, done } = await toneBuzzer();
  try {
    const sub = await connect(`${b.address!.url}pin?history=all`);
    const got = frames(ws, 2);
    ws.send('1');
    ws.send('0');
    await got;
    assert.equal((await pinItems(sub, 3)).map((i) => [i.pin, i.value]), [[18, 0], [18, 1], [18, 0]]);
    sub.close();
    ws.close();
  } finally {
    await b.close();
    done();
  }
});

test('the buzzer\'s status (GET /.well-known/sketch) lists /pin among its streams: delivery all, 1000 items of history', async () => {
  const { b, ws } = await buzzer();
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: b.address!.port, path: '/.well-known/sketch' }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  const stream = (JSON.parse(body) as { streams: Record<string, { delivery: string; seq: number; history: { maxItems: number } }> }).streams['/pin'];
  assert.ok(stream, body);
  assert.equal([stream!.delivery, stream!.history.maxItems, stream!.seq], ['all', 1000, 1]);
  ws.close();
  await b.close();
});

test.run();

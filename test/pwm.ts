import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError, type ErrorCode } from '../runtime/errors.js';
import { systemGuardian, type PinGuardian } from '../runtime/hardware/guardian.js';
import {
  findPwmChannel,
  listPwmChips,
  MAX_TONE_HZ,
  MIN_TONE_HZ,
  openPwm,
  tonePeriodNs,
  type PwmIo,
  type PwmOutput,
} from '../runtime/hardware/pwm.js';
import { openPins, releaseAllPins } from '../runtime/hardware/safe-state.js';
import {
  fakePwmTree,
  leaveExported,
  PI4_PWM,
  PI5_FAN_ONLY,
  PI5_PWM,
  pwmFile,
  startFakePwmKernel,
  type FakePwmKernel,
} from './helpers/fake-pwm.js';
import { throwsSketchError, rejectsSketchError } from './helpers/sketch-error.js';

/** A fake Pi with its kernel running; `done()` closes what was opened and stops the kernel. */
function pi(chips = PI4_PWM, options: { exportDelayMs?: number } = {}) {
  const root = fakePwmTree(chips);
  const kernel = startFakePwmKernel(root, options);
  const opened: PwmOutput[] = [];
  return {
    root,
    kernel,
    async open(o: Parameters<typeof openPwm>[0] = {}) {
      const pwm = await openPwm({ sysfsRoot: root, io: kernel.io, ...o });
      opened.push(pwm);
      return pwm;
    },
    done() {
      for (const p of opened) p.close();
      kernel.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

const until = async (check: () => boolean, ms = 1000) => {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  return check();
};

test.after.each(() => {
  releaseAllPins();
});

// --- which chip and channel -----------------------------------------------------------------

test('on a Pi 4, GPIO 18 is channel 0 of pwmchip0, the chip whose device is the bcm2835 PWM; 12 is 0, 13 and 19 are 1', () => {
  const root = fakePwmTree(PI4_PWM);
  try {
    const at = findPwmChannel(18, root);
    assert.equal([at.chip.name, at.chip.device, at.chip.kind, at.channel], ['pwmchip0', 'fe20c000.pwm', 'bcm2835-pwm0', 0]);
    assert.equal([12, 13, 19].map((pin) => findPwmChannel(pin, root).channel), [0, 1, 1]);
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('on a Pi 5, GPIO 12, 13, 18 and 19 are channels 0 to 3 of RP1 PWM0 (1f00098000.pwm), not of the fan PWM probed as pwmchip0', () => {
  const root = fakePwmTree(PI5_PWM);
  try {
    assert.equal(
      listPwmChips(root).map((c) => `${c.name} ${c.npwm} ${c.device} ${c.kind}`),
      ['pwmchip0 4 1f0009c000.pwm other', 'pwmchip2 4 1f00098000.pwm rp1-pwm0'],
    );
    assert.equal(
      [12, 13, 18, 19].map((pin) => `${findPwmChannel(pin, root).chip.name}/pwm${findPwmChannel(pin, root).channel}`),
      ['pwmchip2/pwm0', 'pwmchip2/pwm1', 'pwmchip2/pwm2', 'pwmchip2/pwm3'],
    );
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('the Pi 1–3 device names of the bcm2835 PWM are recognised too, and the Pi 4 PWM1 (audio, GPIO 40/41) is not', () => {
  for (const device of ['2020c000.pwm', '3f20c000.pwm']) {
    const root = fakePwmTree([{ name: 'pwmchip0', device, npwm: 2 }]);
    assert.is(findPwmChannel(19, root).channel, 1, device);
    fs.rmSync(root, { recursive: true });
  }
  const root = fakePwmTree([{ name: 'pwmchip1', device: 'fe20c800.pwm', npwm: 2 }]);
  throwsSketchError(() => findPwmChannel(18, root), 'SKETCH_ERR_PWM_UNAVAILABLE', 'pwmchip1 = fe20c800.pwm');
  fs.rmSync(root, { recursive: true });
});

test('no PWM chip for the pin is SKETCH_ERR_PWM_UNAVAILABLE, one line naming the dtoverlay line to add and the reboot', () => {
  const none = fakePwmTree([]);
  const e = throwsSketchError(
    () => findPwmChannel(18, none),
    'SKETCH_ERR_PWM_UNAVAILABLE',
    'no PWM chips there',
    'dtoverlay=pwm,pin=18,func=2 to /boot/firmware/config.txt and reboot',
  );
  assert.match(e.message, /^no PWM for --tone: /);
  assert.is(e.exitCode, 1);
  throwsSketchError(() => findPwmChannel(12, '/nonexistent-sysfs'), 'SKETCH_ERR_PWM_UNAVAILABLE', 'dtoverlay=pwm,pin=12,func=4');
  const fanOnly = fakePwmTree(PI5_FAN_ONLY);
  throwsSketchError(() => findPwmChannel(18, fanOnly), 'SKETCH_ERR_PWM_UNAVAILABLE', 'found only pwmchip0 = 1f0009c000.pwm', 'dtoverlay=pwm,pin=18');
  fs.rmSync(none, { recursive: true });
  fs.rmSync(fanOnly, { recursive: true });
});

test('a pin without hardware PWM is SKETCH_ERR_PWM_UNAVAILABLE naming the pins that have it', () => {
  const root = fakePwmTree(PI4_PWM);
  throwsSketchError(() => findPwmChannel(23, root), 'SKETCH_ERR_PWM_UNAVAILABLE', 'GPIO 23 has no hardware PWM', 'GPIO 12, 13, 18 or 19');
  fs.rmSync(root, { recursive: true });
});

test('chip and channel overrides replace the choice; a channel past npwm is INVALID_OPTION, a missing chip PWM_UNAVAILABLE', () => {
  const root = fakePwmTree([...PI5_PWM, { name: 'pwmchip7', device: '', npwm: 2 }]);
  try {
    const fan = findPwmChannel(18, root, { chip: 0, channel: 3 });
    assert.equal([fan.chip.name, fan.channel], ['pwmchip0', 3]);
    assert.is(findPwmChannel(18, root, { channel: 0 }).channel, 0, 'channel alone: on the chip found for the pin');
    assert.is(findPwmChannel(23, root, { chip: 7, channel: 1 }).channel, 1, 'any pin with both overrides');
    throwsSketchError(() => findPwmChannel(18, root, { chip: 7 }), 'SKETCH_ERR_PWM_UNAVAILABLE', 'pwmchip7 (no device link) has no known channel for GPIO 18: give --pwm-channel');
    throwsSketchError(() => findPwmChannel(18, root, { chip: 7, channel: 2 }), 'SKETCH_ERR_INVALID_OPTION', '--pwm-channel must be from 0 to 1 on pwmchip7 (npwm 2), got 2');
    throwsSketchError(() => findPwmChannel(18, root, { chip: 3 }), 'SKETCH_ERR_PWM_UNAVAILABLE', '--pwm-chip 3', 'pwmchip0, pwmchip2, pwmchip7');
    throwsSketchError(() => findPwmChannel(18, root, { chip: -1 }), 'SKETCH_ERR_INVALID_OPTION', '--pwm-chip must be an integer ≥ 0, got -1');
    throwsSketchError(() => findPwmChannel(18, root, { channel: 0.5 }), 'SKETCH_ERR_INVALID_OPTION', '--pwm-channel must be an integer ≥ 0, got 0.5');
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

// --- tones and their limits -----------------------------------------------------------------

test('440 Hz is a period of 2272727 ns; the limits 1 Hz and 20000 Hz are 1e9 and 50000 ns', () => {
  assert.is(tonePeriodNs(440), 2272727);
  assert.is(tonePeriodNs(MIN_TONE_HZ), 1e9);
  assert.is(tonePeriodNs(MAX_TONE_HZ), 50000);
  assert.is(tonePeriodNs(261.63), 3822192, 'a fractional tone (middle C) rounds to the nearest ns');
});

test('tones that are not numbers from 1 to 20000 Hz are SKETCH_ERR_INVALID_OPTION, one line giving the range', () => {
  for (const hz of [0, -440, 0.999, 20000.5, 20001, Number.NaN, Number.POSITIVE_INFINITY, '440' as unknown as number]) {
    throwsSketchError(() => tonePeriodNs(hz), 'SKETCH_ERR_INVALID_OPTION', '--tone must be a number from 1 to 20000 (Hz), got');
  }
});

test('openPwm refuses a bad tone before touching sysfs', async () => {
  const p = pi();
  try {
    await rejectsSketchError(p.open({ tone: 0 }), 'SKETCH_ERR_INVALID_OPTION', 'got 0');
    await rejectsSketchError(p.open({ tone: 20001 }), 'SKETCH_ERR_INVALID_OPTION', 'got 20001');
    assert.equal(p.kernel.writes, []);
  } finally {
    p.done();
  }
});

// --- export, values, silence, release ----------------------------------------------------------

test('opening GPIO 18 at 440 Hz exports pwm0 and writes period 2272727 ns and duty_cycle 1136363 ns, silent until a 1', async () => {
  const p = pi();
  try {
    const pwm = await p.open({ pin: 18, tone: 440 });
    assert.equal([pwm.pin, pwm.chip, pwm.channel, pwm.hz], [18, 'pwmchip0', 0, 440]);
    assert.equal(p.kernel.log, ['export pwmchip0 0']);
    assert.equal(p.kernel.writes, ['export 0', 'pwm0/enable 0', 'pwm0/period 2272727', 'pwm0/duty_cycle 1136363']);
    assert.is(pwmFile(p.root, 'pwmchip0', 0, 'enable'), '0');
    assert.is(pwm.read(), 0);
    pwm.write(1);
    assert.is(pwmFile(p.root, 'pwmchip0', 0, 'enable'), '1');
    assert.is(pwm.read(), 1);
    assert.equal(openPins(), [18]);
  } finally {
    p.done();
  }
});

test('on a Pi 5, GPIO 18 at 440 Hz is pwmchip2/pwm2 with the same period and duty cycle', async () => {
  const p = pi(PI5_PWM);
  try {
    const pwm = await p.open({ pin: 18, tone: 440 });
    assert.equal([pwm.chip, pwm.channel], ['pwmchip2', 2]);
    pwm.write(1);
    assert.equal(
      ['period', 'duty_cycle', 'enable'].map((f) => pwmFile(p.root, 'pwmchip2', 2, f)),
      ['2272727', '1136363', '1'],
    );
    assert.equal(p.kernel.log, ['export pwmchip2 2']);
  } finally {
    p.done();
  }
});

test('a 0 silences the tone with enable 0 and leaves the channel exported', async () => {
  const p = pi();
  try {
    const pwm = await p.open();
    pwm.write(1);
    pwm.write(0);
    assert.is(pwmFile(p.root, 'pwmchip0', 0, 'enable'), '0');
    assert.is(pwmFile(p.root, 'pwmchip0', 0, 'period'), '2272727');
    assert.equal(p.kernel.log, ['export pwmchip0 0']);
  } finally {
    p.done();
  }
});

test('close() writes enable 0, then unexports the channel; a second close() does nothing', async () => {
  const p = pi();
  try {
    const pwm = await p.open();
    pwm.write(1);
    pwm.close();
    assert.ok(pwm.closed);
    assert.equal(p.kernel.writes.slice(-2), ['pwm0/enable 0', 'unexport 0']);
    assert.ok(await until(() => p.kernel.log.length === 2), p.kernel.log.join('\n'));
    assert.equal(p.kernel.log, ['export pwmchip0 0', 'unexport pwmchip0 0 period=2272727 duty_cycle=1136363 enable=0']);
    assert.equal(openPins(), []);
    pwm.close();
    assert.is(p.kernel.writes.length, 7, 'nothing written by the second close');
    throwsSketchError(() => pwm.write(1), 'SKETCH_ERR_CLOSED');
    throwsSketchError(() => pwm.tone(880), 'SKETCH_ERR_CLOSED');
    throwsSketchError(() => pwm.read(), 'SKETCH_ERR_CLOSED');
  } finally {
    p.done();
  }
});

test('a stop (the safe-state release) silences and unexports a sounding tone', async () => {
  const p = pi();
  try {
    const pwm = await p.open();
    pwm.write(1);
    assert.is(releaseAllPins(), 1);
    assert.ok(pwm.closed);
    assert.is(pwmFile(p.root, 'pwmchip0', 0, 'enable'), '0');
    assert.ok(await until(() => pwmFile(p.root, 'pwmchip0', 0, 'enable') === undefined), 'pwm0/ removed by the unexport');
  } finally {
    p.done();
  }
});

test('changing the tone writes the period first when it grows and the duty cycle first when it shrinks, so duty never exceeds period', async () => {
  const p = pi();
  try {
    const pwm = await p.open({ tone: 440 });
    pwm.write(1);
    p.kernel.writes.length = 0;
    pwm.tone(220); // longer period
    pwm.tone(880); // shorter
    assert.equal(p.kernel.writes, [
      'pwm0/period 4545455',
      'pwm0/duty_cycle 2272727',
      'pwm0/duty_cycle 568182',
      'pwm0/period 1136364',
    ]);
    assert.is(pwm.hz, 880);
    assert.is(pwm.read(), 1, 'still sounding, at the new tone');
    throwsSketchError(() => pwm.tone(20001), 'SKETCH_ERR_INVALID_OPTION');
    assert.is(pwm.hz, 880, 'a refused tone changes nothing');
  } finally {
    p.done();
  }
});

test('a channel still exported by a killed run is taken over: silenced first, no second export, shorter period written after the duty cycle', async () => {
  const p = pi();
  try {
    leaveExported(p.root, 'pwmchip0', 0, { period: '10000000', duty_cycle: '9000000', enable: '1', polarity: 'inversed' });
    const pwm = await p.open({ tone: 440 });
    assert.equal(p.kernel.writes, [
      'pwm0/enable 0',
      'pwm0/polarity normal',
      'pwm0/duty_cycle 1136363',
      'pwm0/period 2272727',
    ]);
    assert.equal(p.kernel.log, [], 'no export');
    assert.is(pwm.read(), 0);
  } finally {
    p.done();
  }
});

test('a write other than 0 or 1 is SKETCH_ERR_BAD_MESSAGE and changes nothing', async () => {
  const p = pi();
  try {
    const pwm = await p.open();
    throwsSketchError(() => pwm.write(2 as 0), 'SKETCH_ERR_BAD_MESSAGE', 'takes 0 (silent) or 1 (tone), got 2');
    assert.is(pwm.read(), 0);
  } finally {
    p.done();
  }
});

// --- waiting for the export, and refusals -----------------------------------------------------

test('a pwmX/ that appears some ms after the export (udev) is waited for', async () => {
  const p = pi(PI4_PWM, { exportDelayMs: 40 });
  try {
    const started = Date.now();
    const pwm = await p.open({ pin: 19 });
    assert.ok(Date.now() - started >= 35, `${Date.now() - started} ms`);
    assert.equal([pwm.chip, pwm.channel], ['pwmchip0', 1]);
    assert.is(pwmFile(p.root, 'pwmchip0', 1, 'period'), '2272727');
  } finally {
    p.done();
  }
});

test('when pwmX/ does not appear within exportWaitMs, openPwm gives up with PWM_UNAVAILABLE after that long, not much longer', async () => {
  const root = fakePwmTree(PI4_PWM); // no kernel: nobody acts on the export
  try {
    const started = Date.now();
    await rejectsSketchError(openPwm({ sysfsRoot: root, exportWaitMs: 60 }), 'SKETCH_ERR_PWM_UNAVAILABLE', 'pwmchip0/pwm0 did not appear within 60 ms of the export');
    const took = Date.now() - started;
    assert.ok(took >= 60 && took < 600, `${took} ms`);
    assert.equal(openPins(), []);
    await rejectsSketchError(openPwm({ sysfsRoot: root, exportWaitMs: -1 }), 'SKETCH_ERR_INVALID_OPTION', 'exportWaitMs');
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('an export refused as busy (the audio driver holds the channel) is PWM_UNAVAILABLE; EACCES is GPIO_PERMISSION', async () => {
  const root = fakePwmTree(PI4_PWM);
  const refusing = (code: string): PwmIo => ({
    read: (f) => fs.readFileSync(f, 'utf8'),
    writable: () => false,
    write: () => {
      throw Object.assign(new Error(`${code}: write`), { code });
    },
  });
  try {
    await rejectsSketchError(openPwm({ sysfsRoot: root, io: refusing('EBUSY') }), 'SKETCH_ERR_PWM_UNAVAILABLE', 'pwmchip0/pwm0 is busy', 'dtparam=audio=off');
    await rejectsSketchError(openPwm({ sysfsRoot: root, io: refusing('EACCES') }), 'SKETCH_ERR_GPIO_PERMISSION', 'gpio group');
    await rejectsSketchError(openPwm({ sysfsRoot: root, io: refusing('EIO') }), 'SKETCH_ERR_GPIO_EXPORT', 'exporting pwmchip0/pwm0 failed: EIO');
  } finally {
    fs.rmSync(root, { recursive: true });
  }
});

test('a write the kernel refuses while opening unexports the channel again and names the file', async () => {
  const p = pi();
  const io: PwmIo = {
    ...p.kernel.io,
    write: (file, text) => {
      if (file.endsWith('period')) throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' });
      p.kernel.io.write(file, text);
    },
  };
  try {
    await rejectsSketchError(openPwm({ sysfsRoot: p.root, io }), 'SKETCH_ERR_GPIO_EXPORT', 'writing 2272727 to pwmchip0/pwm0/period failed: EINVAL');
    assert.ok(await until(() => p.kernel.log.length === 2), p.kernel.log.join('\n'));
    assert.match(p.kernel.log[1]!, /^unexport pwmchip0 0 /);
    assert.equal(openPins(), []);
  } finally {
    p.done();
  }
});

// --- the guardian ---------------------------------------------------------------------------------

/** A guardian that records what it is told, in `calls` (shared with the writes it is given). */
function recordingGuardian(calls: string[]): PinGuardian {
  return {
    hold: (p) => {
      calls.push(`hold ${JSON.stringify(p)}`);
      return { active: (on) => calls.push(`guard ${on ? 'active' : 'inactive'}`), release: () => calls.push('guard release') };
    },
  };
}

test('openPwm hands the configured channel to the guardian, reports a 1 before enabling and a 0 after disabling, and releases it after enable 0 and the unexport', async () => {
  const p = pi();
  const calls: string[] = [];
  const io: PwmIo = { ...p.kernel.io, write: (file, text) => (p.kernel.io.write(file, text), calls.push(p.kernel.writes.at(-1)!)) };
  try {
    const pwm = await openPwm({ sysfsRoot: p.root, io, guardian: recordingGuardian(calls), lease: 250 });
    pwm.write(1);
    pwm.tone(880);
    pwm.write(0);
    pwm.close();
    const dir = path.join(p.root, 'class', 'pwm', 'pwmchip0', 'pwm0');
    assert.equal(calls, [
      'export 0',
      'pwm0/enable 0',
      'pwm0/period 2272727',
      'pwm0/duty_cycle 1136363',
      `hold {"kind":"pwm","pin":18,"dir":${JSON.stringify(dir)},"leaseMs":250}`,
      'guard active',
      'pwm0/enable 1',
      'pwm0/duty_cycle 568182',
      'pwm0/period 1136364',
      'pwm0/enable 0',
      'guard inactive',
      'pwm0/enable 0',
      'unexport 0',
      'guard release',
    ]);
  } finally {
    p.done();
  }
});

test('a close whose enable 0 is refused keeps the channel with the guardian, which tries again when this process ends', async () => {
  const p = pi();
  const calls: string[] = [];
  let refuse = false;
  const io: PwmIo = {
    ...p.kernel.io,
    write: (file, text) => {
      if (refuse && file.endsWith('enable')) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      p.kernel.io.write(file, text);
    },
  };
  try {
    const pwm = await openPwm({ sysfsRoot: p.root, io, guardian: recordingGuardian(calls) });
    pwm.write(1);
    refuse = true;
    throwsSketchError(() => pwm.close(), 'SKETCH_ERR_GPIO_EXPORT', 'writing 0 to pwmchip0/pwm0/enable failed: EIO');
    assert.ok(pwm.closed);
    assert.equal(openPins(), [], 'dropped from the safe-state registry');
    assert.equal(calls.slice(1), ['guard active'], 'not released: the guardian still writes enable 0 if this process dies');
  } finally {
    p.done();
  }
});

test('with a replaced io and no guardian given, openPwm uses none: the shared guardian never starts', async () => {
  const p = pi();
  try {
    (await p.open()).write(1);
    assert.is(systemGuardian().pid, undefined);
    assert.equal(systemGuardian().held, []);
  } finally {
    p.done();
  }
});

test('a lease is a whole number of ms from 0 (none) to one day, checked before touching sysfs', async () => {
  const p = pi();
  try {
    for (const lease of [-1, 1.5, Number.NaN, 86_400_001]) {
      await rejectsSketchError(p.open({ lease }), 'SKETCH_ERR_INVALID_OPTION', '--lease must be an integer from 0 to 86400000 (ms; 0 = no lease), got');
    }
    assert.equal(p.kernel.writes, []);
    (await p.open({ lease: 86_400_000, guardian: false })).close();
  } finally {
    p.done();
  }
});

test.run();

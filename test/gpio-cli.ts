/**
 * The chardev backend through the real CLI on this machine: wherever there is no Raspberry Pi
 * GPIO chip, asking for chardev or naming a chip that is not there is one line and exit 1, and
 * auto says in one line which backend it took and why.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listChardevChips, RASPBERRY_PI_CHIP_LABELS } from '../runtime/hardware/gpio-chardev.js';
import { systemSyscalls } from '../runtime/hardware/gpio-syscalls.js';
import { cli, runCli } from './helpers/net.js';

const sys = systemSyscalls();
const hasPiChip = typeof sys !== 'string' && listChardevChips(sys).some((c) => (RASPBERRY_PI_CHIP_LABELS as readonly string[]).includes(c.label));
const emptySysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'gpio-cli-sysfs-'));

if (hasPiChip) {
  test('the chardev CLI checks (skipped)', () => console.log('  skipped: this machine has a Raspberry Pi GPIO chip'));
} else {
  test('--gpio chardev without a Raspberry Pi chip: one line naming what was seen and --chip, exit 1', async () => {
    const r = await runCli(['run', 'buzzer', '--gpio', 'chardev', '--no-mdns'], { SKETCH_SYSFS_ROOT: emptySysfs });
    assert.is(r.code, 1, r.stdout + r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^sketch: the GPIO character device is not available: .*no Raspberry Pi chip \(pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835\); on another board pass --chip PATH\|LABEL; use --gpio virtual/);
  });

  test('--chip naming a chip that is not there: one line listing the chips seen, exit 1', async () => {
    const r = await runCli(['run', 'iopin', '--pin', '18', '--chip', 'pinctrl-rp1', '--no-mdns'], { SKETCH_SYSFS_ROOT: emptySysfs });
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^sketch: --chip pinctrl-rp1: no GPIO chip has that label; /);
  });

  test('--line needs chardev: with --gpio virtual it is one line, exit 1', async () => {
    const r = await runCli(['run', 'buzzer', '--gpio', 'virtual', '--line', 'GPIO17', '--no-mdns'], { SKETCH_SYSFS_ROOT: emptySysfs });
    assert.is(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^sketch: GPIO "GPIO17": line names need the chardev backend \(--gpio chardev\)/);
  });

  test('auto on a machine without GPIO serves with a virtual pin and one line saying why, naming both backends', async () => {
    const c = cli(['run', 'buzzer', '--no-mdns'], { SKETCH_SYSFS_ROOT: emptySysfs });
    try {
      await c.waitFor(/serving on/);
      const why = c.stdout().split('\n').filter((l) => /is virtual/.test(l));
      assert.is(why.length, 1, c.stdout());
      assert.match(why[0]!, /\[ Buzzer \] sysfs GPIO not available, pin 18 is virtual: .*; chardev: /);
    } finally {
      c.child.kill('SIGINT');
      assert.is(await c.exited(), 0);
    }
  });
}

test.after(() => fs.rmSync(emptySysfs, { recursive: true, force: true }));

test.run();

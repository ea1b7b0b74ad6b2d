import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild } from './helpers/child.js';
import { scaled, TIME_SCALE } from './helpers/time-scale.js';

// onoff's own code, for real: in a private mount (and PID) namespace a tmpfs covers
// /sys/class/gpio and test/helpers/fake-gpio-kernel.ts answers export/unexport like the
// kernel; test/helpers/gpio-onoff-scenario.ts drives BCM 18 through it and prints what it saw.
// The mount exists only inside that namespace, and everything in it dies with the scenario
// (the GPIO guardians included: /proc there lists only the namespace's processes).
// Its time limits, and the lease of step H, are scaled by SKETCH_TEST_TIME_SCALE
// (test/helpers/time-scale.ts; 1 natively, more under emulation), here and in the scenario.

const SCENARIO = fileURLToPath(new URL('./helpers/gpio-onoff-scenario.ts', import.meta.url));

// Covers /sys/class/gpio (or, where it does not exist, /sys/class) with a tmpfs; exit 77 = cannot.
const IN_NAMESPACE = `
target=/sys/class/gpio
[ -d "$target" ] || target=/sys/class
mount -t tmpfs -o size=1m,mode=755 sketchnet-fake-gpio "$target" || { echo "cannot mount a tmpfs over $target" >&2; exit 77; }
mkdir -p /sys/class/gpio
exec "$0" --import tsx "$1"
`;

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'not root (mounting over /sys/class/gpio needs root, e.g. through ../shared/sandbox)';
  if (spawnSync('unshare', ['--version']).status !== 0) return 'unshare (util-linux) is not installed';
  return undefined;
}

test('BCM 18 goes through the real onoff as sysfs 530: exported low, 1 when written, 0 and unexported on close, on SIGTERM, when reopened after SIGKILL without a guardian, and under the buzzer sketch, whose guardian turns it off within 500 ms of a SIGKILL and after its lease when it hangs', async () => {
  const skip = skipReason();
  if (skip) {
    console.log(`skipped: onoff integration test because ${skip}`);
    return;
  }
  const r = await runChild(
    'unshare',
    ['--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--kill-child', 'bash', '-c', IN_NAMESPACE, process.execPath, SCENARIO],
    { env: { SKETCH_SYSFS_ROOT: '' }, timeoutMs: scaled(40_000) },
  );
  if (r.code === 77) {
    console.log(`skipped: onoff integration test because ${r.stderr.trim()}`);
    return;
  }
  assert.is(r.code, 0, `scenario failed:\n${r.lines.join('\n')}\n${r.stderr}`);
  const timing = (step: string) => Number(r.lines.find((l) => l.startsWith(`${step} timing: `))?.split(' ')[2]);
  const killed = timing('F');
  const lease = scaled(200);
  const scale = TIME_SCALE === 1 ? '' : ` (time scale ${TIME_SCALE})`;
  const hung = timing('H');
  console.log(`onoff: SIGKILL -> value 0 after ${killed} ms; SIGSTOP with a ${lease} ms lease -> value 0 after ${hung} ms${scale}`);
  // the guardian's promise, 500 ms, at time scale 1
  assert.ok(killed >= 0 && killed < scaled(500), `F: value 0 ${killed} ms after SIGKILL, limit ${scaled(500)} ms${scale}`);
  // 150–200 ms after the last refresh on an idle machine; the fake kernel's polling and a loaded CI add to it
  assert.ok(hung >= scaled(100) && hung < scaled(1000), `H: value 0 ${hung} ms after SIGSTOP with a ${lease} ms lease${scale}`);
  assert.equal(r.lines.filter((l) => !/^[FH] timing: /.test(l)), [
    'onoff Gpio.accessible=true',
    'gpio: sysfs through onoff (chardev: no /dev/gpiochip* can be opened, no Raspberry Pi chip (pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835); on another board pass --chip PATH|LABEL)',
    'A open: backend=sysfs kernel: export 530',
    'A open: direction=low active_low=0 value=0 read=0',
    'A write(1): value=1 read=1',
    'A close: value=0 kernel: unexport 530 value=0 direction=low active_low=0 exists=false',
    'B open: kernel: export 530 direction=high value=1 read=0',
    'B write(1): value=0 read=1',
    'B close: kernel: unexport 530 value=1 direction=high active_low=0',
    'C child ready: value=1',
    'C SIGTERM: exit=143 kernel: export 530 kernel: unexport 530 value=0 direction=low active_low=0 guardians=0',
    'D SIGKILL without guardian: exit=null kernel: export 530 still exported=true value=1',
    'D reopen: direction=low value=0',
    'D close: kernel: unexport 530 value=0 direction=low active_low=0',
    'E buzzer: backend=sysfs kernel: export 530',
    'E send 1: ack=bzzz value=1',
    'E send 0: ack=... value=0',
    'E send 1: ack=bzzz value=1',
    'E stop: kernel: unexport 530 value=0 direction=low active_low=0 guardians=0',
    'F buzzer: kernel: export 530 guardians=1',
    'F send 1: ack=bzzz value=1',
    `F SIGKILL to its process group: exit=null value=0 within ${scaled(500)} ms kernel: unexport 530 value=0 direction=low active_low=0 guardians=0`,
    'F guardian: gpio guardian: process PID ended without releasing its outputs: BCM 18 (sysfs 530) -> 0 (inactive), unexported (N ms)',
    'G buzzer: kernel: export 530 guardians=1',
    'G send 1: ack=bzzz value=1',
    'G SIGTERM: exit=0 kernel: unexport 530 value=0 direction=low active_low=0 guardians=0 stderr=""',
    `H buzzer: kernel: export 530 [ Buzzer ] buzzer on BCM 18 (sysfs, lease ${lease} ms)`,
    'H send 1: ack=bzzz value=1',
    'H SIGSTOP: value=0 exported=true',
    'H SIGCONT, SIGTERM: exit=0 kernel: unexport 530 value=0 direction=low active_low=0 guardians=0',
    `H guardian: gpio guardian: BCM 18 (sysfs 530) was active for ${lease} ms with no refresh from process PID (hung or stopped?): -> 0 (inactive), still exported`,
  ]);
});

test.run();

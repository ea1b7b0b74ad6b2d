import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runChild } from './helpers/child.js';

// onoff's own code, for real: in a private mount (and PID) namespace a tmpfs covers
// /sys/class/gpio and test/helpers/fake-gpio-kernel.ts answers export/unexport like the
// kernel; test/helpers/gpio-onoff-scenario.ts drives BCM 18 through it and prints what it saw.
// The mount exists only inside that namespace, and everything in it dies with the scenario.

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

test('BCM 18 goes through the real onoff as sysfs 530: exported low, 1 when written, 0 and unexported on close, on SIGTERM, when reopened after SIGKILL, and under the buzzer sketch', async () => {
  const skip = skipReason();
  if (skip) {
    console.log(`skipped: onoff integration test because ${skip}`);
    return;
  }
  const r = await runChild(
    'unshare',
    ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child', 'bash', '-c', IN_NAMESPACE, process.execPath, SCENARIO],
    { env: { SKETCH_SYSFS_ROOT: '' }, timeoutMs: 15_000 },
  );
  if (r.code === 77) {
    console.log(`skipped: onoff integration test because ${r.stderr.trim()}`);
    return;
  }
  assert.is(r.code, 0, `scenario failed:\n${r.lines.join('\n')}\n${r.stderr}`);
  assert.equal(r.lines, [
    'onoff Gpio.accessible=true',
    'A open: backend=sysfs kernel: export 530',
    'A open: direction=low active_low=0 value=0 read=0',
    'A write(1): value=1 read=1',
    'A close: value=0 kernel: unexport 530 value=0 direction=low active_low=0 exists=false',
    'B open: kernel: export 530 direction=high value=1 read=0',
    'B write(1): value=0 read=1',
    'B close: kernel: unexport 530 value=1 direction=high active_low=0',
    'C child ready: value=1',
    'C SIGTERM: exit=143 kernel: export 530 kernel: unexport 530 value=0 direction=low active_low=0',
    'D SIGKILL: exit=null kernel: export 530 still exported=true value=1',
    'D reopen: direction=low value=0',
    'D close: kernel: unexport 530 value=0 direction=low active_low=0',
    'E buzzer: backend=sysfs kernel: export 530',
    'E send 1: ack=bzzz value=1',
    'E send 0: ack=... value=0',
    'E send 1: ack=bzzz value=1',
    'E stop: kernel: unexport 530 value=0 direction=low active_low=0',
  ]);
});

test.run();

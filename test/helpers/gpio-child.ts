/**
 * Child process for the safe-state tests: installs the safe-state hooks, opens BCM 18 as an
 * output, makes it active, prints `ready`, then ends the way it is told. Every line goes to
 * stdout synchronously, so the parent sees them even when the process exits abruptly:
 *
 *   pin 18 -> 1                      virtual backend transitions
 *   onoff: write 530 0               fake onoff calls (backend fake-sysfs)
 *   cli handler: open=[]             the CLI-like SIGINT/SIGTERM handler ran (with --cli-handler)
 *   exit: {"open":[],"closed":true}  from an `exit` listener registered after the hooks
 *   guardian: 4321                   the guardian's pid, once it reads its pipe (fake-chardev)
 *
 * Usage: node --import tsx gpio-child.ts --backend virtual|fake-sysfs|sysfs|fake-chardev
 *          [--active-low] [--cli-handler] [--install-twice] [--no-guardian] --end signal|throw|reject
 *          [--pin N] [--lease MS] [--bias pull-down|…]   (fake-chardev)
 * (fake-sysfs and sysfs read the chips from SKETCH_SYSFS_ROOT / /sys as openOutput does; sysfs
 * pins get the GPIO guardian unless --no-guardian. fake-chardev requests line N, default 18, on
 * the shared fake chip of SKETCH_FAKE_GPIO_DIR (./shared-gpio-chip.ts) with a guardian that
 * uses the same chip, unless --no-guardian; the guardian logs to stderr.)
 * Runs only when started as a script, so importing it (uvu collecting files) does nothing.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Bias } from '../../runtime/hardware/gpio-chardev.js';
import { openOutput, type OutputPin } from '../../runtime/hardware/gpio.js';
import { Guardian } from '../../runtime/hardware/guardian.js';
import { installSafeState, openPins } from '../../runtime/hardware/safe-state.js';
import { fakeOnoff } from './fake-onoff.js';
import { SHARED_GPIO_MODULE, SharedGpioChip } from './shared-gpio-chip.js';

function main(argv: string[]): void {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  const say = (line: string) => fs.writeSync(1, line + '\n');
  const backend = arg('--backend') ?? 'virtual';
  const end = arg('--end') ?? 'signal';

  installSafeState();
  if (argv.includes('--install-twice')) installSafeState();
  if (argv.includes('--cli-handler')) {
    // Like the CLI: its own handler, which closes the sketch asynchronously and then exits 0.
    const cli = (signal: string) => {
      say(`cli handler: ${signal} open=${JSON.stringify(openPins())}`);
      setTimeout(() => process.exit(0), 20);
    };
    process.on('SIGINT', cli);
    process.on('SIGTERM', cli);
  }

  const activeLow = argv.includes('--active-low');
  let pin: OutputPin;
  let guardianReady: Promise<number | undefined> | undefined;
  if (backend === 'fake-sysfs') {
    const fake = fakeOnoff({ onCall: (line) => say(`onoff: ${line}`) });
    pin = openOutput(18, { backend: 'sysfs', activeLow, onoff: fake.Gpio });
  } else if (backend === 'fake-chardev') {
    const guardian = argv.includes('--no-guardian') ? false : new Guardian({ syscallsModule: SHARED_GPIO_MODULE });
    const lease = Number(arg('--lease') ?? 0);
    const bias = arg('--bias') as Bias | undefined;
    pin = openOutput(Number(arg('--pin') ?? 18), { backend: 'chardev', activeLow, syscalls: new SharedGpioChip(), guardian, lease, bias, log: say });
    guardianReady = guardian ? guardian.ready() : undefined;
  } else {
    const guardian = argv.includes('--no-guardian') ? false : undefined;
    pin = openOutput(18, { backend: backend as 'virtual' | 'sysfs', activeLow, log: say, guardian });
  }
  process.on('exit', (code) => {
    say(`exit: ${JSON.stringify({ code, open: openPins(), closed: pin.closed })}`);
  });
  say(`listeners: ${['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtException', 'exit'].map((e) => process.listenerCount(e)).join(' ')}`);

  pin.write(1);
  say(`active: read=${pin.read()}`);
  if (guardianReady) void guardianReady.then((pid) => ready(`guardian: ${pid}`));
  else ready();

  function ready(before?: string): void {
    if (before) say(before);
    say('ready');
    finish();
  }
  function finish(): void {
    if (end === 'throw') {
      setTimeout(() => {
        throw new Error('boom in loop\nsecond line of the message');
      }, 5);
    } else if (end === 'reject') {
      setTimeout(() => void Promise.reject(new Error('nobody awaited this')), 5);
    } else {
      setInterval(() => {}, 1000); // stay alive until signalled
    }
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));

/**
 * A stand-in sketch for the PWM guardian tests: installs the safe-state hooks, opens a PWM
 * channel with openPwm's defaults (node:fs on the tree of SKETCH_SYSFS_ROOT, so the shared
 * guardian), sounds it (`write(1)`), prints `ready <guardian pid>` once the guardian reads its
 * pipe, then stays alive until killed or signalled (60 s at most) (SIGTERM: the safe-state hooks close the
 * channel, which releases it from the guardian). The guardian logs to this process's stderr.
 * The parent serves the tree with test/helpers/fake-pwm.ts's fake kernel.
 *
 * Usage: node --import tsx pwm-child.ts [--pin BCM] [--lease MS]
 * Runs only when started as a script, so importing it (uvu collecting files) does nothing.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { systemGuardian } from '../../runtime/hardware/guardian.js';
import { openPwm } from '../../runtime/hardware/pwm.js';
import { installSafeState } from '../../runtime/hardware/safe-state.js';

async function main(argv: string[]): Promise<void> {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i === -1 ? undefined : argv[i + 1];
  };
  installSafeState();
  const pwm = await openPwm({ pin: Number(arg('--pin') ?? 18), tone: 440, lease: Number(arg('--lease') ?? 0), log: (line) => fs.writeSync(2, line + '\n') });
  pwm.write(1);
  fs.writeSync(1, `ready ${await systemGuardian().ready()}\n`);
  setTimeout(() => process.exit(3), 60_000); // alive until killed, and never past a minute if its test forgot it
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) void main(process.argv.slice(2));

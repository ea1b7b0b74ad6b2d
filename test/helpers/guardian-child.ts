/**
 * A stand-in sketch for the guardian tests: holds pins through a real Guardian on a fake sysfs
 * GPIO directory (a temporary directory with `unexport` and `gpioN/value` files), optionally
 * drives them active as onoff would (writing the active level to `value`), prints
 * `ready <guardian pid>` once the guardian reads its pipe, then stays alive until killed. The
 * guardian logs to this process's stderr.
 *
 * Usage: node --import tsx guardian-child.ts DIR [--lease MS] [--active] BCM:SYSFS[:low]...
 * Runs only when started as a script, so importing it (uvu collecting files) does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Guardian } from '../../runtime/hardware/guardian.js';

async function main(argv: string[]): Promise<void> {
  const [dir, ...rest] = argv;
  const i = rest.indexOf('--lease');
  const leaseMs = i === -1 ? 0 : Number(rest[i + 1]);
  const guardian = new Guardian({ gpioDir: dir! });
  for (const spec of rest.filter((a) => /^\d+:\d+/.test(a))) {
    const [bcm, sysfs, low] = spec.split(':');
    const activeLow = low === 'low';
    const guard = guardian.hold(
      { pin: Number(bcm), sysfs: Number(sysfs), inactiveLevel: activeLow ? 1 : 0, activeLow, leaseMs },
      (line) => fs.writeSync(1, line + '\n'),
    );
    if (rest.includes('--active')) {
      guard.active(true);
      fs.writeFileSync(path.join(dir!, `gpio${sysfs}`, 'value'), activeLow ? '0\n' : '1\n');
    }
  }
  fs.writeSync(1, `ready ${await guardian.ready()}\n`);
  setInterval(() => {}, 1000);
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) void main(process.argv.slice(2));

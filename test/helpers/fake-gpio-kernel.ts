/**
 * Plays the kernel's part of the sysfs GPIO interface on a plain directory (a tmpfs mounted
 * over /sys/class/gpio in a private mount namespace), so onoff's own code runs unchanged.
 * Format: Documentation/ABI/obsolete/sysfs-gpio, Documentation/admin-guide/gpio/sysfs.rst.
 *
 * - A number written to `export` creates `gpioN/{direction,value,active_low,edge}` holding
 *   `in`, `0`, `0`, `none` plus a newline; the directory appears at once, complete (built
 *   aside and renamed), because onoff opens the files as soon as `gpioN/` exists.
 * - A number written to `unexport` removes `gpioN/`.
 * The kernel answers the write itself; here `export`/`unexport` are regular files, so they are
 * read on every inotify event (fs.watch) and every 2 ms as a fallback, then emptied.
 * Writes to `direction` are not acted on: the value file only changes when someone writes it.
 *
 * Prints `ready`, then one line per operation, with the files' contents at unexport:
 *   export 530
 *   unexport 530 value=0 direction=low active_low=0
 * Exits when stdin closes (its parent is gone) and after 30 s at most.
 *
 * Usage: node --import tsx fake-gpio-kernel.ts /sys/class/gpio
 * Runs only when started as a script, so importing it (uvu collecting files) does nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function main(dir: string): void {
  const say = (line: string) => fs.writeSync(1, line + '\n');
  const control = (name: string) => path.join(dir, name);
  for (const name of ['export', 'unexport']) if (!fs.existsSync(control(name))) fs.writeFileSync(control(name), '');

  /** Reads and empties a control file; returns the numbers written to it since the last call. */
  const take = (name: string): number[] => {
    const text = fs.readFileSync(control(name), 'utf8');
    if (text.trim() === '') return [];
    fs.writeFileSync(control(name), '');
    return text
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((n) => Number.isInteger(n) && n >= 0);
  };
  const read = (file: string) => fs.readFileSync(file, 'utf8').trim();

  const service = () => {
    // unexports first: onoff can only have written an export after the previous unexport returned
    for (const n of take('unexport')) {
      const gpio = control(`gpio${n}`);
      if (!fs.existsSync(gpio)) {
        say(`unexport ${n} EINVAL`); // not exported
        continue;
      }
      const f = (file: string) => read(path.join(gpio, file));
      const files = `value=${f('value')} direction=${f('direction')} active_low=${f('active_low')}`;
      fs.rmSync(gpio, { recursive: true });
      say(`unexport ${n} ${files}`);
    }
    for (const n of take('export')) {
      const gpio = control(`gpio${n}`);
      if (fs.existsSync(gpio)) {
        say(`export ${n} EBUSY`); // the kernel refuses a second export
        continue;
      }
      const tmp = control(`.gpio${n}.new`);
      fs.mkdirSync(tmp);
      for (const [file, value] of [['direction', 'in'], ['value', '0'], ['active_low', '0'], ['edge', 'none']]) {
        fs.writeFileSync(path.join(tmp, file!), value + '\n');
      }
      fs.renameSync(tmp, gpio);
      say(`export ${n}`);
    }
  };

  fs.watch(dir, () => service());
  setInterval(service, 2);
  process.stdin.on('close', () => process.exit(0)).resume();
  setTimeout(() => process.exit(3), 30_000).unref();
  say('ready');
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv[2] ?? '/sys/class/gpio');
}

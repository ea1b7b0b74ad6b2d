import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Argv, CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ERROR_CODES, errors, loadCa, loadKeyFile, loadTlsIdentity, resolveOptions, type SketchClass } from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import { readDeviceFile } from './device-file.js';
import { prepareDevice } from './up.js';
import { pick } from './cli-options.js';
import { die } from './fail.js';
import { BUILTINS } from '../sketches/index.js';
import { runCommand } from './run.js';
import { systemdUnit, unitName } from './systemd-unit.js';
import { DEVICE_UNIT_NAME, INSTALL_OPTIONS, runArgs } from './service-args.js';
import { binUrl } from './paths.js';

/** The CLI this install runs (`dist/bin/sketch.cjs`), written into units as an absolute path. */
const SKETCH_BIN = fileURLToPath(binUrl('./sketch.cjs'));

/** Where system units go (unless `SKETCH_SERVICE_DIR`). */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';


/** The folder units go to: `SKETCH_SERVICE_DIR` (tests), else the system or the user unit folder. */
export function unitDir(user: boolean, env: NodeJS.ProcessEnv = process.env): string {
  if (env.SKETCH_SERVICE_DIR) return path.resolve(env.SKETCH_SERVICE_DIR);
  if (!user) return SYSTEM_UNIT_DIR;
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'systemd', 'user');
}

/** `systemctl` as the user types it for this kind of unit: `systemctl --user`, else `sudo systemctl` (plain when logged in as root). */
function systemctl(user: boolean): string {
  if (user) return 'systemctl --user';
  return process.geteuid?.() === 0 && !process.env.SUDO_USER ? 'systemctl' : 'sudo systemctl';
}

/** The user a system unit runs as: whoever ran `sudo`, else whoever runs this. */
function serviceUser(): string {
  if (process.geteuid?.() === 0 && process.env.SUDO_USER) return process.env.SUDO_USER;
  return os.userInfo().username;
}

/** The `gpio` group's members and id from /etc/group; undefined when there is none (not a Raspberry Pi OS). */
function gpioGroup(): { gid: number; members: string[] } | undefined {
  try {
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('gpio:'));
    if (!line) return undefined;
    const [, , gid, members] = line.split(':');
    return { gid: Number(gid), members: (members ?? '').split(',').filter(Boolean) };
  } catch {
    return undefined;
  }
}

/**
 * `sketch service install <sketch> [sketch options] [--name N] [--user] [--print] [--environment-file F]`
 * and `sketch service uninstall <name> [--user]`. `cls` is the sketch `install` names, loaded
 * before parsing (bin/cli.ts) so that its options are checked as `sketch run` checks them.
 */
export function serviceCommand(cls: SketchClass | undefined): CommandModule {
  return {
    builder: (y: Argv) =>
      y
        .command(installCommand(cls))
        .command(uninstallCommand)
        .demandCommand(1, 'name a subcommand: install or uninstall'),
    handler: () => {},
  };
}

function installCommand(cls: SketchClass | undefined): CommandModule {
  const run = runCommand(cls);
  return {
    command: 'install [sketch]',
    describe: `write the systemd unit sketch-NAME.service that runs "sketch run <sketch> [options]" (NAME: --name, else the sketch kind), or with --device FILE one unit running "sketch up FILE" (NAME: --name, else ${DEVICE_UNIT_NAME})`,
    builder: (y: Argv) => {
      (run.builder as (y: Argv) => Argv)(y);
      return y.options(INSTALL_OPTIONS).check((argv) => {
        if (argv.key !== undefined) {
          throw errors.INVALID_OPTION(
            '--key would be written into the unit, which anyone on this machine can read: put SKETCH_KEY=… in a file only you can read and pass --environment-file FILE',
          );
        }
        if (typeof argv.device === 'string') {
          if (argv.sketch !== undefined) throw errors.INVALID_OPTION('--device FILE runs the sketches of a device file: name no sketch besides it');
          const typed = hideBin(process.argv);
          const extra = runArgs(typed.slice(typed.indexOf('install') + 1)).filter((a, i, all) => a !== '--name' && !a.startsWith('--name=') && all[i - 1] !== '--name');
          if (extra.length) throw errors.INVALID_OPTION(`with --device, options go in the device file (got ${extra.join(' ')}): only --name, --user, --print, --environment-file and --accept-push go here`);
        } else if (argv['accept-push'] === true) throw errors.INVALID_OPTION('--accept-push is for a device: sketch service install --device sketchnet.yaml --accept-push');
        else if (argv.sketch === undefined) throw errors.INVALID_OPTION('name the sketch to install (sketch service install iopin …), or give a device file: --device sketchnet.yaml');
        const name = (argv.name as string | undefined) ?? (typeof argv.device === 'string' ? DEVICE_UNIT_NAME : kindOf(cls));
        if (name !== undefined) {
          try {
            unitName(name);
          } catch (err) {
            throw errors.INVALID_OPTION(`--name ${oneLine(err)}`);
          }
        }
        return true;
      });
    },
    handler: (argv) => install(argv, cls),
  };
}

/** The instance name a sketch runs under without `--name` (as `new Sketch()` picks it). */
const kindOf = (cls: SketchClass | undefined) => (cls ? (cls.kind ?? cls.name.toLowerCase()) : undefined);

async function install(argv: Record<string, unknown>, cls: SketchClass | undefined): Promise<void> {
  if (typeof argv.device === 'string') return installDevice(argv, argv.device);
  if (!cls) return; // bin/cli.ts loaded it, or failed with one line already
  // The files `sketch run` reads at start, read now: a bad one fails here, not at the next boot.
  // (Read as whoever runs this: the service's user must be able to read them too.)
  if (typeof argv['key-file'] === 'string') await loadKeyFile(argv['key-file'], () => {}).catch(die);
  if (typeof argv['tls-cert'] === 'string') await loadTlsIdentity(argv['tls-cert'], String(argv['tls-key'])).catch(die);
  if (typeof argv.ca === 'string') await loadCa(argv.ca).catch(die);
  const name = (argv.name as string | undefined) ?? kindOf(cls)!;
  const spec = String(argv.sketch);
  // The words after `service install`, as typed, minus install's own options; a sketch file's path made absolute.
  const typed = hideBin(process.argv);
  const args = runArgs(typed.slice(typed.indexOf('install') + 1));
  const at = args.indexOf(spec);
  if (at >= 0 && !(spec in BUILTINS)) args[at] = path.resolve(spec);
  const drives = cls.drivesPins?.(resolveOptions(cls.options ?? {}, pick(cls.options ?? {}, argv))) === true;
  const description = `sketchnet sketch ${name} (sketch run ${spec in BUILTINS ? spec : path.basename(spec)})`;
  writeUnit(argv, { name, exec: [process.execPath, SKETCH_BIN, 'run', ...args], workingDirectory: process.cwd(), description, drivesPins: drives });
}

/**
 * `sketch service install --device FILE`: the device file checked as `sketch up --check` checks
 * it (the files it names read too), then ONE unit running `sketch up /abs/FILE --restart
 * on-failure` in the file's folder, with the gpio group when any of its sketches drives pins.
 */
async function installDevice(argv: Record<string, unknown>, file: string): Promise<void> {
  const absolute = path.resolve(file);
  const cwd = process.cwd();
  const prepared = await prepareDevice(await readDeviceFile(file), undefined);
  process.chdir(cwd);
  if (!prepared.ok) {
    for (const line of prepared.problems) console.error(line);
    process.exit(ERROR_CODES.SKETCH_ERR_DEVICE_FILE);
  }
  const { device } = prepared;
  const drives = device.sketches.some((s) => s.cls.drivesPins?.(resolveOptions(s.cls.options ?? {}, pick(s.cls.options ?? {}, s.argv))) === true);
  const name = (argv.name as string | undefined) ?? DEVICE_UNIT_NAME;
  writeUnit(argv, {
    name,
    exec: [process.execPath, SKETCH_BIN, 'up', absolute, '--restart', 'on-failure', ...(argv['accept-push'] === true ? ['--accept-push'] : [])],
    workingDirectory: device.dir,
    description: `sketchnet device ${name} (sketch up ${path.basename(absolute)}: ${device.sketches.map((s) => s.name).join(', ')})`,
    drivesPins: drives,
  });
}

/** Writes (or with `--print` prints) the unit for `unit`, with `install`'s own options from `argv`, and says what to run next. */
function writeUnit(
  argv: Record<string, unknown>,
  spec: { name: string; exec: string[]; workingDirectory: string; description: string; drivesPins: boolean },
): void {
  const { name } = spec;
  const user = argv.user === true;
  const notes: string[] = [];
  let environmentFile: string | undefined;
  if (typeof argv['environment-file'] === 'string') {
    environmentFile = path.resolve(argv['environment-file']);
    let mode: number;
    try {
      mode = statSync(environmentFile).mode;
    } catch (err) {
      die(errors.SERVICE(`cannot read --environment-file ${environmentFile}: ${oneLine(err)}`, err));
    }
    if (mode & 0o044) notes.push(`warning: ${environmentFile} can be read by others on this machine: chmod 600 ${environmentFile}`);
  }
  const groups: string[] = [];
  if (spec.drivesPins) {
    const gpio = gpioGroup();
    if (!gpio) notes.push('note: no gpio group on this machine: the unit gets none (sysfs GPIO then needs another way in, see the README)');
    else if (!user) groups.push('gpio');
    else if (!process.getgroups?.().includes(gpio.gid)) {
      notes.push(`note: you are not in the gpio group, which ${argv.device === undefined ? 'this sketch needs' : 'a sketch of this device needs'} for its pins: sudo usermod -aG gpio ${os.userInfo().username}`);
    }
  }
  const unit = systemdUnit({
    name,
    exec: spec.exec,
    workingDirectory: spec.workingDirectory,
    scope: user ? 'user' : 'system',
    user: user ? undefined : serviceUser(),
    groups,
    environmentFile,
    description: spec.description,
  });
  if (argv.print === true) {
    process.stdout.write(unit);
    for (const n of notes) console.error(`sketch: ${n}`);
    return;
  }
  const dir = unitDir(user);
  const file = path.join(dir, unitName(name));
  const bare = unitName(name).slice(0, -'.service'.length);
  const replaced = existsSync(file);
  try {
    if (user || process.env.SKETCH_SERVICE_DIR) mkdirSync(dir, { recursive: true });
    writeFileSync(file, unit, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      die(
        errors.SERVICE(
          `cannot write ${file} (${code}): system units need root: run it again with sudo (sudo env PATH="$PATH" sketch service install …), or add --user for a unit of your own`,
          err,
        ),
      );
    }
    die(errors.SERVICE(`cannot write ${file}: ${oneLine(err)}`, err));
  }
  const ctl = systemctl(user);
  for (const n of notes) console.error(`sketch: ${n}`);
  console.log(`${replaced ? 'replaced' : 'wrote'} ${file}`);
  if (replaced) console.log(`load the new unit and restart it: ${ctl} daemon-reload && ${ctl} restart ${bare}`);
  else console.log(`start it now and at every ${user ? 'login' : 'boot'}: ${ctl} daemon-reload && ${ctl} enable --now ${bare}`);
  if (user) console.log(`start it at boot without logging in: sudo loginctl enable-linger ${os.userInfo().username}`);
  console.log(`its log: journalctl ${user ? '--user ' : ''}-u ${bare} -f`);
}

const uninstallCommand: CommandModule<object, { name: string; user: boolean }> = {
  command: 'uninstall <name>',
  describe: 'remove the unit sketch-NAME.service (disable it first: this runs no systemctl itself)',
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'the service: porch, sketch-porch or sketch-porch.service' })
      .option('user', { ...INSTALL_OPTIONS.user, describe: 'a user unit (installed with --user)' }),
  handler: (argv) => {
    let unit: string;
    try {
      unit = unitName(argv.name);
    } catch (err) {
      die(errors.INVALID_OPTION(oneLine(err)));
    }
    const dir = unitDir(argv.user);
    const file = path.join(dir, unit);
    const bare = unit.slice(0, -'.service'.length);
    const ctl = systemctl(argv.user);
    if (!existsSync(file)) {
      const other = unitDir(!argv.user);
      const hint = existsSync(path.join(other, unit)) ? `: it is in ${other} (${argv.user ? 'without' : 'with'} --user)` : '';
      die(errors.SERVICE(`no ${unit} in ${dir}${hint}`));
    }
    // Enabled = a symlink in some *.wants folder beside it: removing the file would leave it dangling (and running).
    const wants = readdirSync(dir).filter((d) => d.endsWith('.wants') && isLink(path.join(dir, d, unit)));
    if (wants.length) die(errors.SERVICE(`${unit} is enabled: stop and disable it first with "${ctl} disable --now ${bare}", then run this again`));
    try {
      rmSync(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EACCES' || code === 'EPERM' ? ' (system units need root: run it again with sudo)' : '';
      die(errors.SERVICE(`cannot remove ${file}: ${oneLine(err)}${why}`, err));
    }
    console.log(`removed ${file}`);
    console.log(`if it still runs: ${ctl} stop ${bare}; then: ${ctl} daemon-reload`);
  },
};

/** Whether `p` is a symbolic link (dangling ones too). */
function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

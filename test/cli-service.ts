import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SKETCH_BIN } from './helpers/net.js';
import { noAnalyzer, verifyUnit } from './helpers/systemd.js';

/** Runs `sketch ...args` to completion (no network: these commands only write files). */
function sketch(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; uid?: number; gid?: number } = {}) {
  const spawnOptions: SpawnSyncOptions = {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: 30_000,
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  };
  const r = spawnSync(process.execPath, [SKETCH_BIN, ...args], spawnOptions);
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr), error: r.error };
}

/** A fresh folder for units, given to the CLI as SKETCH_SERVICE_DIR. */
function withUnitDir(fn: (dir: string, env: NodeJS.ProcessEnv) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'units-'));
  try {
    fn(dir, { SKETCH_SERVICE_DIR: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const execStart = (unit: string) => /^ExecStart=(.*)$/m.exec(unit)?.[1];

test('service install writes sketch-NAME.service running this node and this CLI with the options as typed, and prints the systemctl line', () => {
  withUnitDir((dir, env) => {
    const r = sketch(['service', 'install', 'iopin', '--name', 'porch', '--pin', '17', '--sequence', '4'], { env });
    assert.is(r.code, 0, r.stderr);
    const file = path.join(dir, 'sketch-porch.service');
    assert.equal(readdirSync(dir), ['sketch-porch.service']);
    const unit = readFileSync(file, 'utf8');
    assert.is(execStart(unit), `${process.execPath} ${SKETCH_BIN} run iopin --name porch --pin 17 --sequence 4`);
    assert.match(unit, `\nUser=${os.userInfo().username}\n`);
    assert.match(unit, `\nWorkingDirectory=${process.cwd()}\n`);
    for (const line of ['Restart=on-failure', 'After=network-online.target', 'Wants=network-online.target', 'KillSignal=SIGTERM', 'TimeoutStopSec=5']) {
      assert.match(unit, `\n${line}\n`);
    }
    assert.match(r.stdout, `wrote ${file}\n`);
    assert.match(r.stdout, /systemctl daemon-reload && (sudo )?systemctl enable --now sketch-porch\n/);
    assert.match(r.stdout, 'journalctl -u sketch-porch -f');
    const why = noAnalyzer();
    if (why) return console.log(`  skipped systemd-analyze verify: ${why}`);
    const verified = verifyUnit(unit, 'system');
    assert.is(verified.status, 0, verified.output);
    assert.is(verified.output, '');
  });
});

test('service install --user writes a user unit and prints the systemctl --user and enable-linger lines', () => {
  withUnitDir((dir, env) => {
    const r = sketch(['service', 'install', 'clock', '--user', '--tacks', '3', '--to', 'porch'], { env });
    assert.is(r.code, 0, r.stderr);
    const unit = readFileSync(path.join(dir, 'sketch-clock.service'), 'utf8');
    assert.is(execStart(unit), `${process.execPath} ${SKETCH_BIN} run clock --tacks 3 --to porch`, '--user is not passed on');
    assert.not.match(unit, /^User=/m);
    assert.match(unit, '\nWantedBy=default.target\n');
    assert.match(r.stdout, 'systemctl --user daemon-reload && systemctl --user enable --now sketch-clock\n');
    assert.match(r.stdout, 'sudo loginctl enable-linger ');
    assert.match(r.stdout, 'journalctl --user -u sketch-clock -f');
    const why = noAnalyzer();
    if (why) return console.log(`  skipped systemd-analyze verify: ${why}`);
    const verified = verifyUnit(unit, 'user', 'clock');
    assert.is(verified.status, 0, verified.output);
    assert.is(verified.output, '');
  });
});

test('service install checks the sketch options as sketch run does: a bad one is one line, exit 2, and no unit', () => {
  withUnitDir((dir, env) => {
    const unknown = sketch(['service', 'install', 'clock', '--tack', '3'], { env });
    assert.is(unknown.code, 2);
    assert.match(unknown.stderr, /^sketch: unknown option --tack \(did you mean --tacks\?\)\nrun 'sketch service install clock --help' for the options\n$/);
    const range = sketch(['service', 'install', 'iopin', '--chance', '2'], { env });
    assert.is(range.code, 2);
    assert.match(range.stderr, /^sketch: .*--chance/);
    const noSketch = sketch(['service', 'install', 'nosuchsketch'], { env });
    assert.is(noSketch.code, 2);
    assert.match(noSketch.stderr, /^sketch: unknown sketch "nosuchsketch"/);
    assert.equal(readdirSync(dir), [], 'nothing written');
  });
});

test('service install refuses --key (it would be readable by anyone in the unit) and writes EnvironmentFile= for --environment-file instead', () => {
  withUnitDir((dir, env) => {
    const key = sketch(['service', 'install', 'clock', '--key', 'secret-abc'], { env });
    assert.is(key.code, 2);
    assert.match(key.stderr, /^sketch: --key would be written into the unit, .*--environment-file FILE\n/);
    assert.equal(readdirSync(dir), []);
    const envFile = path.join(dir, 'clock.env');
    writeFileSync(envFile, 'SKETCH_KEY=secret-abc\n', { mode: 0o600 });
    const r = sketch(['service', 'install', 'clock', '--environment-file', envFile], { env });
    assert.is(r.code, 0, r.stderr);
    const unit = readFileSync(path.join(dir, 'sketch-clock.service'), 'utf8');
    assert.match(unit, `\nEnvironmentFile=${envFile}\n`);
    assert.not.match(unit, 'secret-abc');
    assert.not.match(execStart(unit)!, 'environment-file');
    assert.is(r.stderr, '', 'no warning for a file only its owner reads');
    chmodSync(envFile, 0o644);
    const readable = sketch(['service', 'install', 'clock', '--environment-file', envFile], { env });
    assert.is(readable.code, 0);
    assert.match(readable.stderr, `can be read by others on this machine: chmod 600 ${envFile}`);
    const missing = sketch(['service', 'install', 'clock', '--environment-file', path.join(dir, 'none.env')], { env });
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /^sketch: cannot read --environment-file .*none\.env: .*ENOENT/);
  });
});

test('service install --print prints the unit and writes nothing; a sketch file is written with its absolute path', () => {
  withUnitDir((dir, env) => {
    const work = path.join(dir, 'work');
    mkdirSync(work);
    writeFileSync(
      path.join(work, 'porch light.ts'),
      "import { Sketch } from 'sketchnet';\nexport default class PorchLight extends Sketch {}\n",
    );
    const r = sketch(['service', 'install', './porch light.ts', '--print', '--port', '8765'], { env, cwd: work });
    assert.is(r.code, 0, r.stderr);
    assert.equal(readdirSync(dir), ['work'], 'nothing written');
    assert.match(r.stdout, /^# sketch-porchlight\.service: /, 'named after the kind (the class name)');
    assert.is(execStart(r.stdout), `${process.execPath} ${SKETCH_BIN} run "${path.join(work, 'porch light.ts')}" --port 8765`);
    assert.match(r.stdout, `\nWorkingDirectory=${work}\n`);
  });
});

test('service install --device writes ONE unit running sketch up on the absolute device file with --restart on-failure, in its folder', () => {
  withUnitDir((dir, env) => {
    const work = path.join(dir, 'pi');
    mkdirSync(work);
    writeFileSync(path.join(work, 'sketchnet.yaml'), 'sketches:\n  - kind: buzzer\n    gpio: virtual\n  - kind: iopin\n    to: buzzer\n  - kind: thermometer\n    name: kitchen\n');
    const r = sketch(['service', 'install', '--device', 'pi/sketchnet.yaml'], { env, cwd: dir });
    assert.is(r.code, 0, r.stderr);
    assert.equal(readdirSync(dir).sort(), ['pi', 'sketch-up.service'], 'one unit for the device');
    const unit = readFileSync(path.join(dir, 'sketch-up.service'), 'utf8');
    assert.is(execStart(unit), `${process.execPath} ${SKETCH_BIN} up ${path.join(work, 'sketchnet.yaml')} --restart on-failure`);
    assert.match(unit, `\nWorkingDirectory=${work}\n`);
    assert.match(unit, '\nDescription=sketchnet device up (sketch up sketchnet.yaml: buzzer, iopin, kitchen)\n');
    assert.match(r.stdout, /enable --now sketch-up\n/);
    const named = sketch(['service', 'install', '--device', 'sketchnet.yaml', '--name', 'porch', '--print'], { env, cwd: work });
    assert.is(named.code, 0, named.stderr);
    assert.match(named.stdout, /^# sketch-porch\.service: /);
    const why = noAnalyzer();
    if (why) return console.log(`  skipped systemd-analyze verify: ${why}`);
    const verified = verifyUnit(unit, 'system', 'up');
    assert.is(verified.status, 0, verified.output);
    assert.is(verified.output, '');
  });
});

test('service install --device checks the device file first: its problems, one line each, exit 1, no unit; sketch options beside it are refused', () => {
  withUnitDir((dir, env) => {
    const file = path.join(dir, 'sketchnet.yaml');
    writeFileSync(file, 'sketches:\n  - kind: iopin\n    too: buzzer\n');
    const r = sketch(['service', 'install', '--device', file], { env });
    assert.is(r.code, 1);
    assert.is(r.stderr, `${file}:3: sketches[0] (iopin): unknown option "too" (did you mean "to"?)\n`);
    assert.equal(readdirSync(dir), ['sketchnet.yaml'], 'no unit');
    writeFileSync(file, 'sketches:\n  - kind: iopin\n');
    const extra = sketch(['service', 'install', '--device', file, '--port', '8000'], { env });
    assert.is(extra.code, 2);
    assert.match(extra.stderr, /^sketch: with --device, options go in the device file \(got --port 8000\)/);
    const both = sketch(['service', 'install', 'iopin', '--device', file], { env });
    assert.is(both.code, 2);
    assert.match(both.stderr, /^sketch: --device FILE runs the sketches of a device file: name no sketch besides it/);
    assert.equal(readdirSync(dir), ['sketchnet.yaml'], 'no unit');
  });
});

test('service install again replaces the unit and prints the daemon-reload and restart line', () => {
  withUnitDir((dir, env) => {
    assert.is(sketch(['service', 'install', 'clock', '--tacks', '1'], { env }).code, 0);
    const r = sketch(['service', 'install', 'clock', '--tacks', '2'], { env });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, `replaced ${path.join(dir, 'sketch-clock.service')}`);
    assert.match(r.stdout, /systemctl daemon-reload && (sudo )?systemctl restart sketch-clock\n/);
    assert.match(readFileSync(path.join(dir, 'sketch-clock.service'), 'utf8'), 'run clock --tacks 2\n');
  });
});

test('service install --name refuses a name systemd units cannot carry', () => {
  withUnitDir((dir, env) => {
    const r = sketch(['service', 'install', 'clock', '--name', 'front porch'], { env });
    assert.is(r.code, 2);
    assert.match(r.stderr, /^sketch: --name "front porch" cannot name a systemd unit/);
    assert.equal(readdirSync(dir), []);
  });
});

test('service uninstall refuses an enabled unit (disable it first), removes a disabled one, and says when there is none', () => {
  withUnitDir((dir, env) => {
    assert.is(sketch(['service', 'install', 'clock', '--name', 'ticker'], { env }).code, 0);
    const unit = path.join(dir, 'sketch-ticker.service');
    // What `systemctl enable` does: a symlink in the target's .wants folder.
    mkdirSync(path.join(dir, 'multi-user.target.wants'));
    symlinkSync(unit, path.join(dir, 'multi-user.target.wants', 'sketch-ticker.service'));
    const enabled = sketch(['service', 'uninstall', 'ticker'], { env });
    assert.is(enabled.code, 1);
    assert.match(enabled.stderr, /^sketch: sketch-ticker\.service is enabled: stop and disable it first with "(sudo )?systemctl disable --now sketch-ticker", then run this again\n$/);
    assert.ok(existsSync(unit), 'still there');
    rmSync(path.join(dir, 'multi-user.target.wants'), { recursive: true }); // `systemctl disable`
    const removed = sketch(['service', 'uninstall', 'sketch-ticker.service'], { env });
    assert.is(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, `removed ${unit}\n`);
    assert.match(removed.stdout, /systemctl daemon-reload/);
    assert.not.ok(existsSync(unit));
    const none = sketch(['service', 'uninstall', 'ticker'], { env });
    assert.is(none.code, 1);
    assert.match(none.stderr, `sketch: no sketch-ticker.service in ${dir}`);
  });
});

test('service install where units cannot be written (not root) says: sudo, or --user — one line, exit 1', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'units-ro-'));
  try {
    chmodSync(dir, 0o555);
    // As root the folder's mode stops nobody: run the CLI as "nobody" then.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = sketch(['service', 'install', 'clock'], { env: { SKETCH_SERVICE_DIR: dir, HOME: dir }, ...as });
    if (r.error) return console.log(`  skipped: cannot run the CLI as another user here (${r.error.message})`);
    if (r.code === 0) return console.log('  skipped: this process may write a read-only folder (privileged), so the refusal cannot be seen');
    assert.is(r.code, 1, r.stderr);
    assert.match(r.stderr, /^sketch: cannot write .*sketch-clock\.service \((EACCES|EPERM)\): system units need root: run it again with sudo .*or add --user for a unit of your own\n$/);
    assert.equal(readdirSync(dir), []);
  } finally {
    chmodSync(dir, 0o755);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('service install run through sudo writes User= for the user who ran sudo and prints sudo systemctl', () => {
  if (process.geteuid?.() !== 0) return console.log('  skipped: needs root (this is what sudo looks like to the CLI)');
  withUnitDir((dir, env) => {
    const r = sketch(['service', 'install', 'clock'], { env: { ...env, SUDO_USER: 'pi' } });
    assert.is(r.code, 0, r.stderr);
    assert.match(readFileSync(path.join(dir, 'sketch-clock.service'), 'utf8'), '\nUser=pi\n');
    assert.match(r.stdout, 'sudo systemctl daemon-reload && sudo systemctl enable --now sketch-clock\n');
  });
});

test('service install reads the files sketch run would read at start (--key-file, --tls-cert, --ca): a missing one fails now, exit 1, no unit', () => {
  withUnitDir((dir, env) => {
    const keys = sketch(['service', 'install', 'buzzer', '--gpio', 'virtual', '--key-file', path.join(dir, 'no-keys')], { env });
    assert.is(keys.code, 1);
    assert.match(keys.stderr, /^sketch: .*no-keys/);
    const ca = sketch(['service', 'install', 'clock', '--ca', path.join(dir, 'no-ca.pem')], { env });
    assert.is(ca.code, 1);
    assert.match(ca.stderr, /^sketch: .*no-ca\.pem/);
    assert.equal(readdirSync(dir), []);
    writeFileSync(path.join(dir, 'keys'), 'write 0123456789abcdef0123456789abcdef porch\n', { mode: 0o600 });
    const ok = sketch(['service', 'install', 'buzzer', '--gpio', 'virtual', '--key-file', 'keys'], { env, cwd: dir });
    assert.is(ok.code, 0, ok.stderr);
    assert.match(readFileSync(path.join(dir, 'sketch-buzzer.service'), 'utf8'), `\nWorkingDirectory=${dir}\n`, 'the relative path resolves there');
  });
});

test.run();

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runArgs, serviceSpec } from '../bin/service-args.js';
import { unitDir } from '../bin/service.js';
import { execWord, systemdUnit, unitName, type UnitSpec } from '../bin/systemd-unit.js';
import { SKETCH_BIN } from './helpers/net.js';
import { noAnalyzer, verifyUnit } from './helpers/systemd.js';
import Buzzer from '../sketches/buzzer.js';
import IOPin from '../sketches/iopin.js';
import Clock from '../sketches/clock.js';

/** A system unit for the iopin on a pin, with every setting given. */
const porch: UnitSpec = {
  name: 'porch',
  exec: [process.execPath, SKETCH_BIN, 'run', 'iopin', '--name', 'porch', '--pin', '17'],
  workingDirectory: '/home/pi',
  scope: 'system',
  user: 'pi',
  groups: ['gpio'],
  environmentFile: '/home/pi/.config/sketch.env',
};

/** The `key=value` lines of a unit's section. */
function section(unit: string, name: string): string[] {
  const start = unit.indexOf(`[${name}]\n`);
  assert.ok(start >= 0, `[${name}] in the unit`);
  const body = unit.slice(start + name.length + 3);
  const end = body.indexOf('\n[');
  return (end < 0 ? body : body.slice(0, end)).split('\n').filter((l) => l.includes('='));
}

test('a system unit starts after the network as the given user with the gpio group, restarts on failure and stops with SIGTERM within 5 s', () => {
  const unit = systemdUnit(porch);
  assert.equal(section(unit, 'Unit'), [
    'Description=sketchnet sketch porch',
    'After=network-online.target',
    'Wants=network-online.target',
    'StartLimitIntervalSec=60',
    'StartLimitBurst=5',
  ]);
  assert.equal(section(unit, 'Service'), [
    'Type=simple',
    'User=pi',
    'SupplementaryGroups=gpio',
    'WorkingDirectory=/home/pi',
    'EnvironmentFile=/home/pi/.config/sketch.env',
    `ExecStart=${process.execPath} ${SKETCH_BIN} run iopin --name porch --pin 17`,
    'Restart=on-failure',
    'RestartSec=2',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=5',
    'SyslogIdentifier=sketch-porch',
  ]);
  assert.equal(section(unit, 'Install'), ['WantedBy=multi-user.target']);
});

test('a user unit has no User=, groups or system targets, and is wanted by default.target', () => {
  const unit = systemdUnit({ ...porch, scope: 'user' });
  assert.not.match(unit, /^(User|SupplementaryGroups|After|Wants)=/m);
  assert.equal(section(unit, 'Install'), ['WantedBy=default.target']);
  assert.match(unit, /^EnvironmentFile=\/home\/pi\/\.config\/sketch\.env$/m);
});

test('command-line words are written so that systemd hands the sketch exactly what was typed', () => {
  assert.is(execWord('--pin'), '--pin');
  assert.is(execWord('/usr/bin/node'), '/usr/bin/node');
  assert.is(execWord('a b'), '"a b"');
  assert.is(execWord(''), '""');
  assert.is(execWord('say "hi"'), '"say \\"hi\\""');
  assert.is(execWord('back\\slash'), '"back\\\\slash"');
  assert.is(execWord("it's"), '"it\'s"');
  assert.is(execWord('50%'), '50%%', 'a specifier sign is doubled');
  assert.is(execWord('$HOME'), '$$HOME', 'no environment expansion');
  assert.is(execWord('100% of $X'), '"100%% of $$X"');
  assert.is(execWord('two\nlines'), '"two\\nlines"');
  assert.is(execWord(';'), '";"', 'never a command separator');
});

test('unit names: the bare name, the prefixed name and the file name are the same unit; other characters are refused', () => {
  for (const n of ['porch', 'sketch-porch', 'sketch-porch.service']) assert.is(unitName(n), 'sketch-porch.service');
  assert.is(unitName('kitchen_2.a'), 'sketch-kitchen_2.a.service');
  for (const bad of ['', 'my porch', '../etc', 'a/b', 'émile', 'x'.repeat(201)]) {
    assert.throws(() => unitName(bad), /cannot name a systemd unit/, JSON.stringify(bad));
  }
});

test('relative paths and line breaks are refused: the unit would not mean what was asked', () => {
  assert.throws(() => systemdUnit({ ...porch, exec: ['node', SKETCH_BIN] }), /absolute path/);
  assert.throws(() => systemdUnit({ ...porch, workingDirectory: 'home/pi' }), /absolute path/);
  assert.throws(() => systemdUnit({ ...porch, environmentFile: 'sketch.env' }), /absolute path/);
  assert.throws(() => systemdUnit({ ...porch, description: 'two\nlines' }), /line break/);
  assert.throws(() => systemdUnit({ ...porch, exec: [] }), /needs a command/);
});

test('"sketch service install" passes every word but its own options (--user, --print, --environment-file) on to "sketch run"', () => {
  assert.equal(runArgs(['iopin', '--user', '--pin', '17', '--print']), ['iopin', '--pin', '17']);
  assert.equal(runArgs(['buzzer', '--environment-file', 'k.env', '--no-user', '--sound', 'beep']), ['buzzer', '--sound', 'beep']);
  assert.equal(runArgs(['buzzer', '--environment-file=k.env', '--print=false', '--name', 'user']), ['buzzer', '--name', 'user']);
  assert.equal(runArgs(['x.ts', '--', '--user']), ['x.ts', '--', '--user'], 'after -- nothing is taken out');
  assert.is(serviceSpec(['service', 'install', '--environment-file', 'k.env', '--user', 'clock', '--tacks', '3']), 'clock');
  assert.is(serviceSpec(['service', 'uninstall', 'clock']), undefined);
  assert.is(serviceSpec(['run', 'clock']), undefined);
});

test('units go to /etc/systemd/system, user units to $XDG_CONFIG_HOME/systemd/user (else ~/.config), both to $SKETCH_SERVICE_DIR when set', () => {
  assert.is(unitDir(false, {}), '/etc/systemd/system');
  assert.is(unitDir(true, { XDG_CONFIG_HOME: '/x/conf' }), '/x/conf/systemd/user');
  assert.is(unitDir(true, {}), path.join(os.homedir(), '.config', 'systemd', 'user'));
  assert.is(unitDir(false, { SKETCH_SERVICE_DIR: '/tmp/units' }), '/tmp/units');
  assert.is(unitDir(true, { SKETCH_SERVICE_DIR: '/tmp/units' }), '/tmp/units');
});

test('systemd-analyze verify accepts the system and user units, with awkward words in the command line, without a warning', () => {
  const why = noAnalyzer();
  if (why) return console.log(`  skipped: ${why}`);
  const env = mkdtempSync(path.join(os.tmpdir(), 'env-'));
  try {
    writeFileSync(path.join(env, 'sketch.env'), 'SKETCH_KEY=abc\n', { mode: 0o600 });
    const spec: UnitSpec = {
      ...porch,
      user: os.userInfo().username,
      workingDirectory: env,
      environmentFile: path.join(env, 'sketch.env'),
      exec: [process.execPath, SKETCH_BIN, 'run', 'buzzer', '--sound', 'bz "z" 100% $HOME \\ ;', '--name', 'porch'],
      description: 'sketchnet sketch porch (100% buzzer)',
    };
    for (const scope of ['system', 'user'] as const) {
      const { status, output } = verifyUnit(systemdUnit({ ...spec, scope }), scope);
      assert.is(status, 0, `${scope}: ${output}`);
      assert.is(output, '', `${scope}: no warning`);
    }
    // …and it would have said so: a unit it rejects.
    const broken = systemdUnit({ ...spec, scope: 'system' }).replace(/^ExecStart=(.*)$/m, 'ExecStart=$1 "unbalanced');
    const { status, output } = verifyUnit(broken, 'system');
    assert.is.not(status, 0);
    assert.match(output, /quoting/i);
  } finally {
    rmSync(env, { recursive: true, force: true });
  }
});

test('the buzzer drives its pin unless --gpio virtual, the iopin only with --pin, the clock never: the gpio group goes to their units accordingly', () => {
  assert.is(Buzzer.drivesPins({ gpio: 'auto', pin: 18 }), true);
  assert.is(Buzzer.drivesPins({ gpio: 'sysfs', pin: 18 }), true);
  assert.is(Buzzer.drivesPins({ gpio: 'virtual', pin: 18 }), false);
  assert.is(IOPin.drivesPins({ gpio: 'auto' }), false);
  assert.is(IOPin.drivesPins({ gpio: 'auto', pin: 17 }), true);
  assert.is(IOPin.drivesPins({ gpio: 'virtual', pin: 17 }), false);
  assert.is(Clock.drivesPins, undefined);
});

test.run();

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSpec } from '../bin/completion.js';
import { runCli, SKETCH_BIN } from './helpers/net.js';

const fixture = (name: string) => path.relative(process.cwd(), fileURLToPath(new URL(`./fixtures/sketches/${name}`, import.meta.url)));
const BUILTINS = ['clock', 'iopin', 'buzzer', 'thermometer', 'recorder', 'dashboard', 'button'];
const COMMANDS = ['run', 'ls', 'send', 'tap', 'trace', 'demo', 'key', 'ca', 'export', 'replay', 'completion'];

/** The words `sketch --get-yargs-completions …words` prints, one per line (bash: no descriptions). */
async function complete(...words: string[]): Promise<string[]> {
  const r = await runCli(['--get-yargs-completions', ...words], { SHELL: '/bin/bash' });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stderr, '', 'nothing on stderr while completing');
  return r.stdout.split('\n').filter((l) => l !== '');
}

test('runSpec finds the sketch that run names, in a command line and in a completion request', () => {
  assert.is(runSpec(['run', 'clock', '--tacks', '3']), 'clock');
  assert.is(runSpec(['run', '--no-mdns', './x.ts']), './x.ts');
  assert.is(runSpec(['ls']), undefined);
  assert.is(runSpec(['--get-yargs-completions', 'sketch', 'run', 'clock', '--t']), 'clock');
  assert.is(runSpec(['--get-yargs-completions', 'run', 'clock', '--t']), 'clock');
  assert.is(runSpec(['--get-yargs-completions', 'sketch', 'run', '']), undefined);
  assert.is(runSpec(['--get-yargs-completions', 'sketch', 'ls', '--']), undefined);
});

test('sketch completion prints a bash completion script for sketch, exit 0; with SHELL=zsh a zsh one', async () => {
  const bash = await runCli(['completion'], { SHELL: '/bin/bash' });
  assert.is(bash.code, 0, bash.stderr);
  assert.match(bash.stdout, /^###-begin-sketch-completions-###/);
  assert.match(bash.stdout, /sketch --get-yargs-completions "\$\{args\[@\]\}"/);
  assert.match(bash.stdout, /complete -o bashdefault -o default -F _sketch_yargs_completions sketch/);
  const zsh = await runCli(['completion'], { SHELL: '/usr/bin/zsh' });
  assert.is(zsh.code, 0, zsh.stderr);
  assert.match(zsh.stdout, /^#compdef sketch\n/);
  assert.match(zsh.stdout, /compdef _sketch_yargs_completions sketch/);
});

test('after sketch, completion offers every command', async () => {
  const words = await complete('sketch', '');
  for (const c of COMMANDS) assert.ok(words.includes(c), `${c} in ${words}`);
});

test('after run, completion offers exactly the built-in sketches, with or without the command name first', async () => {
  assert.equal(await complete('sketch', 'run', ''), BUILTINS);
  assert.equal(await complete('run', ''), BUILTINS);
  assert.equal(await complete('sketch', 'run', 'th'), ['thermometer']);
  // A path being typed matches no built-in: nothing, so that the shell completes file names.
  assert.equal(await complete('sketch', 'run', './ske'), []);
});

test("after run NAME, completion offers the common options and that sketch's own, not another's", async () => {
  for (const words of [['sketch', 'run', 'clock', '--t'], ['run', 'clock', '--t']]) {
    const offered = await complete(...words);
    for (const o of ['--tacks', '--delay', '--to', '--port']) assert.ok(offered.includes(o), `${o} in ${offered}`);
    assert.not.ok(offered.includes('--sensor'), 'a thermometer option');
  }
  const thermometer = await complete('sketch', 'run', 'thermometer', '--');
  assert.ok(thermometer.includes('--sensor') && thermometer.includes('--interval'), String(thermometer));
  assert.not.ok(thermometer.includes('--tacks'));
});

test('after an option with a fixed set of values, completion offers those values', async () => {
  assert.equal(await complete('sketch', 'run', 'thermometer', '--sensor', ''), ['auto', 'ds18b20', 'thermal', 'hwmon', 'simulated']);
});

test("after run FILE, completion offers the sketch file's own options; a file that does not load gets the common ones and no error", async () => {
  const greeter = await complete('sketch', 'run', fixture('greeter.ts'), '--');
  assert.ok(greeter.includes('--greeting'), String(greeter));
  const broken = await complete('sketch', 'run', fixture('broken.ts'), '--');
  assert.ok(broken.includes('--port'), String(broken));
  assert.not.ok(broken.includes('--greeting'));
});

test('in a real bash, the printed script completes sketch run clock --ta<Tab> to --tacks and sketch run cl<Tab> to clock', async () => {
  const bashOk = spawnSync('bash', ['-c', 'type mapfile compgen complete >/dev/null'], { encoding: 'utf8' });
  if (bashOk.status !== 0) {
    console.log('skipped: real bash completion because bash (with mapfile, compgen, complete) is not installed');
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-completion-'));
  try {
    // `sketch` on PATH, as npm install -g puts it: the script calls it by that name.
    const bin = path.join(dir, 'sketch');
    writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(SKETCH_BIN)} "$@"\n`);
    chmodSync(bin, 0o755);
    const script = await runCli(['completion'], { SHELL: '/bin/bash' });
    writeFileSync(path.join(dir, 'completion.bash'), script.stdout);
    const tab = (line: string) => {
      const words = line.split(' ');
      const r = spawnSync(
        'bash',
        ['-c', `source completion.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _sketch_yargs_completions; printf '%s\\n' "\${COMPREPLY[@]}"`],
        { cwd: dir, encoding: 'utf8', env: { ...process.env, SHELL: '/bin/bash', PATH: `${dir}:${process.env.PATH}` }, timeout: 15_000 },
      );
      assert.is(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((l) => l !== '');
    };
    assert.equal(tab('sketch run clock --ta'), ['--tacks']);
    assert.equal(tab('sketch run cl'), ['clock']);
    assert.equal(tab('sketch l'), ['ls']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();

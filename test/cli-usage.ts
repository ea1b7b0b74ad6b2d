import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from './helpers/net.js';

/** A usage error as printed: exit 2, nothing on stdout, exactly two lines on stderr (the error, the hint). */
async function usageError(args: string[], env: NodeJS.ProcessEnv = {}): Promise<[string, string]> {
  const r = await runCli(args, env);
  assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  assert.is(r.stdout, '', 'nothing on stdout');
  const lines = r.stderr.split('\n');
  assert.is(lines.pop(), '', 'ends with a newline');
  assert.is(lines.length, 2, `two lines, never the usage text: ${r.stderr}`);
  assert.not.match(r.stderr, /Options:|Commands:|Positionals:/);
  return [lines[0]!, lines[1]!];
}

test('an unknown option prints one line with the closest option, then where the help is, exit 2', async () => {
  assert.equal(await usageError(['run', 'clock', '--tack', '3']), [
    'sketch: unknown option --tack (did you mean --tacks?)',
    "run 'sketch run clock --help' for the options",
  ]);
  assert.equal(await usageError(['run', 'iopin', '--no-mnds']), [
    'sketch: unknown option --no-mnds (did you mean --no-mdns?)',
    "run 'sketch run iopin --help' for the options",
  ]);
});

test('an unknown option with nothing close to it is named without a suggestion', async () => {
  const [line] = await usageError(['run', 'clock', '--colour', 'red']);
  assert.is(line, 'sketch: unknown option --colour');
});

test('a value outside the choices prints the flag, the choices and the value given, exit 2', async () => {
  assert.equal(await usageError(['run', 'thermometer', '--sensor', 'lm35']), [
    'sketch: --sensor must be one of auto, ds18b20, thermal, hwmon, simulated; got "lm35"',
    "run 'sketch run thermometer --help' for the options",
  ]);
});

test('an unknown command suggests the closest command and the top-level help', async () => {
  assert.equal(await usageError(['rn', 'clock']), ['sketch: unknown command rn (did you mean run?)', "run 'sketch --help' for the commands"]);
  const [none, hint] = await usageError([]);
  assert.match(none, /^sketch: name a command: run, ls, send, tap, /);
  assert.is(hint, "run 'sketch --help' for the commands");
});

test("a missing argument is named from the command's definition, and the hint is that command's help", async () => {
  assert.equal(await usageError(['send']), ['sketch: missing argument <peer>', "run 'sketch send --help' for the options"]);
  assert.equal(await usageError(['run']), ['sketch: missing argument <sketch>', "run 'sketch run --help' for the options"]);
  assert.equal(await usageError(['ls', 'extra']), ['sketch: unexpected argument "extra"', "run 'sketch ls --help' for the options"]);
  assert.equal(await usageError(['run', 'clock', '--tacks']), ['sketch: --tacks needs a value', "run 'sketch run clock --help' for the options"]);
});

test("a check's own message is the line: bad values and conflicting options", async () => {
  assert.equal(await usageError(['run', 'clock', '--tacks', '-1']), [
    'sketch: --tacks must be an integer ≥ 0, got -1',
    "run 'sketch run clock --help' for the options",
  ]);
  assert.equal(await usageError(['tap', 'x', '--last', '3', '--all']), [
    'sketch: --last and --all cannot be used together',
    "run 'sketch tap --help' for the options",
  ]);
});

test("the messages are read in English whatever the user's locale", async () => {
  const [line] = await usageError(['run', 'clock', '--tack', '3'], { LANG: 'de_DE.UTF-8', LC_ALL: 'de_DE.UTF-8' });
  assert.is(line, 'sketch: unknown option --tack (did you mean --tacks?)');
});

test('--help still prints the whole usage, exit 0', async () => {
  const r = await runCli(['send', '--help']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /Options:/);
  assert.match(r.stdout, /--discover-timeout/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closest, editDistance, helpHint, usageContext, usageLine, type UsageContext } from '../bin/usage.js';

const COMMANDS = ['run', 'ls', 'send', 'tap', 'demo', 'key', 'ca', 'export', 'replay'];

/** The context of `sketch run clock ARGS…` (the clock's options, as yargs lists them). */
function runClock(...args: string[]): UsageContext {
  return {
    args: ['run', 'clock', ...args],
    commands: ['run'],
    fullCommands: ['run <sketch>'],
    options: ['help', 'version', 'host', 'port', 'name', 'mdns', 'to', 'discover-timeout', 'discoverTimeout', 'tacks', 'delay'],
    commandNames: COMMANDS,
    sketch: 'clock',
  };
}

const top = (...args: string[]): UsageContext => ({ args, commands: [], fullCommands: [], options: ['help', 'version'], commandNames: COMMANDS });

const send = (...args: string[]): UsageContext => ({
  args: ['send', ...args],
  commands: ['send'],
  fullCommands: ['send <peer> <message...>'],
  options: ['help', 'version', 'discover-timeout', 'key', 'insecure-key', 'ca'],
  commandNames: COMMANDS,
});

test('the edit distance counts insertions, deletions, substitutions and swapped neighbours', () => {
  assert.is(editDistance('tack', 'tacks'), 1);
  assert.is(editDistance('tacks', 'tack'), 1);
  assert.is(editDistance('sensr', 'sensor'), 1);
  assert.is(editDistance('mnds', 'mdns'), 1, 'a swap is one edit');
  assert.is(editDistance('kitten', 'sitting'), 3);
  assert.is(editDistance('', 'abc'), 3);
  assert.is(editDistance('same', 'same'), 0);
});

test('closest suggests a candidate only when it is close, or the only one the word begins', () => {
  assert.is(closest('tack', ['tacks', 'delay']), 'tacks');
  assert.is(closest('hlep', ['help', 'version']), 'help');
  assert.is(closest('disc', ['discover-timeout', 'delay']), 'discover-timeout', 'a prefix');
  assert.is(closest('d', ['delay', 'discover-timeout']), undefined, 'too short to guess from');
  assert.is(closest('colour', ['tacks', 'delay']), undefined, 'nothing close');
  assert.is(closest('xyz', ['x']), undefined);
  assert.is(closest('rn', COMMANDS), 'run');
});

test('an unknown option is one line naming it as typed, with the closest known option when one is close', () => {
  assert.is(usageLine('Unknown argument: tack', undefined, runClock('--tack', '3')), 'unknown option --tack (did you mean --tacks?)');
  assert.is(usageLine('Unknown argument: colour', undefined, runClock('--colour', 'red')), 'unknown option --colour');
  assert.is(usageLine('Unknown argument: x', undefined, runClock('-x')), 'unknown option -x');
  assert.is(usageLine('Unknown argument: mnds', undefined, runClock('--no-mnds')), 'unknown option --no-mnds (did you mean --no-mdns?)');
  assert.is(usageLine('Unknown argument: tack', undefined, runClock('--tack=3')), 'unknown option --tack (did you mean --tacks?)');
  // yargs reports a dashed name twice (with its camelCase alias): it is one option.
  assert.is(
    usageLine('Unknown arguments: discover-timout, discoverTimout', undefined, runClock('--discover-timout', '1')),
    'unknown option --discover-timout (did you mean --discover-timeout?)',
  );
  assert.is(
    usageLine('Unknown arguments: tack, colour', undefined, runClock('--tack', '1', '--colour', 'red')),
    'unknown options --tack (did you mean --tacks?), --colour',
  );
});

test('a stray word is an unknown command at the top level and an unexpected argument within a command', () => {
  assert.is(usageLine('Unknown argument: rn', undefined, top('rn')), 'unknown command rn (did you mean run?)');
  assert.is(usageLine('Unknown argument: toast', undefined, top('toast')), 'unknown command toast');
  assert.is(usageLine('Unknown arguments: rn, clock', undefined, top('rn', 'clock')), 'unknown command rn (did you mean run?)', 'only the first word is a command');
  assert.is(usageLine('Unknown command: sned', undefined, top('sned')), 'unknown command sned (did you mean send?)');
  const ls: UsageContext = { ...top('ls', 'foo'), commands: ['ls'], fullCommands: ['ls'] };
  assert.is(usageLine('Unknown argument: foo', undefined, ls), 'unexpected argument "foo"');
});

test('a value outside the choices names the flag (or positional), the choices and what was given', () => {
  const thermometer: UsageContext = { ...runClock('--sensor', 'lm35'), args: ['run', 'thermometer', '--sensor', 'lm35'], sketch: 'thermometer' };
  const invalid = 'Invalid values:\n  Argument: sensor, Given: "lm35", Choices: "auto", "ds18b20", "thermal", "hwmon", "simulated"';
  assert.is(usageLine(invalid, undefined, thermometer), '--sensor must be one of auto, ds18b20, thermal, hwmon, simulated; got "lm35"');
  const key: UsageContext = { ...top('key', 'nw'), commands: ['key'], fullCommands: ['key <action>'] };
  assert.is(usageLine('Invalid values:\n  Argument: action, Given: "nw", Choices: "new"', undefined, key), '<action> must be one of new; got "nw"');
});

test('missing arguments are named from the command definition; missing options and values by their flags', () => {
  assert.is(usageLine('Not enough non-option arguments: got 1, need at least 2', undefined, send('x')), 'missing argument <message...>');
  assert.is(usageLine('Not enough non-option arguments: got 0, need at least 2', undefined, send()), 'missing arguments <peer> <message...>');
  const exp: UsageContext = { ...top('export'), commands: ['export'], fullCommands: ['export'] };
  assert.is(usageLine('Missing required argument: db', undefined, exp), 'missing option --db');
  assert.is(usageLine('Not enough arguments following: tacks', undefined, runClock('--tacks')), '--tacks needs a value');
  assert.is(usageLine('Arguments last and all are mutually exclusive', undefined, top()), '--last and --all cannot be used together');
  assert.is(usageLine('Missing dependent arguments:\n tls-cert -> tls-key', undefined, top()), '--tls-cert needs --tls-key');
});

test("a check()'s own message and demandCommand's message are printed as they are, on one line", () => {
  const err = new Error('--tacks must be an integer ≥ 0, got -1');
  assert.is(usageLine(err.message, err, runClock('--tacks', '-1')), '--tacks must be an integer ≥ 0, got -1');
  assert.is(usageLine('name a command: run, ls', undefined, top()), 'name a command: run, ls');
  assert.is(usageLine('first line\nsecond line', undefined, top()), 'first line');
  assert.is(usageLine(null, new Error('only the error'), top()), 'only the error');
});

test("the hint names the help of what was typed: the sketch's for run, the command's, or the commands'", () => {
  assert.is(helpHint(runClock('--tack')), "run 'sketch run clock --help' for the options");
  assert.is(helpHint({ ...runClock(), sketch: './my sketch.ts' }), `run 'sketch run "./my sketch.ts" --help' for the options`);
  assert.is(helpHint({ ...runClock(), sketch: undefined }), "run 'sketch run --help' for the options");
  assert.is(helpHint(send('x')), "run 'sketch send --help' for the options");
  assert.is(helpHint(top('rn')), "run 'sketch --help' for the commands");
});

test('the context is read from the parser, and from what was typed where the parser tells nothing', () => {
  const parser = {
    getOptions: () => ({ key: { help: true, tacks: true } }),
    getInternalMethods: () => ({
      getContext: () => ({ commands: ['run'], fullCommands: ['run <sketch>'] }),
      getCommandInstance: () => ({ getCommands: () => ['run', 'ls', '$0'] }),
    }),
  };
  assert.equal(usageContext(parser, ['run', 'clock', '--tack'], 'clock'), {
    args: ['run', 'clock', '--tack'],
    commands: ['run'],
    fullCommands: ['run <sketch>'],
    options: ['help', 'tacks'],
    commandNames: ['run', 'ls'],
    sketch: 'clock',
  });
  const bare = usageContext({}, ['ls', 'foo']);
  assert.equal(bare.commands, [], 'no command names known: nothing is taken for a command');
  assert.equal(bare.options, []);
  const throwing = usageContext({ getInternalMethods: () => { throw new Error('changed'); } }, ['ls']);
  assert.equal(throwing.commandNames, []);
});

test.run();

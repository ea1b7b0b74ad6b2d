import { test } from 'uvu';
import * as assert from 'uvu/assert';
import yargs, { type Argv } from 'yargs';
import { skipHelpCache } from '../bin/yargs-internals.js';

type Usage = { hasCachedHelpMessage: () => boolean };
const usageOf = (cli: Argv) => (cli as unknown as { getInternalMethods: () => { getUsageInstance: () => Usage } }).getInternalMethods().getUsageInstance();

function cliWithCommand(): Argv {
  return yargs(['go', '--level', '3'])
    .command({ command: 'go', describe: 'a command', builder: (y) => y.option('level', { type: 'number', describe: 'a described option' }), handler: async () => {} })
    .strict()
    .exitProcess(false);
}

test('the pinned yargs renders and caches a command’s whole help text each time the command runs (what skipHelpCache removes)', async () => {
  const cli = cliWithCommand();
  await cli.parseAsync();
  assert.ok(usageOf(cli).hasCachedHelpMessage());
});

test('after skipHelpCache a command runs without its help text being rendered', async () => {
  const cli = cliWithCommand();
  skipHelpCache(cli);
  const argv = await cli.parseAsync();
  assert.is(argv.level, 3);
  assert.not.ok(usageOf(cli).hasCachedHelpMessage());
});

test('after skipHelpCache --help still prints the whole help text', async () => {
  let out = '';
  const cli = yargs(['go', '--help'])
    .command({ command: 'go', describe: 'a command', builder: (y) => y.option('level', { type: 'number', describe: 'a described option' }), handler: async () => {} })
    .exitProcess(false);
  skipHelpCache(cli);
  await cli.parseAsync(['go', '--help'], {}, (_err, _argv, output) => (out = output));
  assert.match(out, /--level\s+a described option/);
});

test.run();

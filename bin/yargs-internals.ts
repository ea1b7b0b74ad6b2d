/**
 * The one place the CLI reaches into yargs' internals. yargs is pinned to an exact version in
 * package.json for this reason; test/yargs-internals.ts checks the behaviour relied on.
 */
import type { Argv } from 'yargs';

/** yargs' private usage instance (yargs 18.2.0 `build/lib/usage.js`), the parts used here. */
interface UsageInstance {
  cacheHelpMessage: () => void;
  hasCachedHelpMessage: () => boolean;
}

/**
 * Stops yargs from rendering a command's whole help text each time the command runs.
 *
 * yargs 18.2.0 (`build/lib/command.js`, `handleValidationAndGetResult`) calls
 * `usage.cacheHelpMessage()` right after a command's handler has started, so that the help can be
 * shown should an async handler fail later. `sketch` never shows it (its fail handler prints one
 * line and a hint), yet rendering it (cliui measuring every option's description with
 * string-width) cost `sketch run` ~60–100 ms of CPU on the path to listening, since the handler's
 * first `await` hands the turn to it. `--help` itself renders through `usage.help()` and is
 * unaffected.
 * @throws Error when the installed yargs no longer has the method (a version other than the pin).
 */
export function skipHelpCache(cli: Argv): void {
  const internals = (cli as unknown as { getInternalMethods?: () => { getUsageInstance: () => UsageInstance } }).getInternalMethods;
  const usage = internals?.call(cli).getUsageInstance();
  if (typeof usage?.cacheHelpMessage !== 'function') throw new Error('yargs has no usage.cacheHelpMessage(): bin/yargs-internals.ts expects the version package.json pins');
  usage.cacheHelpMessage = () => {};
}

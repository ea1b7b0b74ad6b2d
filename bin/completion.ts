import type { Arguments } from 'yargs';
import { BUILTINS } from '../sketches/index.js';

/** The flag through which the completion script asks `sketch` for the words that may come next (yargs' own). */
export const COMPLETION_FLAG = '--get-yargs-completions';

/**
 * The sketch that `sketch run SKETCH …` names, so that its class can be loaded before parsing
 * and its own options become flags (for `--help` and for completion alike). `args` is argv
 * without node and the script: `run clock --tacks 3`, or what the completion script sends,
 * `--get-yargs-completions [sketch] run clock --t` (bash and zsh send the command's own name
 * first). undefined when the command is not `run` or names no sketch yet.
 */
export function runSpec(args: readonly string[]): string | undefined {
  let words = args;
  if (words[0] === COMPLETION_FLAG) {
    words = words.slice(1);
    if (words[0] !== 'run') words = words.slice(1); // the command's name, as the shell typed it
  }
  if (words[0] !== 'run') return undefined;
  return words.slice(1).find((a) => a !== '' && !a.startsWith('-'));
}

/** True when `args` (argv without node and the script) is the completion script asking for words. */
export const completing = (args: readonly string[]): boolean => args[0] === COMPLETION_FLAG;

/**
 * yargs' completion function for `sketch`: after `run`, the built-in sketch names that start
 * with the word being typed (nothing when none does, so that the shell falls back to file names
 * for a sketch file); anywhere else yargs' own completion (commands, then the options of the
 * command — with `run NAME`, the sketch's own options too).
 */
export function completeSketch(
  current: string,
  argv: Arguments,
  defaultCompletion: () => void,
  done: (completions: string[]) => void,
): void {
  const positionals = argv._.map(String).filter((w) => w !== '');
  const at = positionals.indexOf('run');
  // `run` is the last positional (`sketch run <TAB>`), or the one after it is being typed (`sketch run cl<TAB>`).
  const namingSketch = at >= 0 && !current.startsWith('-') && (at === positionals.length - 1 || (at === positionals.length - 2 && positionals[at + 1] === current));
  if (namingSketch) return done(Object.keys(BUILTINS).filter((n) => n.startsWith(current)));
  defaultCompletion();
}

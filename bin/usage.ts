/**
 * Usage errors as one line and a hint, the way `git` and `npm` print them, instead of yargs'
 * message above the whole usage text:
 *
 *     sketch: unknown option --tack (did you mean --tacks?)
 *     run 'sketch run clock --help' for the options
 *
 * Pure functions over what the parser reports (its English messages: the CLI sets
 * `.locale('en')`) and what was typed; bin/cli.ts prints them and exits 2.
 */

/** What the CLI knows when the parser fails. */
export interface UsageContext {
  /** The arguments as typed, without `node` and the script (`['run', 'clock', '--tack', '3']`). */
  args: readonly string[];
  /** The commands being parsed, outermost first (`['run']`); empty at the top level. */
  commands: readonly string[];
  /** Their definitions (`['run <sketch>']`), whose `<positional>`s name missing arguments. */
  fullCommands: readonly string[];
  /** The option names the failing command knows, without dashes (camelCase aliases may be in). */
  options: readonly string[];
  /** The top-level command names (`run`, `ls`, `send`…), for "did you mean". */
  commandNames: readonly string[];
  /** The sketch `sketch run` loaded (as typed), so the hint is that sketch's help. */
  sketch?: string;
}

/**
 * The edit distance between `a` and `b`: the fewest single-character insertions, deletions,
 * substitutions and swaps of two neighbours (`mnds` → `mdns`) that turn one into the other
 * (optimal string alignment).
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidate closest to `word`, when it is close: within an edit distance of a third of
 * `word`'s length (at least 1, at most 3), or the only candidate that starts with `word` (3
 * characters or more). Ties go to the first candidate. Undefined when none is close.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best !== undefined) return best;
  const prefixed = word.length >= 3 ? candidates.filter((c) => c.startsWith(word)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** `camelCase` → `camel-case` (yargs adds camelCase aliases of dashed options). */
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The arguments before a `--` (after it, everything is a value). */
function beforeDoubleDash(args: readonly string[]): readonly string[] {
  const end = args.indexOf('--');
  return end === -1 ? args : args.slice(0, end);
}

/**
 * How `key` (a name yargs reports) was typed as an option: `--tack`, `-x`, `--no-mnds`;
 * undefined when no option of that name was typed (a positional word).
 */
function typedFlag(key: string, args: readonly string[]): string | undefined {
  for (const arg of beforeDoubleDash(args)) {
    const m = /^(--?)(no-)?([^=]+)/.exec(arg);
    if (!m || /^-\d/.test(arg)) continue;
    const [, dashes, no = '', name] = m;
    if (dashes === '-' && name!.length > 1) {
      if (name!.includes(key) && key.length === 1) return `-${key}`; // in a group: -xvf
      continue;
    }
    if (name === key || name === kebab(key)) return `${dashes}${no}${name}`;
  }
  return undefined;
}

/** The option names a user can type: kebab-case, without yargs' camelCase duplicates. */
function knownFlags(ctx: UsageContext): string[] {
  return [...new Set(ctx.options.filter((o) => o !== '$0' && o !== '_').map(kebab))];
}

/** `--tack (did you mean --tacks?)`: an unknown option as typed, with the closest known one. */
function unknownOption(flag: string, ctx: UsageContext): string {
  const no = flag.startsWith('--no-') ? 'no-' : '';
  const name = flag.replace(/^--?(no-)?/, '');
  const near = closest(name, knownFlags(ctx));
  return near === undefined ? flag : `${flag} (did you mean --${no}${near}?)`;
}

/** `rn (did you mean run?)` */
function unknownCommand(word: string, ctx: UsageContext): string {
  const near = closest(word, ctx.commandNames);
  return near === undefined ? word : `${word} (did you mean ${near}?)`;
}

/** "Unknown arguments: tack-x, tackX, foo": unknown options and stray words, told apart by what was typed. */
function unknownArguments(list: string, ctx: UsageContext): string {
  const keys = list.split(', ').map((k) => k.replace(/^"(.*)"$/, '$1'));
  const flags: string[] = [];
  const words: string[] = [];
  for (const key of keys) {
    const flag = typedFlag(key, ctx.args);
    if (flag === undefined) {
      if (!words.includes(key)) words.push(key);
    } else if (!flags.includes(flag)) flags.push(flag);
  }
  const parts: string[] = [];
  if (flags.length) parts.push(`unknown option${flags.length > 1 ? 's' : ''} ${flags.map((f) => unknownOption(f, ctx)).join(', ')}`);
  if (words.length) {
    parts.push(
      ctx.commands.length === 0
        ? `unknown command ${unknownCommand(words[0]!, ctx)}` // the words after it would be its arguments
        : `unexpected argument${words.length > 1 ? 's' : ''} ${words.map((w) => JSON.stringify(w)).join(', ')}`,
    );
  }
  return parts.join('; ');
}

/** `--sensor` for an option typed, `<action>` for a positional. */
function argName(key: string, ctx: UsageContext): string {
  return typedFlag(key, ctx.args) === undefined && positionals(ctx).some((p) => p.name === key) ? `<${key}>` : `--${kebab(key)}`;
}

/** The `<required>` and `[optional]` positionals of the command being parsed, in order. */
function positionals(ctx: UsageContext): { name: string; text: string; required: boolean }[] {
  const definition = ctx.fullCommands[ctx.fullCommands.length - 1] ?? '';
  return [...definition.matchAll(/([<[])([^\]>|.]+)(?:\|[^\]>]*)?(\.\.\.)?[\]>]/g)].map((m) => ({
    name: m[2]!,
    text: m[0],
    required: m[1] === '<',
  }));
}

/** "Invalid values:\n  Argument: sensor, Given: "lm35", Choices: "auto", …" → one line per the first argument. */
function invalidValues(message: string, ctx: UsageContext): string | undefined {
  const m = /Argument: (.+?), Given: (.*), Choices: (.*)$/m.exec(message);
  if (!m) return undefined;
  let choices: string[];
  try {
    choices = (JSON.parse(`[${m[3]}]`) as unknown[]).map(String);
  } catch {
    choices = [m[3]!];
  }
  return `${argName(m[1]!, ctx)} must be one of ${choices.join(', ')}; got ${m[2]}`;
}

/**
 * The one line (without the `sketch: ` prefix) for a parser failure: yargs' `message` and the
 * `err` a `check()` threw, read against what was typed.
 *
 * - unknown option → `unknown option --tack (did you mean --tacks?)` (the suggestion only
 *   when one is close, see {@link closest}); a stray word at the top level →
 *   `unknown command rn (did you mean run?)`, within a command → `unexpected argument "foo"`;
 * - a value outside the choices → `--sensor must be one of auto, ds18b20; got "lm35"`;
 * - missing positionals → `missing argument <message...>`; missing required options →
 *   `missing option --db`; an option without its value → `--tacks needs a value`;
 * - `--a and --b cannot be used together`, `--a needs --b`;
 * - anything else (a `check()`'s own message, `demandCommand`'s): its first line as it is.
 */
export function usageLine(message: string | null | undefined, err: Error | undefined, ctx: UsageContext): string {
  const text = message ?? err?.message ?? 'invalid arguments';
  let m: RegExpExecArray | null;
  if ((m = /^Unknown arguments?: (.*)$/.exec(text))) return unknownArguments(m[1]!, ctx);
  if ((m = /^Unknown commands?: (.*)$/.exec(text))) {
    return `unknown command ${m[1]!.split(', ').map((w) => unknownCommand(w, ctx)).join(', ')}`;
  }
  if (text.startsWith('Invalid values:')) {
    const line = invalidValues(text, ctx);
    if (line) return line;
  }
  if ((m = /^Missing required arguments?: ([^\n]*)/.exec(text))) {
    const names = m[1]!.split(', ');
    const positional = new Set(positionals(ctx).map((p) => p.name));
    const args = names.filter((n) => positional.has(n)).map((n) => `<${n}>`);
    const options = names.filter((n) => !positional.has(n)).map((n) => `--${kebab(n)}`);
    const parts = [];
    if (args.length) parts.push(`missing argument${args.length > 1 ? 's' : ''} ${args.join(' ')}`);
    if (options.length) parts.push(`missing option${options.length > 1 ? 's' : ''} ${options.join(', ')}`);
    return parts.join('; ');
  }
  if ((m = /^Not enough non-option arguments: got (\d+), need at least (\d+)/.exec(text))) {
    const missing = positionals(ctx).filter((p) => p.required).slice(Number(m[1]));
    if (missing.length) return `missing argument${missing.length > 1 ? 's' : ''} ${missing.map((p) => p.text).join(' ')}`;
    return `missing arguments: got ${m[1]}, need at least ${m[2]}`;
  }
  if ((m = /^Too many non-option arguments: got (\d+), maximum of (\d+)/.exec(text))) {
    return `too many arguments: got ${m[1]}, at most ${m[2]}`;
  }
  if ((m = /^(?:Not enough arguments following|Missing argument values?): (.*)$/.exec(text))) {
    const flags = m[1]!.split(', ').map((k) => `--${kebab(k)}`);
    return `${flags.join(', ')} need${flags.length > 1 ? '' : 's'} a value`;
  }
  if ((m = /^Arguments (\S+) and (\S+) are mutually exclusive$/.exec(text))) {
    return `--${kebab(m[1]!)} and --${kebab(m[2]!)} cannot be used together`;
  }
  if ((m = /^Missing dependent arguments:\n\s*(\S+) -> (\S+)/.exec(text))) {
    return `--${kebab(m[1]!)} needs --${kebab(m[2]!.replace(/^--/, ''))}`;
  }
  return text.split('\n', 1)[0]!.replace(/^sketch: /, '');
}

/** Quotes `word` for a shell when it needs it (the hint is meant to be copied). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, '\\$1')}"`;
}

/**
 * The line printed under a usage error: where the help for what was typed is —
 * `run 'sketch run clock --help' for the options` (with the sketch `run` loaded),
 * `run 'sketch send --help' for the options`, `run 'sketch --help' for the commands`.
 */
export function helpHint(ctx: UsageContext): string {
  if (ctx.commands.length === 0) return "run 'sketch --help' for the commands";
  // The sketch's own options are listed only when its name is given: `run NAME`, `service install NAME`.
  const takesSketch = ctx.commands[0] === 'run' || (ctx.commands[0] === 'service' && ctx.commands[1] === 'install');
  const words = ['sketch', ...ctx.commands, ...(takesSketch && ctx.sketch ? [shellWord(ctx.sketch)] : []), '--help'];
  return `run '${words.join(' ')}' for the options`;
}

/** The parts of a yargs instance read at a failure; they are not in yargs' typings. */
interface YargsInternals {
  getOptions?: () => { key?: Record<string, unknown> };
  getInternalMethods?: () => {
    getContext?: () => { commands?: string[]; fullCommands?: string[] };
    getCommandInstance?: () => { getCommands?: () => string[] };
  };
}

/**
 * The {@link UsageContext} of a parser failure, read from the yargs instance (`parser`): the
 * command being parsed and its definition, the options it knows, the top-level commands.
 * These live in yargs' internals (yargs 18, not in its typings) and are read defensively:
 * where one is missing the command is taken from what was typed and nothing is suggested.
 * Because of that, package.json pins yargs to exactly 18.2.0; test/cli-usage.ts keeps the
 * suggestions (which need these internals) under test, so an upgrade that moves them fails there.
 */
export function usageContext(parser: unknown, args: readonly string[], sketch?: string): UsageContext {
  const y = parser as YargsInternals;
  const safe = <T>(read: () => T | undefined, fallback: T): T => {
    try {
      return read() ?? fallback;
    } catch {
      return fallback;
    }
  };
  const internals = safe(() => y.getInternalMethods?.(), undefined);
  const commandNames = safe(() => internals?.getCommandInstance?.()?.getCommands?.(), [] as string[]).filter((c) => c !== '$0');
  const context = safe(() => internals?.getContext?.(), undefined);
  const typed = args.find((a) => !a.startsWith('-'));
  const commands = context?.commands ?? (typed !== undefined && commandNames.includes(typed) ? [typed] : []);
  return {
    args,
    commands,
    fullCommands: context?.fullCommands ?? [],
    options: Object.keys(safe(() => y.getOptions?.()?.key, {})),
    commandNames,
    ...(sketch !== undefined ? { sketch } : {}),
  };
}

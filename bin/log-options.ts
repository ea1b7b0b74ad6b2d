import type { Options } from 'yargs';
import type { LoggerOptions, LogFormat } from '../runtime/index.js';
import { LOG_FORMATS } from '../runtime/log.js';

/** `sketch run`'s log options: `--log-format text|json`, `--quiet`, `--verbose`, `--[no-]log-time`. */
export const LOG_OPTIONS = {
  'log-format': {
    choices: LOG_FORMATS,
    default: 'text',
    describe: 'text: "[ Sketch ] message" lines (with a time when stdout is not a terminal and JOURNAL_STREAM is unset); json: one {"time","sketch","level","message"} object per line',
    group: 'Logging:',
  },
  quiet: { type: 'boolean', describe: 'print only errors and warnings', group: 'Logging:' },
  verbose: { type: 'boolean', describe: 'also print chatter, e.g. every reading of a thermometer', group: 'Logging:' },
  'log-time': {
    type: 'boolean',
    describe: 'start text lines with the time (default: when stdout is not a terminal and JOURNAL_STREAM is unset; --no-log-time: never)',
    group: 'Logging:',
  },
} as const satisfies Record<string, Options>;

/**
 * `SketchConfig.logging` from parsed `argv`: the format, the level (`--quiet` → `warn`,
 * `--verbose` → `debug`, else `info`) and, when given, whether text lines carry the time.
 */
export function loggingOptions(argv: Record<string, unknown>): Omit<LoggerOptions, 'name' | 'label'> {
  const level = argv.quiet === true ? 'warn' : argv.verbose === true ? 'debug' : 'info';
  const time = typeof argv['log-time'] === 'boolean' ? { time: argv['log-time'] } : {};
  return { format: (argv['log-format'] as LogFormat | undefined) ?? 'text', level, ...time };
}

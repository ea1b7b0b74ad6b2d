/**
 * Log lines with levels, as text for people or JSON for scripts. No sockets, no globals read
 * at write time: the stream, the clock and the environment are options, so tests use fakes.
 */

/** Levels from the most to the least severe: `--quiet` prints `error` and `warn`, the default adds `info`, `--verbose` adds `debug`. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `text`: `[ Label ] message` per line; `json`: one {@link LogRecord} object per line. */
export const LOG_FORMATS = ['text', 'json'] as const;
/** One of {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** One line of `--log-format json`. */
export interface LogRecord {
  /** When the line was written: ISO 8601 in UTC with milliseconds, e.g. `2026-11-22T03:30:00.125Z`. */
  time: string;
  /** The sketch's instance name (`thermometer`, `iopin (2)`). */
  sketch: string;
  level: LogLevel;
  /** The line itself, without the `[ Label ]` prefix. */
  message: string;
}

/** Where finished lines go (each ends with `\n`): `process.stdout` or anything with `write`. */
export interface LogStream {
  write(chunk: string): unknown;
  /** Whether it is a terminal (then text lines carry no time by default). */
  isTTY?: boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `text` (default) or `json`. */
  format?: LogFormat;
  /** The least severe level written. Default `info`. */
  level?: LogLevel;
  /** The `sketch` field of JSON lines; a function is read at each line (a sketch may be renamed). Default `''`. */
  name?: string | (() => string);
  /** The `[ label ]` prefix of text lines; read at each line. Default: `name`. */
  label?: string | (() => string);
  /**
   * Where lines go. Default {@link stdoutLines}: stdout, each line at once; a reader that goes
   * away (EPIPE: `sketch run … | head`) crashes nothing.
   */
  stream?: LogStream;
  /** The clock, ms since the epoch. Default `Date.now`. */
  clock?: () => number;
  /**
   * Whether text lines start with the time (ISO 8601, UTC). Default {@link logTimes}: when the
   * stream is not a terminal and `JOURNAL_STREAM` is not set (journald stamps lines itself).
   * JSON lines always carry `time`.
   */
  time?: boolean;
  /**
   * Whether text lines start with a syslog priority (`<3>` error, `<4>` warn, `<6>` info,
   * `<7>` debug), which journald reads as the line's priority and strips (`journalctl -p warning`).
   * Default: when `JOURNAL_STREAM` is set. Never on JSON lines.
   */
  priority?: boolean;
  /** The environment read for the defaults above. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Writes lines at a level; lines below the logger's level are dropped. */
export interface Logger {
  readonly level: LogLevel;
  readonly format: LogFormat;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  /** Chatter (every reading of a 10 Hz sensor): written only at level `debug` (`--verbose`). */
  debug(message: string): void;
  write(level: LogLevel, message: string): void;
  /** Whether a line at `level` would be written (to skip building an expensive one). */
  enabled(level: LogLevel): boolean;
}

/** syslog(3) priorities, as sd-daemon(3) prefixes them. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/**
 * Whether text lines written to `stream` should carry a time: not on a terminal (people watch
 * it as it happens), not under journald (`JOURNAL_STREAM` set: it stamps every line itself),
 * yes in a pipe or a file.
 */
export function logTimes(stream: LogStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  return !stream.isTTY && !env.JOURNAL_STREAM;
}

/**
 * A logger. Text lines: `[TIME ][<P>][ label ] message`; JSON lines: `{"time","sketch","level","message"}`.
 * A message is written on one line: line breaks in it are escaped (`\n`).
 * @throws TypeError for a format or level not in {@link LOG_FORMATS} / {@link LOG_LEVELS}.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'text';
  const level = options.level ?? 'info';
  if (!LOG_FORMATS.includes(format)) throw new TypeError(`log format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const stream = options.stream ?? stdoutLines();
  const env = options.env ?? process.env;
  const clock = options.clock ?? Date.now;
  const time = options.time ?? logTimes(stream, env);
  const priority = options.priority ?? Boolean(env.JOURNAL_STREAM);
  const read = (v: string | (() => string) | undefined) => (typeof v === 'function' ? v() : (v ?? ''));
  const label = options.label ?? options.name;
  const rank = LOG_LEVELS.indexOf(level);
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) <= rank;
  // The ISO time of the last line, reused while the clock reads the same ms (lines come in bursts).
  let stampMs = NaN;
  let stampIso = '';
  const iso = () => {
    const ms = clock();
    if (ms !== stampMs) {
      stampMs = ms;
      stampIso = new Date(ms).toISOString();
    }
    return stampIso;
  };
  const write = (l: LogLevel, message: string) => {
    if (!enabled(l)) return;
    const oneLine = message.includes('\n') ? message.replace(/\r?\n/g, '\\n') : message;
    if (format === 'json') {
      const record: LogRecord = { time: iso(), sketch: read(options.name), level: l, message: oneLine };
      stream.write(`${JSON.stringify(record)}\n`);
      return;
    }
    const stamp = time ? `${iso()} ` : '';
    const prio = priority ? `<${PRIORITY[l]}>` : '';
    stream.write(`${prio}${stamp}[ ${read(label)} ] ${oneLine}\n`);
  };
  return {
    level,
    format,
    error: (m) => write('error', m),
    warn: (m) => write('warn', m),
    info: (m) => write('info', m),
    debug: (m) => write('debug', m),
    write,
    enabled,
  };
}

/** A {@link LogStream} handing each line, without its `\n`, to `fn` (e.g. `SketchConfig.log`). */
export function lineStream(fn: (line: string) => void): LogStream {
  return { write: (chunk: string) => fn(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) };
}

const noop = () => {};

/**
 * The default {@link LogStream}: each line written to stdout at once, before the call that
 * logged it returns (so a line a loop logs is out before its acknowledgement, even if the
 * process is then killed), with `process.stdout.write` rather than `console.log`: no formatting
 * pass, no colour check. A reader that goes away (EPIPE: `sketch run … | head`) crashes nothing,
 * later lines are dropped. `isTTY` is stdout's.
 */
export function stdoutLines(): LogStream {
  const out = process.stdout;
  // A no-op listener for a synchronous error (a file, a terminal), the callback's for an
  // asynchronous one (a pipe), as the console adds them.
  const onWritten = (err?: Error | null) => {
    if (err && out.listenerCount('error') === 0) out.once('error', noop);
  };
  return {
    isTTY: out.isTTY,
    write(chunk: string) {
      const catchSync = out.listenerCount('error') === 0;
      if (catchSync) out.once('error', noop);
      try {
        out.write(chunk, onWritten);
      } catch {
        // nowhere to report it: the log is what failed
      } finally {
        if (catchSync) out.removeListener('error', noop);
      }
    },
  };
}

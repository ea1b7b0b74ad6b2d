import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger, logTimes, stdoutLines, type LoggerOptions, type LogRecord } from '../runtime/log.js';
import { Sketch } from '../runtime/sketch.js';

const T = Date.UTC(2026, 10, 22, 3, 30, 0, 125); // 2026-11-22T03:30:00.125Z

/** A logger writing into an array, on a fixed clock, with no environment. */
function capture(options: LoggerOptions = {}, isTTY = false) {
  const lines: string[] = [];
  const log = createLogger({ clock: () => T, env: {}, name: 'thermometer', label: 'Thermometer', stream: { isTTY, write: (s) => lines.push(s) }, ...options });
  return { log, lines };
}

test('the default level prints errors, warnings and info, not debug chatter', () => {
  const { log, lines } = capture({ time: false });
  log.error('e');
  log.warn('w');
  log.info('i');
  log.debug('d');
  assert.equal(lines, ['[ Thermometer ] e\n', '[ Thermometer ] w\n', '[ Thermometer ] i\n']);
  assert.is(log.enabled('debug'), false);
});

test('level warn (--quiet) prints only errors and warnings; level debug (--verbose) prints everything', () => {
  const quiet = capture({ level: 'warn', time: false });
  for (const l of ['error', 'warn', 'info', 'debug'] as const) quiet.log.write(l, l);
  assert.equal(quiet.lines, ['[ Thermometer ] error\n', '[ Thermometer ] warn\n']);
  const verbose = capture({ level: 'debug', time: false });
  for (const l of ['error', 'warn', 'info', 'debug'] as const) verbose.log.write(l, l);
  assert.is(verbose.lines.length, 4);
});

test('json lines are one object each with time (ISO 8601), sketch, level and message', () => {
  const { log, lines } = capture({ format: 'json' });
  log.warn('sensor read failed');
  log.info('two\nlines');
  assert.is(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('}\n') && !l.slice(0, -1).includes('\n')));
  const records = lines.map((l) => JSON.parse(l) as LogRecord);
  assert.equal(records[0], { time: '2026-11-22T03:30:00.125Z', sketch: 'thermometer', level: 'warn', message: 'sensor read failed' });
  assert.is(records[1]!.message, 'two\\nlines');
});

test('text lines carry the time when the stream is not a terminal, and not on a terminal', () => {
  const piped = capture({}, false);
  piped.log.info('serving');
  assert.equal(piped.lines, ['2026-11-22T03:30:00.125Z [ Thermometer ] serving\n']);
  const tty = capture({}, true);
  tty.log.info('serving');
  assert.equal(tty.lines, ['[ Thermometer ] serving\n']);
});

test('under journald (JOURNAL_STREAM set) text lines carry no time but a syslog priority; json lines keep their time and no prefix', () => {
  const env = { JOURNAL_STREAM: '8:12345' };
  const text = capture({ env, level: 'debug' });
  text.log.error('e');
  text.log.warn('w');
  text.log.info('i');
  text.log.debug('d');
  assert.equal(text.lines, ['<3>[ Thermometer ] e\n', '<4>[ Thermometer ] w\n', '<6>[ Thermometer ] i\n', '<7>[ Thermometer ] d\n']);
  const json = capture({ env, format: 'json' });
  json.log.info('i');
  assert.is((JSON.parse(json.lines[0]!) as LogRecord).time, '2026-11-22T03:30:00.125Z');
  assert.ok(json.lines[0]!.startsWith('{'));
});

test('logTimes: yes in a pipe, no on a terminal, no under journald', () => {
  assert.is(logTimes({ write: () => true, isTTY: false }, {}), true);
  assert.is(logTimes({ write: () => true, isTTY: true }, {}), false);
  assert.is(logTimes({ write: () => true }, { JOURNAL_STREAM: '8:1' }), false);
});

test('name and label functions are read at each line (a renamed sketch logs under its new name)', () => {
  let name = 'iopin';
  const lines: string[] = [];
  const log = createLogger({ format: 'json', name: () => name, stream: { write: (s) => lines.push(s) }, clock: () => T });
  log.info('a');
  name = 'iopin (2)';
  log.info('b');
  assert.equal(lines.map((l) => (JSON.parse(l) as LogRecord).sketch), ['iopin', 'iopin (2)']);
});

test('an unknown format or level is refused with a TypeError naming the choices', () => {
  assert.throws(() => createLogger({ format: 'xml' as never }), /log format must be one of text, json, got "xml"/);
  assert.throws(() => createLogger({ level: 'trace' as never }), /log level must be one of error, warn, info, debug, got "trace"/);
});

test('a Sketch writes out() at info and this.log.debug() only at level debug, through SketchConfig.logging', () => {
  class Probe extends Sketch {}
  const lines: string[] = [];
  const stream = { write: (s: string) => lines.push(s) };
  const quiet = new Probe({ discovery: false, logging: { stream, format: 'json', clock: () => T } });
  quiet.out('hello');
  quiet.log.debug('chatter');
  const verbose = new Probe({ discovery: false, logging: { stream, format: 'json', level: 'debug', clock: () => T } });
  verbose.log.debug('chatter');
  assert.equal(
    lines.map((l) => JSON.parse(l) as LogRecord),
    [
      { time: '2026-11-22T03:30:00.125Z', sketch: 'probe', level: 'info', message: 'hello' },
      { time: '2026-11-22T03:30:00.125Z', sketch: 'probe', level: 'debug', message: 'chatter' },
    ],
  );
});

test('SketchConfig.log still gets "[ Label ] text" lines, without time or newline', () => {
  class Probe extends Sketch {}
  const lines: string[] = [];
  const s = new Probe({ discovery: false, log: (l) => lines.push(l) });
  s.out('hello');
  s.log.warn('careful');
  assert.equal(lines, ['[ Probe ] hello', '[ Probe ] careful']);
});

/** Runs `fn` with process.stdout.write recording its chunks (and writing nothing); restores it before returning. */
async function recordingStdout(fn: (writes: string[]) => Promise<void>): Promise<string[]> {
  const writes: string[] = [];
  const real = process.stdout.write;
  process.stdout.write = ((chunk: string, cb?: (err?: Error | null) => void) => {
    writes.push(String(chunk));
    cb?.(null);
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn(writes);
  } finally {
    process.stdout.write = real;
  }
  return writes;
}

test('the default stream writes each line to stdout at once, before log() returns, in order across loggers', async () => {
  const writes = await recordingStdout(async (w) => {
    const a = createLogger({ env: {}, time: false, label: 'A' });
    const b = createLogger({ env: {}, time: false, label: 'B' });
    a.info('one');
    assert.equal(w, ['[ A ] one\n'], 'out before the next statement (a loop\'s line precedes its acknowledgement)');
    b.info('two');
    a.warn('three');
  });
  assert.equal(writes, ['[ A ] one\n', '[ B ] two\n', '[ A ] three\n']);
  assert.is(stdoutLines().isTTY, process.stdout.isTTY);
});

const LOG_MODULE = fileURLToPath(new URL('../dist/runtime/log.js', import.meta.url));

test('lines logged right before process.exit() are written', () => {
  const script = `import { createLogger } from ${JSON.stringify(LOG_MODULE)}; const l = createLogger({ time: false, label: 'X' }); l.info('a'); l.warn('b'); process.exit(3);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.is(r.status, 3, r.stderr);
  assert.is(r.stdout, '[ X ] a\n[ X ] b\n');
});

test('a reader that goes away (EPIPE) crashes nothing: `sketch run … | head`', async () => {
  const script = `import { createLogger } from ${JSON.stringify(LOG_MODULE)}; const l = createLogger({ time: false, label: 'X' }); let i = 0; const go = () => { l.info('line ' + i++); if (i < 400) setTimeout(go, 1); }; go();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy(); // as head does after its lines
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.is(code, 0, stderr);
  assert.not.match(stderr, /EPIPE|Error/);
});

test.run();

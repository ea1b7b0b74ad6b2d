import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { childLogArgs } from './log-options.js';

const SKETCH_BIN = fileURLToPath(new URL('./sketch.cjs', import.meta.url));

interface DemoArgs {
  tacks: number;
  delay: number;
  gpio: 'auto' | 'sysfs' | 'virtual';
  dashboard: boolean;
  port: number;
}

/**
 * `sketch demo`: the main job end to end, each sketch a separate process. Starts
 * `sketch run buzzer` and `sketch run iopin --to buzzer` and, once both are announced,
 * `sketch run clock`; they find each other over mDNS and every tick travels clock → iopin →
 * buzzer with an acknowledgement at each hop. Exits with the clock's status after stopping the others.
 *
 * With `--dashboard`: the same circuit with a clock that ticks until stopped, plus a simulated
 * thermometer, a recorder on a temporary database and the dashboard on `--port` (default
 * 8080); prints the dashboard's URL and runs until Ctrl-C (SIGINT) or SIGTERM, then stops every
 * sketch and deletes the database.
 */
export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'run the circuit clock → iopin → buzzer as separate processes over mDNS + WebSocket',
  builder: (y) =>
    y
      .option('tacks', { type: 'number', default: 5, requiresArg: true, describe: 'ticks the clock sends' })
      .option('delay', { type: 'number', default: 1, requiresArg: true, describe: 'seconds between ticks' })
      .option('gpio', { choices: ['auto', 'sysfs', 'virtual'] as const, default: 'auto' as const, describe: "the buzzer's GPIO backend" })
      .option('dashboard', { type: 'boolean', default: false, describe: 'also a simulated thermometer, a recorder (temporary database) and the dashboard; runs until Ctrl-C' })
      .option('port', { type: 'number', default: 8080, requiresArg: true, describe: "the dashboard's port (with --dashboard)" }),
  handler: async (argv) => {
    if (argv.dashboard) return dashboardDemo(argv);
    // The whole circuit: clock → iopin → buzzer (virtual GPIO where there is no hardware).
    const buzzer = start(['run', 'buzzer', '--gpio', argv.gpio]);
    const iopin = start(['run', 'iopin', '--to', 'buzzer']);
    const servers = [buzzer, iopin];
    const children = [...servers];
    const stop = stopOnSignals(children); // a signal: every child stopped, newest first, exit 0
    try {
      await Promise.all(servers.map((c) => waitForLine(c, /announced as/, 10_000)));
    } catch (err) {
      if (stop.stopping) return; // the signal handler exits
      console.error(`sketch demo: ${(err as Error).message}`);
      await stop.all();
      process.exit(1);
    }
    if (stop.stopping) return;
    const clock = start(['run', 'clock', '--tacks', String(argv.tacks), '--delay', String(argv.delay)]);
    children.push(clock);
    const code = await new Promise<number>((r) => clock.once('exit', (c) => r(c ?? 1)));
    if (stop.stopping) return;
    await stop.all();
    process.exit(code);
  },
};

/** `sketch demo --dashboard`: every sketch at once, until Ctrl-C. */
async function dashboardDemo(argv: DemoArgs): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-demo-'));
  const children = [
    start(['run', 'buzzer', '--gpio', argv.gpio]),
    start(['run', 'iopin', '--to', 'buzzer']),
    start(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.5']),
    start(['run', 'recorder', '--db', path.join(dir, 'demo.db')]),
    start(['run', 'dashboard', '--port', String(argv.port)]),
  ];
  // A signal: every child stopped, newest first, the database deleted, exit 0.
  const stop = stopOnSignals(children, () => rmSync(dir, { recursive: true, force: true }));
  try {
    await Promise.all(children.map((c) => waitForLine(c, /announced as/, 15_000)));
    if (stop.stopping) return;
    children.push(start(['run', 'clock', '--tacks', String(Number.MAX_SAFE_INTEGER), '--delay', String(argv.delay)]));
    console.log(`sketch demo: the dashboard is at http://localhost:${argv.port}/ (Ctrl-C stops every sketch)`);
  } catch (err) {
    if (stop.stopping) return;
    console.error(`sketch demo: ${(err as Error).message}`);
  }
  // Any sketch ending on its own ends the demo: the others are stopped too.
  await Promise.race(children.map((c) => new Promise((r) => (running(c) ? c.once('exit', r) : r(null)))));
  if (stop.stopping) return;
  await stop.all();
  process.exit(1);
}

/**
 * How long `sketch demo` stops its children one by one after a signal, in ms; then those left get
 * {@link DEMO_STOP_GRACE_MS} together before SIGKILL (see {@link stopInReverse}): under 2 s in all.
 */
export const DEMO_STOP_DEADLINE_MS = 1500;

/** What {@link stopOnSignals} gives back. */
interface Stopper {
  /** Whether a signal came: its handler stops the children and exits 0. */
  readonly stopping: boolean;
  /** Stops every child still running, newest first (see {@link stopInReverse}); runs `cleanup`. Once. */
  all(): Promise<void>;
}

/**
 * SIGINT/SIGTERM of the demo itself (`kill PID`, not only Ctrl-C, which the terminal sends to
 * every child too): sends SIGTERM to each child in reverse start order, waiting for each to
 * exit before the next, so the clock stops before the peer it talks to; then runs `cleanup` and
 * exits 0. `children` may grow after the call (the clock starts last). Further signals while
 * stopping are ignored (the handlers stay installed, so a second Ctrl-C cannot orphan a child).
 */
function stopOnSignals(children: ChildProcess[], cleanup: () => void = () => {}): Stopper {
  let stopping = false;
  let done: Promise<void> | undefined;
  const all = () =>
    (done ??= stopInReverse(children, DEMO_STOP_DEADLINE_MS).then(cleanup, (err) => {
      cleanup();
      throw err;
    }));
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    all().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    get stopping() {
      return stopping;
    },
    all,
  };
}

/** Whether `child` has not exited yet. */
const running = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** After {@link DEMO_STOP_DEADLINE_MS}: how long the children not stopped yet get, all at once, before SIGKILL, in ms. */
export const DEMO_STOP_GRACE_MS = 250;

/** Resolves true when `p` settles within `ms`, else false. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
  const inTime = await Promise.race([p.then(() => true), late]);
  clearTimeout(timer);
  return inTime;
}

/**
 * Stops `children` newest first: SIGTERM to each running one, waiting for it to close before
 * the next (its last lines forwarded first). When one is still running `deadlineMs` after the
 * start, it and every older one still running get SIGTERM at once and `graceMs` more; whatever
 * runs then is killed (SIGKILL — a buzzer's GPIO guardian turns its pin off), one line each.
 * Resolves once all have closed: within `deadlineMs + graceMs` and a few ms.
 */
export async function stopInReverse(children: ChildProcess[], deadlineMs: number, graceMs = DEMO_STOP_GRACE_MS): Promise<void> {
  const until = Date.now() + deadlineMs;
  const order = [...children].reverse();
  // 'close', not 'exit': a child's stdio is drained (its last lines forwarded) when it fires.
  const closed = (c: ChildProcess) => new Promise<void>((r) => c.once('close', () => r()));
  for (let i = 0; i < order.length; i++) {
    const child = order[i]!;
    if (!running(child)) continue;
    const done = closed(child);
    child.kill('SIGTERM');
    if (await within(done, until - Date.now())) continue;
    const rest = order.slice(i).filter(running);
    const allDone = Promise.all(rest.map(closed));
    for (const c of rest.slice(1)) c.kill('SIGTERM');
    if (await within(allDone, graceMs)) return;
    for (const c of rest.filter(running)) {
      console.error(`sketch demo: ${c.spawnargs.slice(2, 4).join(' ')} did not stop within ${deadlineMs} ms: killed`);
      c.kill('SIGKILL');
    }
    await allDone;
    return;
  }
}

function start(args: string[]): ChildProcess {
  // Times on the children's lines only if the demo's own stdout wants them (not on a terminal).
  const child = spawn(process.execPath, [SKETCH_BIN, ...args, ...childLogArgs()], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => process.stdout.write(chunk));
  return child;
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${child.spawnargs[3]} did not announce itself within ${timeout / 1000} s`)), timeout);
    const onData = (chunk: string) => {
      seen += chunk;
      if (!pattern.test(seen)) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve();
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${child.spawnargs[3]} exited (${code}) before announcing itself`));
    });
  });
}

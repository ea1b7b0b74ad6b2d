import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';

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
    const stopAll = () => servers.forEach((c) => c.kill('SIGTERM'));
    process.once('SIGINT', stopAll);
    process.once('SIGTERM', stopAll);
    try {
      await Promise.all(servers.map((c) => waitForLine(c, /announced as/, 10_000)));
    } catch (err) {
      console.error(`sketch demo: ${(err as Error).message}`);
      stopAll();
      process.exit(1);
    }
    const clock = start(['run', 'clock', '--tacks', String(argv.tacks), '--delay', String(argv.delay)]);
    const code = await new Promise<number>((r) => clock.once('exit', (c) => r(c ?? 1)));
    stopAll();
    await Promise.all(servers.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))));
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
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    children.forEach((c) => c.exitCode === null && c.kill('SIGTERM'));
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  try {
    await Promise.all(children.map((c) => waitForLine(c, /announced as/, 15_000)));
    children.push(start(['run', 'clock', '--tacks', String(Number.MAX_SAFE_INTEGER), '--delay', String(argv.delay)]));
    console.log(`sketch demo: the dashboard is at http://localhost:${argv.port}/ (Ctrl-C stops every sketch)`);
  } catch (err) {
    if (!stopping) console.error(`sketch demo: ${(err as Error).message}`);
    stopAll();
  }
  // Any sketch ending on its own ends the demo: the others are stopped too.
  await Promise.race(children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))));
  const failed = !stopping;
  stopAll();
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode === null ? c.once('exit', r) : r(null)))));
  rmSync(dir, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
}

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [SKETCH_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
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

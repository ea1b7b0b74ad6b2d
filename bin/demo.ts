import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';

const SKETCH_BIN = fileURLToPath(new URL('./sketch.js', import.meta.url));

interface DemoArgs {
  tacks: number;
  delay: number;
}

/**
 * `sketch demo`: the main job end to end. Starts `sketch run iopin` and, once it is
 * announced, `sketch run clock` in separate processes; they find each other over mDNS and
 * exchange acknowledged ticks. Exits with the clock's status after stopping the iopin.
 */
export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'run an iopin and a clock as separate processes talking over mDNS + WebSocket',
  builder: (y) =>
    y
      .option('tacks', { type: 'number', default: 5, requiresArg: true, describe: 'ticks the clock sends' })
      .option('delay', { type: 'number', default: 1, requiresArg: true, describe: 'seconds between ticks' }),
  handler: async (argv) => {
    const iopin = start(['run', 'iopin']);
    const stopAll = () => iopin.kill('SIGTERM');
    process.once('SIGINT', stopAll);
    process.once('SIGTERM', stopAll);
    try {
      await waitForLine(iopin, /announced as/, 10_000);
    } catch (err) {
      console.error(`sketch demo: ${(err as Error).message}`);
      iopin.kill('SIGTERM');
      process.exit(1);
    }
    const clock = start(['run', 'clock', '--tacks', String(argv.tacks), '--delay', String(argv.delay)]);
    const code = await new Promise<number>((r) => clock.once('exit', (c) => r(c ?? 1)));
    iopin.kill('SIGTERM');
    await new Promise((r) => iopin.once('exit', r));
    process.exit(code);
  },
};

function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [SKETCH_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => process.stdout.write(chunk));
  return child;
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeout: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`iopin did not start within ${timeout / 1000} s`)), timeout);
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
      reject(new Error(`iopin exited (${code}) before serving`));
    });
  });
}

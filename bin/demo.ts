import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandModule } from 'yargs';
import type { SketchHost } from '../runtime/index.js';
import { loggingOptions } from './log-options.js';
import { hostDevice, prepareInMemory } from './up.js';

interface DemoArgs {
  tacks: number;
  delay: number;
  gpio: 'auto' | 'sysfs' | 'virtual';
  dashboard: boolean;
  port: number;
}

/** How long `sketch demo --dashboard` waits for its sketches to be announced before it says where the dashboard is, in ms. */
const ANNOUNCE_WAIT_MS = 15_000;

/** How long the demo's iopin holds each bit (its `--bit-ms`), in ms: long enough to hear each 1. */
const DEMO_BIT_MS = 100;

/** Printed as the demo starts: the held bits, and where to watch the buzzer's pin. */
const PIN_HINT = `sketch demo: the iopin holds each bit ${DEMO_BIT_MS} ms (--bit-ms); "sketch tap buzzer/pin" in another terminal shows each change of the buzzer's pin`;

/**
 * `sketch demo`: the main job end to end, as `sketch up` runs a device file (one process, each
 * sketch on its own port with its own mDNS announcement, talking through its real server):
 * `buzzer`, `iopin --to buzzer` and `clock`; they find each other over mDNS and every tick
 * travels clock → iopin → buzzer with an acknowledgement at each hop, each bit held
 * {@link DEMO_BIT_MS} ms, the buzzer's pin on its `/pin` stream. Exits with the clock's
 * status (0 once its ticks are acknowledged; 1 when it, or any sketch, fails) after stopping the
 * others. SIGINT/SIGTERM: every sketch stopped, newest first (clock, iopin, buzzer), exit 0.
 *
 * With `--dashboard`: the same circuit with a clock that ticks until stopped, plus a simulated
 * thermometer, a recorder on a temporary database and the dashboard on `--port` (default
 * 8080); prints the dashboard's URL and runs until Ctrl-C (SIGINT) or SIGTERM, then stops every
 * sketch and deletes the database.
 */
export const demoCommand: CommandModule<object, DemoArgs> = {
  builder: (y) =>
    y
      .option('tacks', { type: 'number', default: 5, requiresArg: true, describe: 'ticks the clock sends' })
      .option('delay', { type: 'number', default: 1, requiresArg: true, describe: 'seconds between ticks' })
      .option('gpio', { choices: ['auto', 'sysfs', 'virtual'] as const, default: 'auto' as const, describe: "the buzzer's GPIO backend" })
      .option('dashboard', { type: 'boolean', default: false, describe: 'also a simulated thermometer, a recorder (temporary database) and the dashboard; runs until Ctrl-C' })
      .option('port', { type: 'number', default: 8080, requiresArg: true, describe: "the dashboard's port (with --dashboard)" }),
  handler: async (argv) => {
    if (argv.dashboard) return dashboardDemo(argv);
    const logging = loggingOptions({});
    // The whole circuit: clock → iopin → buzzer (virtual GPIO where there is no hardware).
    const device = {
      sketches: [
        { kind: 'buzzer', gpio: argv.gpio },
        { kind: 'iopin', to: 'buzzer', bitMs: DEMO_BIT_MS },
        { kind: 'clock', tacks: argv.tacks, delay: argv.delay },
      ],
    };
    const run = hostDevice(await prepareInMemory(JSON.stringify(device, null, 2), 'sketch demo', logging), { restart: 'no', logging });
    console.log(PIN_HINT);
    // The clock's end is the demo's; any sketch failing ends it too.
    run.host.on('state', (name, state) => {
      if (run.stopping) return;
      if (state === 'failed') void run.finish(1);
      else if (name === 'clock' && state === 'stopped') void run.finish(0);
    });
    await run.host.start();
  },
};

/** `sketch demo --dashboard`: every sketch at once, until Ctrl-C. */
async function dashboardDemo(argv: DemoArgs): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-demo-'));
  const logging = loggingOptions({});
  const device = {
    sketches: [
      { kind: 'buzzer', gpio: argv.gpio },
      { kind: 'iopin', to: 'buzzer', bitMs: DEMO_BIT_MS },
      { kind: 'thermometer', sensor: 'simulated', interval: 0.5 },
      { kind: 'recorder', db: path.join(dir, 'demo.db') },
      { kind: 'dashboard', port: argv.port },
      { kind: 'clock', tacks: Number.MAX_SAFE_INTEGER, delay: argv.delay },
    ],
  };
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let hosted;
  try {
    hosted = await prepareInMemory(JSON.stringify(device, null, 2), 'sketch demo', logging);
  } finally {
    if (!hosted) cleanup();
  }
  // A signal: every sketch stopped, newest first, the database deleted, exit 0.
  const run = hostDevice(hosted, { restart: 'no', logging, cleanup });
  // Any sketch ending on its own ends the demo: the others are stopped too.
  run.host.on('state', (_name, state) => {
    if (!run.stopping && (state === 'stopped' || state === 'failed')) void run.finish(1);
  });
  const done = run.host.start();
  if (await announced(run.host, ['buzzer', 'iopin', 'thermometer', 'recorder', 'dashboard'], ANNOUNCE_WAIT_MS)) {
    console.log(`sketch demo: the dashboard is at http://localhost:${argv.port}/ (Ctrl-C stops every sketch)`);
    console.log(PIN_HINT);
  } else if (!run.stopping) console.error(`sketch demo: not every sketch was announced within ${ANNOUNCE_WAIT_MS / 1000} s`);
  await done;
}

/** Resolves true once every sketch in `names` runs and is announced (or serves unannounced), false after `timeoutMs` or when one ended. */
async function announced(host: SketchHost, names: string[], timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const state = host.state(name);
      if (state === 'running') break;
      if (state === 'stopped' || state === 'failed' || Date.now() > until) return false;
      await sleep(50);
    }
    await host.sketch(name)?.announced;
  }
  return true;
}

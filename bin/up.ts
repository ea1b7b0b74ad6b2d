import type { Argv, CommandModule } from 'yargs';
import { ERROR_CODES, SketchHost, type HostedSketch, type Logger, type RestartPolicy, type SketchConfig } from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import { RESTART_POLICIES } from '../runtime/host.js';
import { createLogger } from '../runtime/log.js';
import { releaseAllPins } from '../runtime/hardware/safe-state.js';
import { checkDeviceText, DEVICE_FILE, readDeviceFile, type Device, type DeviceFileOptions } from './device-file.js';
import { LOG_OPTIONS, loggingOptions } from './log-options.js';
import { loopWarning } from './loop-warning.js';
import { sketchConfig, STOP_DEADLINE_MS } from './run.js';
import { loadSketch } from './load-sketch.js';
import { SketchWatcher } from '../runtime/watch.js';
import { SketchServer } from '../runtime/net/sketch-server.js';
import { PushReceiver } from '../runtime/push.js';
import type { Sketch } from '../runtime/sketch.js';
import path from 'node:path';

interface UpArgs {
  file?: string;
  check: boolean;
  watch: boolean;
  'accept-push': boolean;
  restart: RestartPolicy;
}

/**
 * `sketch up [FILE] [--check] [--restart no|on-failure] [--watch] [--accept-push] [log options]`:
 * every sketch of the device file (default `sketchnet.yaml`) in one process, each on its own port
 * with its own mDNS announcement (see docs/API.md, "Several sketches in one process: sketch up").
 * Each starts the version pushed last (`sketch push`), when there is one; `--accept-push` takes
 * pushes (runtime/push.ts).
 */
export const upCommand: CommandModule<object, UpArgs> = {
  builder: (y) =>
    (y as Argv<object>)
      .positional('file', { type: 'string', describe: `the device file (YAML or JSON; default ./${DEVICE_FILE})` })
      .option('check', { type: 'boolean', default: false, describe: 'check the file (one line per problem) and exit: 0 when it is good, 1 otherwise' })
      .option('watch', { type: 'boolean', default: false, describe: 'reload each sketch file in place when it is saved: ports, mDNS names, streams and every connection stay' })
      .option('accept-push', { type: 'boolean', default: false, describe: 'let "sketch push" replace its sketches (admin keys only, over TLS or loopback), in place, with a rollback when the new version fails' })
      .option('restart', {
        choices: RESTART_POLICIES,
        default: 'no' as RestartPolicy,
        describe: 'on-failure: start a failed sketch again after 1 s, doubling to 30 s (reset after it ran 60 s); no: leave it stopped',
      })
      .options(LOG_OPTIONS)
      .conflicts('quiet', 'verbose') as unknown as Argv<UpArgs>,
  handler: async (argv) => {
    const file = argv.file ?? DEVICE_FILE;
    const logging = loggingOptions(argv as unknown as Record<string, unknown>);
    const prepared = await prepareDevice(await readDeviceFile(file), logging);
    if (!prepared.ok) refuse(prepared.problems);
    if (argv.check) {
      console.log(`${file}: ${prepared.hosted.length} sketch${prepared.hosted.length === 1 ? '' : 'es'} OK`);
      process.exit(0);
    }
    let pushes: ((sketch: Sketch, name: string) => void) | undefined;
    const host = hostDevice(prepared.hosted, { restart: argv.restart, logging, started: (sketch, name) => pushes?.(sketch, name) });
    pushes = await pushedVersions(prepared.device, prepared.hosted, host, argv['accept-push']);
    if (argv.watch) watchDevice(prepared.device, prepared.hosted, host);
    const code = (await host.host.start()).failed ? 1 : 0;
    await host.finish(code);
  },
};

/** `sketch up --watch`: a watcher per sketch file of the device (built-ins have none), reloading through the host. */
function watchDevice(device: Device, hosted: HostedSketch[], up: HostedDevice): void {
  for (const s of device.sketches) {
    if (!path.isAbsolute(s.spec)) continue;
    const config = hosted.find((h) => h.name === s.name)?.config ?? {};
    up.log.info(`watching ${path.relative(device.dir, s.spec) || s.spec} (${s.name}): saving it reloads the sketch in place`);
    new SketchWatcher({
      file: s.spec,
      load: (version) => loadSketch(s.spec, version),
      config,
      log: { info: (line) => up.log.info(`${s.name}: ${line}`), warn: (line) => up.log.warn(`${s.name}: ${line}`) },
      swap: (next) => up.host.reload(s.name, next),
    });
  }
}

/** Probation of a pushed version, ms, when set (for tests): `SKETCH_PUSH_PROBATION_MS`; default `PUSH_PROBATION_MS` (10 000). */
const probationMs = (): number | undefined => {
  const v = Number(process.env.SKETCH_PUSH_PROBATION_MS);
  return process.env.SKETCH_PUSH_PROBATION_MS && Number.isFinite(v) && v >= 0 ? v : undefined;
};

/**
 * Pushed versions (runtime/push.ts): each sketch starts (and restarts) the version pushed last,
 * when there is one; with `accept` (`--accept-push`) each server also takes pushes and rollbacks.
 * Returns what to do with each sketch once it listens: its routes and its status's `code`.
 */
async function pushedVersions(device: Device, hosted: HostedSketch[], up: HostedDevice, accept: boolean): Promise<(sketch: Sketch, name: string) => void> {
  const receiver = new PushReceiver({
    dir: device.dir,
    host: { reload: (...args) => up.host.reload(...args) },
    load: (file, version) => loadSketch(file, version),
    probationMs: probationMs(),
    log: (level, line) => up.log.write(level, line),
  });
  for (const s of device.sketches) {
    const h = hosted.find((x) => x.name === s.name)!;
    receiver.add(s.name, s.cls, path.isAbsolute(s.spec) ? path.basename(s.spec) : s.spec);
    await receiver.restore(s.name);
    h.create = () => new (receiver.classOf(s.name))(h.config ?? {}); // a restart builds the version pushed last
    if (accept && !h.config?.keys?.some((k) => k.right === 'admin')) {
      up.log.warn(`${s.name}: no admin key in its key file: pushes to it are refused (sketch key new --admin >> KEYFILE)`);
    }
  }
  return (sketch, name) => {
    const server = SketchServer.of(sketch);
    server.addStatus('code', () => receiver.code(name));
    if (accept) server.addRoutes(receiver.routes(name));
  };
}

/** Prints each problem line on stderr and exits with `SKETCH_ERR_DEVICE_FILE`'s status (1). */
function refuse(problems: readonly string[]): never {
  for (const line of problems) console.error(line);
  process.exit(ERROR_CODES.SKETCH_ERR_DEVICE_FILE);
}

/**
 * The sketches of a checked device file, ready for a {@link SketchHost}: each entry's config
 * built as `sketch run` builds it (files it names read now: a bad key file refuses the start,
 * not one sketch of it). Relative paths in the file resolve against its folder: this changes the
 * process's working directory to it.
 */
export async function prepareDevice(
  result: Awaited<ReturnType<typeof readDeviceFile>>,
  logging: SketchConfig['logging'],
): Promise<{ ok: true; device: Device; hosted: HostedSketch[] } | { ok: false; problems: string[] }> {
  if (!result.ok) return result;
  const { device } = result;
  process.chdir(device.dir);
  const problems: string[] = [];
  const hosted: HostedSketch[] = [];
  for (const s of device.sketches) {
    try {
      const { config, listen } = await sketchConfig(s.cls, s.argv, logging);
      hosted.push({ name: s.name, listen, config, create: () => new s.cls(config) });
    } catch (err) {
      problems.push(`${device.file}:${s.line}: ${s.where}: ${oneLine(err)}`);
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, device, hosted };
}

/**
 * The sketches of a device described in memory (`sketch demo`): `text` is the device file's
 * content (JSON is YAML), checked and prepared as `sketch up` does; a problem exits as there.
 */
export async function prepareInMemory(text: string, label: string, logging: SketchConfig['logging'], options?: DeviceFileOptions): Promise<HostedSketch[]> {
  // `label` stands for the file name in problem lines; relative paths start at the current folder.
  const prepared = await prepareDevice(await checkDeviceText(text, label, options), logging);
  if (!prepared.ok) refuse(prepared.problems);
  return prepared.hosted;
}

/** What {@link hostDevice} gives back. */
export interface HostedDevice {
  host: SketchHost;
  /** The host's own lines (`[ sketch up ] clock: finished`). */
  log: Logger;
  /** Whether a signal came (its handler stops every sketch and exits 0). */
  readonly stopping: boolean;
  /** Stops every sketch (newest first), runs the cleanup, exits with `code`. */
  finish(code: number): Promise<never>;
}

/**
 * Starts nothing yet: a {@link SketchHost} for `hosted`, with the process hooks of `sketch up`.
 * SIGINT/SIGTERM/SIGHUP: GPIO outputs inactive first (`releaseAllPins`), every sketch closed
 * (1001, mDNS goodbye), exit 0, or anyway after {@link STOP_DEADLINE_MS}. An uncaught exception or
 * unhandled rejection from a sketch's code fails that sketch alone; one that belongs to none
 * stops every sketch (outputs inactive first) and exits 1 with one line. `cleanup` runs before
 * any exit.
 */
export function hostDevice(
  hosted: HostedSketch[],
  options: { restart: RestartPolicy; logging: SketchConfig['logging']; cleanup?: () => void; started?: (sketch: Sketch, name: string) => void },
): HostedDevice {
  const log = createLogger({ ...options.logging, name: 'sketch up', label: 'sketch up' });
  const host = new SketchHost(hosted, {
    restart: options.restart,
    log: (level, line) => log.write(level, line),
    started: (sketch, name) => {
      const notReactive = loopWarning(sketch); // else every `sketch send` to it waits in vain
      if (notReactive) sketch.log.warn(notReactive);
      options.started?.(sketch, name);
    },
  });
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    options.cleanup?.();
  };
  let stopping = false;
  const stopAll = (why: string | undefined, code: number): Promise<never> => {
    stopping = true;
    releaseAllPins(); // outputs inactive first, whatever happens next
    setTimeout(() => {
      log.warn(`did not stop within ${STOP_DEADLINE_MS} ms: exiting anyway`);
      cleanup();
      process.exit(code);
    }, STOP_DEADLINE_MS).unref();
    return host.stop(why).then(
      () => {
        cleanup();
        process.exit(code);
      },
      () => {
        cleanup();
        process.exit(code);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    void stopAll(`${signal}: stopping`, 0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  process.on('exit', () => releaseAllPins());
  process.on('uncaughtException', (err, origin) => {
    const owner = host.owner();
    if (owner !== undefined && host.fail(owner, err)) return; // that sketch alone stops (or restarts)
    releaseAllPins();
    const what = origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception';
    log.error(`${what} outside any sketch: ${oneLine(err)}: stopping every sketch`);
    if (!stopping) void stopAll(undefined, 1);
  });
  return {
    host,
    log,
    get stopping() {
      return stopping;
    },
    finish: (code) => (stopping ? new Promise<never>(() => {}) : stopAll(undefined, code)),
  };
}

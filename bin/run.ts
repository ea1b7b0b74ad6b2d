import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { oneLine } from '../runtime/errors.js';
import {
  errors,
  loadKeyFile,
  loadTlsIdentity,
  resolveOptions,
  type ListenOptions,
  type Sketch,
  type SketchClass,
  type SketchConfig,
} from '../runtime/index.js';
import { parsePeerAddress } from '../runtime/net/address.js';
import { parseOrigins } from '../runtime/security/origin.js';
import { installSafeState, releaseAllPins } from '../runtime/hardware/safe-state.js';
import { resolveOtlp } from '../runtime/net/otlp.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity, COMMON_RUN_OPTIONS, pick, SERVER_SECURITY_OPTIONS, TRACE_OPTIONS, yargsOptions } from './cli-options.js';
import { takeEarlyDiscovery } from './early-probe.js';
import { die } from './fail.js';
import { LOG_OPTIONS, loggingOptions } from './log-options.js';
import { BROKER_OPTIONS, brokerOptions, brokerUrl, HA_OPTION } from './broker-options.js';
import { builtinNames, loadSketch } from './load-sketch.js';
import { SketchWatcher } from '../runtime/watch.js';
import { loopWarning } from './loop-warning.js';

/** Longest a graceful stop may take after SIGINT/SIGTERM before the process exits anyway, in ms. */
export const STOP_DEADLINE_MS = 2000;

/**
 * `sketch run <sketch> [options]`. `cls` is the sketch class, loaded before parsing so that
 * its own options become flags (and show in `--help`); undefined when no sketch was named.
 */
export function runCommand(cls: SketchClass | undefined): CommandModule {
  return {
    builder: (y: Argv) => {
      y.positional('sketch', { type: 'string', describe: 'built-in sketch name or path to a sketch file' });
      const common = yargsOptions(COMMON_RUN_OPTIONS, 'Common options:');
      if (cls?.defaultTo) common.to = { ...common.to, default: cls.defaultTo };
      y.options(common);
      y.options({ ...SERVER_SECURITY_OPTIONS, ...CLIENT_SECURITY_OPTIONS });
      y.options({ ...BROKER_OPTIONS, ...HA_OPTION });
      y.options(TRACE_OPTIONS);
      y.option('watch', { type: 'boolean', default: false, describe: 'reload the sketch file in place when it is saved: the port, mDNS name, streams and every connection stay' });
      y.options(LOG_OPTIONS).conflicts('quiet', 'verbose');
      if (cls) {
        const title = `${cls.name} options${cls.description ? ` (${cls.description})` : ''}:`;
        y.options(yargsOptions(cls.options ?? {}, title));
      }
      // Bad values: one line plus a hint, exit 2 (through the parser's fail handler).
      return y.check((argv) => checkRunOptions(cls, argv));
    },
    handler: async (argv) => {
      if (!cls) die(errors.UNKNOWN_SKETCH(String(argv.sketch), builtinNames()));
      installSafeState(); // GPIO outputs go inactive on signals, crashes and exit
      const { config, listen } = await sketchConfig(cls, argv, loggingOptions(argv)).catch(die);
      if (argv.watch && builtinNames().includes(String(argv.sketch))) die(errors.INVALID_OPTION(`--watch needs a sketch file, not the built-in "${String(argv.sketch)}"`));
      const sketch = new cls(config);
      let watcher: SketchWatcher | undefined;
      stopOnSignals(() => watcher?.current ?? sketch);
      try {
        await sketch.run(listen);
        const notReactive = loopWarning(sketch); // else every `sketch send` to it waits in vain
        if (notReactive) sketch.log.warn(notReactive);
        if (argv.watch) watcher = watchFile(sketch, String(argv.sketch), config);
        if (!sketch.main) return; // serve until a signal
        await sketch.main();
      } catch (err) {
        if (sketch.signal.aborted) return; // stopped by a signal (stopOnSignals exits 0) or reloaded
        await sketch.close().catch(() => {});
        die(err);
      }
      if (watcher) return; // serve on: a later version runs its own main()
      await sketch.close();
      process.exit(0);
    },
  };
}

/**
 * Checks `sketch run`'s options as parsed (`argv`: yargs' keys, kebab-case and camelCase) for
 * the sketch class `cls` (its own options too, when given): the checks `sketch run` makes before
 * starting anything, and `sketch up` makes for every entry of a device file.
 * @returns true.
 * @throws SketchError `SKETCH_ERR_INVALID_OPTION` (a bad value, or options that go together
 *   given alone), `SKETCH_ERR_BROKER_URL`.
 */
export function checkRunOptions(cls: SketchClass | undefined, argv: Record<string, unknown>): true {
  resolveOptions(COMMON_RUN_OPTIONS, pick(COMMON_RUN_OPTIONS, argv));
  if (typeof argv.to === 'string') parsePeerAddress(argv.to); // HOST:PORT, http://…, NAME.local
  if (cls) resolveOptions(cls.options ?? {}, pick(cls.options ?? {}, argv));
  parseOrigins((argv['allow-origin'] as string[] | undefined) ?? []);
  if (argv['ha-discovery'] && !brokerUrl(argv)) throw errors.INVALID_OPTION('--ha-discovery publishes to a broker: give --broker URL (or set SKETCH_BROKER)');
  if ((argv['tls-cert'] === undefined) !== (argv['tls-key'] === undefined)) {
    throw errors.INVALID_OPTION('--tls-cert and --tls-key go together: give both, or neither');
  }
  const spans = argv.spans;
  if (spans !== undefined && !(typeof spans === 'number' && Number.isSafeInteger(spans) && spans >= 1)) throw errors.INVALID_OPTION(`--spans must be a whole number of spans ≥ 1, got ${JSON.stringify(spans)}`);
  const rate = argv['trace-rate'];
  if (rate !== undefined && !(typeof rate === 'number' && rate >= 0)) throw errors.INVALID_OPTION(`--trace-rate must be a number of traces per second ≥ 0, got ${JSON.stringify(rate)}`);
  if (argv.otlp !== undefined) {
    if (argv.trace === false) throw errors.INVALID_OPTION('--otlp exports spans, which --no-trace turns off: give one or the other');
    resolveOtlp({ endpoint: String(argv.otlp) }, {}); // an http(s) URL
  }
  return true;
}

/**
 * What `sketch run` builds a sketch from: the `SketchConfig` for `new cls(config)` and where
 * `run(listen)` listens, from options checked by {@link checkRunOptions} (`argv` as there). Reads
 * the files named (`--key-file`, `--tls-cert`/`--tls-key`, `--ca`, `--broker-ca`).
 * Span export (`--otlp`, else the `OTEL_EXPORTER_OTLP_*` variables) is decided here, so that a bad
 * variable stops the command before anything starts.
 * @throws SketchError `SKETCH_ERR_KEY_FILE`, `SKETCH_ERR_TLS_FILE`, `SKETCH_ERR_BROKER_URL`,
 *   `SKETCH_ERR_INVALID_OPTION`, `SKETCH_ERR_OTLP_PROTOCOL`.
 */
export async function sketchConfig(
  cls: SketchClass,
  argv: Record<string, unknown>,
  logging: SketchConfig['logging'],
): Promise<{ config: SketchConfig; listen: ListenOptions }> {
  const common = resolveOptions(COMMON_RUN_OPTIONS, pick(COMMON_RUN_OPTIONS, argv));
  const keyFile = argv['key-file'] as string | undefined;
  const keys = keyFile ? await loadKeyFile(keyFile, (line) => console.error(`sketch: warning: ${line}`)) : undefined;
  const certFile = argv['tls-cert'] as string | undefined;
  const tls = certFile ? await loadTlsIdentity(certFile, argv['tls-key'] as string) : undefined;
  const config: SketchConfig = {
    keys,
    tls,
    allowOrigins: parseOrigins((argv['allow-origin'] as string[] | undefined) ?? []),
    peer: await clientSecurity(argv),
    name: common.name,
    to: common.to === undefined ? undefined : parsePeerAddress(common.to).target,
    options: pick(cls.options ?? {}, argv),
    discovery: common.mdns ? takeEarlyDiscovery() : false,
    discoverTimeout: common.discoverTimeout * 1000,
    ...(common.spool === undefined ? {} : { spool: common.spool }),
    ...(common.spoolMax === undefined ? {} : { spoolMax: common.spoolMax }),
    logging,
    broker: await brokerOptions(argv),
    trace: argv.trace !== false,
    ...(typeof argv.spans === 'number' ? { spans: argv.spans } : {}),
    ...(typeof argv['trace-rate'] === 'number' ? { traceRate: argv['trace-rate'] } : {}),
  };
  const otlp = config.trace ? resolveOtlp(typeof argv.otlp === 'string' ? { endpoint: argv.otlp } : {}) : undefined;
  config.otlp = otlp ? { ...otlp, env: {} } : false;
  return { config, listen: { host: common.host, port: common.port } };
}

/**
 * `--watch`: reloads `spec` (a file) in place on every save; each version's `main()` runs once
 * it serves (a rejection is logged: the version keeps serving until the next save).
 */
function watchFile(sketch: Sketch, spec: string, config: SketchConfig): SketchWatcher {
  sketch.out(`watching ${spec}: saving it reloads the sketch in place`);
  return new SketchWatcher({
    current: sketch,
    file: path.resolve(spec),
    load: (version) => loadSketch(spec, version),
    config,
    onSwapped: (next) => {
      next.main?.().catch((err) => {
        if (!next.signal.aborted) next.log.error(`main() failed: ${oneLine(err)}`);
      });
    },
  });
}

/** SIGINT/SIGTERM: close with 1001 and an mDNS goodbye, then exit 0; hard exit after 2 s. */
function stopOnSignals(current: () => Sketch): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    releaseAllPins(); // outputs inactive first, whatever happens next
    const sketch = current();
    sketch.out(`${signal}: stopping`);
    setTimeout(() => {
      sketch.out(`did not stop within ${STOP_DEADLINE_MS} ms: exiting anyway`);
      process.exit(0);
    }, STOP_DEADLINE_MS).unref();
    sketch.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

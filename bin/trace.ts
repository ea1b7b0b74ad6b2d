import type { CommandModule } from 'yargs';
import { errors, MdnsDiscovery, SketchError } from '../runtime/index.js';
import { followTraces, formatTrace, type TraceHop, type TraceTree } from '../runtime/net/trace-client.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';

interface TraceArgs {
  name: string;
  count: number;
  json: boolean;
  timeout: number;
  'discover-timeout': number;
}

/** Default `--timeout` of `sketch trace`, in seconds: 30. */
export const TRACE_TIMEOUT_S = 30;

/**
 * `sketch trace NAME [--count N] [--json] [--timeout S]`: the requests the sketch NAME handles
 * from now on, one block per trace, each a tree of hops across sketches with their latency (see
 * runtime/net/trace-client.ts): `clock → iopin 402.1 ms (loop 401.9 ms)  "3" → …`, the hops
 * its loop made indented below. `--json`: one object per line per trace (`traceId`, `root`,
 * `hops` nested with `children`, `spans`, `missing`). Exits 0 after `--count` traces (default
 * 1); 1 with one line when NAME is not found (`SKETCH_ERR_PEER_NOT_FOUND`), keeps no spans
 * (`SKETCH_ERR_NOT_TRACING`), or handled fewer within `--timeout` (`SKETCH_ERR_TRACE_TIMEOUT`).
 */
export const traceCommand: CommandModule<object, TraceArgs> = {
  builder: (y) =>
    y
      .positional('name', { type: 'string', demandOption: true, describe: 'instance name of the sketch whose requests to follow' })
      .option('count', { type: 'number', default: 1, requiresArg: true, describe: 'exit after N traces' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line per trace (spans and the hop tree)' })
      .option('timeout', { type: 'number', default: TRACE_TIMEOUT_S, requiresArg: true, describe: 'seconds to wait for the requests; fewer than --count by then: exit 1' })
      .option('discover-timeout', { type: 'number', default: 5, requiresArg: true, describe: 'seconds to look for the sketch by name' })
      .options(CLIENT_SECURITY_OPTIONS)
      .check((a) => {
        if (!(Number.isInteger(a.count) && a.count >= 1)) throw new Error(`--count must be a whole number ≥ 1, got ${a.count}`);
        if (!(Number.isFinite(a.timeout) && a.timeout > 0)) throw new Error(`--timeout must be a number of seconds > 0, got ${a.timeout}`);
        const d = a['discover-timeout'];
        if (!(Number.isFinite(d) && d >= 0)) throw new Error(`--discover-timeout must be a number ≥ 0, got ${d}`);
        return true;
      }),
  handler: async (argv) => {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0); // `sketch trace x --count 100 | head`
      die(err);
    });
    const security = await clientSecurity(argv).catch(die);
    const discovery = new MdnsDiscovery();
    const signal = AbortSignal.timeout(argv.timeout * 1000);
    let printed = 0;
    try {
      const traces = followTraces({
        name: argv.name,
        discovery,
        security,
        discoverTimeout: Math.min(argv['discover-timeout'], argv.timeout) * 1000,
        signal,
        warn: (line) => console.error(`sketch: warning: ${line}`),
      });
      for await (const tree of traces) {
        console.log(argv.json ? JSON.stringify(jsonOf(tree)) : `${formatTrace(tree).join('\n')}\n`);
        if (++printed >= argv.count) break;
      }
    } catch (err) {
      await discovery.close().catch(() => {});
      // the timeout ended the lookup itself: say so as a lookup that found nothing
      if (signal.aborted && !(err instanceof SketchError && err.code !== 'SKETCH_ERR_CLOSED')) die(errors.PEER_NOT_FOUND(argv.name, argv.timeout));
      die(err);
    }
    await discovery.close().catch(() => {});
    if (printed < argv.count) die(errors.TRACE_TIMEOUT(argv.name, printed, argv.count, argv.timeout));
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    process.exit(0);
  },
};

/** What `--json` prints per trace: the tree, with the hops' `start` as s since the epoch. */
function jsonOf(tree: TraceTree): unknown {
  const hop = (h: TraceHop): unknown => ({ ...h, start: h.start / 1000, children: h.children.map(hop) });
  return { ...tree, hops: tree.hops.map(hop) };
}

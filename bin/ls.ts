import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandModule } from 'yargs';
import { MdnsDiscovery, type FoundSketch } from '../runtime/index.js';
import { foundThroughBroker } from '../runtime/discovery/broker.js';
import { fetchStatus, STATUS_TIMEOUT_MS } from '../runtime/discovery/status.js';
import { oneLine } from '../runtime/errors.js';
import type { ClientSecurity } from '../runtime/net/client.js';
import { openBroker, type CliBroker } from './broker-cli.js';
import { BROKER_OPTIONS } from './broker-options.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';
import { lsTable, mergeFound, statusNotes, watchTable, type LsEntry } from './ls-table.js';

interface LsArgs {
  timeout: number;
  json: boolean;
  watch: boolean;
  interval: number;
}

/** Shortest `--interval` of `sketch ls --watch`, in seconds: 0.2. */
export const MIN_WATCH_INTERVAL = 0.2;
/** Most status requests in flight at once: 64 (a flood of 1000 announcements must not take 1000 sockets). */
export const STATUS_CONCURRENCY = 64;
/** Longest time for reading every status of one listing, ms: the 2 s of one request plus 1 s. Sketches not asked by then are shown without status. */
export const STATUS_ROUND_MS = STATUS_TIMEOUT_MS + 1000;
/** Shortest wait for the broker's connection and retained presences with `--broker`, in seconds (`--timeout` when longer): 3. */
export const BROKER_LS_WAIT = 3;
/** Most "no status" lines `sketch ls` prints on stderr: 10, then one line counting the rest. */
const MAX_NOTES = 10;

/**
 * `sketch ls [--timeout s] [--json] [--watch [--interval s]]`: the sketches answering over
 * mDNS with their status (`GET /.well-known/sketch`: uptime, connections, streams), as a table
 * (see {@link lsTable}) or, with `--json`, an array of `FoundSketch` each with `status`
 * (`null` when it did not answer, then `statusError` says why). `--watch` browses and polls
 * again every `--interval` seconds and redraws a live table on a terminal (one table per
 * interval otherwise; with `--json`, one array per line) until SIGINT/SIGTERM, exit 0.
 *
 * With `--broker URL` (or `$SKETCH_BROKER`) the sketches online on the broker (retained
 * `sketchnet/+/$state`) are listed too, one row per name, with a last column VIA (`mdns`,
 * `broker`, `mdns+broker`; `via` in `--json`). A broker-only sketch's kind and streams come
 * from its presence; its status is read from the WebSocket address it advertises, when that
 * answers within the same bound. The broker gets max(`--timeout`, {@link BROKER_LS_WAIT}) s to
 * answer; one that cannot be reached gives one line on stderr, the mDNS sketches are still
 * listed, and the exit status is 1; one that refuses the credentials ends it at once (exit 1).
 */
export const lsCommand: CommandModule<object, LsArgs> = {
  builder: (y) =>
    y
      .option('timeout', { type: 'number', default: 1, requiresArg: true, describe: 'seconds to listen for answers' })
      .option('json', { type: 'boolean', default: false, describe: 'print a JSON array instead of a table' })
      .option('watch', { type: 'boolean', default: false, describe: 'keep a live table (rate, lag, drops per stream; up/down) until Ctrl-C' })
      .option('interval', { type: 'number', default: 1, requiresArg: true, describe: `seconds between two refreshes with --watch (≥ ${MIN_WATCH_INTERVAL})` })
      .options(CLIENT_SECURITY_OPTIONS)
      .options(BROKER_OPTIONS)
      .check((a) => {
        if (!Number.isFinite(a.timeout) || a.timeout < 0) throw new Error(`--timeout must be a number ≥ 0, got ${a.timeout}`);
        if (!Number.isFinite(a.interval) || a.interval < MIN_WATCH_INTERVAL) throw new Error(`--interval must be a number of seconds ≥ ${MIN_WATCH_INTERVAL}, got ${a.interval}`);
        return true;
      }),
  handler: async (argv) => {
    const security = await clientSecurity(argv).catch(die);
    const broker = await openBroker(argv).catch(die);
    const discovery = new MdnsDiscovery();
    const warned = new Set<string>();
    const warn = (line: string) => {
      if (!warned.has(line)) console.error(`sketch: warning: ${line}`);
      warned.add(line);
    };
    if (argv.watch) return watch(argv, discovery, broker, security, warn);
    let brokerError: unknown;
    try {
      const [found, onBroker] = await Promise.all([
        discovery.browse(argv.timeout * 1000),
        broker
          ? broker.directory.browse(Math.max(argv.timeout, BROKER_LS_WAIT) * 1000).catch((err: unknown) => {
              brokerError = err;
              return [];
            })
          : [],
      ]);
      const entries = await pollAll(broker ? mergeFound(found, onBroker) : found.map((f) => ({ found: f, status: null, up: false })), security, warn);
      if (argv.json) console.log(JSON.stringify(entries.map(jsonOf), null, 2));
      else if (entries.length === 0) console.log(`no sketches answered within ${broker ? Math.max(argv.timeout, BROKER_LS_WAIT) : argv.timeout} s`);
      else {
        for (const line of lsTable(entries)) console.log(line);
        for (const note of statusNotes(entries, MAX_NOTES)) console.error(`sketch: ${note}`);
      }
    } catch (err) {
      die(err);
    } finally {
      await discovery.close();
      await broker?.close();
    }
    // A pipe takes 64 KiB at a time: let stdout drain before exiting, or a long list is cut off.
    await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
    if (brokerError) die(brokerError); // one line, after what mDNS found
    process.exit(0);
  },
};

/** Every entry's status read again, {@link STATUS_CONCURRENCY} at a time, all within {@link STATUS_ROUND_MS}. */
async function pollAll(entries: LsEntry[], security: ClientSecurity, warn: (line: string) => void): Promise<LsEntry[]> {
  const deadline = Date.now() + STATUS_ROUND_MS;
  const out = entries.slice();
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const i = next++;
      const left = deadline - Date.now();
      const e = entries[i]!;
      out[i] = left > 0 ? await poll(e, security, warn, Math.min(STATUS_TIMEOUT_MS, left)) : { ...e, up: false, why: `not asked: more sketches than can be read within ${STATUS_ROUND_MS / 1000} s` };
    }
  };
  await Promise.all(Array.from({ length: Math.min(STATUS_CONCURRENCY, entries.length) }, worker));
  return out;
}

/** `entry` with its status read again: up with the new status, or down keeping the last one. */
async function poll(entry: LsEntry, security: ClientSecurity, warn: (line: string) => void, timeoutMs: number): Promise<LsEntry> {
  const via = entry.via ? { via: entry.via } : {};
  if (!entry.found.url) return { found: entry.found, ...via, status: entry.status, up: false, why: 'its broker presence advertises no WebSocket address' };
  try {
    const status = await fetchStatus(entry.found, security, { timeoutMs, warn });
    return { found: entry.found, ...via, status, up: true };
  } catch (err) {
    return { found: entry.found, ...via, status: entry.status, up: false, why: oneLine(err) };
  }
}

/** What `--json` prints per sketch: the found record (`via` as {@link LsEntry.via} with `--broker`), its status, and why there is none. */
function jsonOf(e: LsEntry): Omit<FoundSketch, 'via'> & { via?: LsEntry['via'] | FoundSketch['via']; status: LsEntry['status']; statusError?: string } {
  return { ...e.found, ...(e.via ? { via: e.via } : {}), status: e.up ? e.status : null, ...(e.up ? {} : { statusError: e.why ?? 'no answer' }) };
}

/** `sketch ls --watch`: browse and poll every interval, draw, until a signal. */
async function watch(argv: LsArgs, discovery: MdnsDiscovery, broker: CliBroker | undefined, security: ClientSecurity, warn: (line: string) => void): Promise<void> {
  const tty = process.stdout.isTTY === true && !argv.json;
  const intervalMs = argv.interval * 1000;
  // Browse, then poll every sketch: the figures of one frame are read together, at its end.
  const listenMs = Math.min(argv.timeout, argv.interval * 0.8) * 1000;
  const known = new Map<string, LsEntry>();
  let drawn = 0; // lines of the last frame on the terminal
  const stop = new AbortController();
  const end = () => {
    if (stop.signal.aborted) return;
    stop.abort();
    if (tty) process.stdout.write('\x1b[?25h'); // the cursor back
    void Promise.all([discovery.close(), broker?.close()]).finally(() => process.stdout.write('', () => process.exit(0)));
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGINT', end);
  process.on('SIGTERM', end);
  if (tty) process.stdout.write('\x1b[?25l'); // no cursor blinking over the table

  const draw = (entries: LsEntry[]) => {
    if (argv.json) return void process.stdout.write(`${JSON.stringify(entries.map(jsonOf))}\n`);
    const head = `every ${argv.interval} s, ${new Date().toISOString().slice(0, 19)}Z: ${entries.length} sketch(es)${tty ? ' (Ctrl-C stops)' : ''}`;
    let lines = [head, ...(entries.length ? watchTable(entries) : ['no sketches answered'])];
    if (!tty) return void process.stdout.write(`${lines.join('\n')}\n\n`);
    // Lines cut to the terminal's width, so that none wraps and moving up by `drawn` lands on the first.
    const width = process.stdout.columns || 80;
    lines = lines.map((l) => (l.length > width ? l.slice(0, width - 1) + '…' : l));
    const up = drawn ? `\x1b[${drawn}F` : ''; // to the start of the previous frame's first line
    process.stdout.write(`${up}\x1b[J${lines.join('\n')}\n`);
    drawn = lines.length;
  };

  const began = Date.now();
  while (!stop.signal.aborted) {
    const started = Date.now();
    let found: FoundSketch[] = [];
    try {
      found = await discovery.browse(listenMs);
    } catch (err) {
      if (stop.signal.aborted) break;
      die(err);
    }
    if (stop.signal.aborted) break;
    // The broker's presences as they stand (kept up to date by its subscription): no wait.
    const onBroker = broker ? broker.directory.entries().filter((e) => e.online).map(foundThroughBroker) : [];
    if (broker && !broker.client.connected && Date.now() - began > BROKER_LS_WAIT * 1000) {
      warn(`cannot reach the broker at ${broker.client.url} (${broker.client.lastError ?? 'no answer'}): its sketches show once it answers`);
    }
    // Sketches found (new, moved or the same) take their new announcement; sketches no longer
    // found keep theirs and are polled too: down once their status stops answering.
    for (const e of broker ? mergeFound(found, onBroker) : found.map((f): Pick<LsEntry, 'found' | 'via'> => ({ found: f }))) {
      const key = e.found.name.toLowerCase();
      known.set(key, { ...(known.get(key) ?? { status: null, up: false }), found: e.found, ...(e.via ? { via: e.via } : {}) });
    }
    const keys = [...known.keys()];
    const polled = await pollAll(keys.map((k) => known.get(k)!), security, warn);
    polled.forEach((e, i) => known.set(keys[i]!, e));
    if (stop.signal.aborted) break;
    draw([...known.values()].sort((a, b) => a.found.name.localeCompare(b.found.name)));
    await sleep(Math.max(0, intervalMs - (Date.now() - started)), undefined, { signal: stop.signal }).catch(() => {});
  }
  await new Promise(() => {}); // end() exits
}

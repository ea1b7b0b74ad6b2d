import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import WebSocket from 'ws';
import type { CommandModule } from 'yargs';
import { errors, MdnsDiscovery } from '../runtime/index.js';
import { oneLine } from '../runtime/errors.js';
import { parsePeerAddress } from '../runtime/net/address.js';
import { decodeReply, encodeCredit, SUBPROTOCOL, type GapFrame, type ItemFrame } from '../runtime/net/protocol.js';
import { lookUp } from '../runtime/net/route.js';
import { clientTlsOptions, verifyError } from '../runtime/security/tls.js';
import { keyHeaders } from '../runtime/security/transport.js';
import { STATUS_PATH } from '../runtime/streams/status.js';
import { openBroker } from './broker-cli.js';
import { BROKER_OPTIONS } from './broker-options.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';
import { tapThroughBroker } from './tap-broker.js';

/** How long `sketch tap` waits for the close handshake after Ctrl-C or `--count`, in ms. */
const CLOSE_DEADLINE_MS = 1000;
/** Opening-handshake timeout of the subscription, in ms. */
const HANDSHAKE_TIMEOUT_MS = 5000;
/** Most bytes of a refused upgrade's body read for its one-line reason. */
const MAX_REFUSAL_BODY = 4096;
/**
 * Credit `sketch tap` grants (`?credit=N`, flow control): at most this many items are on their
 * way at once; more are granted, half of it at a time, as lines are printed. So a reader that
 * stops (`sketch tap … | less` at a full screen) leaves the backlog in the sketch's history,
 * under its slow-subscriber policy, not in socket buffers.
 */
export const TAP_CREDIT = 200;

/** Parsed arguments of `sketch tap`. */
interface TapArgs {
  target: string;
  last?: number;
  since?: string;
  all?: boolean;
  count?: number;
  json: boolean;
  'discover-timeout': number;
  key?: string;
  'insecure-key': boolean;
  ca?: string;
}

/** How tap reaches the sketch: the key's headers and the TLS options (CA, the name its certificate must carry). */
interface Conn {
  headers: Record<string, string>;
  tls: https.RequestOptions;
}

/**
 * What `sketch tap` was pointed at: an mDNS instance name or a `ws://`/`wss://` URL, with the
 * stream's path when one was given (`thermometer/readings`, `ws://HOST:PORT/readings`).
 * A bare `/` counts as no path unless the sketch has a stream at `/`.
 */
export type TapTarget =
  | { kind: 'name'; name: string; path?: string }
  | { kind: 'url'; url: URL; path?: string };

/**
 * Splits `sketch tap`'s target: a URL — `ws://`, `wss://`, `http://`, `https://` (as `ws`/`wss`)
 * or `HOST:PORT[/PATH]`, any query string kept — else `NAME` or `NAME/PATH` (split at the first
 * `/`; `NAME.local` is `NAME`). See {@link parsePeerAddress}.
 * @throws Error with one line for no name, and SketchError `SKETCH_ERR_INVALID_OPTION` for a
 *   malformed URL, another scheme or a bad port (usage errors).
 */
export function parseTapTarget(target: string): TapTarget {
  if (target === '' || target.startsWith('/')) throw new Error(`name a sketch (instance name, HOST:PORT or ws:// URL), got "${target}"`);
  const address = parsePeerAddress(target);
  if (address.kind === 'url') {
    // `ws://h:p` and `ws://h:p/` parse alike (path `/`): no path, unless a stream sits at `/`.
    return { kind: 'url', url: address.url, path: safeDecode(address.url.pathname) };
  }
  const slash = target.indexOf('/');
  if (slash === -1) return { kind: 'name', name: address.name };
  return { kind: 'name', name: parsePeerAddress(target.slice(0, slash)).target, path: target.slice(slash) };
}

/**
 * Reads `--since`: seconds since the Unix epoch (`1763737200.125`) or an ISO 8601 date/time
 * (`2026-11-21T19:40:00Z`, as `sketch tap` prints them).
 * @returns seconds since the epoch, or undefined when `text` is neither.
 */
export function parseSince(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return undefined;
  const ms = Date.parse(t);
  return Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;
}

/** A sample time (seconds since the epoch) as ISO 8601 in UTC with milliseconds; the number itself when it is no date. */
export function isoTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(seconds);
}

/** `sketch tap`'s line for an item: `<seq> <sample time, ISO 8601 UTC> <data as compact JSON>`. */
export function formatItem(item: ItemFrame): string {
  return `${item.seq} ${isoTime(item.time)} ${JSON.stringify(item.data) ?? 'null'}`;
}

/** `sketch tap`'s line for a gap: `# gap 3–5 (evicted)`, `# gap 7 (dropped)` for one item. */
export function formatGap(gap: GapFrame): string {
  return `# gap ${gap.from === gap.to ? gap.from : `${gap.from}–${gap.to}`} (${gap.reason})`;
}

/**
 * `sketch tap <name|url>[/path] [--last N | --since T | --all] [--count N] [--json]`:
 * subscribes to one stream of a sketch over `sketchnet.v2` and prints each item as it
 * arrives, one line each (like `mosquitto_sub -v`).
 *
 * - The target is an mDNS instance name (`thermometer`, `thermometer/readings`) or a URL
 *   (`ws://HOST:PORT/readings`, `ws://HOST:PORT`). Without a path it taps the sketch's only
 *   stream; a sketch with several gets one line listing them, exit 1. The path is checked
 *   against the streams announced (TXT `streams=` for names; `GET /.well-known/sketch` for
 *   URLs, and for names when the TXT record does not list it) before subscribing.
 * - Starting point: `--last N` (`?last=N`), `--since T` (`?since=T`; seconds since the epoch
 *   or ISO 8601), `--all` (`?history=all`); none: the newest item, then live.
 * - Flow control: it subscribes with `?credit=200` ({@link TAP_CREDIT}) and grants more as it
 *   prints, so a reader that stops leaves the backlog in the sketch (its policy applies).
 * - Output: `<seq> <ISO 8601 sample time, UTC> <data as compact JSON>`, gaps as
 *   `# gap FROM–TO (reason)`; with `--json` each item and gap frame exactly as received.
 * - Exit: 0 after `--count N` items, on SIGINT/SIGTERM (closing with 1000) and when the sketch
 *   closes with 1000/1001 (one line on stderr); 1 for any other close code, a peer not found
 *   or unreachable, an unknown stream or a refused subscription (HTTP 400: its reason); 2 for
 *   usage errors.
 * - With `--broker URL` (or `$SKETCH_BROKER`) a name is looked for over mDNS and on the broker
 *   at once. Found over mDNS, or on the broker with a WebSocket address on one of this host's
 *   links: tapped over WebSocket as above. Else through the broker: a subscription to
 *   `sketchnet/<name>/<path>` printing each item's data as compact JSON, one per line (no seq,
 *   no sample time; `--json`: `{"topic","data","retain"}`), until `--count N` or Ctrl-C (exit
 *   0); `--last`/`--since`/`--all` are refused there (exit 1: the broker holds no history).
 */
export const tapCommand: CommandModule<object, TapArgs> = {
  builder: (y) =>
    y
      .positional('target', {
        type: 'string',
        demandOption: true,
        describe: 'NAME, NAME/PATH, HOST:PORT[/PATH], ws://HOST:PORT[/PATH] (or wss://, http://, https://)',
      })
      .option('last', { type: 'number', requiresArg: true, describe: 'start with the last N items held, then live' })
      .option('since', {
        type: 'string',
        requiresArg: true,
        describe: 'start with the items sampled at or after T (seconds since the epoch or ISO 8601), then live',
      })
      .option('all', { type: 'boolean', describe: 'start with every item held, then live' })
      .option('count', { type: 'number', requiresArg: true, describe: 'exit after N items' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per line: each item (and gap) as received' })
      .option('discover-timeout', {
        type: 'number',
        default: 5,
        requiresArg: true,
        describe: "seconds to look for the sketch by name, or to wait for its status",
      })
      .options(CLIENT_SECURITY_OPTIONS)
      .options(BROKER_OPTIONS)
      .conflicts('last', ['since', 'all'])
      .conflicts('since', 'all')
      .check((a) => {
        parseTapTarget(String(a.target));
        if (a.last !== undefined && !(Number.isInteger(a.last) && a.last >= 0)) {
          throw new Error(`--last must be a whole number ≥ 0, got ${a.last}`);
        }
        if (a.count !== undefined && !(Number.isInteger(a.count) && a.count >= 1)) {
          throw new Error(`--count must be a whole number ≥ 1, got ${a.count}`);
        }
        if (a.since !== undefined && parseSince(String(a.since)) === undefined) {
          throw new Error(`--since must be seconds since the epoch or an ISO 8601 date/time, got ${a.since}`);
        }
        const t = a['discover-timeout'] as number;
        if (!Number.isFinite(t) || t < 0) throw new Error(`--discover-timeout must be a number ≥ 0, got ${t}`);
        return true;
      }),
  handler: async (argv) => {
    await tap(argv);
  },
};

/** Prints one line on stderr and exits with `code`. */
function fail(line: string, code = 1): never {
  console.error(`sketch: ${line}`);
  process.exit(code);
}

async function tap(argv: TapArgs): Promise<void> {
  const target = parseTapTarget(argv.target);
  const timeoutMs = argv['discover-timeout'] * 1000;
  // Until subscribed, Ctrl-C just ends the search.
  let onSignal: () => void = () => process.exit(0);
  process.on('SIGINT', () => onSignal());
  process.on('SIGTERM', () => onSignal());
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0); // `sketch tap x | head -3`
    die(err);
  });

  // Where the sketch is, what to call it, and the streams it announced.
  let base: URL;
  let label: string;
  let announced: string[] | undefined;
  const broker = target.kind === 'name' ? await openBroker(argv).catch(die) : undefined;
  if (target.kind === 'name' && broker) {
    const discovery = new MdnsDiscovery();
    let hit;
    try {
      hit = await lookUp(target.name, discovery, broker.directory, timeoutMs);
    } catch (err) {
      await Promise.all([discovery.close().catch(() => {}), broker.close()]);
      die(err);
    }
    await discovery.close().catch(() => {});
    if (hit.how === 'broker') {
      const history = argv.last !== undefined || argv.since !== undefined || argv.all === true;
      return tapThroughBroker(broker, hit.found, { path: target.path, count: argv.count, json: argv.json, history }, (stop) => (onSignal = stop));
    }
    await broker.close();
    base = new URL(hit.found.url);
    label = hit.found.name;
    announced = hit.found.streams;
  } else if (target.kind === 'name') {
    const discovery = new MdnsDiscovery();
    try {
      const found = await discovery.resolve(target.name, timeoutMs);
      base = new URL(found.url);
      label = found.name;
      announced = found.streams;
    } catch (err) {
      await discovery.close().catch(() => {});
      die(err);
    }
    await discovery.close().catch(() => {});
  } else {
    base = new URL(target.url.href);
    label = base.host;
  }

  const security = await clientSecurity(argv).catch(die);
  let conn: Conn;
  try {
    conn = {
      tls: clientTlsOptions(base, label, security.ca, target.kind === 'name' ? label : undefined),
      headers: keyHeaders(base, security, (line) => console.error(`sketch: warning: ${line}`)),
    };
  } catch (err) {
    die(err);
  }
  const path = await choosePath(target, base, label, announced, timeoutMs, conn);
  const url = new URL(base.href);
  url.hash = ''; // a #fragment is never sent (RFC 6455 §3)
  url.pathname = path;
  if (target.kind === 'url') url.search = target.url.search;
  if (argv.last !== undefined) url.searchParams.set('last', String(argv.last));
  if (argv.since !== undefined) url.searchParams.set('since', String(parseSince(argv.since)));
  if (argv.all) url.searchParams.set('history', 'all');
  if (!url.searchParams.has('credit')) url.searchParams.set('credit', String(TAP_CREDIT));
  subscribe(url, label, path, argv, conn, (stop) => (onSignal = stop));
}

/**
 * The stream to tap: the path given, checked against the sketch's streams, or its only
 * stream. Exits with one line when there is none to choose or the path is not a stream.
 */
async function choosePath(
  target: TapTarget,
  base: URL,
  label: string,
  announced: string[] | undefined,
  timeoutMs: number,
  conn: Conn,
): Promise<string> {
  let streams = announced;
  let unknownWhy = '';
  const wanted = target.path;
  const known = (list: string[] | undefined) => (wanted ? list?.includes(wanted) : list !== undefined && list.length > 0);
  // The TXT record lists the streams declared at start; the status also has those first published later.
  if (!known(streams)) {
    const status = await statusStreams(base, label, timeoutMs, conn);
    if ('streams' in status) streams = [...new Set([...(announced ?? []), ...status.streams])];
    else unknownWhy = status.why;
  }
  let path = wanted;
  if (path === '/' && !streams?.includes('/')) path = undefined;
  const hint = target.kind === 'name' ? (p: string) => `sketch tap ${label}${p}` : (p: string) => `sketch tap ${withPath(base, p)}`;
  if (path === undefined) {
    if (streams === undefined) {
      fail(`cannot tell which streams ${label} has (${unknownWhy}): name one, e.g. ${hint('/readings')}`);
    }
    if (streams.length === 0) fail(`${label} has no streams to tap`);
    if (streams.length > 1) fail(`${label} has ${streams.length} streams: ${streams.join(', ')}; name one, e.g. ${hint(streams[0]!)}`);
    return streams[0]!;
  }
  if (streams !== undefined && !streams.includes(path)) {
    fail(`${label} has no stream ${path}; ${streams.length ? `its streams: ${streams.join(', ')}` : 'it has no streams'}`);
  }
  return path; // streams unknown (no status endpoint): the server decides
}

/** `base` with its path set to `path`, without the trailing slash of a bare origin. */
function withPath(base: URL, path: string): string {
  const u = new URL(base.href);
  u.pathname = path;
  u.search = '';
  return u.href;
}

/**
 * The stream paths in the sketch's status (`GET /.well-known/sketch`), or why they are not
 * known (an older sketch or another server). Exits with one line when nothing answers at all.
 * (node:http rather than fetch(), which refuses some ports a sketch may listen on, e.g. 6000.)
 */
async function statusStreams(
  base: URL,
  label: string,
  timeoutMs: number,
  conn: Conn,
): Promise<{ streams: string[] } | { why: string }> {
  const url = new URL(STATUS_PATH, base);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  const limit = Math.max(timeoutMs, 1000);
  let answer: { status: number; body: string };
  try {
    answer = await httpGet(url, limit, conn);
  } catch (err) {
    die(verifyError(label, base.href, err) ?? errors.PEER_UNREACHABLE(label, oneLine(err), err));
  }
  if (answer.status === 401) die(errors.UNAUTHORIZED(label));
  if (answer.status !== 200) return { why: `GET ${STATUS_PATH} answered ${answer.status}` };
  try {
    const status = JSON.parse(answer.body) as { streams?: unknown };
    if (status.streams && typeof status.streams === 'object') return { streams: Object.keys(status.streams) };
  } catch {
    // not JSON: fall through
  }
  return { why: `GET ${STATUS_PATH} did not answer a sketch status` };
}

/** GETs `url`; rejects on a connection error or after `timeoutMs` ms. The body is read up to 1 MiB. */
function httpGet(url: URL, timeoutMs: number, conn: Conn): Promise<{ status: number; body: string }> {
  const get = url.protocol === 'https:' ? https.get : http.get;
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: timeoutMs, headers: conn.headers, ...conn.tls }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 1 << 20) chunks.push(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer to GET ${STATUS_PATH} within ${timeoutMs / 1000} s`)));
    req.once('error', reject);
  });
}

/** Subscribes and prints until `--count`, a signal or the other side closes. */
function subscribe(
  url: URL,
  label: string,
  path: string,
  argv: TapArgs,
  conn: Conn,
  setStop: (stop: () => void) => void,
): void {
  const ws = new WebSocket(url, [SUBPROTOCOL], {
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    perMessageDeflate: false,
    headers: conn.headers,
    ...(conn.tls as WebSocket.ClientOptions), // passed through to tls.connect()
  });
  let opened = false;
  let stopping = false;
  let items = 0;
  /** Items printed since the last grant; undefined when the sketch took no credit (an older one). */
  let consumed: number | undefined;
  const window = Number(url.searchParams.get('credit')) || TAP_CREDIT;

  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (!opened) process.exit(0);
    setTimeout(() => {
      ws.terminate();
      process.exit(0);
    }, CLOSE_DEADLINE_MS).unref();
    ws.close(1000);
  };
  setStop(stop);

  ws.on('unexpected-response', (_req, res: IncomingMessage) => {
    if (res.statusCode === 401) die(errors.UNAUTHORIZED(label));
    readBody(res).then((body) => {
      const reason = body.split('\n').find((l) => l.trim() !== '')?.trim();
      fail(`${label} refused to subscribe to ${path}${url.search} (HTTP ${res.statusCode})${reason ? `: ${reason}` : ''}`);
    });
  });
  ws.on('open', () => {
    opened = true;
  });
  ws.on('error', (err) => {
    if (opened || stopping) return; // 'close' follows and says how it ended
    if (/Server sent no subprotocol/.test(err.message)) {
      fail(`${label} does not speak ${SUBPROTOCOL} on ${path}: it is not a sketchnet sketch of protocol 2 or later`);
    }
    die(verifyError(label, url.href, err) ?? errors.PEER_UNREACHABLE(label, oneLine(err), err));
  });
  ws.on('message', (data, isBinary) => {
    if (stopping || isBinary) return;
    const text = data.toString();
    let reply;
    try {
      reply = decodeReply(text);
    } catch {
      console.error(`sketch: ignoring a frame that is not ${SUBPROTOCOL}: ${text.slice(0, 80)}`);
      return;
    }
    if ('item' in reply) {
      console.log(argv.json ? text : formatItem(reply.item)); // blocks while a pipe is full: then no more credit
      if (argv.count !== undefined && ++items >= argv.count) return stop();
      if (consumed !== undefined && ++consumed >= Math.max(1, Math.floor(window / 2))) {
        ws.send(encodeCredit(consumed));
        consumed = 0;
      }
    } else if ('subscribed' in reply) {
      consumed = reply.subscribed.credit !== undefined ? 0 : undefined;
    } else if ('gap' in reply) {
      console.log(argv.json ? text : formatGap(reply.gap));
    } else if ('error' in reply) {
      console.error(`sketch: ${label} sent an error (${reply.error.code}): ${reply.error.message}`);
    }
    // `subscribed` (and stray acks) are not printed.
  });
  ws.on('close', (code, reasonBuffer) => {
    if (stopping) process.exit(0);
    if (!opened) return; // the handshake failed: 'error' or 'unexpected-response' reports it
    const reason = reasonBuffer.toString();
    if (code === 1000 || code === 1001) {
      console.error(`sketch: ${label} closed the stream ${path} (${code}${reason ? ` ${reason}` : code === 1001 ? ' going away' : ''})`);
      process.exit(0);
    }
    if (code === 1006) fail(`connection to ${label} lost (1006: closed without a close frame)`);
    fail(`${label} closed the stream ${path} with ${code}${reason ? `: ${reason}` : ''}`);
  });
}

/** The start of a response body, as text (at most {@link MAX_REFUSAL_BODY} bytes). */
function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => resolve(Buffer.concat(chunks).toString('utf8'));
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_REFUSAL_BODY) return;
      chunks.push(chunk);
      size += chunk.length;
    });
    res.once('end', done);
    res.once('error', done);
    res.once('close', done);
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

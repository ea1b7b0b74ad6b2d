import { createInterface } from 'node:readline';
import type { CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { errors, MdnsDiscovery, Peer, SketchError } from '../runtime/index.js';
import { parsePeerAddress } from '../runtime/net/address.js';
import { BrokerPeer } from '../runtime/net/broker-peer.js';
import { Route, type Sender } from '../runtime/net/route.js';
import { openBroker } from './broker-cli.js';
import { BROKER_OPTIONS, brokerUrl } from './broker-options.js';
import { CLIENT_SECURITY_OPTIONS, clientSecurity } from './cli-options.js';
import { die } from './fail.js';

/**
 * `sketch send <peer> <message...>`: send each message, print each acknowledgement.
 * `-` as the only message reads them from stdin, one per line; messages after `--` are sent as
 * they are (`-- -1 --x`); every message is sent as typed (`007` stays `007`).
 *
 * With `--broker URL` (or `$SKETCH_BROKER`) a name is looked for over mDNS and on the broker at
 * once (a {@link Route}): found over mDNS, or on the broker with a WebSocket address on one of
 * this host's links, the messages go over that WebSocket; else through the broker
 * ({@link BrokerPeer}). `--no-mdns` looks on the broker only. Same output and exit statuses
 * either way; a broker that refuses the credentials ends it with one line
 * (`SKETCH_ERR_BROKER_AUTH`), one that cannot be reached with one line after `--discover-timeout`.
 */
export const sendCommand: CommandModule<
  object,
  { peer: string; message?: string[]; '--'?: string[]; 'discover-timeout': number; timeout: number; mdns: boolean; key?: string; 'insecure-key': boolean; ca?: string }
> = {
  builder: (y) =>
    y
      // `--` ends the options: what follows is messages. No number parsing: messages go as typed.
      .parserConfiguration({ 'populate--': true, 'parse-numbers': false })
      .positional('peer', { type: 'string', demandOption: true, describe: 'instance name, HOST:PORT, or a ws://, wss://, http:// or https:// URL' })
      .positional('message', { type: 'string', array: true, describe: 'messages, sent in order; - reads them from stdin, one per line; after --, sent as they are' })
      .check((argv) => {
        parsePeerAddress(String(argv.peer));
        const given = messagesOf(argv).length;
        if (!stdinRequested(hideBin(process.argv))) {
          if (given === 0) throw errors.INVALID_OPTION('missing argument <message...>: name the messages to send, or - to read them from stdin');
        } else if (given > 0) throw errors.INVALID_OPTION('- reads the messages from stdin: give it as the only message');
        if (argv.mdns === false && !brokerUrl(argv) && parsePeerAddress(String(argv.peer)).kind === 'name') {
          throw errors.INVALID_OPTION(`--no-mdns leaves no way to find "${String(argv.peer)}": give --broker URL (or set SKETCH_BROKER), or its address as HOST:PORT`);
        }
        return true;
      })
      .option('discover-timeout', { type: 'number', default: 5, requiresArg: true, describe: 'seconds to look for the peer by name' })
      .option('timeout', { type: 'number', default: 5, requiresArg: true, coerce: ackSeconds, describe: 'seconds to wait for each acknowledgement (0 = forever)' })
      .option('mdns', { type: 'boolean', default: true, describe: 'look for the peer over mDNS (--no-mdns: on the broker only)' })
      .options(CLIENT_SECURITY_OPTIONS)
      .options(BROKER_OPTIONS),
  handler: async (argv) => {
    const address = parsePeerAddress(argv.peer); // HOST:PORT, http://… and NAME.local, checked above
    const broker = address.kind === 'name' ? await openBroker(argv).catch(die) : undefined;
    const discovery = address.kind === 'name' && argv.mdns ? new MdnsDiscovery() : false;
    const discoverTimeout = argv['discover-timeout'] * 1000;
    const ackTimeout = argv.timeout * 1000; // past it: SKETCH_ERR_ACK_TIMEOUT (as the failure's cause)
    const security = await clientSecurity(argv).catch(die);
    const log = (line: string) => console.error(`sketch: ${line}`);
    const webSocket = (target: string) => new Peer(target, { discovery, discoverTimeout, retries: 0, ackTimeout, ...security, log });
    const peer: Sender = broker
      ? new Route(address.target, {
          mdns: discovery,
          directory: broker.directory,
          discoverTimeout,
          webSocket,
          broker: () => new BrokerPeer(address.target, broker.client, broker.directory, { discoverTimeout, ackTimeout, log }),
        })
      : webSocket(address.target);
    let status = 0;
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(status); // `sketch send x - | head -3`
      die(err);
    });
    /** Prints one acknowledgement, or an error reply on stderr (exit status 1); throws any other failure. */
    const report = async (ack: Promise<string>) => {
      try {
        console.log(await ack);
      } catch (err) {
        if (!(err instanceof SketchError) || err.code !== 'SKETCH_ERR_REMOTE') throw err;
        console.error(`sketch: ${err.message}`);
        status = 1;
      }
    };
    try {
      if (stdinRequested(hideBin(process.argv))) await sendLines(process.stdin, (text) => peer.send(text), report);
      else for (const message of messagesOf(argv)) await report(peer.send(message));
    } catch (err) {
      await peer.close();
      if (discovery) await discovery.close();
      await broker?.close();
      die(err instanceof SketchError && err.cause instanceof SketchError && err.cause.code === 'SKETCH_ERR_ACK_TIMEOUT' ? err.cause : err);
    }
    await peer.close();
    if (discovery) await discovery.close();
    await broker?.close();
    process.exit(status);
  },
};

/** `--timeout`: seconds, ≥ 0 (0 = wait forever). */
function ackSeconds(value: number): number {
  if (!(value >= 0)) throw errors.INVALID_OPTION(`--timeout must be a number of seconds >= 0 (0 = wait forever), got ${String(value)}`);
  return value;
}

/**
 * Most messages read from stdin, sent and not yet acknowledged (`sketch send PEER -`): past it,
 * reading pauses until half of them are acknowledged, so a large file piped in is not held in
 * memory (the Peer's own window, `maxInFlight`, is 256 too).
 */
export const STDIN_WINDOW = 256;

/** The messages given on the command line: the positionals, then everything after `--`, as typed. */
function messagesOf(argv: { message?: unknown; '--'?: unknown }): string[] {
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return [...list(argv.message), ...list(argv['--'])];
}

/**
 * Whether `-` was given as a message (before any `--`): read the messages from stdin. Read from
 * the arguments as typed, because yargs drops a lone `-` from variadic positionals.
 */
export function stdinRequested(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('-');
}

/**
 * Sends each line of `input` as a message (blank lines are skipped, like `mosquitto_pub -l`)
 * as soon as it is read, without waiting for earlier acknowledgements, and hands each
 * acknowledgement's promise to `report` in input order, one after the other. At most `window`
 * messages are sent and not yet reported: then reading pauses (lines of the chunk being read
 * wait, unsent) and resumes once half of them are reported. Resolves when the input ended and
 * every line was reported; rejects with the first failure `report` throws, and then stops
 * reading (lines not yet reported are not reported).
 */
export function sendLines(
  input: NodeJS.ReadableStream,
  send: (text: string) => Promise<string>,
  report: (ack: Promise<string>) => Promise<void>,
  window = STDIN_WINDOW,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input, crlfDelay: Infinity, terminal: false });
    /** Lines read while the window was full: the rest of one chunk of input at most. */
    const waiting: string[] = [];
    let unreported = 0;
    let paused = false;
    let ended = false;
    let failed = false;
    let chain = Promise.resolve();
    const settle = () => {
      if (ended && unreported === 0 && waiting.length === 0 && !failed) resolve();
    };
    const dispatch = (line: string) => {
      const ack = send(line);
      ack.catch(() => {}); // reported in order below
      unreported++;
      chain = chain.then(
        () => report(ack),
        () => {}, // failed already: the failure was passed on
      ).then(
        () => {
          unreported--;
          if (unreported <= window / 2) fill();
          settle();
        },
        (err: unknown) => {
          if (failed) return;
          failed = true;
          waiting.length = 0;
          lines.close();
          reject(err);
        },
      );
    };
    /** Sends what waits while the window has room; pauses reading when it is full, resumes when not. */
    const fill = () => {
      while (!failed && waiting.length > 0 && unreported < window) dispatch(waiting.shift()!);
      if (unreported >= window && !paused) {
        paused = true;
        lines.pause();
      } else if (unreported < window && paused && !ended) {
        paused = false;
        lines.resume();
      }
    };
    lines.on('line', (line) => {
      if (failed || line === '') return;
      waiting.push(line);
      fill();
    });
    lines.on('close', () => {
      ended = true;
      settle();
    });
  });
}

/**
 * The broker side of the client commands (`sketch send`, `sketch ls`, `sketch tap` with
 * `--broker`): one connection and its presence directory, and a lookup by name in mDNS and on
 * the broker at once.
 */
import os from 'node:os';
import {
  BrokerClient,
  BrokerDirectory,
  errors,
  onLocalLink,
  SketchError,
  type Discovery,
  type FoundSketch,
} from '../runtime/index.js';
import { brokerOptions } from './broker-options.js';
import { die } from './fail.js';

/** A broker connection for one command. */
export interface CliBroker {
  client: BrokerClient;
  directory: BrokerDirectory;
  /** Stops listening and ends the connection with a DISCONNECT. */
  close(): Promise<void>;
}

/**
 * Connects to the broker given by `--broker` / `$SKETCH_BROKER` (user `--broker-user`,
 * password `$SKETCH_BROKER_PASSWORD`, `--ca` for mqtts/wss), or resolves undefined when none
 * was given. Connection attempts go on in the background with backoff; a refusal of the
 * credentials ends the process at once with one line (`SKETCH_ERR_BROKER_AUTH`, exit 1).
 * Nothing is logged while the broker cannot be reached: the command says so once, when it
 * gives up waiting.
 * @throws SketchError `SKETCH_ERR_BROKER_URL`, `SKETCH_ERR_TLS_FILE`.
 */
export async function openBroker(argv: object): Promise<CliBroker | undefined> {
  const options = await brokerOptions(argv);
  if (!options) return undefined;
  const { haDiscovery: _ha, preferDirect: _direct, ...connection } = options;
  const client = new BrokerClient(connection);
  client.on('refused', (err) => die(err));
  const directory = new BrokerDirectory(client);
  return {
    client,
    directory,
    async close() {
      directory.close();
      await client.close();
    },
  };
}

/** Where a name was found: over mDNS, or on the broker (then `direct` when its advertised WebSocket address is on one of this host's links). */
export type Lookup = { how: 'mdns'; found: FoundSketch } | { how: 'broker'; found: FoundSketch; direct: boolean };

/**
 * Looks for `name` over mDNS (unless `mdns` is false) and on the broker at once, for up to
 * `timeoutMs` ms; the first to find it wins.
 * @throws SketchError `SKETCH_ERR_PEER_NOT_FOUND` when neither found it (naming both),
 *   `SKETCH_ERR_BROKER_UNREACHABLE` when the broker could not be asked.
 */
export async function lookUp(name: string, mdns: Discovery | false, broker: CliBroker, timeoutMs: number, interfaces = os.networkInterfaces()): Promise<Lookup> {
  const abort = new AbortController();
  const viaMdns = mdns ? mdns.resolve(name, timeoutMs, abort.signal).then((found): Lookup => ({ how: 'mdns', found })) : undefined;
  const viaBroker = broker.directory.resolve(name, timeoutMs, abort.signal).then(
    (found): Lookup => ({ how: 'broker', found, direct: found.url !== '' && onLocalLink(new URL(found.url).hostname, interfaces) }),
  );
  viaMdns?.catch(() => {});
  viaBroker.catch(() => {});
  try {
    return await Promise.any(viaMdns ? [viaMdns, viaBroker] : [viaBroker]);
  } catch (err) {
    const errs = ((err as AggregateError).errors ?? []) as unknown[];
    const notFound = (e: unknown) => e instanceof SketchError && e.code === 'SKETCH_ERR_PEER_NOT_FOUND';
    if (errs.length > 0 && errs.every(notFound)) throw errors.PEER_NOT_FOUND(name, timeoutMs / 1000, broker.client.url, !!mdns);
    throw errs[errs.length - 1] ?? err; // the broker's reason: unreachable
  } finally {
    abort.abort();
  }
}

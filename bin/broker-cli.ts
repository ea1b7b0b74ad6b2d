/**
 * The broker side of the client commands (`sketch send`, `sketch ls`, `sketch tap` with
 * `--broker`): one connection and its presence directory (the lookup by name in mDNS and on
 * the broker at once is the runtime's `lookUp`).
 */
import { BrokerDirectory } from '../runtime/discovery/broker.js';
import { BrokerClient } from '../runtime/net/broker.js';
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


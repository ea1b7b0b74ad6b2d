import type { Options } from 'yargs';
import { errors, loadCa, type BrokerLinkOptions } from '../runtime/index.js';
import { checkBrokerUrl } from '../runtime/net/broker.js';

/** `--broker`, `--broker-user`, `--broker-keepalive`: the MQTT 5 broker a command uses (docs/API.md, "Beyond one LAN"). */
export const BROKER_OPTIONS = {
  broker: {
    type: 'string',
    requiresArg: true,
    describe: 'MQTT 5 broker to find and reach sketches through beyond this LAN: mqtt://HOST[:1883], mqtts://HOST[:8883], ws://, wss:// (default: $SKETCH_BROKER)',
    group: 'Broker (MQTT 5):',
  },
  'broker-user': {
    type: 'string',
    requiresArg: true,
    describe: 'user name on the broker (default: $SKETCH_BROKER_USER); the password comes from $SKETCH_BROKER_PASSWORD',
    group: 'Broker (MQTT 5):',
  },
  'broker-ca': {
    type: 'string',
    requiresArg: true,
    describe: "CA certificate (PEM) an mqtts:// or wss:// broker's certificate must chain to (default: --ca, else the system CAs)",
    group: 'Broker (MQTT 5):',
  },
  'broker-keepalive': {
    type: 'number',
    requiresArg: true,
    default: 10,
    describe: 'MQTT keep alive in seconds: a sketch that vanishes silently turns offline after 1.5 × this',
    group: 'Broker (MQTT 5):',
  },
} as const satisfies Record<string, Options>;

/** `sketch run`'s `--ha-discovery`. */
export const HA_OPTION = {
  'ha-discovery': {
    type: 'boolean',
    default: false,
    describe: 'publish Home Assistant MQTT discovery configs (retained, under homeassistant/) for this sketch (needs --broker)',
    group: 'Broker (MQTT 5):',
  },
} as const satisfies Record<string, Options>;

/** The broker URL given (`--broker`, else `$SKETCH_BROKER`), checked; undefined when none. */
export function brokerUrl(argv: object): string | undefined {
  const a = argv as { broker?: unknown };
  const url = typeof a.broker === 'string' ? a.broker : process.env.SKETCH_BROKER || undefined;
  return url === undefined ? undefined : checkBrokerUrl(url);
}

/**
 * The broker options from the command line and the environment; undefined without a broker.
 * @throws SketchError `SKETCH_ERR_BROKER_URL`, `SKETCH_ERR_TLS_FILE` (the `--ca` file),
 *   `SKETCH_ERR_INVALID_OPTION` (a password without a user name).
 */
export async function brokerOptions(argv: object): Promise<BrokerLinkOptions | undefined> {
  const url = brokerUrl(argv);
  if (!url) return undefined;
  const a = argv as { 'broker-user'?: unknown; 'broker-keepalive'?: unknown; 'broker-ca'?: unknown; ca?: unknown; 'ha-discovery'?: unknown };
  const username = typeof a['broker-user'] === 'string' ? a['broker-user'] : process.env.SKETCH_BROKER_USER || undefined;
  const password = process.env.SKETCH_BROKER_PASSWORD || undefined;
  // mqtt.js (mqtt-packet) drops a CONNECT with a password and no user name silently: say it here
  if (password !== undefined && username === undefined) throw errors.INVALID_OPTION('SKETCH_BROKER_PASSWORD is set but no user name: give --broker-user NAME (or set SKETCH_BROKER_USER)');
  const caFile = typeof a['broker-ca'] === 'string' ? a['broker-ca'] : typeof a.ca === 'string' ? a.ca : undefined;
  const ca = caFile && /^(mqtts|wss):/.test(url) ? await loadCa(caFile) : undefined;
  return {
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(ca ? { ca } : {}),
    ...(typeof a['broker-keepalive'] === 'number' ? { keepalive: a['broker-keepalive'] } : {}),
    haDiscovery: a['ha-discovery'] === true,
  };
}

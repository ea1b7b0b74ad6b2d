/**
 * `sketch tap NAME[/PATH] --broker URL` for a sketch reachable only through the broker: a
 * subscription to `sketchnet/<name>/<path>`, where the sketch publishes each stream item as
 * plain data (no seq, no sample time, no history beyond a `'latest'` stream's retained item).
 */
import type { IPublishPacket } from 'mqtt';
import type { FoundSketch } from '../runtime/index.js';
import { streamPathAllowed, streamTopic } from '../runtime/net/broker.js';
import type { CliBroker } from './broker-cli.js';
import { die } from './fail.js';

/** How long a stop (Ctrl-C, `--count`) may take to end the broker connection before exiting anyway, in ms. */
const CLOSE_DEADLINE_MS = 1000;

/** What `sketch tap` passes on. */
export interface BrokerTapOptions {
  /** The stream path asked for (`/readings`), if any. */
  path?: string;
  /** Exit 0 after this many items. */
  count?: number;
  /** One JSON object per line, `{"topic","data","retain"}`, instead of the data alone. */
  json: boolean;
  /** `--last`, `--since` or `--all` was given (history, which the broker does not hold). */
  history: boolean;
}

/**
 * The stream of `found` to tap through the broker: `path` if it is among the streams its
 * presence lists, else (no path given) its only stream.
 * @throws Error with one line when there is no stream to choose, several, `path` is not one
 *   of them, or it maps onto no topic of its own.
 */
export function brokerTapPath(found: Pick<FoundSketch, 'name' | 'streams'>, path: string | undefined): string {
  const streams = found.streams;
  const label = found.name;
  let wanted = path;
  if (wanted === '/' && !streams.includes('/')) wanted = undefined;
  if (wanted === undefined) {
    if (streams.length === 0) throw new Error(`${label} has no streams to tap`);
    if (streams.length > 1) throw new Error(`${label} has ${streams.length} streams: ${streams.join(', ')}; name one, e.g. sketch tap ${label}${streams[0]}`);
    wanted = streams[0]!;
  } else if (!streams.includes(wanted)) {
    throw new Error(`${label} has no stream ${wanted}; ${streams.length ? `its streams: ${streams.join(', ')}` : 'it has no streams'}`);
  }
  if (!streamPathAllowed(wanted)) throw new Error(`${label}'s stream ${wanted} is not mirrored to the broker (its first level would clash with in/ or $state)`);
  return wanted;
}

/** One item's line: the data as compact JSON (a payload that is not JSON is a string), as `sketch tap` prints data. */
export function formatBrokerItem(payload: Buffer | string): string {
  const text = payload.toString();
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = text;
  }
  return JSON.stringify(data) ?? 'null';
}

/**
 * Subscribes to the stream's topic and prints each item until `--count`, SIGINT/SIGTERM
 * (exit 0). Lines on stderr say where it listens, when the sketch goes offline or comes back,
 * and when the broker is lost or back; none of those ends it.
 */
export async function tapThroughBroker(broker: CliBroker, found: FoundSketch, options: BrokerTapOptions, setStop: (stop: () => void) => void): Promise<void> {
  const fail = (line: string): never => {
    console.error(`sketch: ${line}`);
    void broker.close();
    process.exit(1);
  };
  if (options.history) {
    fail(`--last, --since and --all read a stream's history, which only ${found.name} holds, and it is reachable only through the broker here; tap without them for the items as they are published`);
  }
  let path: string;
  try {
    path = brokerTapPath(found, options.path);
  } catch (err) {
    return fail((err as Error).message);
  }
  const topic = streamTopic(found.name, path);
  const { client, directory } = broker;
  let items = 0;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), CLOSE_DEADLINE_MS).unref();
    broker.close().finally(() => process.stdout.write('', () => process.exit(0)));
  };
  setStop(stop);
  client.on('message', (t: string, payload: Buffer, packet: IPublishPacket) => {
    if (stopping || t !== topic) return;
    console.log(options.json ? JSON.stringify({ topic: t, data: JSON.parse(formatBrokerItem(payload)), retain: packet.retain }) : formatBrokerItem(payload));
    if (options.count !== undefined && ++items >= options.count) stop();
  });
  let online = true;
  directory.on('state', (e) => {
    if (stopping || e.name.toLowerCase() !== found.name.toLowerCase() || e.online === online) return;
    online = e.online;
    console.error(`sketch: ${found.name} ${online ? 'is online again' : 'went offline'} on the broker at ${client.url}${online ? '' : ': waiting for it to come back (Ctrl-C stops)'}`);
  });
  client.on('down', () => console.error(`sketch: warning: lost the broker at ${client.url}: reconnecting`));
  client.on('up', (again) => {
    if (again) console.error(`sketch: broker at ${client.url} is back`);
  });
  await client.subscribe([topic], 1).catch(die);
  if (!client.connected) await client.whenUp(5000).catch(die);
  console.error(`sketch: ${found.name} is reachable only through the broker: tapping ${topic} at ${client.url} (items without seq or sample time)`);
}

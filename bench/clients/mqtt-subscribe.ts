/**
 * Many mqtt.js (MQTT 5) subscribers to one topic of a broker, the MQTT counterpart of
 * ./subscribe.ts: opens `--count` clients (at most `--batch` connecting at once), each
 * subscribed to `--topic` at QoS `--qos` (0), prints `{"ready":{"open":N}}`, then for each
 * `go MS` (at most MAX_RUNS) counts for MS ms every message received and, for JSON readings
 * with a `time` (seconds since the epoch), the latency from sample time to receipt, then
 * prints `{"result":{received, closed, cpuUs, ms, histogram}}`. Retained messages delivered
 * on subscribing arrive before the first `go` and are not counted. Exits when stdin closes.
 */
import mqtt from 'mqtt';
import { args, fail } from '../lib/child.js';
import { noDelay } from '../lib/mqtt.js';
import { LatencyTally, openAll, serveCountingWindows } from '../lib/rounds.js';

const a = args({ url: '', topic: '', count: '10', batch: '50', qos: '0' });
const count = Number(a.count);
const qos = Number(a.qos) as 0 | 1;
const MAX_RUNS = 20;
const tally = new LatencyTally();

async function open(): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(a.url!, { protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  noDelay(client);
  client.on('message', (_topic, payload) => {
    const text = payload.toString();
    const at = text.lastIndexOf('"time":');
    tally.item(at === -1 ? undefined : parseFloat(text.slice(at + 7)));
  });
  client.on('close', () => tally.closed());
  client.on('error', () => {});
  await client.subscribeAsync(a.topic!, { qos });
  return client;
}

try {
  const clients = await openAll(count, Number(a.batch), open);
  await serveCountingWindows({ open: clients.length }, tally, MAX_RUNS);
} catch (err) {
  fail(err);
}

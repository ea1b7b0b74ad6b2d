/**
 * The publishing side of the MQTT fan-out peer: one mqtt.js (MQTT 5) client on the broker
 * `--url` that, on `start HZ MS`, publishes every reading `{celsius, time}` to `--topic` at QoS
 * `--qos` (0 or 1; not retained). mosquitto does the fan-out to the subscribers.
 *
 * Prints `{"ready":{"qos":…}}` once connected; answers `stats` (see ../lib/child.ts) and
 * `start` (see ../lib/publisher.ts).
 */
import mqtt from 'mqtt';
import { args, fail, report, serveStats } from '../lib/child.js';
import { noDelay } from '../lib/mqtt.js';
import { readings, serveStart } from '../lib/publisher.js';

const a = args({ url: '', topic: 'sketchnet-bench/readings', qos: '0' });
const qos = Number(a.qos) as 0 | 1;

try {
  const client = await mqtt.connectAsync(a.url!, { protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  noDelay(client);
  client.on('error', () => {});
  const reading = readings();
  serveStart(() => {
    client.publish(a.topic!, JSON.stringify(reading()), { qos });
  });
  serveStats();
  report('ready', { qos });
} catch (err) {
  fail(err);
}

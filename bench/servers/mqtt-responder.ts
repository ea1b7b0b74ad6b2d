/**
 * The receiving end of the MQTT end-to-end acknowledgement: subscribes (QoS 1) to the
 * request topic and answers every request with a QoS 1 "ok" on the reply topic.
 *
 * Prints `{"ready":{}}` once subscribed; answers `stats` (see ../lib/child.ts).
 */
import mqtt from 'mqtt';
import { args, fail, report, serveStats } from '../lib/child.js';
import { MQTT_REPLY_TOPIC, MQTT_REQUEST_TOPIC, noDelay } from '../lib/mqtt.js';

const a = args({ url: '' });

try {
  const client = await mqtt.connectAsync(a.url!, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
  noDelay(client);
  client.on('error', (err) => fail(err));
  client.on('close', () => fail(new Error('broker closed the connection')));
  client.on('message', () => client.publish(MQTT_REPLY_TOPIC, 'ok', { qos: 1 }));
  await client.subscribeAsync(MQTT_REQUEST_TOPIC, { qos: 1 });
  serveStats();
  report('ready', {});
} catch (err) {
  fail(err);
}

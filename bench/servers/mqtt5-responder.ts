/**
 * Bare MQTT 5 request/response with mqtt.js, the peer of a sketch answering through the broker:
 * subscribes (QoS 1) to `--topic` and answers every request with a QoS 1 "ok" on its Response
 * Topic, with the same Correlation Data (MQTT 5 §4.10). No session, no order, no dedupe: the
 * least any responder can do.
 *
 * Prints `{"ready":{}}` once subscribed; answers `stats` (see ../lib/child.ts).
 */
import mqtt from 'mqtt';
import { args, fail, report, serveStats } from '../lib/child.js';
import { noDelay } from '../lib/mqtt.js';

const a = args({ url: '', topic: '' });

try {
  // The same connection options as sketchnet's BrokerClient (MQTT 5, clean start, Receive Maximum 1024).
  const client = await mqtt.connectAsync(a.url!, { protocolVersion: 5, clean: true, reconnectPeriod: 0, properties: { receiveMaximum: 1024 } });
  noDelay(client);
  client.on('error', (err) => fail(err));
  client.on('close', () => fail(new Error('broker closed the connection')));
  client.on('message', (_topic, _payload, packet) => {
    const to = packet.properties?.responseTopic;
    if (!to) return;
    const correlationData = packet.properties?.correlationData;
    client.publish(to, 'ok', { qos: 1, properties: correlationData ? { correlationData } : {} });
  });
  await client.subscribeAsync(a.topic!, { qos: 1 });
  serveStats();
  report('ready', {});
} catch (err) {
  fail(err);
}

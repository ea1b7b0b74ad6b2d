/**
 * Acknowledged-message client: keeps `--window` messages in flight against one server and
 * measures acknowledgements per second, over a warm-up then `--rounds` rounds.
 *
 *   --via peer         sketchnet's own client path: `Peer` (what `Sketch.stream()` uses)
 *   --via sketch       a sender sketch's `stream()` (Peer behind its counted link and, unless
 *                      `--trace false`, a `send` span and a `traceparent` per message)
 *   --via ws           a bare `ws` client: send a text frame, count reply frames
 *   --via mqtt-puback  mqtt.js QoS 1 publish, acknowledged by the broker's PUBACK
 *   --via mqtt-e2e     mqtt.js QoS 1 request on one topic, acknowledged by a responder's
 *                      QoS 1 reply on another (bench/servers/mqtt-responder.ts)
 *
 * `--key KEY` presents an access key, `--ca FILE` trusts that CA for a `wss://` URL.
 *
 * Protocol: connects and prints `{"ready":…}`; on `warm` runs the warm-up and prints
 * `{"warm":…}`; then on each `go` (at most MAX_ROUNDS) runs one round and prints
 * `{"round":{acks,ms,cpuUs}}`. Rounds are driven one at a time by the orchestrator so that
 * rounds of different clients interleave. Exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { Peer, Sketch } from '../../dist/runtime/index.js';
import { args, fail } from '../lib/child.js';
import { WindowedLoad } from '../lib/load.js';
import { MQTT_REPLY_TOPIC, MQTT_REQUEST_TOPIC, noDelay } from '../lib/mqtt.js';
import { serveLoadRounds } from '../lib/rounds.js';

const a = args({ url: '', via: 'ws', payload: '16', window: '1', warmup: '500', 'round-ms': '1000', max: '10000000', key: '', ca: '', trace: 'true' });
/** `--key KEY` (presented as `Authorization: Bearer`) and `--ca FILE` (trusted for `wss://`). */
const security = { ...(a.key ? { key: a.key } : {}), ...(a.ca ? { ca: readFileSync(a.ca) } : {}) };
const MAX_ROUNDS = 100;
const payload = 'x'.repeat(Number(a.payload));
const window = Number(a.window);

/** Connects and returns a load driver plus a closer. */
async function connect(): Promise<{ load: WindowedLoad; close: () => Promise<void> }> {
  switch (a.via) {
    case 'peer': {
      const peer = new Peer(a.url!, { retries: 0, ...security });
      const load: WindowedLoad = new WindowedLoad(
        () => peer.send(payload).then(() => load.ack(), (err: Error) => load.fail(err)),
        window,
      );
      await peer.send('hello'); // open the connection (and negotiate) before timing anything
      return { load, close: () => peer.close() };
    }
    case 'sketch': {
      class Sender extends Sketch {
        static override readonly kind = 'bench-sender';
      }
      const sender = new Sender({ name: 'bench-sender', discovery: false, trace: a.trace !== 'false', log: () => {}, peer: { retries: 0, ...security } });
      await sender.run({ host: '127.0.0.1', port: 0 });
      const load: WindowedLoad = new WindowedLoad(
        () => sender.stream(a.url!, payload).then(() => load.ack(), (err: Error) => load.fail(err)),
        window,
      );
      await sender.stream(a.url!, 'hello');
      return { load, close: () => sender.close() };
    }
    case 'ws': {
      const ws = new WebSocket(a.url!, {
        perMessageDeflate: false,
        ...(security.key ? { headers: { authorization: `Bearer ${security.key}` } } : {}),
        ...(security.ca ? { ca: security.ca } : {}),
      });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const load = new WindowedLoad(() => ws.send(payload), window);
      ws.on('message', () => load.ack());
      ws.on('close', (code) => load.fail(new Error(`server closed the connection (${code})`)));
      return { load, close: async () => ws.close() };
    }
    case 'mqtt-puback':
    case 'mqtt-e2e': {
      const mqtt = await import('mqtt');
      const client = await mqtt.connectAsync(a.url!, { protocolVersion: 4, clean: true, reconnectPeriod: 0 });
      noDelay(client);
      let load: WindowedLoad | undefined;
      client.on('error', (err) => load?.fail(err));
      client.on('close', () => load?.fail(new Error('broker closed the connection')));
      if (a.via === 'mqtt-puback') {
        // mqtt.js has no cap on outgoing QoS 1 publishes in flight: the window is ours.
        load = new WindowedLoad(
          () => client.publish(`${MQTT_REQUEST_TOPIC}/puback`, payload, { qos: 1 }, (err) => (err ? load!.fail(err) : load!.ack())),
          window,
        );
      } else {
        await client.subscribeAsync(MQTT_REPLY_TOPIC, { qos: 1 });
        load = new WindowedLoad(() => client.publish(MQTT_REQUEST_TOPIC, payload, { qos: 1 }), window);
        client.on('message', () => load!.ack());
      }
      return { load, close: () => client.endAsync() };
    }
    default:
      throw new Error(`unknown --via ${a.via}`);
  }
}

try {
  const { load, close } = await connect();
  await serveLoadRounds({ hello: { via: a.via }, load, warmupMs: Number(a.warmup), roundMs: Number(a['round-ms']), max: Number(a.max), maxRounds: MAX_ROUNDS, close });
} catch (err) {
  fail(err);
}

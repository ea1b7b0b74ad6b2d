/**
 * Acknowledged requests sketch → sketch through an MQTT 5 broker, and their peers, with the
 * latency of every request: keeps `--window` requests in flight (see ../lib/load.ts).
 *
 *   --via broker  a sending sketch on the broker `--url` with `preferDirect: false`:
 *                 `Sketch.stream(--target, …)` with `--target` the serving sketch's name, so
 *                 every request goes through the broker (BrokerPeer, `sketchnet/<name>/in`)
 *   --via ws      a sending sketch without a broker: `Sketch.stream(--target, …)` with
 *                 `--target` the serving sketch's `ws://` URL (no mDNS)
 *   --via mqtt5   bare mqtt.js (MQTT 5): a QoS 1 request on the topic `--target` with a
 *                 Response Topic of its own and the request number as Correlation Data,
 *                 acknowledged by the QoS 1 reply there (bench/servers/mqtt5-responder.ts)
 *
 * Protocol as clients/ack.ts: connects (and sends one unmeasured request) and prints
 * `{"ready":…}`; on `warm` runs the warm-up and prints `{"warm":…}`; then on each `go` runs
 * one round and prints `{"round":{acks,ms,cpuUs,histogram}}` (histogram: per-request latency
 * in ms, from the call to its acknowledgement, see ../lib/stats.ts). Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import { Sketch } from '../../dist/runtime/index.js';
import { args, fail } from '../lib/child.js';
import { WindowedLoad } from '../lib/load.js';
import { noDelay } from '../lib/mqtt.js';
import { serveLoadRounds } from '../lib/rounds.js';
import { Histogram } from '../lib/stats.js';

const a = args({ url: '', via: 'broker', target: '', payload: '16', window: '1', warmup: '500', 'round-ms': '1000', max: '10000000' });
const MAX_ROUNDS = 100;
const payload = 'x'.repeat(Number(a.payload));
const window = Number(a.window);
let latency = new Histogram();

/** A sketch that only sends. */
class Sender extends Sketch {
  static override readonly kind = 'bench-sender';
}

/** Connects and returns a load driver plus a closer. */
async function connect(): Promise<{ load: WindowedLoad; close: () => Promise<void> }> {
  switch (a.via) {
    case 'broker':
    case 'ws': {
      const sketch = new Sender({
        name: 'bench-sender',
        discovery: false,
        log: () => {},
        ...(a.via === 'broker' ? { broker: { url: a.url!, preferDirect: false } } : {}),
      });
      await sketch.run({ host: '127.0.0.1', port: 0 });
      const target = a.target!;
      const load: WindowedLoad = new WindowedLoad(() => {
        const t0 = performance.now();
        sketch.stream(target, payload).then(
          () => {
            latency.add(performance.now() - t0);
            load.ack();
          },
          (err: Error) => load.fail(err),
        );
      }, window);
      await sketch.stream(target, 'hello'); // find the peer and open the route before timing anything
      return { load, close: () => sketch.close() };
    }
    case 'mqtt5': {
      const mqtt = await import('mqtt');
      // The same connection options as sketchnet's BrokerClient (MQTT 5, clean start, Receive Maximum 1024).
      const client = await mqtt.connectAsync(a.url!, { protocolVersion: 5, clean: true, reconnectPeriod: 0, properties: { receiveMaximum: 1024 } });
      noDelay(client);
      const replyTo = `sketchnet-bench/reply/${client.options.clientId}`;
      const sentAt = new Map<number, number>();
      let seq = 0;
      let load: WindowedLoad | undefined;
      client.on('error', (err) => load?.fail(err));
      client.on('close', () => load?.fail(new Error('broker closed the connection')));
      await client.subscribeAsync(replyTo, { qos: 1 });
      let hello: (() => void) | undefined;
      client.on('message', (_topic, _payload, packet) => {
        const id = Number(packet.properties?.correlationData?.toString());
        const t0 = sentAt.get(id);
        if (t0 === undefined) return;
        sentAt.delete(id);
        if (hello) return hello();
        latency.add(performance.now() - t0);
        load!.ack();
      });
      const send = (text: string) => {
        const id = ++seq;
        sentAt.set(id, performance.now());
        client.publish(a.target!, text, { qos: 1, properties: { responseTopic: replyTo, correlationData: Buffer.from(String(id)) } });
      };
      await new Promise<void>((resolve) => {
        hello = resolve;
        send('hello');
      });
      hello = undefined;
      load = new WindowedLoad(() => send(payload), window);
      return { load, close: () => client.endAsync() };
    }
    default:
      throw new Error(`unknown --via ${a.via}`);
  }
}

try {
  const { load, close } = await connect();
  await serveLoadRounds({
    hello: { via: a.via },
    load,
    warmupMs: Number(a.warmup),
    roundMs: Number(a['round-ms']),
    max: Number(a.max),
    maxRounds: MAX_ROUNDS,
    beforeRound: () => (latency = new Histogram()),
    extra: () => ({ histogram: latency.toJSON() }),
    close,
  });
} catch (err) {
  fail(err);
}

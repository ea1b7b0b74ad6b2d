/**
 * Many mqtt.js (MQTT 5) subscribers to one topic of a broker, the MQTT counterpart of
 * ./subscribe.ts: opens `--count` clients (at most `--batch` connecting at once), each
 * subscribed to `--topic` at QoS `--qos` (0), prints `{"ready":{"open":N}}`, then for each
 * `go MS` (at most MAX_RUNS) counts for MS ms every message received and, for JSON readings
 * with a `time` (seconds since the epoch), the latency from sample time to receipt, then
 * prints `{"result":{received, closed, cpuUs, ms, histogram}}`. Retained messages delivered
 * on subscribing arrive before the first `go` and are not counted. Exits when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { args, command, fail, report } from '../lib/child.js';
import { noDelay } from '../lib/mqtt.js';
import { Histogram } from '../lib/stats.js';

const a = args({ url: '', topic: '', count: '10', batch: '50', qos: '0' });
const count = Number(a.count);
const qos = Number(a.qos) as 0 | 1;
const MAX_RUNS = 20;
const clients: mqtt.MqttClient[] = [];
let counting = false;
let received = 0;
let closed = 0;
let latency = new Histogram();

async function open(): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(a.url!, { protocolVersion: 5, clean: true, reconnectPeriod: 0 });
  noDelay(client);
  client.on('message', (_topic, payload) => {
    if (!counting) return;
    received++;
    const text = payload.toString();
    const at = text.lastIndexOf('"time":');
    if (at !== -1) latency.add(performance.timeOrigin + performance.now() - parseFloat(text.slice(at + 7)) * 1000);
  });
  client.on('close', () => closed++);
  client.on('error', () => {});
  await client.subscribeAsync(a.topic!, { qos });
  return client;
}

try {
  for (let i = 0; i < count; i += Number(a.batch)) {
    const n = Math.min(Number(a.batch), count - i);
    clients.push(...(await Promise.all(Array.from({ length: n }, open))));
  }
  report('ready', { open: clients.length });
  for (let run = 0; run < MAX_RUNS; run++) {
    const [ms = '1000'] = await command('go');
    received = 0;
    closed = 0;
    latency = new Histogram();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    counting = true;
    await new Promise((r) => setTimeout(r, Math.min(Number(ms), 60_000)));
    counting = false;
    const cpu = process.cpuUsage(cpu0);
    report('result', { received, closed, cpuUs: cpu.user + cpu.system, ms: performance.now() - t0, histogram: latency.toJSON() });
  }
  process.exit(0);
} catch (err) {
  fail(err);
}

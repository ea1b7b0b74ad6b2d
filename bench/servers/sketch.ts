/**
 * The sketchnet side of the bench, run the way a sketch runs (`Sketch.run`), without mDNS.
 *
 *   --mode ack           a reactive sketch whose loop acknowledges every message with "ok"
 *   --mode thermometer   a thermometer publishing readings to `/readings` subscribers:
 *                        on `start HZ MS [BURST]` (HZ 0 = as fast as it can, BURST readings per turn) it publishes for MS ms,
 *                        then reports `{"published":{count,ms,callMs,hrtimeUs,epoch}}` (callMs:
 *                        a histogram of the time each publish() call took; epoch: the
 *                        publishing window in seconds since the epoch)
 *   --mode stream        the same thermometer with `/readings` declared in `static streams`:
 *                        history `--history-items` items and `--history-bytes` bytes,
 *                        `--delivery all|latest`; also answers `fill N` (publishes N readings
 *                        at once, before any subscriber) with `{"filled":{count,ms,items,bytes}}`
 *
 * `--announce NAME` announces the sketch over mDNS as NAME (otherwise mDNS is off).
 * `--broker URL --name NAME` also puts it on that MQTT 5 broker as NAME (`preferDirect: false`):
 * it serves `sketchnet/NAME/in` and mirrors its streams to `sketchnet/NAME/<path>`.
 * `--max-connections N` raises `maxConnections` (default 512) for fan-outs past it.
 *
 * Security (any mode): `--key KEY` requires that write key (`Authorization: Bearer`);
 * `--tls-cert FILE --tls-key FILE` serves `wss://`.
 *
 * `--trace false` runs it with `trace: false` (no spans recorded; case 18's untraced rows).
 *
 * Prints `{"ready":{"port":…}}` once serving; answers `stats` (see ../lib/child.ts).
 */
import { performance } from 'node:perf_hooks';
import { loadTlsIdentity, reactive, Sketch, type Delivery, type SketchConfig } from '../../dist/runtime/index.js';
import { args, fail, onCommand, report, serveStats } from '../lib/child.js';
import { publishFor, readings, type Published } from '../lib/publisher.js';

const a = args({
  mode: 'ack',
  port: '0',
  quiet: 'false',
  delivery: 'all',
  'history-items': '100000',
  'history-bytes': String(64 * 1024 * 1024),
  key: '',
  'tls-cert': '',
  'tls-key': '',
  announce: '',
  broker: '',
  name: '',
  'max-connections': '',
  trace: 'true',
});
const log = a.quiet === 'true' ? () => {} : (line: string) => console.log(line);


class Bench extends Sketch {
  static override readonly kind = 'bench';
  @reactive
  override async loop(_channel: string, _message: string): Promise<string> {
    return 'ok';
  }
}

class Thermometer extends Sketch {
  static override readonly kind = 'thermometer';
  /** One reading, stamped with its sample time in seconds since the epoch (../lib/publisher.ts). */
  readonly reading = readings();

  /**
   * Publishes at `hz` readings per second (0: as fast as the event loop turns, `burst` readings
   * per turn) for `ms`, as the peers' servers do (../lib/publisher.ts). Also times each
   * `publish()` call: how long the server takes to hand one reading to every subscriber, which
   * bounds the latency of the last one.
   */
  publishFor(hz: number, ms: number, burst = 1): Promise<Published> {
    return publishFor(() => this.publish('/readings', this.reading()), hz, ms, burst);
  }
}

/** The thermometer with `/readings` declared as a stream (history bounds and delivery from argv). */
class StreamThermometer extends Thermometer {
  static override readonly streams = {
    '/readings': {
      history: { items: Number(a['history-items']), maxBytes: Number(a['history-bytes']) },
      delivery: a.delivery as Delivery,
    },
  };

  /** Publishes `n` readings back to back (no subscriber yet: they only go into the history). */
  fill(n: number): { count: number; ms: number; items: number; bytes: number } {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) this.publish('/readings', this.reading());
    const h = this.streamAt('/readings')!.history;
    return { count: n, ms: performance.now() - t0, items: h.size, bytes: h.bytes };
  }
}

try {
  const config: SketchConfig = {
    ...(a.announce ? { name: a.announce } : { discovery: false as const, ...(a.name ? { name: a.name } : {}) }),
    ...(a.broker ? { broker: { url: a.broker, preferDirect: false } } : {}),
    ...(a['max-connections'] ? { maxConnections: Number(a['max-connections']) } : {}),
    ...(a.trace === 'false' ? { trace: false } : {}),
    log,
    ...(a.key ? { keys: [{ key: a.key, right: 'write' as const }] } : {}),
    ...(a['tls-cert'] ? { tls: await loadTlsIdentity(a['tls-cert'], a['tls-key']!) } : {}),
  };
  const sketch =
    a.mode === 'thermometer'
      ? new Thermometer(config)
      : a.mode === 'stream'
        ? new StreamThermometer(config)
        : new Bench(config);
  const address = await sketch.run({ host: '127.0.0.1', port: Number(a.port) });
  serveStats();
  if (sketch instanceof Thermometer) {
    onCommand('start', async ([hz = '10', ms = '1000', burst = '1']) => {
      report('published', await sketch.publishFor(Number(hz), Number(ms), Number(burst)));
    });
  }
  if (sketch instanceof StreamThermometer) {
    onCommand('fill', ([n = '1000']) => report('filled', sketch.fill(Number(n))));
  }
  report('ready', { port: address.port });
} catch (err) {
  fail(err);
}

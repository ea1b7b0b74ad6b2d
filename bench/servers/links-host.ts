/**
 * Many sketches in one process, wired as a network of links (case 19): sketches
 * `PREFIX-FROM` … `PREFIX-(FROM+COUNT-1)` of a network of `--total` sketches, each a reactive
 * sketch (kind `relay`) that acknowledges every message with "ok", serving on 127.0.0.1 and
 * announced over mDNS (one MdnsDiscovery per process, shared by its sketches). On `go`, each
 * sends to the sketches `--offsets` after it in the network (by name, found over mDNS, through
 * its `stream()`: counted links, traced unless `--trace false`) at `--hz` messages per second
 * per link, without waiting for acknowledgements (at most `--max-in-flight` per link; a send
 * past it is skipped and counted).
 *
 *   --prefix link --from 0 --count 25 --total 50 --offsets 1,7 --hz 20
 *
 * Prints `{"ready":{"names":[…],"ports":[…]}}` once every sketch is announced; on `go`,
 * `{"going":{…}}`; on `counts`, `{"counts":{sent,acked,errors,skipped}}`; answers `stats`.
 */
import { MdnsDiscovery, reactive, Sketch } from '../../dist/runtime/index.js';
import { args, fail, onCommand, report, serveStats } from '../lib/child.js';

const a = args({ prefix: 'link', from: '0', count: '25', total: '50', offsets: '1,7', hz: '20', 'max-in-flight': '100', trace: 'true' });
const from = Number(a.from);
const count = Number(a.count);
const total = Number(a.total);
const offsets = a.offsets!.split(',').map(Number);
const hz = Number(a.hz);
const maxInFlight = Number(a['max-in-flight']);
const nameOf = (i: number) => `${a.prefix}-${((i % total) + total) % total}`;

class Relay extends Sketch {
  static override readonly kind = 'relay';
  @reactive
  override async loop(_channel: string, _message: string): Promise<string> {
    return 'ok';
  }
}

const counts = { sent: 0, acked: 0, errors: 0, skipped: 0 };
const firstErrors: string[] = [];

try {
  const discovery = new MdnsDiscovery({ log: (line) => process.stderr.write(`${line}\n`) });
  const sketches: Relay[] = [];
  const ports: number[] = [];
  for (let i = from; i < from + count; i++) {
    const sketch = new Relay({ name: nameOf(i), discovery, trace: a.trace !== 'false', log: () => {} });
    const address = await sketch.run({ host: '127.0.0.1', port: 0 });
    sketches.push(sketch);
    ports.push(address.port);
  }
  serveStats();
  const timers: NodeJS.Timeout[] = [];
  onCommand('go', () => {
    let n = 0;
    sketches.forEach((sketch, k) => {
      const i = from + k;
      for (const off of offsets) {
        const to = nameOf(i + off);
        let inFlight = 0;
        let seq = 0;
        const send = () => {
          if (inFlight >= maxInFlight) {
            counts.skipped++;
            return;
          }
          inFlight++;
          counts.sent++;
          sketch.stream(to, `${seq++}`).then(
            () => {
              inFlight--;
              counts.acked++;
            },
            (err: Error) => {
              inFlight--;
              counts.errors++;
              if (firstErrors.length < 5) firstErrors.push(`${sketch.name} → ${to}: ${err.message}`);
            },
          );
        };
        // Spread the links' ticks over the period, so that 100 links do not all send in one turn.
        const period = 1000 / hz;
        const start = setTimeout(() => {
          send();
          timers.push(setInterval(send, period));
        }, (n++ * 7.919) % period);
        timers.push(start);
      }
    });
    report('going', { links: n, hz });
  });
  onCommand('counts', () => report('counts', { ...counts, firstErrors }));
  const stop = async () => {
    for (const t of timers) clearInterval(t);
    await Promise.allSettled(sketches.map((s) => s.close()));
    await discovery.close().catch(() => {});
    process.exit(0);
  };
  process.removeAllListeners('SIGTERM'); // child.ts's: exit at once; here the sketches say goodbye first
  process.once('SIGTERM', () => void stop());
  report('ready', { names: sketches.map((s) => s.name), ports });
} catch (err) {
  fail(err);
}

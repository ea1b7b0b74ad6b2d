/**
 * The clock's part of the clock → iopin → buzzer chain, driven from the bench so that every
 * tick is timed: one plain `ws` connection to the iopin `--url`, ticks `0`, `1`, … sent one
 * at a time, each after the previous one's acknowledgement (the clock with `--delay 0`).
 * Latency per tick: from the send to the acknowledgement, which the iopin sends only after the
 * buzzer acknowledged each of its bits.
 *
 * Protocol: connects and prints `{"ready":…}`; on `go N` sends N ticks and prints
 * `{"round":{ticks, ms, cpuUs, histogram, last}}` (histogram: per-tick latency in ms, see
 * ../lib/stats.ts; last: the last acknowledgement, to show what the chain answered). Exits
 * when stdin closes.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { args, command, fail, report } from '../lib/child.js';
import { Histogram } from '../lib/stats.js';

const a = args({ url: '' });
const MAX_ROUNDS = 100;

try {
  const ws = new WebSocket(a.url!, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let answer: ((ack: string) => void) | undefined;
  ws.on('message', (data) => answer?.(data.toString()));
  ws.on('close', (code) => fail(new Error(`the iopin closed the connection (${code})`)));
  const tick = (n: number) =>
    new Promise<string>((resolve) => {
      answer = resolve;
      ws.send(String(n));
    });
  report('ready', { url: a.url });
  let next = 0;
  for (let r = 0; r < MAX_ROUNDS; r++) {
    const [n = '100'] = await command('go');
    const latency = new Histogram();
    let last = '';
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < Number(n); i++) {
      const t = performance.now();
      last = await tick(next++);
      latency.add(performance.now() - t);
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    report('round', { ticks: Number(n), ms, cpuUs: cpu.user + cpu.system, histogram: latency.toJSON(), last });
  }
  process.exit(0);
} catch (err) {
  fail(err);
}

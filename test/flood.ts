import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { Peer } from '../runtime/index.js';
import { cli } from './helpers/net.js';

const ECHO = fileURLToPath(new URL('./fixtures/sketches/quiet-echo.ts', import.meta.url));
/** Frames a flooder that reads its replies sends; one that does not read tries ten times as many. */
const FRAMES = 1_000_000;
/** Most the sketch's RSS may grow while one client floods it, in MiB (stated in docs/API.md). */
const RSS_GROWTH_BOUND_MIB = 64;

const FLOODER = fileURLToPath(new URL('../bench/clients/flooder.ts', import.meta.url));
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Round trips (one in flight) a well-behaved client completes in `ms`. */
async function rate(peer: Peer, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    await peer.send('hello');
    n++;
  }
  return (n * 1000) / ms;
}

for (const reads of [true, false]) {
  test(`a client flooding ${reads ? '1 000 000 tiny frames and reading its replies' : 'tiny frames without reading its replies'}: the sketch survives a 128 MiB heap, its RSS grows by less than ${RSS_GROWTH_BOUND_MIB} MiB, another client is still answered${reads ? '' : ', and TCP holds the flooder back'}`, async () => {
    const sketch = cli(['run', ECHO, '--no-mdns', '--host', '127.0.0.1'], { NODE_OPTIONS: '--max-old-space-size=128' });
    try {
      await sketch.waitFor(/serving on/, 15_000);
      const url = `ws://127.0.0.1:${/serving on [^:]+:(\d+)/.exec(sketch.stdout())![1]}/`;
      const pid = sketch.child.pid!;
      const good = new Peer(url, { retries: 0 });
      await rate(good, 300); // warm
      const before = await rate(good, 1000);
      const rss0 = rssMiB(pid);

      let peak = rss0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
      const flooder = spawn(process.execPath, ['--import', 'tsx', FLOODER, url, String(FRAMES), reads ? '1' : '0', '8'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      flooder.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const exited = new Promise<number | null>((r) => flooder.once('exit', (code) => r(code)));
      const killer = setTimeout(() => flooder.kill('SIGKILL'), 20_000); // never hang the suite
      for (let t = 0; !out.includes('flooding'); t += 20) {
        if (t > 10_000) throw new Error('the flooder did not start');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      const during = await rate(good, 1500);
      const code = await exited;
      clearTimeout(killer);
      assert.is(code, 0, `the flooder ended with ${code}: ${out}`);
      const { sent, replies } = JSON.parse(out.trim().split('\n').at(-1)!) as { sent: number; replies: number };
      clearInterval(sampler);
      peak = Math.max(peak, rssMiB(pid));

      // The rate during ÷ before is a performance figure: `npm run bench` case 10 measures it with
      // the sketch on its own CPU (goal ≥ 80 %). Here the three processes share the machine's
      // cores, so only starvation is asserted: before the throttle (runtime/net/throttle.ts) and
      // the reply bound, a flood took a well-behaved client from 12 400 to under 900 acks/s (7 %).
      assert.ok(during > 0.15 * before, `well-behaved client starved: ${before.toFixed(0)}/s before, ${during.toFixed(0)}/s during the flood`);
      assert.ok(peak - rss0 < RSS_GROWTH_BOUND_MIB, `RSS ${rss0.toFixed(1)} → peak ${peak.toFixed(1)} MiB`);
      if (reads) assert.is(sent, FRAMES, 'a flooder that reads its replies gets through');
      else assert.ok(sent < 10 * FRAMES, `a flooder that does not read is held back by TCP: ${sent} frames went out`);
      assert.is(await good.send('still here'), '10', 'the sketch still answers');
      console.log(`  flood ${reads ? 'reading' : 'not reading'}: ${sent} frames sent, ${replies} replies read; good client ${before.toFixed(0)}/s → ${during.toFixed(0)}/s (${((100 * during) / before).toFixed(0)} %); RSS ${rss0.toFixed(1)} → peak ${peak.toFixed(1)} MiB`);
      await good.close();
    } finally {
      sketch.child.kill('SIGTERM');
      await sketch.exited();
    }
  });
}

test('a binary frame gets an error reply, in order, and the connection stays open', async () => {
  const sketch = cli(['run', ECHO, '--no-mdns', '--host', '127.0.0.1']);
  try {
    await sketch.waitFor(/serving on/, 15_000);
    const url = `ws://127.0.0.1:${/serving on [^:]+:(\d+)/.exec(sketch.stdout())![1]}/`;
    const ws = new WebSocket(url, ['sketchnet.v2']);
    await new Promise((r) => ws.once('open', r));
    const got: string[] = [];
    ws.on('message', (d) => got.push(d.toString()));
    ws.send('ab');
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    ws.send('abc');
    while (got.length < 3) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got, [
      '{"ack":2}',
      '{"error":{"code":"SKETCH_ERR_BAD_MESSAGE","message":"binary frames are not accepted: send text frames"}}',
      '{"ack":3}',
    ]);
    ws.close();
  } finally {
    sketch.child.kill('SIGTERM');
    await sketch.exited();
  }
});

test.run();

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { spawnChild, stopAll } from '../bench/lib/proc.js';

const python = '/usr/bin/python3';
const CHAIN = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../bench/servers/chain.py');
const hasWebsockets = spawnSync(python, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;

test('the Python chain of bench case 15 acknowledges a tick as our iopin --to buzzer does: the bits, and the buzzer\'s answer to each (bzzz for 1, ... for 0)', async () => {
  if (!hasWebsockets) return console.log("  skipped: Debian's python3-websockets is not installed");
  try {
    const buzzer = spawnChild('python buzzer', python, [CHAIN, 'buzzer']);
    const buzzerPort = (await buzzer.report<{ port: number }>('ready', 10_000)).port;
    const iopin = spawnChild('python iopin', python, [CHAIN, 'iopin', '--to', `ws://127.0.0.1:${buzzerPort}/`, '--sequence', '5']);
    const iopinPort = (await iopin.report<{ port: number }>('ready', 10_000)).port;
    const ws = new WebSocket(`ws://127.0.0.1:${iopinPort}/`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const acks: string[] = [];
    for (const tick of ['0', '1', '2']) {
      ws.send(tick);
      acks.push(await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString()))));
    }
    ws.close();
    for (const ack of acks) {
      const { bits, acks: answers } = JSON.parse(ack) as { bits: number[]; acks: string[] };
      assert.is(bits.length, 5);
      assert.equal(answers, bits.map((b) => (b === 1 ? 'bzzz' : '...')));
    }
    const unknown = new WebSocket(`ws://127.0.0.1:${buzzerPort}/`);
    await new Promise((resolve, reject) => unknown.once('open', resolve).once('error', reject));
    unknown.send('2');
    assert.match(await new Promise<string>((resolve) => unknown.once('message', (d) => resolve(d.toString()))), /takes 1 or 0/);
    unknown.close();
  } finally {
    await stopAll();
  }
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import IOPin from '../sketches/iopin.js';
import { connect, frames } from './helpers/net.js';

test('each tick draws --sequence bits, 0 with probability --chance, and acknowledges with them', async () => {
  for (const [chance, bit] of [[0, 1], [1, 0]] as const) {
    const s = new IOPin({ discovery: false, log: () => {}, options: { chance, sequence: 5 } });
    const { url } = await s.run({ host: '127.0.0.1' });
    const ws = await connect(url);
    const got = frames(ws, 2);
    ws.send('0');
    ws.send('1');
    assert.equal(await got, [JSON.stringify(Array(5).fill(bit)), JSON.stringify(Array(5).fill(bit))]);
    ws.close();
    await s.close();
  }
});

test('--pin drives the pin with each drawn bit and leaves it inactive when stopped', async () => {
  const lines: string[] = [];
  const s = new IOPin({ discovery: false, log: (l) => lines.push(l), options: { pin: 4, gpio: 'virtual', chance: 0 } });
  const { url } = await s.run({ host: '127.0.0.1' });
  const ws = await connect(url);
  const got = frames(ws, 1);
  ws.send('0');
  assert.equal(await got, ['[1,1,1]']);
  assert.ok(lines.includes('[ IOPin ] pin 4 -> 1'), lines.join('\n'));
  ws.close();
  await s.close();
  assert.ok(lines.lastIndexOf('[ IOPin ] pin 4 -> 0') > lines.indexOf('[ IOPin ] pin 4 -> 1'), lines.join('\n'));
});

test.run();

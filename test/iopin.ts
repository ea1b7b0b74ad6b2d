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

test('a message with newlines, control characters or a megabyte of text is logged as one escaped line of at most 200 characters of it', async () => {
  const lines: string[] = [];
  const s = new IOPin({ discovery: false, log: (l) => lines.push(l), options: { sequence: 1 } });
  const { url } = await s.run({ host: '127.0.0.1' });
  const ws = await connect(`${url}a%0A%5B%20IOPin%20%5D%20forged`);
  const got = frames(ws, 2);
  ws.send('1\n[ IOPin ] forged line\u001b[2J');
  ws.send('x'.repeat(1024 * 1024 - 16));
  await got;
  ws.close();
  await s.close();
  assert.ok(lines.every((l) => !/[\u0000-\u001f]/.test(l)), 'no control characters');
  assert.not.ok(lines.some((l) => l.startsWith('[ IOPin ] forged')), 'no forged line');
  assert.ok(lines.includes('[ IOPin ] new tick triggered on /a\\n[ IOPin ] forged: 1\\n[ IOPin ] forged line\\x1b[2J'), lines.join('\n'));
  const big = lines.find((l) => l.includes('xxxx'))!;
  assert.ok(big.length < 300, `${big.length} characters`);
  assert.ok(big.endsWith('x…'));
});

test.run();

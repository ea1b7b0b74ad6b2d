import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket, { WebSocketServer } from 'ws';
import { canThrottle, throttle } from '../runtime/net/throttle.js';

/**
 * Sends `n` frames written in one system call and resolves, on the server side, with the
 * event-loop turn each message was delivered in (a turn counter advanced by setImmediate).
 */
async function turnsOf(n: number, throttled: boolean): Promise<number[]> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  const turns: number[] = [];
  let turn = 0;
  let ticking = true;
  const tick = () => {
    turn++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  const done = new Promise<void>((resolve) =>
    wss.on('connection', (ws) => {
      assert.ok(canThrottle(ws), 'the pinned ws has the receiver field throttle() sets');
      if (throttled) assert.ok(throttle(ws));
      ws.on('message', () => {
        turns.push(turn);
        if (turns.length === n) resolve();
      });
    }),
  );
  const { port } = wss.address() as { port: number };
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  await new Promise((r) => client.once('open', r));
  await new Promise((r) => setTimeout(r, 20)); // the server has its connection
  const socket = (client as unknown as { _socket: import('node:net').Socket })._socket;
  socket.cork();
  for (let i = 0; i < n; i++) client.send(`m${i}`);
  socket.uncork();
  await done;
  ticking = false;
  client.terminate();
  await new Promise((r) => wss.close(r));
  return turns;
}

test('an unthrottled connection delivers a burst of frames in one turn (ws default)', async () => {
  const turns = await turnsOf(200, false);
  assert.ok(new Set(turns).size < 20, `200 messages in ${new Set(turns).size} turns`);
});

test('a throttled connection delivers at most one message per event-loop turn', async () => {
  const turns = await turnsOf(200, true);
  assert.is(new Set(turns).size, 200, 'every message in a turn of its own');
});

test('throttle() changes nothing and says so on a socket without the receiver field', () => {
  const fake = { _receiver: {} } as unknown as WebSocket;
  assert.not.ok(canThrottle(fake));
  assert.not.ok(throttle(fake));
});

test.run();

/**
 * Many socket.io-client 4 connections to one socket.io server, the socket.io counterpart of
 * ./subscribe.ts: opens `--count` clients (each its own connection: `forceNew`, WebSocket
 * transport only, no reconnection; at most `--batch` connecting at once), prints
 * `{"ready":{"open":N}}`, then for each `go MS` (at most MAX_RUNS) counts for MS ms every
 * `reading` event and the latency from its `time` (seconds since the epoch) to receipt, then
 * prints `{"result":{received, closed, cpuUs, ms, histogram}}`. Exits when stdin closes.
 */
import { io, type Socket } from 'socket.io-client';
import { args, fail } from '../lib/child.js';
import { LatencyTally, openAll, serveCountingWindows } from '../lib/rounds.js';

const a = args({ url: '', count: '10', batch: '50' });
const count = Number(a.count);
const MAX_RUNS = 20;
const tally = new LatencyTally();

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(a.url!, { transports: ['websocket'], forceNew: true, reconnection: false });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
    socket.on('reading', (msg: { time: number }) => tally.item(msg.time));
    socket.on('disconnect', () => tally.closed());
  });
}

try {
  const sockets = await openAll(count, Number(a.batch), open);
  await serveCountingWindows({ open: sockets.length }, tally, MAX_RUNS);
} catch (err) {
  fail(err);
}

/**
 * The socket.io 4 fan-out peer: a socket.io server on a plain HTTP server, WebSocket
 * transport only (no long-polling, no per-message deflate), that on `start HZ MS` emits every
 * reading to every connected client with one broadcast, `io.emit('reading', {celsius, time})`
 * (socket.io encodes the packet once per broadcast).
 *
 * Prints `{"ready":{"port":…}}`; answers `stats` (see ../lib/child.ts) and `start` (see
 * ../lib/publisher.ts).
 */
import http from 'node:http';
import { Server } from 'socket.io';
import { args, fail, report, serveStats } from '../lib/child.js';
import { readings, serveStart } from '../lib/publisher.js';

const a = args({ port: '0' });

try {
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(a.port), '127.0.0.1', resolve);
  });
  const reading = readings();
  serveStart(() => {
    io.emit('reading', reading());
  });
  serveStats();
  report('ready', { port: (server.address() as { port: number }).port });
} catch (err) {
  fail(err);
}

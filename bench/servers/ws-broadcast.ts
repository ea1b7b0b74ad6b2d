/**
 * The bare `ws` fan-out baseline: a WebSocketServer that, on `start HZ MS`, sends every
 * reading to every open client the way ws' README broadcasts (`wss.clients.forEach(c =>
 * c.readyState === OPEN && c.send(data))`), and nothing else: no history, no sequence numbers,
 * no slow-subscriber policy (a client that cannot keep up makes the server buffer without bound).
 *
 * Prints `{"ready":{"port":…}}`; answers `stats` (see ../lib/child.ts) and `start` (see
 * ../lib/publisher.ts).
 */
import WebSocket, { WebSocketServer } from 'ws';
import { args, fail, report, serveStats } from '../lib/child.js';
import { readings, serveStart } from '../lib/publisher.js';

const a = args({ port: '0' });

try {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(a.port), perMessageDeflate: false, handleProtocols: () => false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (ws) => ws.on('error', () => {}));
  const reading = readings();
  serveStart(() => {
    const data = JSON.stringify(reading());
    wss.clients.forEach((client) => {
      if (client.readyState === WebSocket.OPEN) client.send(data);
    });
  });
  serveStats();
  report('ready', { port: (wss.address() as { port: number }).port });
} catch (err) {
  fail(err);
}

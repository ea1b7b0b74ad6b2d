/**
 * The bare `ws` baseline: a WebSocketServer that answers every text frame with the same
 * short acknowledgement the bench sketch sends ("ok"), and nothing else: no queue, no
 * subprotocol (a client offering one gets none), no per-connection bookkeeping.
 *
 * Prints `{"ready":{"port":…}}`; answers `stats` (see ../lib/child.ts).
 */
import { WebSocketServer } from 'ws';
import { args, fail, report, serveStats } from '../lib/child.js';

const a = args({ port: '0' });

try {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(a.port), perMessageDeflate: false, handleProtocols: () => false });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', () => ws.send('ok'));
  });
  serveStats();
  report('ready', { port: (wss.address() as { port: number }).port });
} catch (err) {
  fail(err);
}

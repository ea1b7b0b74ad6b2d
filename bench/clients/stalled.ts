/**
 * Subscribers that stop reading: `--count` raw TCP connections to `--url` (e.g.
 * ws://127.0.0.1:PORT/readings) that complete the WebSocket upgrade (HTTP 101) and then never
 * read again (`socket.pause()`: Node reads at most its 16 KiB high-water mark more, then stops
 * reading the socket), so that whatever the server writes fills their kernel buffers.
 *
 * Prints `{"ready":{"open":N,"ports":[…]}}` (the local ports, which the server's status lists as
 * `remote`) once every upgrade was answered. Sends nothing else; exits when stdin closes or
 * after `--max-ms` (default 120 s), whichever comes first.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { args, fail, onCommand, report } from '../lib/child.js';

const a = args({ url: '', count: '1', batch: '50', 'max-ms': '120000' });
const url = new URL(a.url!);
const sockets: net.Socket[] = [];

// Bounded in time whatever the orchestrator does.
setTimeout(() => process.exit(0), Number(a['max-ms'])).unref();

function stall(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let head = '';
    const timer = setTimeout(() => reject(new Error(`no upgrade answer within 10 s (got ${JSON.stringify(head.slice(0, 80))})`)), 10_000);
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause(); // never read again
      if (!head.startsWith('HTTP/1.1 101 ')) reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
      else resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err); // (a no-op once resolved: a reset later is expected and ignored)
    });
    socket.once('connect', () => {
      socket.setNoDelay(true);
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  });
}

try {
  const count = Number(a.count);
  for (let i = 0; i < count; i += Number(a.batch)) {
    const n = Math.min(Number(a.batch), count - i);
    sockets.push(...(await Promise.all(Array.from({ length: n }, stall))));
  }
  onCommand('noop', () => {}); // listen to stdin: exit when it closes
  report('ready', { open: sockets.length, ports: sockets.map((s) => s.localPort) });
} catch (err) {
  fail(err);
}

/**
 * `node --import tsx subscribers-child.ts URL N`: N plain WebSocket subscribers in their own
 * process, counting the frames each receives and the longest pause between two of them.
 * Prints `ready` once all are open; on the stdin line `report` prints
 * `{"counts":[…],"maxPauseMs":…,"closed":[codes…]}` and exits.
 */
import readline from 'node:readline';
import WebSocket from 'ws';

const [url, n] = [process.argv[2]!, Number(process.argv[3])];
const counts = new Array<number>(n).fill(0);
const last = new Array<number>(n).fill(0);
const closed: number[] = [];
let maxPauseMs = 0;
await Promise.all(
  counts.map(
    (_, k) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.on('message', () => {
          const now = performance.now();
          if (last[k]) maxPauseMs = Math.max(maxPauseMs, now - last[k]!);
          last[k] = now;
          counts[k]!++;
        });
        ws.on('close', (code) => closed.push(code));
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
  ),
);
console.log('ready');
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'report') return;
  console.log(JSON.stringify({ counts, maxPauseMs: Math.round(maxPauseMs), closed }));
  process.exit(0);
});

/**
 * A client that floods a sketch with tiny text frames, in its own process (as an attacker on
 * another machine would be): `node --import tsx bench/clients/flooder.ts URL FRAMES READS SECONDS`.
 * Used by test/flood.ts and by the bench's flood case (bench/cases/flood.ts).
 * Writes FRAMES one-byte masked frames as fast as TCP takes them, for at most SECONDS; with
 * READS=0 it never reads its replies. Prints `{"sent":N,"replies":M}` and exits. A `pause`
 * line on stdin stops the sending (the connection stays open and keeps answering pings when it
 * reads), `resume` starts it again; `{"closed":CODE}` is printed if the sketch closes it.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';

const [url, framesArg = '1000000', readsArg = '1', secondsArg = '20'] = process.argv.slice(2);
const frames = Number(framesArg);
const reads = readsArg === '1';
const stopAt = Date.now() + Number(secondsArg) * 1000;
/** 10 000 masked text frames of one byte each ("x", mask key 0): 70 000 bytes. */
const BLOCK = Buffer.concat(Array.from({ length: 10_000 }, () => Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x78])));

const ws = new WebSocket(url!, { perMessageDeflate: false });
await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
let replies = 0;
ws.on('message', () => replies++);
ws.on('error', () => {});
ws.on('close', (code) => console.log(JSON.stringify({ closed: code })));
let paused: Promise<void> | undefined;
let resume = () => {};
process.stdin.setEncoding('utf8').on('data', (d: string) => {
  if (d.includes('pause') && !paused) paused = new Promise((r) => (resume = r));
  if (d.includes('resume')) {
    paused = undefined;
    resume();
  }
});
process.stdin.on('error', () => {});
const socket = (ws as unknown as { _socket: Socket })._socket;
if (!reads) socket.pause();
console.log('{"flooding":true}');
let sent = 0;
while (sent < frames && Date.now() < stopAt && ws.readyState === WebSocket.OPEN) {
  if (paused) await paused;
  sent += 10_000;
  if (!socket.write(BLOCK)) {
    const drained = await Promise.race([
      new Promise<boolean>((r) => socket.once('drain', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), Math.max(0, stopAt - Date.now()))),
    ]);
    if (!drained) break;
  }
}
if (reads) {
  const deadline = Date.now() + 5000;
  while (replies < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
console.log(JSON.stringify({ sent, replies }));
ws.terminate();
process.exit(0);

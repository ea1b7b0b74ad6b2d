import { randomFillSync } from 'node:crypto';

/**
 * WebSocket text frames (RFC 6455 §5.2) built in one buffer, header and payload together, to be
 * written straight to the TCP socket around ws's `Sender`: one `write` instead of ws's corked
 * header + payload pair (a `writev`). That is safe only while ws never holds a frame
 * half-written in its own queue: sketches send no fragmented messages, no Blobs, and
 * permessage-deflate is off on every server and every Peer (`perMessageDeflate: false`), so
 * ws's Sender writes each message to the socket at once, in call order. The bytes are those
 * ws's `Sender.frame` makes.
 */

/** Header bytes for a payload of `n` bytes (+ 4 for a masking key). */
const headerLength = (n: number) => (n < 126 ? 2 : n < 65536 ? 4 : 10);

/** Writes a final text frame's header for `n` payload bytes; returns where the payload (or the mask) goes. */
function writeHeader(buf: Buffer, n: number, masked: boolean): number {
  buf[0] = 0x81; // FIN, opcode 1 (text)
  const m = masked ? 0x80 : 0;
  if (n < 126) {
    buf[1] = n | m;
    return 2;
  }
  if (n < 65536) {
    buf[1] = 126 | m;
    buf.writeUInt16BE(n, 2);
    return 4;
  }
  buf[1] = 127 | m;
  buf.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
  buf.writeUInt32BE(n >>> 0, 6);
  return 10;
}

/** One unmasked, final text frame (RFC 6455 §5.2) as a single buffer, ready to write to a server-side socket. */
export function textFrame(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const buf = Buffer.allocUnsafe(headerLength(n) + n);
  buf.write(text, writeHeader(buf, n, false), 'utf8');
  return buf;
}

/** Masking keys are drawn 8 KiB at a time (RFC 6455 §5.3: unpredictable, from a strong source), as ws does. */
const MASKS = Buffer.alloc(8192);
let masksAt = MASKS.length;

/** One masked, final text frame (RFC 6455 §5.3) as a single buffer, ready to write to a client-side socket. */
export function maskedTextFrame(text: string): Buffer {
  const n = Buffer.byteLength(text);
  const buf = Buffer.allocUnsafe(headerLength(n) + 4 + n);
  const at = writeHeader(buf, n, true);
  if (masksAt + 4 > MASKS.length) {
    randomFillSync(MASKS);
    masksAt = 0;
  }
  const m0 = MASKS[masksAt]!;
  const m1 = MASKS[masksAt + 1]!;
  const m2 = MASKS[masksAt + 2]!;
  const m3 = MASKS[masksAt + 3]!;
  masksAt += 4;
  buf[at] = m0;
  buf[at + 1] = m1;
  buf[at + 2] = m2;
  buf[at + 3] = m3;
  const start = at + 4;
  buf.write(text, start, 'utf8');
  const end = start + n;
  let i = start;
  for (; i + 3 < end; i += 4) {
    buf[i] ^= m0;
    buf[i + 1] ^= m1;
    buf[i + 2] ^= m2;
    buf[i + 3] ^= m3;
  }
  for (let k = 0; i < end; i++, k++) buf[i] ^= k === 0 ? m0 : k === 1 ? m1 : m2;
  return buf;
}

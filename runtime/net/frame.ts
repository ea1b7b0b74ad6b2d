import * as wsModule from 'ws';

/**
 * ws's own framer (exported by ws, untyped in @types/ws). Frames built with it are written
 * straight to the TCP socket, around ws's `Sender`. That is safe only while ws never holds a
 * frame half-written in its own queue: sketches send no fragmented messages, no Blobs, and
 * permessage-deflate is off on every server (`perMessageDeflate: false`), so ws's Sender
 * writes each message to the socket at once, in call order.
 */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] };
};

/** One unmasked, final text frame (RFC 6455 §5.2) as a single buffer, ready to write to a server-side socket. */
export function textFrame(text: string): Buffer {
  const parts = Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false });
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

/**
 * What the streams rely on in ws (pinned to exactly 8.23.0 in package.json): `textFrame`
 * (runtime/net/frame.ts) builds each item's frame once, header and payload in one Buffer (the bytes
 * ws's `Sender.frame` makes), and the stream writes that same Buffer to every subscriber's
 * socket, around ws's own Sender. Checked here: the
 * bytes are an RFC 6455 §5.2 unmasked final text frame in each of the three length forms, a fresh
 * Buffer (not a view ws reuses), and one ws client reads them as the message they carry.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as wsModule from 'ws';
import { textFrame } from '../runtime/net/frame.js';

/** ws's own frame parser (exported by ws, untyped in @types/ws, like its `Sender`). */
const { Receiver } = wsModule as unknown as {
  Receiver: new (options: { isServer: boolean }) => NodeJS.WritableStream & {
    on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
    write(chunk: Buffer, cb: (err?: Error | null) => void): boolean;
  };
};

/** The header RFC 6455 §5.2 prescribes for an unmasked final text frame of `n` payload bytes. */
function header(n: number): Buffer {
  if (n < 126) return Buffer.from([0x81, n]);
  if (n < 65536) return Buffer.from([0x81, 126, n >> 8, n & 0xff]);
  const b = Buffer.alloc(10);
  b[0] = 0x81;
  b[1] = 127;
  b.writeBigUInt64BE(BigInt(n), 2);
  return b;
}

test('textFrame: an unmasked final text frame in one Buffer, for every length form (7-bit, 16-bit, 64-bit)', () => {
  for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const text = 'x'.repeat(n);
    const frame = textFrame(text);
    assert.ok(Buffer.isBuffer(frame));
    assert.equal(frame.subarray(0, header(n).length), header(n), `${n} bytes: header`);
    assert.is(frame.length, header(n).length + n, `${n} bytes: length`);
    assert.is(frame.subarray(header(n).length).toString(), text);
  }
  assert.is(textFrame('é').length, 2 + 2, 'the length is in UTF-8 bytes');
});

test('textFrame: each call gives a Buffer of its own (a frame shared by subscribers is never overwritten by the next one)', () => {
  const a = textFrame('{"celsius":21.5}');
  const copy = Buffer.from(a);
  const b = textFrame('{"celsius":22.5}');
  assert.equal(a, copy);
  assert.is.not(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true);
});

test("ws's own Receiver reads frames written back to back as the messages they carry, in order", async () => {
  const got: string[] = [];
  const receiver = new Receiver({ isServer: false });
  receiver.on('message', (data: Buffer, isBinary: boolean) => {
    assert.not.ok(isBinary);
    got.push(data.toString());
  });
  const texts = ['{"i":1}', 'y'.repeat(300), 'z'.repeat(70000)];
  const wire = Buffer.concat(texts.map(textFrame));
  await new Promise<void>((resolve, reject) => receiver.write(wire, (err?: Error | null) => (err ? reject(err) : resolve())));
  assert.equal(got, texts);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as wsModule from 'ws';
import { maskedTextFrame, textFrame } from '../runtime/net/frame.js';

const { Sender } = wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } };
const LENGTHS = [0, 1, 3, 4, 5, 125, 126, 127, 1024, 65535, 65536, 70001];
const texts = [...LENGTHS.map((n) => 'x'.repeat(n)), 'é€😀 ok', '{"ack":"ok","seq":1}'];

test('textFrame: the bytes ws writes for an unmasked final text frame', () => {
  for (const text of texts) {
    const expected = Buffer.concat(Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }));
    assert.ok(textFrame(text).equals(expected), `${text.length} characters`);
  }
});

test('maskedTextFrame: a masked final text frame, the mask bit and key set, the payload unmasked back', () => {
  for (const text of texts) {
    const payload = Buffer.from(text);
    const zero = Buffer.alloc(4);
    // ws's frame with mask bytes 0 skips masking: its header tells what ours must be (mask key aside)
    const [head] = Sender.frame(Buffer.from(text), { fin: true, rsv1: false, opcode: 1, mask: true, maskBuffer: zero, generateMask: () => {}, readOnly: false });
    const f = maskedTextFrame(text);
    const at = head!.length; // header + 4 mask bytes
    assert.ok(f.subarray(0, at - 4).equals(head!.subarray(0, at - 4)), `header, ${text.length} characters`);
    assert.is(f.length, at + payload.length);
    const key = f.subarray(at - 4, at);
    const unmasked = Buffer.from(f.subarray(at).map((b, i) => b ^ key[i % 4]!));
    assert.ok(unmasked.equals(payload), `payload, ${text.length} characters`);
  }
});

test('maskedTextFrame: a fresh masking key per frame', () => {
  const keys = new Set<string>();
  for (let i = 0; i < 100; i++) keys.add(maskedTextFrame('ok').subarray(2, 6).toString('hex'));
  assert.ok(keys.size > 90);
});

test.run();

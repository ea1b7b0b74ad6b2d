import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeReply, decodeRequest, encodeAck, encodeRequest, jsonString } from '../runtime/net/protocol.js';

/** What decodeRequest returns, or the error's class name when it throws. */
const request = (frame: string) => {
  try {
    return decodeRequest(frame);
  } catch (err) {
    return (err as Error).name;
  }
};
const reply = (frame: string) => {
  try {
    return decodeReply(frame);
  } catch (err) {
    return (err as Error).name;
  }
};

test('decodeRequest: requests as Peer writes them (read without JSON.parse) decode as JSON.parse reads them', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  for (const r of [
    { session: 'AbC-_9', seq: 1, done: 0, msg: 'hello' },
    { session: 'x'.repeat(64), seq: 123456789012345, done: 123456789012344, msg: '' },
    { session: 's', seq: 7, done: 3, msg: 'é€😀 {"nested":[1,2]}', traceparent: tp },
    { session: 's', seq: 2, done: 1, msg: 'x'.repeat(1024) },
  ]) {
    assert.equal(request(encodeRequest(r)), r);
  }
});

test('decodeRequest: escapes, spaces, other key orders, long numbers still decode (through JSON.parse)', () => {
  assert.equal(request('{"session":"s","seq":2,"done":1,"msg":"a\\"b\\n"}'), { session: 's', seq: 2, done: 1, msg: 'a"b\n' });
  assert.equal(request('{ "session": "s", "seq": 2, "done": 1, "msg": "m" }'), { session: 's', seq: 2, done: 1, msg: 'm' });
  assert.equal(request('{"seq":2,"msg":"m","session":"s"}'), { session: 's', seq: 2, done: 0, msg: 'm' });
  assert.equal(request('{"session":"s","seq":1234567890123456,"done":1,"msg":"m"}'), { session: 's', seq: 1234567890123456, done: 1, msg: 'm' });
  assert.equal(request('{"session":"s","seq":2,"done":1,"msg":"m","traceparent":null}'), { session: 's', seq: 2, done: 1, msg: 'm' });
  assert.equal(request('{"session":"s","seq":2,"done":1,"msg":"m","msg":"n"}'), { session: 's', seq: 2, done: 1, msg: 'n' });
});

test('decodeRequest: what is not a request is refused on either path', () => {
  for (const frame of [
    '{"session":"s","seq":02,"done":1,"msg":"m"}',
    '{"session":"s","seq":2,"done":2,"msg":"m"}',
    '{"session":"s","seq":0,"done":0,"msg":"m"}',
    '{"session":"s","seq":2.5,"done":1,"msg":"m"}',
    '{"session":"s","seq":-2,"done":1,"msg":"m"}',
    `{"session":"${'x'.repeat(65)}","seq":2,"done":1,"msg":"m"}`,
    '{"session":"a b","seq":2,"done":1,"msg":"m"}',
    '{"session":"","seq":2,"done":1,"msg":"m"}',
    '{"session":"s","seq":2,"done":1,"msg":"raw\u0001control"}',
    '{"session":"s","seq":2,"done":1,"msg":"m"}x',
    '{"session":"s","seq":2,"done":1,"msg":"m"',
    '{"session":"s","seq":2,"done":1,"msg":5}',
  ]) {
    assert.is(request(frame), 'SyntaxError', frame);
  }
});

test('decodeRequest: the session of the request before is no shortcut for a different or broken one', () => {
  assert.equal(request('{"session":"abc","seq":2,"done":1,"msg":"m"}'), { session: 'abc', seq: 2, done: 1, msg: 'm' });
  assert.equal(request('{"session":"abcd","seq":2,"done":1,"msg":"m"}'), { session: 'abcd', seq: 2, done: 1, msg: 'm' });
  assert.equal(request('{"session":"ab","seq":2,"done":1,"msg":"m"}'), { session: 'ab', seq: 2, done: 1, msg: 'm' });
  assert.is(request('{"session":"ab\\"","seq":2,"done":1,"msg":"m"}'), 'SyntaxError');
  assert.is(request('{"session":"""","seq":2,"done":1,"msg":"m"}'), 'SyntaxError');
  assert.is(request('{"session":"","seq":2,"done":1,"msg":"m"}'), 'SyntaxError');
  assert.equal(request('{"session":"-","seq":2,"done":1,"msg":"m"}'), { session: '-', seq: 2, done: 1, msg: 'm' });
  assert.is(request('{"session":"-"x,"seq":2,"done":1,"msg":"m"}'), 'SyntaxError');
});

test('decodeReply: acks as a sketch writes them, and the rest through JSON.parse', () => {
  assert.equal(reply(encodeAck('sketchnet.v3', 'ok', 42)), { ack: 'ok', seq: 42 });
  assert.equal(reply(encodeAck('sketchnet.v2', 'ok')), { ack: 'ok' });
  assert.equal(reply(encodeAck('sketchnet.v3', 'a"b\\c', 0)), { ack: 'a"b\\c', seq: 0 });
  assert.equal(reply(encodeAck('sketchnet.v3', { n: 1 }, 3)), { ack: { n: 1 }, seq: 3 });
  assert.equal(reply('{"ack":"ok","seq":1.5}'), { ack: 'ok' });
  assert.equal(reply('{"ack":"ok","seq":-1}'), { ack: 'ok' });
  assert.equal(reply('{"ack":"ok","seq":"3"}'), { ack: 'ok' });
  assert.equal(reply('{"ack":"ok", "seq":3}'), { ack: 'ok', seq: 3 });
  assert.is(reply('{"ack":"ok","seq":01}'), 'SyntaxError');
  assert.is(reply('{"ack":"ok","seq":1}}'), 'SyntaxError');
  assert.is(reply('{"ack":"raw\u0002"}'), 'SyntaxError');
});

test('encodeAck: a string ack is the JSON string JSON.stringify makes', () => {
  for (const text of ['ok', '', 'a"b', 'back\\slash', 'tab\t', '\u0001', 'é€', '😀', '\ud800', '\udc00x', 'x'.repeat(32), 'x'.repeat(33), '\u2028\u007f']) {
    assert.is(encodeAck('sketchnet.v3', text, 1), `{"ack":${JSON.stringify(text)},"seq":1}`, JSON.stringify(text));
    assert.is(encodeAck('sketchnet.v2', text), `{"ack":${JSON.stringify(text)}}`);
  }
});

test('jsonString: what JSON.stringify writes', () => {
  const all = Array.from({ length: 0x80 }, (_, i) => String.fromCharCode(i)).join('');
  for (const text of ['', 'ok', 'x'.repeat(1024), all, 'a"b', 'back\\slash', '\u001f', '\u007f', 'é€', '😀', '\ud83d', '\ude00', 'x\ud83dy', '\u2028\u2029', '\uffff', '\ue000']) {
    assert.is(jsonString(text), JSON.stringify(text), JSON.stringify(text));
  }
});

test('decodeRequest: a long message with a raw control character is refused, one without is read', () => {
  assert.is(request(`{"session":"s","seq":2,"done":1,"msg":"${'x'.repeat(100)}\u0001"}`), 'SyntaxError');
  assert.equal(request(`{"session":"s","seq":2,"done":1,"msg":"${'x'.repeat(100)}\u007f"}`), { session: 's', seq: 2, done: 1, msg: `${'x'.repeat(100)}\u007f` });
});

test.run();

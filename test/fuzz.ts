/**
 * Property-based fuzzing (fast-check) of what a sketch reads from the network before anything
 * else: the `sketchnet.v2` frame decoder (and the v3 request decoder), the stream query parser
 * and the upgrade check of a request URL. Each run prints its seed; a failure prints the seed and path that replay it
 * (FC_SEED, FC_PATH, FC_TEST: see test/helpers/fc.ts).
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchError } from '../runtime/errors.js';
import {
  ackText,
  decodeReply,
  encodeAck,
  encodeError,
  encodeGap,
  encodeItem,
  encodeSubscribed,
  jsonValue,
  SUBPROTOCOL,
  decodeRequest,
  encodeRequest,
  MAX_SESSION_CHARS,
  type Reply,
  type Request,
} from '../runtime/net/protocol.js';
import { StreamHub } from '../runtime/streams/hub.js';
import { parseDeliverPolicy, STREAM_QUERY_PARAMETERS, type DeliverPolicy } from '../runtime/streams/query.js';
import type { StreamHost } from '../runtime/streams/stream.js';
import { printable } from '../runtime/text.js';
import { announceSeed, fuzz as fuzzIn, seed } from './helpers/fc.js';

announceSeed('fuzz.ts');
const fuzz = <T>(name: string, runs: number, arbitrary: fc.Arbitrary<T>, check: (value: T) => void) => fuzzIn(test, name, runs, arbitrary, check);

/** Any line break a terminal or a log reader would honour. */
const LINE_BREAK = /[\r\n\u0085\u2028\u2029]/;
const oneLine = (text: string, what: string) => {
  assert.type(text, 'string', what);
  assert.not.ok(LINE_BREAK.test(text), `${what} is one line: ${JSON.stringify(text)}`);
};

// ---------------------------------------------------------------------------------------
// sketchnet.v2 frames

const isSeq = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
const isTime = (x: unknown) => typeof x === 'number' && Number.isFinite(x);

/** What is wrong with a decoded reply, or undefined when it has exactly one documented shape. */
function malformed(reply: Reply): string | undefined {
  const keys = Object.keys(reply);
  // an ack or an error may carry the seq of the v3 request it answers
  const withSeq = ('ack' in reply || 'error' in reply) && 'seq' in reply;
  if (keys.length !== (withSeq ? 2 : 1)) return `keys ${keys}`;
  if (withSeq && !isSeq(reply.seq)) return 'reply seq';
  if ('ack' in reply) return reply.ack === undefined ? 'ack undefined' : undefined;
  if ('error' in reply) {
    const e = reply.error;
    return typeof e?.code === 'string' && typeof e.message === 'string' ? undefined : 'error without code/message';
  }
  if ('item' in reply) {
    const i = reply.item;
    if (typeof i?.stream !== 'string') return 'item.stream';
    if (!isSeq(i.seq)) return 'item.seq';
    if (!isTime(i.time) || !isTime(i.published)) return 'item time';
    return 'data' in i && i.data !== undefined ? undefined : 'item.data';
  }
  if ('gap' in reply) {
    const g = reply.gap;
    if (typeof g?.stream !== 'string' || !isSeq(g.from) || !isSeq(g.to)) return 'gap fields';
    return g.reason === 'evicted' || g.reason === 'dropped' ? undefined : 'gap.reason';
  }
  if ('subscribed' in reply) {
    const s = reply.subscribed;
    if (typeof s?.stream !== 'string' || typeof s.epoch !== 'string' || !isSeq(s.first) || !isSeq(s.last)) return 'subscribed fields';
    return s.delivery === 'all' || s.delivery === 'latest' ? undefined : 'subscribed.delivery';
  }
  return 'no known key';
}

/** Decodes `frame`: a well-formed reply, or a one-line SyntaxError (the documented error), nothing else. */
function decodeOrRefuse(frame: string): Reply | undefined {
  let reply: Reply;
  try {
    reply = decodeReply(frame);
  } catch (err) {
    assert.instance(err, SyntaxError, `decodeReply(${JSON.stringify(frame).slice(0, 200)}) threw ${String(err)}`);
    oneLine((err as Error).message, 'the SyntaxError message');
    assert.ok((err as Error).message.length <= 200, `short message: ${(err as Error).message.length} characters`);
    return undefined;
  }
  const problem = malformed(reply);
  assert.is(problem, undefined, `decodeReply(${JSON.stringify(frame).slice(0, 200)}) → ${JSON.stringify(reply)}: ${problem}`);
  return reply;
}

/** Values that look like what a field could hold, and values that should not be there. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -3, max: 3 }),
  fc.constantFrom(0, 1, 1.5, -1, 2 ** 53, 1e308, 'all', 'latest', 'evicted', 'dropped', '', '/readings', null, true, [], {}),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const FRAME_KEYS = ['ack', 'error', 'item', 'gap', 'subscribed', 'stream', 'seq', 'time', 'published', 'data', 'code', 'message', 'from', 'to', 'reason', 'epoch', 'first', 'last', 'delivery', '__proto__'];
const nearFrame: fc.Arbitrary<Record<string, unknown>> = fc.letrec<{ obj: Record<string, unknown> }>((tie) => ({
  obj: fc.dictionary(fc.constantFrom(...FRAME_KEYS), fc.oneof({ depthSize: 'small', withCrossShrink: true }, fieldValue, tie('obj')), {
    maxKeys: 7,
  }),
})).obj;

/** Frame texts: anything, any JSON, frames close to the real shapes, and the real shapes mangled. */
const frameText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 120 }),
  fc.json({ maxDepth: 3 }),
  nearFrame.map((o) => JSON.stringify(o)),
  fc
    .tuple(nearFrame, fc.nat(), fc.constantFrom('', ' ', '}', '\n', '\u0000', 'e400', ',"x":1e999'))
    .map(([o, at, junk]) => {
      const text = JSON.stringify(o);
      const i = at % (text.length + 1);
      return text.slice(0, i) + junk + text.slice(i);
    }),
);

/** Frames fuzzing found, kept as regression examples. */
const FRAME_EXAMPLES = [
  '{"stream":"/readings","seq":1}', // an item without times or data
  '{"stream":"/readings","seq":-1,"time":1,"published":1,"data":1}',
  '{"stream":"/r","seq":1,"time":1e400,"published":1,"data":null}', // time Infinity
  '{"gap":{}}',
  '{"gap":{"stream":"/r","from":"1","to":2,"reason":"evicted"}}',
  '{"subscribed":[]}',
  '{"subscribed":{"stream":"/r"}}',
  'not json\nsecond line',
  '{"ack"\u2028:1',
];

test('decodeReply: the regression examples are refused with a one-line SyntaxError', () => {
  for (const frame of FRAME_EXAMPLES) {
    assert.is(decodeOrRefuse(frame), undefined, frame);
  }
});

fuzz('decodeReply given any text returns one well-formed reply or throws a one-line SyntaxError, nothing else', 10_000, frameText, (frame) => {
  decodeOrRefuse(frame);
});

const jsonEqual = (a: unknown, b: unknown, what: string) => assert.equal(a, b, what);
const viaJson = (v: unknown) => JSON.parse(JSON.stringify(v)) as unknown;
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const seqArb = fc.oneof(fc.nat(), fc.maxSafeNat());
const anyText = fc.string({ unit: 'binary', maxLength: 40 });

fuzz('an acknowledgement encoded for sketchnet.v2 decodes to the same JSON value', 1000, fc.jsonValue(), (value) => {
  jsonEqual(decodeOrRefuse(encodeAck(SUBPROTOCOL, value)), { ack: viaJson(value) }, 'ack');
});

fuzz('an error reply encoded for sketchnet.v2 decodes to the same code and message', 1000, fc.tuple(anyText, anyText), ([code, message]) => {
  jsonEqual(decodeOrRefuse(encodeError(SUBPROTOCOL, code, message)), { error: { code, message } }, 'error');
});

fuzz(
  'an item envelope decodes to the same stream, seq, times and data',
  1000,
  fc.tuple(anyText, seqArb, finite, finite, fc.jsonValue()),
  ([stream, seq, time, published, data]) => {
    const reply = decodeOrRefuse(encodeItem(stream, seq, time, published, JSON.stringify(data)));
    jsonEqual(reply, { item: { stream, seq, time: time === 0 ? 0 : time, published: published === 0 ? 0 : published, data: viaJson(data) } }, 'item');
  },
);

fuzz(
  'a gap frame decodes to the same gap',
  1000,
  fc.record({ stream: anyText, from: seqArb, to: seqArb, reason: fc.constantFrom('evicted' as const, 'dropped' as const) }, { noNullPrototype: true }),
  (gap) => jsonEqual(decodeOrRefuse(encodeGap(gap)), { gap }, 'gap'),
);

fuzz(
  'a subscribed frame decodes to the same frame',
  1000,
  fc.record({ stream: anyText, epoch: anyText, first: seqArb, last: seqArb, delivery: fc.constantFrom('all' as const, 'latest' as const) }, { noNullPrototype: true }),
  (subscribed) => jsonEqual(decodeOrRefuse(encodeSubscribed(subscribed)), { subscribed }, 'subscribed'),
);

// sketchnet.v3 requests

const SESSION_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const sessionId = fc.string({ unit: fc.constantFrom(...SESSION_CHARS), minLength: 1, maxLength: MAX_SESSION_CHARS });
const REQUEST_KEYS = ['session', 'seq', 'done', 'msg', 'ack', '__proto__'];
const nearRequest = fc.dictionary(
  fc.constantFrom(...REQUEST_KEYS),
  fc.oneof(fieldValue, sessionId, fc.constantFrom('a'.repeat(65), 'bad id', '', 'x\n')),
  { maxKeys: 5 },
);

/** Decodes `frame` as a v3 request: a well-formed request, or a one-line SyntaxError, nothing else. */
function requestOrRefuse(frame: string): Request | undefined {
  let r: Request;
  try {
    r = decodeRequest(frame);
  } catch (err) {
    assert.instance(err, SyntaxError, `decodeRequest(${JSON.stringify(frame).slice(0, 200)}) threw ${String(err)}`);
    oneLine((err as Error).message, 'the SyntaxError message');
    assert.ok((err as Error).message.length <= 200);
    return undefined;
  }
  assert.equal(Object.keys(r).sort(), ['done', 'msg', 'seq', 'session']);
  assert.match(r.session, /^[A-Za-z0-9_-]{1,64}$/);
  assert.ok(isSeq(r.seq) && r.seq >= 1, `seq ${r.seq}`);
  assert.ok(isSeq(r.done) && r.done < r.seq, `done ${r.done} < seq ${r.seq}`);
  assert.type(r.msg, 'string');
  return r;
}

fuzz(
  'decodeRequest given any text returns one well-formed v3 request or throws a one-line SyntaxError, nothing else',
  5000,
  fc.oneof(frameText, nearRequest.map((o) => JSON.stringify(o))),
  (frame) => {
    requestOrRefuse(frame);
  },
);

fuzz(
  'a v3 request encoded decodes to the same session, seq, done and message',
  1000,
  fc
    .tuple(sessionId, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.nat(), fc.string({ unit: 'binary', maxLength: 60 }))
    .map(([session, seq, d, msg]) => ({ session, seq, done: d % seq, msg })),
  (request) => {
    assert.equal(requestOrRefuse(encodeRequest(request)), request);
  },
);

const anyValue = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

fuzz('whatever loop returns, its acknowledgement is a string and its v2 frame is valid JSON: encoding never throws', 2000, anyValue, (value) => {
  assert.type(ackText(value), 'string');
  JSON.parse(jsonValue(value));
  decodeOrRefuse(encodeAck(SUBPROTOCOL, value));
});

// ---------------------------------------------------------------------------------------
// stream queries

const NOW = 1_763_737_200;
/** The bound of ?last=N and ?after_seq=S: whole numbers of at most 15 digits. */
const MAX_WHOLE = 999_999_999_999_999;

/** Checks a policy is one the documentation describes, within its bounds. */
function inBounds(policy: DeliverPolicy): void {
  switch (policy.deliver) {
    case 'last':
      assert.ok(Number.isSafeInteger(policy.n) && policy.n >= 0 && policy.n <= MAX_WHOLE, `last n=${policy.n}`);
      break;
    case 'since':
      assert.ok(Number.isFinite(policy.time) && policy.time >= 0 && policy.time <= NOW + 5, `since time=${policy.time}`);
      break;
    case 'after':
      assert.ok(Number.isSafeInteger(policy.seq) && policy.seq >= 0 && policy.seq <= MAX_WHOLE, `after seq=${policy.seq}`);
      if ('epoch' in policy) assert.type(policy.epoch, 'string');
      break;
    case 'all':
    case 'new':
      assert.equal(Object.keys(policy), ['deliver']);
      break;
    default:
      assert.unreachable(`unknown policy ${JSON.stringify(policy)}`);
  }
}

/** Query values: numbers of every form, the accepted words, and what comes out of %-decoding. */
const queryValue = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom('', '0', '007', '-1', '1.5', '1e3', '0x10', ' 5', 'Infinity', 'NaN', 'all', 'true', '1', 'x', String(MAX_WHOLE), '9'.repeat(16), String(NOW), String(NOW + 6), '\n1\n'),
  fc.double().map(String),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const queryKey = fc.oneof(fc.constantFrom(...STREAM_QUERY_PARAMETERS), fc.constantFrom('unit', 'LAST', 'last ', ''), fc.string({ maxLength: 4 }));
const queryPairs = fc.array(fc.tuple(queryKey, queryValue), { maxLength: 5 });
const queryString = fc.oneof(
  queryPairs.map((pairs) => new URLSearchParams(pairs).toString()),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.array(fc.oneof(fc.constantFrom('last', 'since', 'after_seq', 'new', 'history', 'epoch', '=', '&', '%', '%0A', '%E2%80%A8', '%1B', '+', '%00', 'all'), fc.string({ maxLength: 3 })), { maxLength: 12 }).map((p) => p.join('')),
);

fuzz('parseDeliverPolicy never throws: any query gives a policy within the documented bounds or one line saying why not', 10_000, queryString, (query) => {
  const r = parseDeliverPolicy(new URLSearchParams(query), NOW);
  if (r.ok) inBounds(r.policy);
  else {
    oneLine(r.error, 'the error');
    assert.ok(r.error.length <= 300, `error of ${r.error.length} characters`);
  }
});

fuzz('?last=N and ?after_seq=S give back N and S for every whole number up to 15 digits, and refuse 16 digits', 2000, fc.integer({ min: 0, max: MAX_WHOLE }), (n) => {
  assert.equal(parseDeliverPolicy(new URLSearchParams(`last=${n}`), NOW), { ok: true, policy: { deliver: 'last', n } });
  assert.equal(parseDeliverPolicy(new URLSearchParams(`after_seq=${n}`), NOW), { ok: true, policy: { deliver: 'after', seq: n } });
  assert.is(parseDeliverPolicy(new URLSearchParams(`last=1${String(n).padStart(15, '0')}`), NOW).ok, false);
});

fuzz('?since=T gives back T for every time up to now + 5 s, and refuses one later', 2000, fc.double({ min: 0, max: NOW + 5, noNaN: true }), (t) => {
  assert.equal(parseDeliverPolicy(new URLSearchParams({ since: String(t) }), NOW), { ok: true, policy: { deliver: 'since', time: t } });
  assert.is(parseDeliverPolicy(new URLSearchParams({ since: String(NOW + 5 + 1 + t) }), NOW).ok, false);
});

fuzz('?epoch=E comes back as it was sent, whatever its characters', 1000, fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 30 })), ([seq, epoch]) => {
  const params = new URLSearchParams({ after_seq: String(seq), epoch });
  assert.equal(parseDeliverPolicy(new URLSearchParams(params.toString()), NOW), { ok: true, policy: { deliver: 'after', seq, epoch } });
});

fuzz('parameters that are not stream parameters change nothing', 2000, fc.tuple(queryPairs, queryPairs), ([pairs, noise]) => {
  const known = new Set<string>(STREAM_QUERY_PARAMETERS);
  const extra = noise.filter(([k]) => !known.has(k));
  const plain = parseDeliverPolicy(new URLSearchParams(pairs), NOW);
  const noisy = parseDeliverPolicy(new URLSearchParams([...extra, ...pairs]), NOW);
  assert.equal(noisy, plain);
});

// ---------------------------------------------------------------------------------------
// the upgrade check of a request URL

const DECLARED = ['/readings', '/a b', '/ü/x', '//double', '/%41'];
const host: StreamHost = { maxBuffered: 1 << 20, log: () => {}, now: () => NOW };
const hub = new StreamHub(Object.fromEntries(DECLARED.map((p) => [p, {}])), host);

/** Checks `url`: never a throw; an accepted channel starts with "/" and carries a policy exactly on a stream; a refusal is one bounded line. */
function checked(url: string) {
  let r: ReturnType<StreamHub['check']>;
  try {
    r = hub.check(url);
  } catch (err) {
    assert.unreachable(`check(${JSON.stringify(url).slice(0, 200)}) threw ${String(err)}`);
    throw err;
  }
  if (r.ok) {
    assert.type(r.channel, 'string');
    assert.ok(r.channel.startsWith('/'), `channel ${JSON.stringify(r.channel)} of ${JSON.stringify(url)}`);
    assert.is(r.policy !== undefined, hub.get(r.channel) !== undefined, `a policy exactly on a stream: ${JSON.stringify(r)}`);
    if (r.policy) inBounds(r.policy);
  } else {
    oneLine(r.error, 'the refusal');
    assert.ok(r.error.length <= 600, `refusal of ${r.error.length} characters for a URL of ${url.length}`);
  }
  return r;
}

/** A path as a client sends it: each segment percent-encoded. */
const encodePath = (segments: string[]) => segments.map(encodeURIComponent).join('/');
const percentSoup = fc
  .array(
    fc.oneof(
      fc.constantFrom('/', '//', '?', '#', '&', '=', '%', '%2', '%2F', '%2f', '%0A', '%0D', '%00', '%ZZ', '%C0%80', '%ED%A0%80', '%E2%80%A8', '%FF', '%25', '%2e', '%2E%2E', '..', '.', '\\', ' ', '\t', '\n', 'last=3', 'since=1', 'new', 'readings', 'a%20b', '%C3%BC', 'x', ':', '@', '[', ']', 'ws:', 'http://h'),
      fc.string({ maxLength: 3 }),
    ),
    { maxLength: 16 },
  )
  .map((parts) => parts.join(''));
const anyUrl = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  percentSoup,
  percentSoup.map((p) => `/${p}`),
  fc.webPath().map((p) => p || '/'),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.tuple(fc.constantFrom(...DECLARED), queryString).map(([p, q]) => `${encodePath(p.split('/'))}?${q}`),
);

/** Request URLs fuzzing found, kept as regression examples. */
const URL_EXAMPLES = [
  '//readings?last=3', // once the authority "readings" and the path "/": now the channel //readings
  '//double?last=1',
  '/readings?last=1%0A2',
  '/x%0Ay?new',
  '/%E2%80%A8?last=2',
  '/%',
  '//[',
  `/readings?last=${'9'.repeat(5000)}`,
  `/${'%0A'.repeat(3000)}?since=1`,
  'mailto:someone',
];

test('check: the regression URLs get an answer, in one line', () => {
  for (const url of URL_EXAMPLES) checked(url);
  const r = checked('//double?last=2');
  assert.equal(r, { ok: true, channel: '//double', policy: { deliver: 'last', n: 2 } });
  assert.equal(checked('//readings?new'), { ok: false, error: '//readings is not a stream, so ?new does not apply; streams here: /readings, /a b, /ü/x, //double, /%41' });
  assert.equal(checked('/readings?last=1%0A2'), {
    ok: false,
    error: '?last must be a whole number ≥ 0, got "1\\n2" (stream /readings; streams here: /readings, /a b, /ü/x, //double, /%41)',
  });
});

fuzz('check(url) never throws: any URL is accepted on a channel starting with "/", or refused with one bounded line', 10_000, anyUrl, (url) => {
  checked(url);
});

fuzz(
  'a percent-encoded path is the channel, decoded exactly (an empty first segment included)',
  2000,
  fc.array(fc.string({ unit: 'binary', maxLength: 6 }).filter((s) => s !== '.' && s !== '..'), { minLength: 1, maxLength: 4 }),
  (segments) => {
    const r = checked(`/${encodePath(segments)}`);
    assert.equal(r.ok && r.channel, `/${segments.join('/')}`);
  },
);

fuzz(
  'every declared stream is reached by its encoded path with the policy asked for',
  1000,
  fc.tuple(fc.constantFrom(...DECLARED), fc.integer({ min: 0, max: MAX_WHOLE }), fc.boolean()),
  ([path, n, encodeAll]) => {
    const encoded = encodeAll
      ? [...Buffer.from(path)].map((b) => (b === 0x2f ? '/' : `%${b.toString(16).padStart(2, '0')}`)).join('')
      : encodePath(path.split('/'));
    assert.equal(checked(`${encoded}?last=${n}`), { ok: true, channel: path, policy: { deliver: 'last', n } });
  },
);

// ---------------------------------------------------------------------------------------
// publishing: every item a stream sends is a frame its readers can decode

test('publish with a sample time that is not a finite number is refused, so no envelope is ever invalid JSON', () => {
  const h = new StreamHub({ '/t': {} }, host);
  for (const time of [NaN, Infinity, -Infinity]) {
    try {
      h.publish('/t', 1, { time });
      assert.unreachable(`published with time ${time}`);
    } catch (err) {
      assert.instance(err, SketchError);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      assert.match((err as Error).message, /time must be a finite number of seconds since the epoch/);
    }
  }
  assert.is(h.get('/t')!.history.size, 0, 'nothing was appended');
});

fuzz(
  'whatever is published, with whatever sample time, its v2 envelope decodes to the same item',
  1000,
  fc.tuple(anyValue, fc.option(fc.double(), { nil: undefined })),
  ([data, time]) => {
    const h = new StreamHub({}, host);
    try {
      h.publish('/p', data, time === undefined ? {} : { time });
    } catch (err) {
      assert.ok(!Number.isFinite(time), `only a non-finite time is refused, got ${String(err)}`);
      assert.is((err as SketchError).code, 'SKETCH_ERR_INVALID_OPTION');
      return;
    }
    const stream = h.get('/p')!;
    const item = stream.history.newest!;
    const reply = decodeOrRefuse(stream.envelope(item));
    assert.ok(reply && 'item' in reply, 'an item');
    if (reply && 'item' in reply) {
      assert.is(reply.item.seq, 1);
      assert.is(reply.item.time, time === undefined ? NOW : time === 0 ? 0 : time);
      assert.equal(reply.item.data, JSON.parse(item.json));
    }
  },
);

test('printable keeps text on one line and within its length, escaping what a terminal would act on', () => {
  assert.is(printable('a\nb\u2028c\u001b[31m\u202e'), 'a\\nb\\u2028c\\x1b[31m\\u202e');
  assert.is(printable('abcdef', 3), 'abc…');
  assert.is(printable('ab\ud83d\ude00', 3), 'ab…', 'no lone surrogate left by the cut');
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 50 }), fc.integer({ min: 0, max: 60 }), (text, max) => {
      const out = printable(text, max);
      oneLine(out, 'printable');
      assert.not.match(out, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
      if (text.length <= max) assert.ok(out.length >= text.length);
      else assert.ok(out.length <= 6 * max + 1);
    }),
    { seed, numRuns: 500 },
  );
});

test.run();

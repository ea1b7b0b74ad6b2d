import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDeliverPolicy } from '../runtime/streams/query.js';

const NOW = 1_763_737_200;
const parse = (q: string) => parseDeliverPolicy(new URLSearchParams(q), NOW);
const policy = (q: string) => {
  const r = parse(q);
  if (!r.ok) throw new Error(r.error);
  return r.policy;
};
const error = (q: string) => {
  const r = parse(q);
  if (r.ok) throw new Error(`accepted ${q}`);
  return r.error;
};

test('no query starts at the newest item, like a retained message', () => {
  assert.equal(policy(''), { deliver: 'last', n: 1 });
  assert.equal(policy('unit=C'), { deliver: 'last', n: 1 }, 'other parameters are ignored');
});

test('each start point parses to its policy', () => {
  assert.equal(policy('last=5'), { deliver: 'last', n: 5 });
  assert.equal(policy('history=all'), { deliver: 'all' });
  assert.equal(policy('new'), { deliver: 'new' });
  assert.equal(policy('since=1763737000.5'), { deliver: 'since', time: 1763737000.5 });
  assert.equal(policy('after_seq=42'), { deliver: 'after', seq: 42 });
  assert.equal(policy('after_seq=42&epoch=abc'), { deliver: 'after', seq: 42, epoch: 'abc' });
});

test('bad values are refused with one line saying what is wrong', () => {
  assert.match(error('last=x'), /^\?last must be a whole number ≥ 0, got "x"$/);
  assert.match(error('last=-1'), /\?last must be a whole number/);
  assert.match(error('history=some'), /\?history takes only "all"/);
  assert.match(error('since=soon'), /\?since must be a time in seconds/);
  assert.match(error(`since=${NOW + 3600}`), /is in the future/);
  assert.match(error('after_seq=1.5'), /\?after_seq must be a whole number/);
  assert.match(error('new=no'), /\?new takes no value/);
});

test('two start points at once are refused', () => {
  assert.match(error('last=3&new'), /choose one starting point, got \?last and \?new/);
  assert.match(error('last=3&last=4'), /given more than once/);
  assert.match(error('epoch=abc'), /\?epoch goes with \?after_seq/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Dedupe, type Outcome } from '../runtime/net/dedupe.js';

const ok = (value: unknown): Promise<Outcome> => Promise.resolve({ ok: true, value });

test('a request is applied once; a resent duplicate gets the first reply, even while the first is still running', async () => {
  const d = new Dedupe();
  let calls = 0;
  let finish!: (o: Outcome) => void;
  const first = d.run('/ s', 1, 0, () => {
    calls++;
    return new Promise((r) => (finish = r));
  });
  const again = d.run('/ s', 1, 0, () => {
    calls++;
    return ok('twice');
  });
  finish({ ok: true, value: 'once' });
  assert.equal(await first, { ok: true, value: 'once' });
  assert.equal(await again, { ok: true, value: 'once' });
  assert.is(calls, 1);
  assert.equal(await d.run('/ s', 2, 1, () => ok('two')), { ok: true, value: 'two' });
});

test('sessions are independent; what the sender holds (done) is forgotten, and a duplicate of it is refused, not applied', async () => {
  const d = new Dedupe();
  await d.run('/ a', 1, 0, () => ok('a1'));
  assert.equal(await d.run('/ b', 1, 0, () => ok('b1')), { ok: true, value: 'b1' });
  await d.run('/ a', 2, 1, () => ok('a2')); // done=1: reply 1 is released
  const dup = await d.run('/ a', 1, 1, () => ok('again'));
  assert.is(dup.ok, false);
  assert.is(!dup.ok && dup.code, 'SKETCH_ERR_DUPLICATE');
  assert.equal(await d.run('/ a', 2, 1, () => ok('again')), { ok: true, value: 'a2' });
});

test('replies held per session are bounded by the window; sessions by count and idle time', async () => {
  let now = 0;
  const d = new Dedupe({ window: 4, maxSessions: 3, sessionTtlMs: 1000, now: () => now });
  for (let seq = 1; seq <= 10; seq++) await d.run('/ s', seq, 0, () => ok(seq));
  assert.equal(await d.run('/ s', 7, 0, () => ok('x')), { ok: true, value: 7 }, 'within the window');
  assert.is((await d.run('/ s', 6, 0, () => ok('x'))).ok, false, 'beyond the window: refused, not applied');
  for (const k of ['a', 'b', 'c', 'd']) await d.run(`/ ${k}`, 1, 0, () => ok(k));
  assert.is(d.sessions, 3);
  now = 5000;
  await d.run('/ e', 1, 0, () => ok('e'));
  assert.is(d.sessions, 1, 'idle sessions forgotten');
  // a huge seq or done never makes it loop over the numbers in between
  const t0 = Date.now();
  await d.run('/ huge', 2 ** 52, 2 ** 52 - 1, () => ok('h'));
  await d.run('/ huge', 2 ** 53 - 1, 2 ** 53 - 2, () => ok('h'));
  assert.ok(Date.now() - t0 < 100);
});

test.run();

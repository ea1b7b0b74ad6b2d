import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SketchHost, type HostClock, type HostedSketch, type Sketch } from '../runtime/index.js';

/** What a fake sketch does: its run() and main() outcomes, and what it saw. */
interface Script {
  runFails?: () => Error | undefined;
  /** undefined: no main (serves until closed); 'forever': a main that ends when closed. */
  main?: 'resolve' | 'reject' | 'forever';
  seen?: { owner?: string; closed: number; said: string[] };
}

/** Stands for a Sketch: run()/main()/close()/out()/signal, no sockets. */
function fake(name: string, host: () => SketchHost, script: Script): Sketch {
  const abort = new AbortController();
  const seen = (script.seen ??= { closed: 0, said: [] });
  const s = {
    name,
    signal: abort.signal,
    out: (line: string) => seen.said.push(line),
    run: async () => {
      await Promise.resolve();
      seen.owner = host().owner();
      const err = script.runFails?.();
      if (err) throw err;
      return { host: '127.0.0.1', port: 1, url: '', name };
    },
    close: async () => {
      seen.closed++;
      abort.abort(new Error('closed'));
    },
    main:
      script.main === undefined
        ? undefined
        : async () => {
            if (script.main === 'resolve') return;
            if (script.main === 'reject') throw new Error('main broke\nsecond line');
            await new Promise((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason)));
          },
  };
  return s as unknown as Sketch;
}

/** A clock whose sleeps resolve when the test says, and whose time the test sets. */
function fakeClock() {
  let now = 0;
  const sleeps: Array<{ ms: number; wake: () => void }> = [];
  const clock: HostClock = {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        sleeps.push({ ms, wake: resolve });
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      }),
  };
  return { clock, sleeps, advance: (ms: number) => (now += ms) };
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick();
  assert.ok(cond(), 'condition reached');
}

function hosted(list: Array<[string, Script]>, hostRef: () => SketchHost): HostedSketch[] {
  return list.map(([name, script]) => ({ name, create: () => fake(name, hostRef, script) }));
}

test('a sketch whose run() fails stops alone, with one line; its neighbours keep running', async () => {
  const lines: string[] = [];
  let host!: SketchHost;
  host = new SketchHost(
    hosted(
      [
        ['buzzer', {}],
        ['broken', { runFails: () => Error('port 8090 is in use\nmore') }],
        ['iopin', {}],
      ],
      () => host,
    ),
    { log: (level, line) => lines.push(`${level} ${line}`) },
  );
  const done = host.start();
  await until(() => host.state('broken') === 'failed' && host.state('iopin') === 'running');
  assert.equal(host.states(), { buzzer: 'running', broken: 'failed', iopin: 'running' });
  assert.equal(lines, ['error broken: stopped: port 8090 is in use']);
  await host.stop();
  assert.equal(await done, { failed: true });
  assert.equal(host.states(), { buzzer: 'stopped', broken: 'failed', iopin: 'stopped' });
});

test('a sketch whose main() resolves ends stopped and closed; start() resolves once every sketch ended', async () => {
  const lines: string[] = [];
  const clock: Script = { main: 'resolve' };
  let host!: SketchHost;
  host = new SketchHost(hosted([['clock', clock]], () => host), { log: (level, line) => lines.push(`${level} ${line}`) });
  assert.equal(await host.start(), { failed: false });
  assert.is(host.state('clock'), 'stopped');
  assert.is(clock.seen!.closed, 1);
  assert.equal(lines, ['info clock: finished']);
});

test('a main() that rejects fails its sketch; the host reports failed once all ended', async () => {
  let host!: SketchHost;
  host = new SketchHost(hosted([['clock', { main: 'reject' }], ['tick', { main: 'resolve' }]], () => host), { log: () => {} });
  assert.equal(await host.start(), { failed: true });
  assert.equal(host.states(), { clock: 'failed', tick: 'stopped' });
});

test('on-failure: restarts after 1 s, doubling to the 30 s cap, one line each; starting again from 1 s after it ran 60 s', async () => {
  const lines: string[] = [];
  const { clock, sleeps, advance } = fakeClock();
  let failing = true;
  let host!: SketchHost;
  const script: Script = { main: 'forever', runFails: () => (failing ? new Error('not wired') : undefined) };
  host = new SketchHost(hosted([['flaky', script]], () => host), { restart: 'on-failure', clock, log: (level, line) => lines.push(`${level} ${line}`) });
  const done = host.start();
  for (let i = 0; i < 7; i++) {
    await until(() => sleeps.length === i + 1);
    assert.is(host.state('flaky'), 'restarting');
    sleeps[i]!.wake();
  }
  assert.equal(sleeps.map((s) => s.ms), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.is(host.restarts('flaky'), 7);
  assert.equal(lines.slice(0, 4), ['error flaky: stopped: not wired', 'warn flaky: restarting in 1 s (restart 1)', 'error flaky: stopped: not wired', 'warn flaky: restarting in 2 s (restart 2)']);
  // It starts, runs 60 s, then fails: the next wait is 1 s again.
  failing = false;
  await until(() => host.state('flaky') === 'running');
  advance(60_000);
  host.fail('flaky', new Error('uncaught: gone'));
  await until(() => sleeps.length === 8);
  assert.is(sleeps[7]!.ms, 1000);
  assert.match(lines.at(-2)!, /^error flaky: stopped: uncaught: gone$/);
  await host.stop();
  assert.equal(await done, { failed: false });
  assert.is(host.state('flaky'), 'stopped', 'a pending restart is cancelled by stop()');
});

test('with restart no, a failed sketch stays failed: no restart, no wait', async () => {
  const { clock, sleeps } = fakeClock();
  let host!: SketchHost;
  host = new SketchHost(hosted([['once', { runFails: () => new Error('no') }]], () => host), { clock, log: () => {} });
  assert.equal(await host.start(), { failed: true });
  assert.equal(sleeps, []);
  assert.is(host.restarts('once'), 0);
});

test("code a sketch runs is attributed to it (owner()), and fail(name) stops that sketch alone", async () => {
  const a: Script = {};
  const b: Script = {};
  let host!: SketchHost;
  host = new SketchHost(hosted([['a', a], ['b', b]], () => host), { log: () => {} });
  const done = host.start();
  await until(() => host.state('a') === 'running' && host.state('b') === 'running');
  assert.is(a.seen!.owner, 'a');
  assert.is(b.seen!.owner, 'b');
  assert.is(host.owner(), undefined, 'outside any sketch');
  assert.ok(host.fail('a', new Error('timer threw')));
  await until(() => host.state('a') === 'failed');
  assert.is(host.state('b'), 'running');
  assert.is(a.seen!.closed, 1, 'the failed sketch is closed');
  assert.not.ok(host.fail('a', new Error('again')), 'nothing to fail any more');
  await host.stop();
  await done;
});

test('stop() closes every sketch newest first, each saying why first', async () => {
  const said: string[] = [];
  let host!: SketchHost;
  const scripts: Array<[string, Script]> = ['buzzer', 'iopin', 'clock'].map((n) => [n, { main: n === 'clock' ? 'forever' : undefined }]);
  host = new SketchHost(hosted(scripts, () => host), { log: () => {} });
  const done = host.start();
  await until(() => Object.values(host.states()).every((s) => s === 'running'));
  for (const [name, s] of scripts) s.seen!.said.push = (line: string) => said.push(`${name}: ${line}`);
  await host.stop('SIGTERM: stopping');
  assert.equal(said, ['clock: SIGTERM: stopping', 'iopin: SIGTERM: stopping', 'buzzer: SIGTERM: stopping']);
  assert.equal(await done, { failed: false });
  assert.equal(host.states(), { buzzer: 'stopped', iopin: 'stopped', clock: 'stopped' });
});

test('a host needs sketches with unique names and a known restart policy', () => {
  assert.throws(() => new SketchHost([]), /at least one sketch/);
  const s = { name: 'x', create: () => ({}) as Sketch };
  assert.throws(() => new SketchHost([s, s]), /two sketches are named "x"/);
  assert.throws(() => new SketchHost([s], { restart: 'always' as 'no' }), /restart must be one of no, on-failure/);
  assert.throws(() => new SketchHost([s], { backoff: { initialMs: -1 } }), /backoff.initialMs must be a number of ms ≥ 0/);
});

test.run();

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatGap, formatItem, parseSince, parseTapTarget } from '../bin/tap.js';
import { cli, runCli, withCli } from './helpers/net.js';

const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);
/** A simulated thermometer publishing on /readings every 50 ms, announced as `name`, printing each reading (--verbose). */
const thermometer = (name: string) => ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', name, '--verbose'];
/** `<seq> <ISO 8601 UTC with ms> <compact JSON>` */
const ITEM_LINE = /^(\d+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\{.*\})$/;
const lines = (text: string) => text.split('\n').filter((l) => l !== '');

/** One line on stderr, starting `sketch: `, no stack trace. */
function oneClearLine(stderr: string, pattern: RegExp) {
  assert.is(lines(stderr).length, 1, stderr);
  assert.match(stderr, /^sketch: /);
  assert.match(stderr, pattern);
}

test('sketch tap NAME --count 3 prints three readings with increasing seq and sample times, exit 0', async () => {
  const name = unique('tapped');
  await withCli(thermometer(name), /announced as/, async () => {
    const r = await runCli(['tap', name, '--count', '3']);
    assert.is(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    assert.is(out.length, 3, r.stdout);
    const parsed = out.map((l) => {
      const m = ITEM_LINE.exec(l);
      assert.ok(m, `an item line: ${l}`);
      return { seq: Number(m[1]), iso: m[2]!, data: JSON.parse(m[3]!) as { time: number; temperature: number; unit: string } };
    });
    for (let i = 1; i < 3; i++) assert.ok(parsed[i]!.seq > parsed[i - 1]!.seq, r.stdout);
    for (const p of parsed) {
      assert.is(p.data.unit, '°C');
      // The thermometer samples with the reading's own time: the line shows that sample time.
      assert.is(p.iso, new Date(Math.round(p.data.time * 1000)).toISOString());
    }
  });
});

test('sketch tap NAME --json --last 5 prints five JSON envelopes with consecutive seq', async () => {
  const name = unique('tapjson');
  await withCli(thermometer(name), /announced as/, async (sketch) => {
    await sketch.waitFor(/(?:.*°C from simulated.*\n){8}/); // at least 8 readings held
    const r = await runCli(['tap', name, '--json', '--last', '5', '--count', '5']);
    assert.is(r.code, 0, r.stderr);
    const out = lines(r.stdout).map((l) => JSON.parse(l) as { stream: string; seq: number; time: number; published: number; data: unknown });
    assert.is(out.length, 5, r.stdout);
    for (const [i, item] of out.entries()) {
      assert.is(item.stream, '/readings');
      assert.type(item.time, 'number');
      assert.type(item.published, 'number');
      assert.type(item.data, 'object');
      if (i > 0) assert.is(item.seq, out[i - 1]!.seq + 1);
    }
    assert.ok(out[0]!.seq > 1, 'history, not the first items');
  });
});

test('sketch tap ws://127.0.0.1:PORT/readings taps by URL, and a bare ws://HOST:PORT picks the only stream', async () => {
  const name = unique('tapurl');
  await withCli(thermometer(name), /announced as/, async (sketch) => {
    const port = portOf(sketch.stdout());
    for (const url of [`ws://127.0.0.1:${port}/readings`, `ws://127.0.0.1:${port}`]) {
      const r = await runCli(['tap', url, '--count', '2']);
      assert.is(r.code, 0, `${url}: ${r.stderr}`);
      const out = lines(r.stdout);
      assert.is(out.length, 2, r.stdout);
      for (const l of out) assert.match(l, ITEM_LINE);
    }
  });
});

test('sketch tap NAME/redings exits 1 with one line naming the streams it has', async () => {
  const name = unique('taptypo');
  await withCli(thermometer(name), /announced as/, async (sketch) => {
    const byName = await runCli(['tap', `${name}/redings`]);
    assert.is(byName.code, 1);
    assert.is(byName.stdout, '');
    oneClearLine(byName.stderr, new RegExp(`${name} has no stream /redings; its streams: /readings$`, 'm'));
    const byUrl = await runCli(['tap', `ws://127.0.0.1:${portOf(sketch.stdout())}/redings`]);
    assert.is(byUrl.code, 1);
    oneClearLine(byUrl.stderr, /has no stream \/redings; its streams: \/readings$/m);
  });
});

test('a subscription the sketch refuses with HTTP 400 exits 1 with its reason on one line', async () => {
  const name = unique('tap400');
  await withCli(thermometer(name), /announced as/, async (sketch) => {
    const r = await runCli(['tap', `ws://127.0.0.1:${portOf(sketch.stdout())}/readings?last=many`]);
    assert.is(r.code, 1);
    oneClearLine(r.stderr, /HTTP 400\): \?last must be a whole number ≥ 0, got "many"/);
  });
});

test('sketch ls shows /readings in the STREAMS column of a thermometer and - for a sketch without streams', async () => {
  const name = unique('lsstreams');
  const other = unique('lsnostreams');
  await withCli(thermometer(name), /announced as/, async () => {
    await withCli(['run', 'iopin', '--name', other], /announced as/, async () => {
      const table = await runCli(['ls']);
      assert.is(table.code, 0, table.stderr);
      assert.match(table.stdout, /NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS/);
      assert.match(table.stdout, new RegExp(`^${name}\\s+thermometer\\s+\\S+\\s+\\d+\\s+3\\s+/readings\\s+\\w+\\s+\\d+$`, 'm'));
      assert.match(table.stdout, new RegExp(`^${other}\\s+iopin\\s+\\S+\\s+\\d+\\s+3\\s+-\\s+\\w+\\s+\\d+$`, 'm'));
      const json = await runCli(['ls', '--json', '--timeout', '0.5']);
      const found = JSON.parse(json.stdout) as Array<{ name: string; streams: string[] }>;
      assert.equal(found.find((f) => f.name === name)?.streams, ['/readings']);
      assert.equal(found.find((f) => f.name === other)?.streams, []);
    });
  });
});

test('SIGINT stops sketch tap with exit 0 after the lines it printed', async () => {
  const name = unique('tapint');
  await withCli(thermometer(name), /announced as/, async () => {
    const tap = cli(['tap', name]);
    await tap.waitFor(/^\d+ .*\n\d+ /m); // two items
    tap.child.kill('SIGINT');
    assert.is(await tap.exited(5000), 0, tap.stderr());
    assert.is(tap.stderr(), '');
    for (const l of lines(tap.stdout())) assert.match(l, ITEM_LINE);
  });
});

test('the sketch stopping (close 1001) ends sketch tap with exit 0 and one line on stderr', async () => {
  const name = unique('tapstop');
  const sketch = cli(thermometer(name));
  try {
    await sketch.waitFor(/announced as/);
    const tap = cli(['tap', name]);
    await tap.waitFor(/^\d+ /m);
    sketch.child.kill('SIGTERM');
    assert.is(await tap.exited(5000), 0, tap.stderr());
    oneClearLine(tap.stderr(), /closed the stream \/readings \(1001/);
  } finally {
    sketch.child.kill('SIGTERM');
    await sketch.exited();
  }
});

test('sketch tap with two starting points, a bad --count or a URL of another scheme is a usage error, exit 2', async () => {
  for (const args of [
    ['tap', 'x', '--last', '3', '--all'],
    ['tap', 'x', '--since', '1', '--last', '2'],
    ['tap', 'x', '--count', '0'],
    ['tap', 'ftp://127.0.0.1:1/readings'], // http:// is read as ws://
  ]) {
    const r = await runCli(args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.split('\n')[0]!, /^sketch: /);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('sketch tap of a name nobody announces prints the peer-not-found line, exit 1', async () => {
  const r = await runCli(['tap', unique('ghost'), '--discover-timeout', '0.3']);
  assert.is(r.code, 1);
  oneClearLine(r.stderr, /no sketch named ".*" answered over mDNS within 0\.3 s/);
});

test('targets, --since values, item and gap lines are read and written as documented', () => {
  assert.equal(parseTapTarget('thermometer'), { kind: 'name', name: 'thermometer' });
  assert.equal(parseTapTarget('thermometer (2)/readings'), { kind: 'name', name: 'thermometer (2)', path: '/readings' });
  const byUrl = parseTapTarget('ws://127.0.0.1:4000/readings?last=2');
  assert.is(byUrl.kind === 'url' && byUrl.url.search, '?last=2');
  assert.is(byUrl.path, '/readings');
  assert.is(parseTapTarget('ws://127.0.0.1:4000').path, '/'); // no path: the only stream
  assert.is(parseTapTarget('http://127.0.0.1:4000/readings').path, '/readings'); // http:// is ws://
  assert.throws(() => parseTapTarget('ftp://127.0.0.1:4000/readings'), /ftp:\/\/ is not supported/);
  assert.is(parseSince('1763737200.125'), 1763737200.125);
  assert.is(parseSince('2025-11-21T15:00:00.125Z'), 1763737200.125);
  assert.is(parseSince('yesterday'), undefined);
  assert.is(
    formatItem({ stream: '/readings', seq: 42, time: 1763737200.125, published: 1763737200.127, data: { temperature: 23.125, unit: '°C' } }),
    '42 2025-11-21T15:00:00.125Z {"temperature":23.125,"unit":"°C"}',
  );
  assert.is(formatGap({ stream: '/readings', from: 3, to: 5, reason: 'evicted' }), '# gap 3–5 (evicted)');
  assert.is(formatGap({ stream: '/readings', from: 7, to: 7, reason: 'dropped' }), '# gap 7 (dropped)');
});

test.run();

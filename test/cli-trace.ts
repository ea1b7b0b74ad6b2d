import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatMs, formatTrace, traceTree, type TraceSpan } from '../runtime/net/trace-client.js';
import { cli, runCli, type Cli } from './helpers/net.js';

const id = `${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const [BUZZER, IOPIN, CLOCK] = ['buzzer', 'iopin', 'clock'].map((k) => `${k}-${id}`) as [string, string, string];

/** A span of trace `t` kept by `sketch`: starts `at` ms after a fixed epoch and lasts `ms`. */
function span(sketch: string, spanId: string, parent: string | undefined, name: string, kind: TraceSpan['kind'], at: number, ms: number, attributes: Record<string, string> = {}, error?: string): TraceSpan {
  const ns = (v: number) => String(1_700_000_000_000_000_000n + BigInt(Math.round(v * 1e6)));
  return {
    sketch,
    traceId: 'ab'.repeat(16),
    spanId: spanId.padStart(16, '0'),
    ...(parent ? { parentSpanId: parent.padStart(16, '0') } : {}),
    name,
    kind,
    startTimeUnixNano: ns(at),
    endTimeUnixNano: ns(at + ms),
    attributes: { 'sketch.name': sketch, ...attributes },
    status: error ? { code: 'error', message: error } : { code: 'ok' },
  };
}

test('a tick with fan-out becomes one hop clock → iopin with a child hop per bit, timed by the sender’s send span', () => {
  const spans = [
    span('buzzer', 'b2', 'i4', 'receive /', 'server', 402.0, 0.2, { 'sketch.from': 'iopin', 'sketch.message': '0' }),
    span('clock', 'c1', undefined, 'tick 3', 'internal', 0, 403),
    span('clock', 'c2', 'c1', 'send iopin', 'client', 0.5, 402.1, { 'sketch.peer': 'iopin', 'sketch.message': '3', 'sketch.ack': '{"bits":[1,0]}' }),
    span('iopin', 'i1', 'c2', 'receive /', 'server', 0.7, 401.8, { 'sketch.from': 'clock', 'sketch.message': '3' }),
    span('iopin', 'i2', 'i1', 'loop /', 'internal', 0.8, 401.5),
    span('iopin', 'i3', 'i2', 'send buzzer', 'client', 1.0, 0.41, { 'sketch.peer': 'buzzer', 'sketch.message': '1', 'sketch.ack': 'bzzz' }),
    span('buzzer', 'b1', 'i3', 'receive /', 'server', 1.1, 0.2, { 'sketch.from': 'iopin', 'sketch.message': '1' }),
    span('buzzer', 'b1l', 'b1', 'loop /', 'internal', 1.15, 0.05),
    span('iopin', 'i4', 'i2', 'send buzzer', 'client', 401.9, 0.38, { 'sketch.peer': 'buzzer', 'sketch.message': '0', 'sketch.ack': '...' }),
  ];
  const tree = traceTree('ab'.repeat(16), spans);
  assert.equal(tree.root, { name: 'tick 3', sketch: 'clock' });
  assert.is(tree.hops.length, 1);
  const [top] = tree.hops;
  assert.equal([top!.from, top!.to, top!.ms, top!.loopMs], ['clock', 'iopin', 402.1, 401.5]);
  assert.equal(top!.children.map((h) => [h.from, h.to, h.ms, h.message, h.ack]), [
    ['iopin', 'buzzer', 0.41, '1', 'bzzz'],
    ['iopin', 'buzzer', 0.38, '0', '...'],
  ]);
  assert.equal(formatTrace(tree), [
    `trace ${'ab'.repeat(16)}  tick 3`,
    'clock → iopin 402.1 ms (loop 401.5 ms)  "3" → {"bits":[1,0]}',
    '  iopin → buzzer 0.41 ms (loop 0.05 ms)  "1" → bzzz',
    '  iopin → buzzer 0.38 ms  "0" → ...',
  ]);
});

test('a request from outside (no send span above it) is a hop timed by its receive span; a failed hop shows its error', () => {
  const spans = [
    span('iopin', 'i1', undefined, 'receive /', 'server', 0, 5, { 'sketch.from': '127.0.0.1:50000', 'sketch.message': '7' }),
    span('iopin', 'i2', 'i1', 'loop /', 'internal', 0.1, 4.8),
    span('iopin', 'i3', 'i2', 'send buzzer', 'client', 0.2, 4.5, { 'sketch.peer': 'buzzer', 'sketch.message': 'x' }, 'buzzer replied with an error (SKETCH_ERR_BAD_MESSAGE): not 0 or 1'),
  ];
  const lines = formatTrace(traceTree('ab'.repeat(16), spans, [{ sketch: 'buzzer', why: 'it keeps no spans' }]));
  assert.equal(lines, [
    `trace ${'ab'.repeat(16)}  receive /`,
    '127.0.0.1:50000 → iopin 5.00 ms (loop 4.80 ms)  "7"',
    '  iopin → buzzer 4.50 ms  "x" ✗ buzzer replied with an error (SKETCH_ERR_BAD_MESSAGE): not 0 or 1',
    '  (buzzer: no spans: it keeps no spans)',
  ]);
  assert.equal([formatMs(0.414), formatMs(40.25), formatMs(402.14), formatMs(1234.5), formatMs(null)], ['0.41 ms', '40.25 ms', '402.1 ms', '1235 ms', '? ms']);
});

/** Starts `sketch run ARGS…` and waits until it serves. */
async function started(args: string[]): Promise<Cli> {
  const c = cli(['run', ...args]);
  await c.waitFor(/serving on /);
  return c;
}

test('sketch trace iopin --count 2 prints two trees of the running circuit: clock → iopin, and iopin → buzzer per bit, with ms figures', async () => {
  const buzzer = await started(['buzzer', '--name', BUZZER, '--gpio', 'virtual']);
  const iopin = await started(['iopin', '--name', IOPIN, '--to', BUZZER, '--bit-ms', '0', '--gpio', 'virtual']);
  const clock = await started(['clock', '--name', CLOCK, '--to', IOPIN, '--tacks', '1000', '--delay', '0.2']);
  const quiet = await started(['buzzer', '--name', `quiet-${id}`, '--gpio', 'virtual', '--no-trace']);
  const idle = await started(['buzzer', '--name', `idle-${id}`, '--gpio', 'virtual']);
  try {
    const r = await runCli(['trace', IOPIN, '--count', '2'], {}, 20_000);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stderr, '');
    const blocks = r.stdout.trim().split('\n\n');
    assert.is(blocks.length, 2, r.stdout);
    const traces = new Set<string>();
    for (const block of blocks) {
      const [head, top, ...bits] = block.split('\n');
      const m = /^trace ([0-9a-f]{32}) {2}tick \d+$/.exec(head!);
      assert.ok(m, head);
      traces.add(m![1]!);
      assert.match(top!, new RegExp(`^${CLOCK} → ${IOPIN} \\d+\\.\\d+ ms \\(loop \\d+\\.\\d+ ms\\) {2}"\\d+" → \\{"bits":`));
      assert.ok(bits.length >= 1, block);
      for (const b of bits) assert.match(b, new RegExp(`^ {2}${IOPIN} → ${BUZZER} \\d+\\.\\d+ ms \\(loop \\d+\\.\\d+ ms\\) {2}"[01]" → (bzzz|\\.\\.\\.)$`));
    }
    assert.is(traces.size, 2, 'two requests, two traces');

    const json = await runCli(['trace', IOPIN, '--json'], {}, 20_000);
    assert.is(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split('\n');
    assert.is(lines.length, 1);
    const t = JSON.parse(lines[0]!) as { traceId: string; root: { name: string; sketch: string }; hops: Array<{ from: string; to: string; ms: number; children: Array<{ from: string; to: string; ms: number }> }>; spans: Array<{ traceId: string; sketch: string }> };
    assert.match(t.root.name, /^tick \d+$/);
    assert.is(t.root.sketch, CLOCK);
    assert.equal([t.hops.length, t.hops[0]!.from, t.hops[0]!.to], [1, CLOCK, IOPIN]);
    assert.ok(t.hops[0]!.ms > 0);
    assert.ok(t.hops[0]!.children.length >= 1 && t.hops[0]!.children.every((h) => h.from === IOPIN && h.to === BUZZER && h.ms > 0));
    assert.ok(t.spans.every((s) => s.traceId === t.traceId));
    assert.equal(new Set(t.spans.map((s) => s.sketch)), new Set([CLOCK, IOPIN, BUZZER]));

    const unknown = await runCli(['trace', `nosuch-${id}`, '--discover-timeout', '1']);
    assert.is(unknown.code, 1);
    assert.is(unknown.stdout, '');
    assert.match(unknown.stderr, new RegExp(`^sketch: no sketch named "nosuch-${id}" answered over mDNS within 1 s: [^\\n]*\\n$`));

    const untraced = await runCli(['trace', `quiet-${id}`]);
    assert.is(untraced.code, 1);
    assert.match(untraced.stderr, new RegExp(`^sketch: sketch "quiet-${id}" keeps no spans \\(sketch "quiet-${id}" runs with --no-trace: it keeps no spans\\): start it without --no-trace[^\\n]*\\n$`));

    const waited = await runCli(['trace', `idle-${id}`, '--timeout', '1.5']);
    assert.is(waited.code, 1);
    assert.is(waited.stderr, `sketch: "idle-${id}" handled no request within 1.5 s: is anything sending to it? (wait longer with --timeout SECONDS)\n`);
  } finally {
    for (const c of [clock, iopin, buzzer, quiet, idle]) c.child.kill('SIGTERM');
    await Promise.all([clock, iopin, buzzer, quiet, idle].map((c) => c.exited()));
  }
});

test.run();

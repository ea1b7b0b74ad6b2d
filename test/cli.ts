import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import BonjourService from 'bonjour-service';
import { cli, withCli, closed, connect, runCli, sleep } from './helpers/net.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/sketches/${name}`, import.meta.url));
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);

/** One clear line on stderr: no stack trace. */
function oneClearLine(stderr: string, pattern: RegExp) {
  const first = stderr.split('\n')[0]!;
  assert.match(first, pattern);
  assert.match(first, /^sketch: /);
  assert.not.match(stderr, /\n\s+at /, 'no stack trace');
}

test('sketch run iopin and sketch run clock --tacks 3 find each other and exchange acknowledged ticks', async () => {
  const name = unique('iopin');
  const iopin = cli(['run', 'iopin', '--name', name]);
  try {
    await iopin.waitFor(/announced as/);
    const clock = await runCli(['run', 'clock', '--tacks', '3', '--delay', '0', '--to', name]);
    assert.is(clock.code, 0, clock.stderr);
    const lines = clock.stdout.split('\n').map((l) => l.replace(/^\S+Z /, '')).filter((l) => /^\[ Clock \] [<>]/.test(l)); // without the time piped lines start with
    assert.is(lines.length, 6);
    for (let i = 0; i < 3; i++) {
      assert.is(lines[2 * i], `[ Clock ] > ${i}`);
      assert.match(lines[2 * i + 1]!, /^\[ Clock \] < \[[01],[01],[01]\]$/);
    }
    await iopin.waitFor(/new tick triggered on \/: 2/);
    assert.match(iopin.stdout(), /\[ [^\]]+ \] new tick triggered on \/: 0/);
  } finally {
    iopin.child.kill('SIGINT');
    assert.is(await iopin.exited(), 0);
  }
});

test('SIGINT and SIGTERM stop a sketch gracefully: clients get 1001, mDNS a goodbye, exit 0 within 2 s', async () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const name = unique('stop');
    const bonjour = new BonjourService();
    const browser = bonjour.find({ type: 'sketch' });
    const down = new Promise<void>((r) => browser.on('down', (s) => s.name === name && r()));
    const iopin = cli(['run', 'iopin', '--name', name]);
    await iopin.waitFor(/announced as/);
    const ws = await connect(`ws://127.0.0.1:${portOf(iopin.stdout())}/`);
    const code = closed(ws);
    await sleep(100);
    const t0 = Date.now();
    iopin.child.kill(signal);
    assert.is(await iopin.exited(), 0);
    assert.ok(Date.now() - t0 < 2000, `stopped in ${Date.now() - t0} ms`);
    assert.is(await code, 1001);
    await Promise.race([down, sleep(1500).then(() => Promise.reject(new Error('no mDNS goodbye')))]);
    browser.stop();
    bonjour.destroy();
  }
});

test('sketch ls lists the running sketches with kind, address, port, protocol and streams', async () => {
  const name = unique('listed');
  await withCli(['run', 'iopin', '--name', name], /announced as/, async (iopin) => {
    const table = await runCli(['ls']);
    assert.is(table.code, 0);
    assert.match(table.stdout, /NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS/);
    assert.match(table.stdout, new RegExp(`${name}\\s+iopin\\s+127\\.0\\.0\\.1\\s+${portOf(iopin.stdout())}\\s+3\\s+-`));
    const json = await runCli(['ls', '--json', '--timeout', '0.5']);
    const found = JSON.parse(json.stdout) as Array<{ name: string; port: number }>;
    assert.is(found.find((f) => f.name === name)?.port, portOf(iopin.stdout()));
  });
});

test('sketch send prints one acknowledgement per message, by name and by URL', async () => {
  const name = unique('sendee');
  await withCli(['run', 'iopin', '--name', name, '--sequence', '2'], /announced as/, async (iopin) => {
    const byName = await runCli(['send', name, 'a', 'b']);
    assert.is(byName.code, 0, byName.stderr);
    assert.match(byName.stdout, /^\[[01],[01]\]\n\[[01],[01]\]\n$/);
    const byUrl = await runCli(['send', `ws://127.0.0.1:${portOf(iopin.stdout())}/x`, 'c']);
    assert.is(byUrl.code, 0, byUrl.stderr);
    await iopin.waitFor(/new tick triggered on \/x: c/);
  });
});

test('a TypeScript sketch file outside any package runs without a build step', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-user-'));
  const file = path.join(dir, 'greeter.ts');
  copyFileSync(fixture('greeter.ts'), file);
  const help = await runCli(['run', file, '--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /--greeting\s+word to greet with/);
  await withCli(['run', file, '--no-mdns', '--greeting', 'hi', '--host', '127.0.0.1'], /serving on/, async (greeter) => {
    const sent = await runCli(['send', `ws://127.0.0.1:${portOf(greeter.stdout())}/door`, 'you']);
    assert.is(sent.stdout, 'hi you on /door\n', sent.stderr);
  });
});

test('sketch run clock --help lists the clock options with their defaults', async () => {
  const r = await runCli(['run', 'clock', '--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--tacks\s+number of ticks to send.*\[default: 5\]/);
  assert.match(r.stdout, /--delay\s+seconds between ticks.*\[default: 1\]/);
  assert.match(r.stdout, /--to\s+.*\[default: "iopin"\]/s);
});

test('an unknown option prints one line naming the closest option, then the hint, exit 2', async () => {
  const r = await runCli(['run', 'clock', '--tackz', '3']);
  assert.is(r.code, 2);
  oneClearLine(r.stderr, /^sketch: unknown option --tackz \(did you mean --tacks\?\)$/);
  assert.is(r.stderr.split('\n')[1], "run 'sketch run clock --help' for the options"); // see test/cli-usage.ts
});

test('a bad option value prints one line naming the flag and the usage, exit 2', async () => {
  for (const [args, pattern] of [
    [['run', 'clock', '--tacks', '-1'], /--tacks must be an integer ≥ 0, got -1/],
    [['run', 'clock', '--tacks', '2.5'], /--tacks must be an integer ≥ 0, got 2.5/],
    [['run', 'iopin', '--chance', '2'], /--chance must be a number from 0 to 1, got 2/],
    [['run', 'iopin', '--port', '70000'], /--port must be an integer from 0 to 65535, got 70000/],
    [['run', 'clock', '--delay', 'soon'], /--delay must be a number ≥ 0, got a non-number/],
  ] as const) {
    const r = await runCli([...args]);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    oneClearLine(r.stderr, pattern);
  }
});

test('an unknown sketch name prints one line listing the built-ins, exit 2', async () => {
  const r = await runCli(['run', 'toaster']);
  assert.is(r.code, 2);
  oneClearLine(r.stderr, /unknown sketch "toaster": use a built-in \(clock, iopin.*\) or a path to a \.ts\/\.js file/);
});

test('an unreadable or broken sketch file prints one line, exit 1', async () => {
  const missing = await runCli(['run', './no/such/sketch.ts']);
  assert.is(missing.code, 1);
  oneClearLine(missing.stderr, /cannot load sketch file \.\/no\/such\/sketch\.ts: ENOENT/);
  const broken = await runCli(['run', fixture('broken.ts')]);
  assert.is(broken.code, 1);
  oneClearLine(broken.stderr, /broken\.ts:\d+:\d+: syntax error: /); // then the line and a caret (test/cli-authoring.ts)
});

test('a file without a Sketch default export prints one line, exit 1', async () => {
  const r = await runCli(['run', fixture('not-a-sketch.ts')]);
  assert.is(r.code, 1);
  oneClearLine(r.stderr, /not-a-sketch\.ts has no default export extending Sketch/);
});

test('a port already in use prints one line suggesting another port, exit 1', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  const r = await runCli(['run', 'iopin', '--host', '127.0.0.1', '--port', String(port)]);
  blocker.close();
  assert.is(r.code, 1);
  oneClearLine(r.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use: .*--port`));
});

test('a clock whose peer is not found prints one line naming it and suggesting sketch ls, exit 1', async () => {
  const r = await runCli(['run', 'clock', '--to', 'ghost', '--discover-timeout', '0.5', '--tacks', '1']);
  assert.is(r.code, 1);
  oneClearLine(r.stderr, /no sketch named "ghost" answered over mDNS within 0\.5 s: .*sketch ls/);
});

test('a clock whose peer vanishes mid-run retries, then prints one line, exit 1', async () => {
  const name = unique('vanish');
  const iopin = cli(['run', 'iopin', '--name', name]);
  await iopin.waitFor(/announced as/);
  const clock = cli(['run', 'clock', '--to', name, '--tacks', '100', '--delay', '0.05']);
  await clock.waitFor(/< .*\n(.|\n)*< /);
  iopin.child.kill('SIGKILL');
  await iopin.exited();
  assert.is(await clock.exited(20000), 1);
  assert.match(clock.stdout(), /retrying in \d+ ms/);
  oneClearLine(clock.stderr(), /(peer .* unreachable|no sketch named ".*" answered)/);
});

test('--no-mdns serves without announcing and --to ws:// skips discovery', async () => {
  await withCli(['run', 'iopin', '--no-mdns'], /serving on .*\(mDNS off\)/, async (iopin) => {
    const clock = await runCli(['run', 'clock', '--no-mdns', '--tacks', '2', '--delay', '0', '--to', `ws://127.0.0.1:${portOf(iopin.stdout())}/`]);
    assert.is(clock.code, 0, clock.stderr);
    const byName = await runCli(['run', 'clock', '--no-mdns', '--tacks', '1']);
    assert.is(byName.code, 1);
    oneClearLine(byName.stderr, /mDNS is off \(--no-mdns\)/);
  });
});

void writeFileSync;
test.run();

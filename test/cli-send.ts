import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sendLines, stdinRequested, STDIN_WINDOW } from '../bin/send.js';
import { cli, runCli, withCli, type Cli } from './helpers/net.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/sketches/${name}`, import.meta.url));
const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (sketch: Cli) => Number(/serving on [^:]+:(\d+)/.exec(sketch.stdout())![1]);
/** A greeter (acknowledges `m` with `hello m on /`) on loopback, without mDNS. */
const GREETER = ['run', fixture('greeter.ts'), '--no-mdns', '--host', '127.0.0.1'];
/** A buzzer on a virtual pin (acknowledges 1 with bzzz, 0 with ..., anything else with an error reply). */
const BUZZER = ['run', 'buzzer', '--gpio', 'virtual', '--no-mdns', '--host', '127.0.0.1'];

/** Writes `text` to the child's stdin. */
const type = (c: Cli, text: string) => new Promise<void>((resolve, reject) => c.child.stdin!.write(text, (err) => (err ? reject(err) : resolve())));

// --- stdin: `sketch send PEER -` -------------------------------------------------------------

test('- reads the messages from stdin, one per line, and prints each acknowledgement as it comes (tail -f)', async () => {
  await withCli(GREETER, /serving on/, async (greeter) => {
    const send = cli(['send', `127.0.0.1:${portOf(greeter)}`, '-']);
    // Each acknowledgement shows while stdin is still open: a line at a time, as `tail -f` feeds it.
    await type(send, 'first\n');
    await send.waitFor(/^hello first on \/\n$/);
    await type(send, 'second line\n\n'); // a blank line is not sent
    await send.waitFor(/^hello first on \/\nhello second line on \/\n$/);
    await type(send, '-1\r\nlast');
    send.child.stdin!.end(); // end of input ends the command; an unterminated last line counts
    assert.is(await send.exited(), 0, send.stderr());
    assert.is(send.stdout(), 'hello first on /\nhello second line on /\nhello -1 on /\nhello last on /\n');
    assert.is(send.stderr(), '');
  });
});

test(`more lines than the read-ahead window (${STDIN_WINDOW}) piped at once are all acknowledged, in order`, async () => {
  await withCli(GREETER, /serving on/, async (greeter) => {
    const count = STDIN_WINDOW * 3 + 7;
    const send = cli(['send', `ws://127.0.0.1:${portOf(greeter)}`, '-']);
    send.child.stdin!.end(Array.from({ length: count }, (_, i) => `m${i}`).join('\n') + '\n');
    assert.is(await send.exited(), 0, send.stderr());
    assert.equal(send.stdout().split('\n').slice(0, -1), Array.from({ length: count }, (_, i) => `hello m${i} on /`));
  });
});

test('an error reply to a stdin line goes to stderr and makes the exit status 1; the lines after it are still sent', async () => {
  await withCli(BUZZER, /serving on/, async (buzzer) => {
    const send = cli(['send', `http://127.0.0.1:${portOf(buzzer)}`, '-']);
    send.child.stdin!.end('1\nbeep\n0\n');
    assert.is(await send.exited(), 1);
    assert.is(send.stdout(), 'bzzz\n...\n');
    assert.match(send.stderr(), /^sketch: \S+ replied with an error \(SKETCH_ERR_BAD_MESSAGE\): the buzzer takes 1 or 0, got "beep"\n$/);
  });
});

test('empty stdin sends nothing and exits 0', async () => {
  await withCli(GREETER, /serving on/, async (greeter) => {
    const send = cli(['send', `127.0.0.1:${portOf(greeter)}`, '-']);
    send.child.stdin!.end();
    assert.is(await send.exited(), 0, send.stderr());
    assert.is(send.stdout(), '');
  });
});

test('- is read from the arguments as typed: before --, and only alone', () => {
  assert.ok(stdinRequested(['send', 'buzzer', '-']));
  assert.ok(stdinRequested(['send', '--timeout', '2', 'buzzer', '-']));
  assert.not.ok(stdinRequested(['send', 'buzzer', '--', '-']), 'after --, - is a message');
  assert.not.ok(stdinRequested(['send', 'buzzer', '-1']));
});

test('sendLines sends no more than the window ahead of the reports, even from one chunk, and reports in input order', async () => {
  const input = new PassThrough();
  const window = 8;
  const acks: Array<(ack: string) => void> = [];
  const reported: string[] = [];
  const done = sendLines(
    input,
    (text) => new Promise<string>((resolve) => acks.push(() => resolve(`ack ${text}`))),
    async (ack) => void reported.push(await ack),
    window,
  );
  input.write(Array.from({ length: 50 }, (_, i) => `${i}\n`).join('')); // one chunk of 50 lines
  await new Promise((r) => setTimeout(r, 50));
  assert.is(acks.length, window, 'sent no more than the window while nothing was acknowledged');
  // Acknowledge out of order: reports still come in input order, and reading resumes.
  while (reported.length < 50) {
    const pending = acks.splice(0);
    for (const ack of pending.reverse()) ack('');
    await new Promise((r) => setTimeout(r, 5));
  }
  input.end();
  await done;
  assert.equal(reported, Array.from({ length: 50 }, (_, i) => `ack ${i}`));
});

test('sendLines stops at the first failure, even while the input stays open (tail -f)', async () => {
  const input = new PassThrough();
  let sent = 0;
  const failure = new Error('peer unreachable');
  const done = sendLines(
    input,
    (text) => (++sent, text === 'bad' ? Promise.reject(failure) : Promise.resolve(text)),
    async (ack) => void (await ack),
  );
  input.write('ok\nbad\n');
  const outcome = await done.then(() => 'resolved', (err: unknown) => err);
  assert.is(outcome, failure, 'rejects with the failure');
  input.write('later\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.is(sent, 2, 'nothing read after the failure');
});

// --- messages on the command line -------------------------------------------------------------

test('messages after -- are sent as they are, and every message goes as typed (no number parsing)', async () => {
  await withCli(GREETER, /serving on/, async (greeter) => {
    const url = `ws://127.0.0.1:${portOf(greeter)}`;
    const dashed = await runCli(['send', url, '--', '-1', '--x', '-']);
    assert.is(dashed.code, 0, dashed.stderr);
    assert.is(dashed.stdout, 'hello -1 on /\nhello --x on /\nhello - on /\n');
    const typed = await runCli(['send', url, '007', '1.50', '0x10', '--', '-2']);
    assert.is(typed.code, 0, typed.stderr);
    assert.is(typed.stdout, 'hello 007 on /\nhello 1.50 on /\nhello 0x10 on /\nhello -2 on /\n');
  });
});

test('sketch send with no message, or with - among other messages, is a usage error, exit 2', async () => {
  for (const [args, line] of [
    [['send', 'ws://127.0.0.1:1'], 'sketch: missing argument <message...>: name the messages to send, or - to read them from stdin'],
    [['send', 'ws://127.0.0.1:1', '1', '-'], 'sketch: - reads the messages from stdin: give it as the only message'],
  ] as const) {
    const r = await runCli([...args]);
    assert.is(r.code, 2, r.stderr);
    assert.equal(r.stderr.split('\n'), [line, "run 'sketch send --help' for the options", '']);
  }
});

// --- how a peer is written ----------------------------------------------------------------------

test('HOST:PORT, localhost:PORT, http:// and https://-style URLs reach the sketch directly', async () => {
  await withCli(GREETER, /serving on/, async (greeter) => {
    const port = portOf(greeter);
    for (const peer of [`127.0.0.1:${port}`, `localhost:${port}`, `http://127.0.0.1:${port}`, `127.0.0.1:${port}/door`]) {
      const r = await runCli(['send', peer, 'you', '--discover-timeout', '0.2']);
      assert.is(r.code, 0, `${peer}: ${r.stderr}`);
      assert.is(r.stdout, `hello you on /${peer.endsWith('/door') ? 'door' : ''}\n`, peer);
    }
  });
});

test('NAME.local is the instance name NAME, looked up over mDNS', async () => {
  const name = unique('dotlocal');
  await withCli(['run', fixture('greeter.ts'), '--name', name], /announced as/, async () => {
    const r = await runCli(['send', `${name}.local`, 'you']);
    assert.is(r.code, 0, r.stderr);
    assert.is(r.stdout, 'hello you on /\n');
  });
});

test("a peer not found names the flags send really has: --discover-timeout, and HOST:PORT instead of a name", async () => {
  const r = await runCli(['send', `${unique('ghost')}.local`, '1', '--discover-timeout', '0.3']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /^sketch: no sketch named "ghost-[\d-]+" answered over mDNS within 0\.3 s: .*--discover-timeout SECONDS.*HOST:PORT\n$/);
  assert.not.match(r.stderr, /--to/);
});

test('another scheme, or an address without its port, is a usage error naming what to write, exit 2', async () => {
  for (const [peer, pattern] of [
    ['ftp://127.0.0.1:1', /^sketch: cannot reach a peer at ftp:\/\/127\.0\.0\.1:1: ftp:\/\/ is not supported; give an instance name, HOST:PORT/],
    ['10.1.2.3', /^sketch: 10\.1\.2\.3 is an address without a port: write 10\.1\.2\.3:PORT/],
  ] as const) {
    const r = await runCli(['send', peer, '1']);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, pattern);
  }
});

test('sketch run --to and sketch tap take the same forms: HOST:PORT, http:// and NAME.local', async () => {
  await withCli(BUZZER, /serving on/, async (buzzer) => {
    for (const to of [`127.0.0.1:${portOf(buzzer)}`, `http://127.0.0.1:${portOf(buzzer)}/`]) {
      const clock = await runCli(['run', 'clock', '--no-mdns', '--tacks', '2', '--delay', '0', '--to', to]);
      assert.is(clock.code, 0, `${to}: ${clock.stderr}`);
      assert.match(clock.stdout, /< \.\.\.\n(.|\n)*< bzzz\n/, to);
    }
    const bad = await runCli(['run', 'clock', '--no-mdns', '--to', 'gopher://x:70']);
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /^sketch: cannot reach a peer at gopher:\/\/x:70/);
  });
  const name = unique('taplocal');
  await withCli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', name], /announced as/, async (thermometer) => {
    for (const target of [`${name}.local/readings`, `127.0.0.1:${portOf(thermometer)}/readings`, `http://127.0.0.1:${portOf(thermometer)}`]) {
      const tap = await runCli(['tap', target, '--count', '1']);
      assert.is(tap.code, 0, `${target}: ${tap.stderr}`);
      assert.match(tap.stdout, /^\d+ \S+ \{.*"temperature"/, target);
    }
  });
});

test.run();

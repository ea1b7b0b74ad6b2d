import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, closed, connect, frames, SKETCH_BIN, type Cli } from './helpers/net.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/up/', import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'sketch-up-'));
let n = 0;

/** Writes a device file into a fresh folder and returns its path. */
function deviceFile(yaml: string, name = 'sketchnet.yaml'): string {
  const folder = path.join(dir, String(n++));
  mkdirSync(folder, { recursive: true });
  const file = path.join(folder, name);
  writeFileSync(file, yaml);
  return file;
}

/** The port a sketch labelled `label` serves on, read from `up`'s log. */
async function portOf(up: Cli, label: string): Promise<number> {
  const line = await up.waitFor(new RegExp(`\\[ ${label} \\] serving on [^:]+:(\\d+)`), 20_000);
  return Number(/:(\d+)$/.exec(line)![1]);
}

/** Sends `text` to the sketch on `port` and resolves with its acknowledgement. */
async function ack(port: number, text: string): Promise<string> {
  const ws = await connect(`ws://127.0.0.1:${port}/`);
  try {
    ws.send(text);
    return (await frames(ws, 1, 10_000))[0]!;
  } finally {
    ws.close();
  }
}

const count = (text: string, re: RegExp) => [...text.matchAll(re)].length;

test('buzzer, iopin --to buzzer and clock --tacks 3 in one process: 3 ticks acknowledged through the real servers; SIGTERM stops all, clients get 1001, exit 0', async () => {
  const file = deviceFile(`sketches:
  - kind: buzzer
    gpio: virtual
  - kind: iopin
    to: buzzer
  - kind: clock
    tacks: 3
    delay: 0.1
`);
  const up = cli(['up', file]);
  try {
    await up.waitFor(/\[ sketch up \] clock: finished/, 30_000);
    assert.is(count(up.stdout(), /\[ Clock \] < \{"bits":\[[01],[01],[01]\],"acks":\[/g), 3, up.stdout());
    assert.is(count(up.stdout(), /\[ IOPin \] new tick triggered on \/: \d/g), 3, 'each tick went through the iopin');
    assert.ok(count(up.stdout(), /\[ Buzzer \] \*\* new client connected/g) >= 1, "the iopin reached the buzzer's server");
    assert.equal(up.child.exitCode, null, 'the buzzer and the iopin still serve');
    const buzzer = await portOf(up, 'Buzzer');
    const ws = await connect(`ws://127.0.0.1:${buzzer}/`);
    const code = closed(ws);
    up.child.kill('SIGTERM');
    assert.is(await up.exited(10_000), 0, up.stderr());
    assert.is(await code, 1001, 'clients are told the sketch is going away');
    assert.match(up.stdout(), /\[ IOPin \] SIGTERM: stopping/);
    assert.match(up.stdout(), /\[ Buzzer \] SIGTERM: stopping/);
  } finally {
    up.child.kill('SIGKILL');
  }
});

test("a sketch whose setup() throws stops with one line; its neighbours keep serving", async () => {
  const file = deviceFile(`sketches:
  - kind: buzzer
    gpio: virtual
  - file: ${path.join(FIXTURES, 'throws-at-setup.ts')}
  - kind: iopin
    to: buzzer
  - kind: recorder
    db: ./records.db
`);
  const up = cli(['up', file]);
  try {
    await up.waitFor(/throws-at-setup: stopped: the sensor is not wired/, 30_000);
    await up.waitFor(/\[ Recorder \] serving on/, 20_000);
    assert.ok(existsSync(path.join(path.dirname(file), 'records.db')), "a relative path in the file starts at the file's folder");
    assert.is(count(up.stdout(), /throws-at-setup: stopped/g), 1, 'one line');
    const buzzer = await portOf(up, 'Buzzer');
    assert.is(await ack(buzzer, '1'), 'bzzz', 'the buzzer still answers');
    const iopin = await portOf(up, 'IOPin');
    assert.match(await ack(iopin, '7'), /"acks":\[/, 'the iopin still answers, through the buzzer');
    up.child.kill('SIGTERM');
    assert.is(await up.exited(10_000), 0, up.stderr());
  } finally {
    up.child.kill('SIGKILL');
  }
});

test('an uncaught exception from a timer of one sketch stops that sketch alone', async () => {
  const file = deviceFile(`sketches:
  - kind: buzzer
    gpio: virtual
  - file: ${path.join(FIXTURES, 'throws-later.ts')}
`);
  const up = cli(['up', file]);
  try {
    await up.waitFor(/throws-later: stopped: a timer of mine broke/, 30_000);
    assert.is(await ack(await portOf(up, 'Buzzer'), '0'), '...', 'the buzzer still answers');
    up.child.kill('SIGTERM');
    assert.is(await up.exited(10_000), 0, up.stderr());
  } finally {
    up.child.kill('SIGKILL');
  }
});

test('an uncaught exception that belongs to no sketch stops every sketch and exits 1 with one line', async () => {
  const file = deviceFile(`sketches:
  - kind: buzzer
    gpio: virtual
    mdns: false
  - file: ${path.join(FIXTURES, 'throws-unowned.ts')}
    mdns: false
`);
  const up = cli(['up', file], { THROWS_UNOWNED_MS: '4000' });
  try {
    assert.is(await ack(await portOf(up, 'Buzzer'), '1'), 'bzzz', 'the buzzer sounds: its pin is active');
    assert.is(await up.exited(20_000), 1, up.stdout() + up.stderr());
    assert.is(count(up.stdout(), /uncaught exception outside any sketch: a module timer broke: stopping every sketch/g), 1, up.stdout());
    assert.match(up.stdout(), /\[ Buzzer \] pin 18 -> 1\n(.*\n)*.*\[ Buzzer \] pin 18 -> 0\n/, "the buzzer's pin went inactive before the exit");
  } finally {
    up.child.kill('SIGKILL');
  }
});

test('a sketch whose port is taken by another process stops alone, naming the port; its neighbour serves', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', () => r()));
  const taken = (blocker.address() as net.AddressInfo).port;
  const file = deviceFile(`sketches:
  - kind: buzzer
    gpio: virtual
    port: ${taken}
  - kind: iopin
`);
  const up = cli(['up', file]);
  try {
    const line = await up.waitFor(/\[ sketch up \] buzzer: stopped: .*/, 30_000);
    assert.match(line, String(taken));
    assert.match(await ack(await portOf(up, 'IOPin'), '1'), /^\[[01],[01],[01]\]$/, 'the iopin still answers');
    up.child.kill('SIGTERM');
    assert.is(await up.exited(10_000), 0, up.stderr());
  } finally {
    up.child.kill('SIGKILL');
    blocker.close();
  }
});

test('a sketch that does not finish closing within the 2 s deadline does not hold the stop: one line, exit 0', async () => {
  const file = deviceFile(`sketches:
  - file: ${path.join(FIXTURES, 'slow-teardown.ts')}
    mdns: false
`);
  const up = cli(['up', file]);
  try {
    await portOf(up, 'SlowTeardown');
    up.child.kill('SIGTERM');
    assert.is(await up.exited(15_000), 0, up.stderr());
    assert.match(up.stdout(), /tearing down slowly/);
    assert.match(up.stdout(), /\[ sketch up \] did not stop within 2000 ms: exiting anyway/);
  } finally {
    up.child.kill('SIGKILL');
  }
});

test('--restart on-failure starts a failed sketch again after 1 s, one line per restart, and it then serves', async () => {
  const marker = path.join(dir, `marker-${n}`);
  const file = deviceFile(`sketches:
  - file: ${path.join(FIXTURES, 'fails-once.ts')}
    marker: ${marker}
    mdns: false
`);
  const up = cli(['up', file, '--restart', 'on-failure']);
  try {
    const port = await portOf(up, 'FailsOnce');
    assert.ok(port > 0);
    assert.ok(existsSync(marker));
    assert.is(count(up.stdout(), /fails-once: stopped: first start fails/g), 1, up.stdout());
    assert.is(count(up.stdout(), /fails-once: restarting in 1 s \(restart 1\)/g), 1, up.stdout());
    up.child.kill('SIGTERM');
    assert.is(await up.exited(10_000), 0, up.stderr());
  } finally {
    up.child.kill('SIGKILL');
  }
});

test('when every sketch has ended the process exits: 0 when all ended normally, 1 when one failed', async () => {
  const ok = cli(['up', deviceFile('sketches:\n  - kind: clock\n    tacks: 0\n    mdns: false\n    to: ws://127.0.0.1:9/\n')]);
  assert.is(await ok.exited(30_000), 0, ok.stdout() + ok.stderr());
  assert.match(ok.stdout(), /clock: finished/);
  const failed = cli(['up', deviceFile(`sketches:\n  - kind: clock\n    tacks: 0\n    mdns: false\n    to: ws://127.0.0.1:9/\n  - file: ${path.join(FIXTURES, 'throws-at-setup.ts')}\n    mdns: false\n`)]);
  assert.is(await failed.exited(30_000), 1, failed.stdout() + failed.stderr());
});

test('--check refuses duplicate ports and names with one line each, exit 1, starting nothing; a good file: one line, exit 0', async () => {
  const bad = deviceFile(`sketches:
  - kind: buzzer
    port: 18123
  - kind: iopin
    port: 18123
  - kind: iopin
`);
  const check = cli(['up', '--check', bad]);
  assert.is(await check.exited(), 1);
  assert.equal(check.stderr().trim().split('\n'), [
    `${bad}:5: sketches[1] (iopin): duplicate port 18123 (also sketches[0] (buzzer), line 2): give each its own port, or none (a free one is picked)`,
    `${bad}:6: sketches[2] (iopin): duplicate instance name "iopin" (also sketches[1] (iopin), line 4): give each a different "name:"`,
  ]);
  assert.is(check.stdout(), '');
  const run = cli(['up', bad]);
  assert.is(await run.exited(), 1, 'sketch up without --check refuses too');
  assert.is(run.stdout(), '', 'nothing started');
  assert.match(run.stderr(), /duplicate port 18123/);
  const good = deviceFile('sketches:\n  - kind: buzzer\n  - kind: iopin\n    to: buzzer\n', 'device.json');
  const ok = cli(['up', '--check', good]);
  assert.is(await ok.exited(), 0, ok.stderr());
  assert.is(ok.stdout(), `${good}: 2 sketches OK\n`);
});

test('sketch up with no file and no sketchnet.yaml here: one line, exit 1', async () => {
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const child = spawn(process.execPath, [SKETCH_BIN, 'up'], { cwd: empty });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.is(code, 1);
  assert.is(err, 'sketchnet.yaml: cannot read it: no such file (sketch up reads sketchnet.yaml in this folder unless given a FILE)\n');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();

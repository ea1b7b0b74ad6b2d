import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, runCli } from './helpers/net.js';

const python = '/usr/bin/python3';
const script = (name: string) => fileURLToPath(new URL(`./fixtures/python/${name}`, import.meta.url));
const hasWebsockets = spawnSync(python, ['-c', 'import websockets'], { stdio: 'ignore' }).status === 0;
const skip = (what: string) =>
  console.log(`  skipped: ${what}: Debian's python3-websockets is not installed (apt-get install python3-websockets)`);

test('a client written for the original Python sketches works unchanged against our iopin', async () => {
  if (!hasWebsockets) return skip('Python client');
  const iopin = cli(['run', 'iopin', '--no-mdns', '--host', '127.0.0.1']);
  try {
    await iopin.waitFor(/serving on/);
    const port = /:(\d+)/.exec(iopin.stdout())![1];
    const py = spawnSync(python, [script('original_clock.py'), `ws://127.0.0.1:${port}/datafeed`, '3'], {
      encoding: 'utf8',
      timeout: 10000,
    });
    assert.is(py.status, 0, py.stderr);
    const acks = py.stdout.split('\n').filter((l) => l.startsWith('[ clock ] <'));
    assert.is(acks.length, 3);
    for (const a of acks) assert.match(a, /^\[ clock \] < \[[01],[01],[01]\]$/);
    await iopin.waitFor(/new tick triggered on \/datafeed: 2/);
  } finally {
    iopin.child.kill('SIGTERM');
    await iopin.exited();
  }
});

test('our clock works unchanged against a server written like the original Python sketches', async () => {
  if (!hasWebsockets) return skip('Python server');
  const server = spawn(python, [script('original_iopin.py')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    for (let i = 0; i < 500 && !/listening \d+/.test(out); i++) await new Promise((r) => setTimeout(r, 10));
    const port = /listening (\d+)/.exec(out)?.[1];
    assert.ok(port, `python server started: ${out}`);
    const clock = await runCli(['run', 'clock', '--no-mdns', '--tacks', '3', '--delay', '0', '--to', `ws://127.0.0.1:${port}/datafeed`]);
    assert.is(clock.code, 0, clock.stderr);
    const acks = clock.stdout.split('\n').filter((l) => l.startsWith('[ Clock ] <'));
    assert.is(acks.length, 3);
    for (const a of acks) assert.match(a, /^\[ Clock \] < \[[01], [01], [01]\]$/);
    assert.match(out, /new tick triggered on \/datafeed: 2/);
  } finally {
    server.kill('SIGTERM');
  }
});

test.run();

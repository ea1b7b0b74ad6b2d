import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdnsDiscovery } from '../runtime/index.js';
import { cli, connect, runCli, withCli } from './helpers/net.js';

const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
const portOf = (out: string) => Number(/serving on [^:]+:(\d+)/.exec(out)![1]);
const thermometer = (name: string) => ['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.05', '--name', name];

/** A TCP port with nothing listening on it (taken, then released). */
async function deadPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('sketch ls shows the uptime, connections and streams of a running thermometer, read from its status', async () => {
  const name = unique('lsstatus');
  await withCli(thermometer(name), /announced as/, async (t) => {
    const port = portOf(t.stdout());
    const a = await connect(`ws://127.0.0.1:${port}/readings`);
    const b = await connect(`ws://127.0.0.1:${port}/readings`);
    try {
      const r = await runCli(['ls']);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stdout, /^NAME\s+KIND\s+ADDRESS\s+PORT\s+PROTOCOL\s+STREAMS\s+UPTIME\s+CONNECTIONS$/m);
      assert.match(r.stdout, new RegExp(`^${name}\\s+thermometer\\s+127\\.0\\.0\\.1\\s+${port}\\s+3\\s+/readings\\s+\\w+\\s+2$`, 'm'));
    } finally {
      a.close();
      b.close();
    }
  });
});

test('sketch ls --json: the found records, each with its status (uptime, connections, streams with seq)', async () => {
  const name = unique('lsjson');
  await withCli(thermometer(name), /announced as/, async (t) => {
    const ws = await connect(`ws://127.0.0.1:${portOf(t.stdout())}/readings`);
    try {
      const r = await runCli(['ls', '--json']);
      assert.is(r.code, 0, r.stderr);
      const entries = JSON.parse(r.stdout) as Array<{ name: string; kind: string; port: number; streams: string[]; status: { uptime: number; connections: Record<string, number>; streams: Record<string, { seq: number; rate: number }> } | null }>;
      const e = entries.find((x) => x.name === name)!;
      assert.ok(e, r.stdout);
      assert.is(e.kind, 'thermometer');
      assert.is(e.port, portOf(t.stdout()));
      assert.equal(e.streams, ['/readings']);
      assert.ok(e.status!.uptime > 0);
      assert.is(e.status!.connections['/readings'], 1);
      assert.ok(e.status!.streams['/readings']!.seq > 0);
    } finally {
      ws.close();
    }
  });
});

test('a sketch announced whose status does not answer still shows in sketch ls, marked, and in --json with statusError', async () => {
  const name = unique('lsdead');
  const d = new MdnsDiscovery();
  const a = await d.announce({ name, port: await deadPort(), txt: { kind: 'clock', protocol: '3', streams: '/ticks' } });
  try {
    const r = await runCli(['ls']);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${name}\\s+clock\\s+\\S+\\s+\\d+\\s+3\\s+/ticks\\s+\\?\\s+\\?$`, 'm'));
    assert.match(r.stderr, new RegExp(`^sketch: ${name}: no status \\(.+\\)$`, 'm'));
    const j = await runCli(['ls', '--json']);
    const e = (JSON.parse(j.stdout) as Array<{ name: string; status: unknown; statusError?: string }>).find((x) => x.name === name)!;
    assert.is(e.status, null);
    assert.type(e.statusError, 'string');
  } finally {
    await a.close();
    await d.close();
  }
});

test('sketch ls --watch on a pipe prints a table per interval with rate and lag, shows a stopped sketch down, and ends on SIGINT with exit 0', async () => {
  const name = unique('lswatch');
  const t = cli(thermometer(name));
  const watch = cli(['ls', '--watch', '--interval', '0.3']);
  try {
    await t.waitFor(/announced as/);
    const row = new RegExp(`^${name}\\s+thermometer\\s+up\\s+\\w+\\s+\\d+\\s+/readings\\s+\\d+\\s+[\\d.]+/s\\s+\\S+\\s+\\d+$`, 'gm');
    await watch.waitFor(new RegExp(`(?:${row.source}[^]*){2}`, 'm'), 10_000); // two tables with the thermometer up
    assert.match(watch.stdout(), /^NAME\s+KIND\s+STATE\s+UPTIME\s+CONNS\s+STREAM\s+SEQ\s+RATE\s+LAG\s+DROPS$/m);
    assert.ok((watch.stdout().match(/^every 0\.3 s, /gm) ?? []).length >= 2);
    assert.not.match(watch.stdout(), /\x1b\[/, 'no cursor moves on a pipe');
    t.child.kill('SIGTERM');
    assert.is(await t.exited(), 0);
    await watch.waitFor(new RegExp(`^${name}\\s+thermometer\\s+down\\s`, 'm'), 10_000);
    watch.child.kill('SIGINT');
    assert.is(await watch.exited(), 0);
  } finally {
    t.child.kill('SIGKILL');
    watch.child.kill('SIGKILL');
  }
});

test('sketch ls --watch --interval below 0.2 s is a usage error (exit 2)', async () => {
  const r = await runCli(['ls', '--watch', '--interval', '0.1']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--interval must be a number of seconds ≥ 0\.2, got 0\.1/);
});

test.run();

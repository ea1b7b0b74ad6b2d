import { spawnSync, type ChildProcess } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from './helpers/child.js';
import { threeHosts, type ThreeHosts } from './helpers/hosts.js';

/** Collects a child's stdout and waits for a line matching a pattern. */
function watch(child: ChildProcess) {
  let out = '';
  let err = '';
  let wake: (() => void) | undefined;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    wake?.();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return {
    get out() {
      return out;
    },
    async until(pattern: RegExp, timeoutMs = 5000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(out)} (stderr ${JSON.stringify(err.slice(-300))})`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
        wake = undefined;
      }
    },
  };
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

const SERVER = (host: string, port: number) =>
  `require('net').createServer((s) => s.end('hello ' + s.remoteAddress + '\\n')).listen(${port}, '${host}', () => console.log('listening'))`;
const CLIENT = (host: string, port: number) =>
  `const s = require('net').connect(${port}, '${host}'); s.setEncoding('utf8'); s.on('data', (d) => process.stdout.write(d)); s.on('error', (e) => { console.error(e.message); process.exit(1); })`;

function hostsOrSkip(what: string): ThreeHosts | undefined {
  const hosts = threeHosts();
  if (hosts.ok) return hosts;
  console.log(`  skipped: ${what}: ${hosts.reason}`);
  return undefined;
}

test('host A and host B reach the broker namespace and each other over TCP, through its routes', async () => {
  const hosts = hostsOrSkip('three hosts');
  if (!hosts) return;
  const servers: ChildProcess[] = [];
  try {
    for (const [ns, port] of [[hosts.broker, 18830], [hosts.b, 18831]] as const) {
      const server = hosts.exec(ns, [process.execPath, '-e', SERVER(hosts.addressOf(ns), port)], { cwd: ROOT });
      servers.push(server);
      await watch(server).until(/listening/);
    }
    const toBroker = hosts.execSync(hosts.a, [process.execPath, '-e', CLIENT(hosts.brokerAddress, 18830)], { timeout: 10_000 });
    assert.is(toBroker.status, 0, toBroker.stderr);
    assert.is(toBroker.stdout.trim(), `hello ${hosts.addressOf(hosts.a)}`);
    // A → B crosses the broker namespace (two links), and B sees A's own address: routed, not NATed
    const toB = hosts.execSync(hosts.a, [process.execPath, '-e', CLIENT(hosts.addressOf(hosts.b), 18831)], { timeout: 10_000 });
    assert.is(toB.status, 0, toB.stderr);
    assert.is(toB.stdout.trim(), `hello ${hosts.addressOf(hosts.a)}`);
    assert.is.not(hosts.addressOf(hosts.a).split('.').slice(0, 3).join('.'), hosts.addressOf(hosts.b).split('.').slice(0, 3).join('.'), 'A and B are on different /24s');
  } finally {
    for (const s of servers) await stop(s);
    hosts.close();
  }
});

test('an mDNS query multicast from host A reaches its own link (the broker namespace) but not host B', async () => {
  const hosts = hostsOrSkip('mDNS between three hosts');
  if (!hosts) return;
  const name = `probe-${process.pid}.local`;
  const LISTEN = `const m = require('multicast-dns')(); m.on('query', (q) => { for (const x of q.questions) console.log('query ' + x.name); }); m.on('ready', () => console.log('ready'));`;
  const SEND = `const m = require('multicast-dns')(); m.on('ready', () => { let n = 0; const t = setInterval(() => { m.query({ questions: [{ name: '${name}', type: 'A' }] }); if (++n === 5) { clearInterval(t); setTimeout(() => m.destroy(), 100); } }, 100); });`;
  const onLink = hosts.exec(hosts.broker, [process.execPath, '-e', LISTEN], { cwd: ROOT });
  const onB = hosts.exec(hosts.b, [process.execPath, '-e', LISTEN], { cwd: ROOT });
  try {
    const link = watch(onLink);
    const b = watch(onB);
    await link.until(/ready/);
    await b.until(/ready/);
    const sent = hosts.execSync(hosts.a, [process.execPath, '-e', SEND], { cwd: ROOT, timeout: 10_000 });
    assert.is(sent.status, 0, sent.stderr);
    // the control: the query did go out on A's link
    await link.until(new RegExp(`query ${name.replace(/\./g, '\\.')}`));
    // B's own queries would show here; A's never do (nothing routes link-local multicast)
    await new Promise((r) => setTimeout(r, 300));
    assert.not.match(b.out, name, `host B saw A's mDNS query: ${b.out}`);
    // and B's listener works: a query sent on B's own link is seen
    const local = hosts.execSync(hosts.b, [process.execPath, '-e', SEND.replace(name, `b-${name}`)], { cwd: ROOT, timeout: 10_000 });
    assert.is(local.status, 0, local.stderr);
    await b.until(new RegExp(`query b-${name.replace(/\./g, '\\.')}`));
  } finally {
    await stop(onLink);
    await stop(onB);
    hosts.close();
  }
});

test('each call gets its own namespaces and addresses, and close() removes them', () => {
  const one = hostsOrSkip('three hosts twice');
  if (!one) return;
  const two = threeHosts();
  try {
    assert.ok(two.ok, two.ok ? '' : two.reason);
    if (!two.ok) return;
    assert.is.not(one.a, two.a);
    assert.is.not(one.brokerAddress, two.brokerAddress);
    assert.is.not(one.addressOf(one.b), two.addressOf(two.b));
    assert.throws(() => one.addressOf('elsewhere'), /no test host "elsewhere"/);
  } finally {
    one.close();
    if (two.ok) two.close();
  }
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  assert.not.match(left, one.a);
  assert.not.match(left, one.broker);
});

test.run();

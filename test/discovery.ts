import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import BonjourService from 'bonjour-service';
import multicastDns from 'multicast-dns';
import { MdnsDiscovery, reactive, Sketch, SketchError } from '../runtime/index.js';
import { MDNS_RECEIVE_BUFFER, MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { cli, withCli, sleep, SKETCH_BIN } from './helpers/net.js';

class Echo extends Sketch {
  @reactive override async loop(_c: string, m: string) {
    return m;
  }
}

const unique = (base: string) => `${base}-${process.pid}-${Math.floor(Math.random() * 1e6)}`;

test('finds a sketch announced by another process on a loopback-only host', async () => {
  const name = unique('disc');
  await withCli(['run', 'iopin', '--name', name], /announced as/, async (child) => {
    const d = new MdnsDiscovery();
    const found = await d.resolve(name, 3000);
    assert.is(found.name, name);
    assert.is(found.kind, 'iopin');
    assert.is(found.protocol, '3');
    assert.equal(found.streams, []);
    assert.is(found.address, '127.0.0.1');
    assert.match(found.url, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
    await d.close();
  });
});

test('a browser started long after the announcement still finds the sketch (late joiner)', async () => {
  const name = unique('late');
  await withCli(['run', 'iopin', '--name', name], /announced as/, async (child) => {
    await sleep(1500); // past the first announcements
    const d = new MdnsDiscovery();
    const started = Date.now();
    const found = await d.resolve(name, 3000);
    assert.is(found.name, name);
    assert.ok(Date.now() - started < 1000, 'answered the query, not a later re-announcement');
    await d.close();
  });
});

test("resolve asks first for the instance's SRV and TXT records (unique: answered at once, RFC 6762 §6) and finds a responder that never answers the PTR question", async () => {
  const name = unique('srvtxt');
  const fqdn = `${name}._sketch._tcp.local`;
  const questions: string[][] = [];
  const mdns = multicastDns();
  await new Promise((r) => mdns.once('ready', r));
  mdns.on('query', (q: { questions: Array<{ name: string; type: string }> }) => {
    if (!q.questions.some((x) => x.name.toLowerCase() === fqdn.toLowerCase())) return;
    questions.push(q.questions.map((x) => `${x.type} ${x.name}`));
    for (const x of q.questions) {
      if (x.name.toLowerCase() !== fqdn.toLowerCase()) continue; // never the PTR
      if (x.type === 'SRV') mdns.respond({ answers: [{ name: fqdn, type: 'SRV', ttl: 120, data: { target: 'elsewhere.local', port: 4321, priority: 0, weight: 0 } }] });
      if (x.type === 'TXT') mdns.respond({ answers: [{ name: fqdn, type: 'TXT', ttl: 4500, data: ['kind=iopin', 'protocol=3'] }] });
    }
  });
  const d = new MdnsDiscovery();
  try {
    const found = await d.resolve(name, 3000);
    assert.equal([found.name, found.kind, found.port, found.host, found.url], [name, 'iopin', 4321, 'elsewhere.local', 'ws://127.0.0.1:4321/']);
    assert.equal(questions[0], [`SRV ${fqdn}`, `TXT ${fqdn}`]);
  } finally {
    await d.close();
    mdns.destroy();
  }
});

test('a name already taken on the network gets a new unique name, logged, never a crash', async () => {
  const name = unique('dup');
  const lines: string[] = [];
  const a = new Echo({ name, log: (l) => lines.push(l) });
  const b = new Echo({ name, log: (l) => lines.push(l) });
  await a.run({ host: '127.0.0.1' });
  await a.announced;
  await b.run({ host: '127.0.0.1' });
  assert.is(await b.announced, `${name} (2)`);
  assert.is(a.name, name);
  assert.is(b.name, `${name} (2)`);
  assert.ok(lines.some((l) => l.includes(`name "${name}" is taken on the network: announced as "${name} (2)"`)), lines.join('\n'));
  const d = new MdnsDiscovery();
  assert.is((await d.resolve(`${name} (2)`, 2000)).port, b.address!.port);
  assert.is((await d.resolve(name, 2000)).port, a.address!.port);
  await Promise.all([a.close(), b.close(), d.close()]);
});

test('two sketches started together with one name end up with distinct names', async () => {
  const name = unique('twin');
  const [x, y] = [cli(['run', 'iopin', '--name', name]), cli(['run', 'iopin', '--name', name])];
  try {
    await Promise.all([x.waitFor(/announced as/), y.waitFor(/announced as/)]);
    await sleep(400);
    const d = new MdnsDiscovery();
    const names = (await d.browse(800)).map((f) => f.name).filter((n) => n.startsWith(name));
    assert.equal(names.sort(), [name, `${name} (2)`]);
    await d.close();
  } finally {
    for (const c of [x, y]) c.child.kill('SIGTERM');
    await Promise.all([x.exited(), y.exited()]);
  }
});

test('close() withdraws the announcement with a goodbye', async () => {
  const name = unique('bye');
  const s = new Echo({ name, log: () => {} });
  await s.run({ host: '127.0.0.1' });
  await s.announced;
  const bonjour = new BonjourService();
  const browser = bonjour.find({ type: 'sketch' });
  const up = new Promise<void>((r) => browser.on('up', (svc) => svc.name === name && r()));
  const down = new Promise<void>((r) => browser.on('down', (svc) => svc.name === name && r()));
  await up;
  await s.close();
  await Promise.race([down, sleep(2000).then(() => Promise.reject(new Error('no goodbye seen')))]);
  browser.stop();
  bonjour.destroy();
});

test('a found sketch lists the stream paths of its TXT streams= (none: an empty list), over mDNS and in memory', async () => {
  const name = unique('streams');
  const plain = unique('nostreams');
  const announcer = new MdnsDiscovery();
  const finder = new MdnsDiscovery();
  try {
    await announcer.announce({ name, port: 40001, txt: { kind: 'thermometer', protocol: '2', streams: '/readings,/alerts' } });
    await announcer.announce({ name: plain, port: 40002, txt: { kind: 'iopin', protocol: '2' } });
    assert.equal((await finder.resolve(name, 3000)).streams, ['/readings', '/alerts']);
    assert.equal((await finder.resolve(plain, 3000)).streams, []);
  } finally {
    await finder.close();
    await announcer.close();
  }
  const memory = new MemoryDiscovery();
  await memory.announce({ name: 'm', port: 1, txt: { kind: 'k', protocol: '2', streams: '/readings' } });
  await memory.announce({ name: 'n', port: 2, txt: { kind: 'k', protocol: '2' } });
  assert.equal((await memory.resolve('m', 0)).streams, ['/readings']);
  assert.equal((await memory.resolve('n', 0)).streams, []);
});

test('a peer not found within the timeout fails with one line naming it and suggesting sketch ls', async () => {
  const d = new MdnsDiscovery();
  try {
    await d.resolve('nobody-here', 300);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, SketchError);
    assert.is((err as SketchError).code, 'SKETCH_ERR_PEER_NOT_FOUND');
    assert.match((err as Error).message, /no sketch named "nobody-here" answered over mDNS within 0.3 s/);
    assert.match((err as Error).message, /sketch ls/);
    assert.not.match((err as Error).message, /\n/);
  }
  await d.close();
});

const python = '/usr/bin/python3';
const hasZeroconf = spawnSync(python, ['-c', 'import zeroconf'], { stdio: 'ignore' }).status === 0;

test('the announcement resolves completely (SRV, TXT, A) in python-zeroconf', async () => {
  if (!hasZeroconf) {
    console.log('  skipped: python3-zeroconf is not installed (apt-get install python3-zeroconf)');
    return;
  }
  const name = unique('zc');
  const s = new Echo({ name, log: () => {} });
  const { port } = await s.run({ host: '127.0.0.1' });
  await s.announced;
  const script = `
import sys, json, zeroconf
zc = zeroconf.Zeroconf(interfaces=['127.0.0.1'])
info = zc.get_service_info('_sketch._tcp.local.', sys.argv[1] + '._sketch._tcp.local.', timeout=3000)
print(json.dumps(None if info is None else {
  'port': info.port, 'server': info.server,
  'txt': {k.decode(): (v or b'').decode() for k, v in info.properties.items()},
  'addresses': info.parsed_addresses()}))
zc.close()`;
  const out = await new Promise<string>((resolve, reject) =>
    import('node:child_process').then(({ execFile }) =>
      execFile(python, ['-c', script, name], { timeout: 10000 }, (err, stdout, stderr) =>
        err ? reject(new Error(stderr || err.message)) : resolve(stdout),
      ),
    ),
  );
  const info = JSON.parse(out);
  assert.ok(info, 'zeroconf resolved the service');
  assert.is(info.port, port);
  assert.equal(info.txt, { kind: 'echo', protocol: '3' });
  assert.match(info.server, /\.local\.$/);
  assert.equal(info.addresses, ['127.0.0.1']);
  await s.close();
});

/** Two test hosts: network namespaces joined by a veth pair, on addresses we assign. */
function twoHosts(): { ok: true; a: string; b: string; cleanup: () => void } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (ip netns needs root)' };
  const id = process.pid % 10000;
  const a = `skA${id}`;
  const b = `skB${id}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const cleanup = () => {
    for (const ns of [a, b]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  try {
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', `va${id}`, 'netns', a, 'type', 'veth', 'peer', 'name', `vb${id}`, 'netns', b);
    for (const [ns, dev, addr] of [[a, `va${id}`, '10.77.0.1/24'], [b, `vb${id}`, '10.77.0.2/24']] as const) {
      ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up', 'multicast', 'on');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', dev);
    }
    return { ok: true, a, b, cleanup };
  } catch (err) {
    cleanup();
    return { ok: false, reason: `cannot build test hosts: ${(err as Error).message.split('\n')[0]}` };
  }
}

test('a clock on one host finds the iopin on another host across a veth pair', async () => {
  const hosts = twoHosts();
  if (!hosts.ok) {
    console.log(`  skipped: two-host discovery: ${hosts.reason}`);
    return;
  }
  const { spawn } = await import('node:child_process');
  const iopin = spawn('ip', ['netns', 'exec', hosts.a, process.execPath, SKETCH_BIN, 'run', 'iopin'], { stdio: 'pipe' });
  let iopinOut = '';
  iopin.stdout.on('data', (d) => (iopinOut += d));
  try {
    for (let i = 0; i < 400 && !iopinOut.includes('announced as'); i++) await sleep(10);
    const clock = spawnSync(
      'ip',
      ['netns', 'exec', hosts.b, process.execPath, SKETCH_BIN, 'run', 'clock', '--tacks', '2', '--delay', '0'],
      { encoding: 'utf8', timeout: 15000 },
    );
    assert.is(clock.status, 0, clock.stdout + clock.stderr);
    assert.match(clock.stdout, /< \[[01],[01],[01]\]/);
    await sleep(50);
    assert.match(iopinOut, /new tick triggered on \/: 1/);
    // the iopin is reached on host A's own address, learnt over mDNS
    const ls = spawnSync('ip', ['netns', 'exec', hosts.b, process.execPath, SKETCH_BIN, 'ls', '--json'], { encoding: 'utf8' });
    const found = JSON.parse(ls.stdout) as Array<{ name: string; address: string; addresses: string[] }>;
    const entry = found.find((f) => f.name === 'iopin');
    assert.is(entry?.address, '10.77.0.1');
    assert.ok(entry?.addresses.includes('10.77.0.1'), `A record for host A: ${entry?.addresses}`);
  } finally {
    iopin.kill('SIGTERM');
    await new Promise((r) => iopin.once('exit', r));
    hosts.cleanup();
  }
});

test('the mDNS socket gets a receive buffer of MDNS_RECEIVE_BUFFER, as far as net.core.rmem_max allows', async () => {
  const d = new MdnsDiscovery({ log: () => {} });
  try {
    assert.is(d.receiveBufferBytes, undefined, 'no socket before first use');
    await d.bonjour();
    const max = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    // Linux reports twice the size it granted (the rest is its bookkeeping).
    assert.is(d.receiveBufferBytes, 2 * Math.min(MDNS_RECEIVE_BUFFER, max));
  } finally {
    await d.close();
  }
});

test.run();

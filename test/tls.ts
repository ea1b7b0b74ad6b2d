import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newKey, Peer, reactive, Sketch, SketchError, type FoundSketch, type SketchConfig } from '../runtime/index.js';
import { MemoryDiscovery } from '../runtime/discovery/mdns.js';
import { cli, runCli } from './helpers/net.js';
import { hasOpenssl, makeCa, makeCert } from './helpers/openssl.js';

class Echo extends Sketch {
  got: string[] = [];
  @reactive override async loop(_channel: string, message: string) {
    this.got.push(message);
    return `ack ${message}`;
  }
}

const skip = hasOpenssl() ? undefined : 'openssl is not installed (apt-get install openssl)';
const ca = skip ? undefined : makeCa();
const wrongCa = skip ? undefined : makeCa('some other CA');
const NAME = `tlspin${process.pid}`;
const good = ca && makeCert(ca.dir, 'good', [NAME, `${NAME}.local`, '127.0.0.1'], ca);
const selfSigned = ca && makeCert(ca.dir, 'self', [NAME, `${NAME}.local`, '127.0.0.1']);
const otherName = ca && makeCert(ca.dir, 'other', ['clock', 'clock.local', '127.0.0.1'], ca);

async function serve(config: SketchConfig) {
  const s = new Echo({ discovery: false, log: () => {}, ...config });
  const address = await s.run({ host: '127.0.0.1' });
  return { s, url: `wss://127.0.0.1:${address.port}/`, address };
}

const failure = (p: Promise<unknown>) => p.then(() => assert.unreachable('expected a failure'), (e: unknown) => e as SketchError);

test.after(() => {
  for (const dir of [ca?.dir, wrongCa?.dir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a sketch with a certificate serves wss://, says tls=1, and a client that trusts the CA exchanges acknowledged messages', async () => {
  if (skip) return console.log(`skipped: TLS tests because ${skip}`);
  const registry = new Map<string, FoundSketch>();
  const { s, url, address } = await serve({ tls: { cert: good!.cert, key: good!.key }, discovery: new MemoryDiscovery(registry), name: NAME });
  try {
    assert.is(address.url.slice(0, 6), 'wss://');
    await s.announced;
    const found = registry.get(NAME.toLowerCase())!;
    assert.is(found.txt.tls, '1');
    assert.is(found.tls, true);
    assert.match(found.url, /^wss:\/\//);
    const peer = new Peer(url, { ca: ca!.cert, key: newKey() });
    const acks = await Promise.all(Array.from({ length: 20 }, (_, i) => peer.send(`m${i}`)));
    assert.equal(acks, Array.from({ length: 20 }, (_, i) => `ack m${i}`));
    await peer.close();
    const byName = new Peer(NAME, { ca: ca!.cert, discovery: new MemoryDiscovery(registry) });
    assert.is(await byName.send('by name'), 'ack by name');
    await byName.close();
  } finally {
    await s.close();
  }
});

test('a certificate from another CA, a self-signed one, or no CA given: refused with SKETCH_ERR_TLS_VERIFY before anything is sent', async () => {
  if (skip) return console.log(`skipped: TLS tests because ${skip}`);
  const { s, url } = await serve({ tls: { cert: good!.cert, key: good!.key } });
  try {
    for (const options of [{ ca: wrongCa!.cert }, {}]) {
      const t0 = Date.now();
      const peer = new Peer(url, { ...options, retries: 3 });
      const e = await failure(peer.send('secret'));
      assert.is(e.code, 'SKETCH_ERR_TLS_VERIFY');
      assert.match(e.message, /^cannot verify wss:\/\/127\.0\.0\.1:\d+\/ \(wss:\/\/127\.0\.0\.1:\d+\/\): .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\); nothing was sent/);
      assert.ok(Date.now() - t0 < 1000, 'no retries');
      await peer.close();
    }
    assert.equal(s.got, []);
  } finally {
    await s.close();
  }
});

test('an impostor announcing the same name — self-signed, or with a CA certificate for another name — gets nothing', async () => {
  if (skip) return console.log(`skipped: TLS tests because ${skip}`);
  for (const [cert, code] of [
    [selfSigned!, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    [otherName!, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ] as const) {
    const registry = new Map<string, FoundSketch>();
    const { s } = await serve({ tls: { cert: cert.cert, key: cert.key }, discovery: new MemoryDiscovery(registry), name: NAME });
    try {
      await s.announced;
      const peer = new Peer(NAME, { ca: ca!.cert, key: newKey(), discovery: new MemoryDiscovery(registry) });
      const e = await failure(peer.send('tick'));
      assert.is(e.code, 'SKETCH_ERR_TLS_VERIFY');
      assert.ok(e.message.includes(`(${code})`), e.message);
      assert.equal(s.got, []);
      await peer.close();
    } finally {
      await s.close();
    }
  }
  const registry = new Map<string, FoundSketch>();
  const { s: plain } = await serve({ discovery: new MemoryDiscovery(registry), name: NAME });
  try {
    await plain.announced;
    const peer = new Peer(NAME, { ca: ca!.cert, discovery: new MemoryDiscovery(registry) });
    const e = await failure(peer.send('tick'));
    assert.is(e.code, 'SKETCH_ERR_TLS_VERIFY');
    assert.match(e.message, /it does not serve TLS, but a CA was given \(--ca\)/);
    assert.equal(plain.got, []);
    await peer.close();
  } finally {
    await plain.close();
  }
});

test('CLI over real mDNS: send and tap verify with --ca; an impostor with a self-signed certificate gets one line naming the failed verification and nothing else', async () => {
  if (skip) return console.log(`skipped: TLS tests because ${skip}`);
  const real = cli(['run', 'thermometer', '--sensor', 'simulated', '--interval', '0.1', '--name', NAME, '--tls-cert', good!.certFile, '--tls-key', good!.keyFile]);
  try {
    await real.waitFor(/announced as/);
    assert.match(real.stdout(), /serving on 0\.0\.0\.0:\d+ \(TLS: wss:\/\/\)/);
    const sent = await runCli(['send', NAME, 'hello', '--ca', ca!.certFile]);
    assert.is(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /"temperature":/);
    const tapped = await runCli(['tap', NAME, '--count', '1', '--ca', ca!.certFile]);
    assert.is(tapped.code, 0, tapped.stderr);
    const wrong = await runCli(['tap', NAME, '--count', '1', '--ca', wrongCa!.certFile]);
    assert.is(wrong.code, 1);
    assert.match(wrong.stderr, /^sketch: cannot verify /);
  } finally {
    real.child.kill('SIGINT');
    await real.exited();
  }
  const impostor = cli(['run', 'iopin', '--name', NAME, '--tls-cert', selfSigned!.certFile, '--tls-key', selfSigned!.keyFile]);
  try {
    await impostor.waitFor(/announced as/);
    const r = await runCli(['send', NAME, '1', '--ca', ca!.certFile, `--key=${newKey()}`]);
    assert.is(r.code, 1);
    assert.is(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^sketch: cannot verify ${NAME} \\(wss://[^)]+\\): self-signed certificate \\(DEPTH_ZERO_SELF_SIGNED_CERT\\); nothing was sent`));
    assert.not.match(impostor.stdout(), /new tick triggered|new client connected/);
  } finally {
    impostor.child.kill('SIGINT');
    await impostor.exited();
  }
});

test('TLS files that cannot be used are one line each; --tls-cert without --tls-key is a usage error', async () => {
  if (skip) return console.log(`skipped: TLS tests because ${skip}`);
  const cases: Array<[string[], number, RegExp]> = [
    [['--tls-cert', '/nonexistent.crt', '--tls-key', good!.keyFile], 1, /^sketch: TLS file \/nonexistent\.crt: cannot read the certificate \(ENOENT\)\n$/],
    [['--tls-cert', good!.certFile, '--tls-key', selfSigned!.keyFile], 1, /^sketch: TLS file .*self\.key: this key is not the one of .*good\.crt\n$/],
    [['--tls-cert', good!.keyFile, '--tls-key', good!.keyFile], 1, /^sketch: TLS file .*good\.key: not a PEM certificate\n$/],
    [['--tls-cert', good!.certFile], 2, /^sketch: --tls-cert and --tls-key go together: give both, or neither\n/],
    [['--to', 'x', '--ca', '/nonexistent-ca.crt'], 1, /^sketch: TLS file \/nonexistent-ca\.crt: cannot read the CA certificate \(ENOENT\)\n$/],
  ];
  for (const [args, code, stderr] of cases) {
    const r = await runCli(['run', 'iopin', '--no-mdns', ...args]);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, stderr);
  }
});

test.run();
